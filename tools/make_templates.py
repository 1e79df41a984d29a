"""Write the bundled templates: resources/templates/NAME.netdraft.

    .venv/bin/python tools/make_templates.py [NAME ...]

Each template is built with the small Builder below through the engine's public edit methods,
so a template is exactly what a user could have drawn. Parameter counts are checked against
torchvision in tests/engine/test_templates.py.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.graph import GROUP_KIND, Graph  # noqa: E402
from engine.project import Project, save  # noqa: E402
from engine.templates import TEMPLATE_DIR  # noqa: E402

Layer = tuple[str, str, dict[str, Any]]
IMAGENET_INPUT = {"shape": [3, 224, 224], "scale": 1 / 255, "mean": "0.485,0.456,0.406",
                  "std": "0.229,0.224,0.225", "channel_order": "RGB"}
IMAGENET_DATA = {"dataset": "imagenet/train", "val_dataset": "imagenet/val"}
IMAGENET_AUGMENTATION = {"enabled": True, "random_resized_crop": 0.08,
                         "horizontal_flip": True}
FOLDER_HINT = ("Train it on a folder of class subfolders: choose it in the Data panel "
               "(Train > Data), which offers to set the Output's classes from it, then press "
               "Train (F5).")


def L(kind: str, name: str, **params: Any) -> Layer:  # noqa: N802 - reads like a layer list
    """One layer of a seq() chain: kind, node name, parameters (defaults left out)."""
    return (kind, name, params)


class Builder:
    """Adds nodes through the Graph's edit methods, inside the group currently open."""

    def __init__(self) -> None:
        self.graph = Graph()
        self._parent: str | None = None
        self.groups: list[str] = []

    def add(self, kind: str, name: str, *inputs: str, **params: Any) -> str:
        node = self.graph.add_node(kind, name=name, params=params, parent=self._parent)
        for src in inputs:
            self.graph.connect(src, node.id)  # next free port: merges keep port order
        return node.id

    def seq(self, x: str | None, *layers: Layer) -> str:
        """Chain layers after node x (None: the first layer is a source) and return the last."""
        for kind, name, params in layers:
            x = self.add(kind, name, *([x] if x is not None else []), **params)
        assert x is not None
        return x

    @contextmanager
    def group(self, name: str) -> Iterator[None]:
        """Nodes added inside the with-block become members of a new group."""
        node = self.graph.add_node(GROUP_KIND, name=name, parent=self._parent)
        self.groups.append(node.id)
        outer, self._parent = self._parent, node.id
        try:
            yield
        finally:
            self._parent = outer

    def layout(self) -> dict[str, list[float]]:
        """Layers by longest path from the sources, placed top to bottom, centred."""
        depth: dict[str, int] = {}
        for node_id in self._topological():
            preds = self.graph.predecessors(node_id)
            depth[node_id] = 1 + max((depth[p] for p in preds), default=-1)
        rows: dict[int, list[str]] = {}
        for node_id, d in depth.items():
            rows.setdefault(d, []).append(node_id)
        return {node_id: [200.0 * (i - (len(row) - 1) / 2), 80.0 * d]
                for d, row in rows.items() for i, node_id in enumerate(row)}

    def _topological(self) -> list[str]:
        leaves = [n.id for n in self.graph.leaves()]
        indegree = {i: len(self.graph.inputs_of(i)) for i in leaves}
        ready = [i for i in leaves if indegree[i] == 0]
        order = []
        while ready:
            node_id = ready.pop(0)
            order.append(node_id)
            for succ in self.graph.successors(node_id):
                indegree[succ] -= 1
                if indegree[succ] == 0:
                    ready.append(succ)
        return order

    def project(self, name: str, description: str, collapsed: bool = False,
                ui_extra: dict[str, Any] | None = None,
                **sections: dict[str, Any]) -> Project:
        ui: dict[str, Any] = {"positions": self.layout(), **(ui_extra or {})}
        if collapsed:
            ui["collapsed"] = list(self.groups)
        return Project(graph=self.graph, name=name, description=description, ui=ui,
                       **sections)


def conv_bn_relu(b: Builder, x: str, prefix: str, filters: int, kernel: int, stride: int = 1,
                 padding: int = 0, eps: float = 1e-5, conv: str = "conv", bn: str = "bn",
                 relu: str | None = "relu") -> str:
    """Convolution without bias, BatchNorm, ReLU: torchvision's BasicConv2d and ResNet stems."""
    layers = [L("Conv2D", f"{prefix}{conv}", filters=filters, kernel_size=kernel, stride=stride,
                padding=padding, bias=False),
              L("BatchNorm", f"{prefix}{bn}", epsilon=eps)]
    if relu is not None:
        layers.append(L("ReLU", f"{prefix}{relu}"))
    return b.seq(x, *layers)


def classifier_head(b: Builder, x: str, classes: int = 1000) -> str:
    return b.seq(x, L("Dense", "fc", units=classes), L("Output", "output", classes=classes))


# ------------------------------------------------------------------ the lecture
def keras_mnist() -> Project:
    b = Builder()
    b.seq(None,
          L("Input", "input_1", shape=[1, 28, 28], scale=1 / 255, channel_order="L"),
          L("Conv2D", "conv1_1", filters=40, kernel_size=5, padding="same", activation="relu"),
          L("MaxPool2D", "max_pooling2d_1", pool_size=2),
          L("Dropout", "dropout_1", rate=0.25),
          L("Conv2D", "conv1_2", filters=32, kernel_size=3, activation="relu",
            initializer="he_normal"),
          L("MaxPool2D", "max_pooling2d_2", pool_size=2),
          L("Dropout", "dropout_2", rate=0.25),
          L("Flatten", "flatten_1"),
          L("Dense", "dense_1", units=64, activation="relu"),
          L("BatchNorm", "batch_normalization_1"),
          L("Dropout", "dropout_3", rate=0.25),
          L("Dense", "dense_2", units=10, activation="softmax"),
          L("Output", "output", classes=10))
    return b.project(
        "keras-mnist",
        "The lecture's Keras CNN for 28×28 handwritten digits. Two convolution/max-pool/"
        "dropout stages, then dense 64 with batch normalization and a 10-way softmax: "
        "87,290 parameters, 128 of them BatchNorm's non-trainable running statistics. "
        "Trains on the digits dataset: press Train (F5).",
        data={"dataset": "digits"},
        training={"optimizer": "adam", "lr": 0.001, "batch_size": 64, "epochs": 15})


def lenet5() -> Project:
    tanh_conv = {"kernel_size": 5, "activation": "tanh", "initializer": "glorot_uniform"}
    b = Builder()
    b.seq(None,
          L("Input", "In", shape=[1, 32, 32], scale=1 / 255, mean="0.1307", std="0.3081",
            channel_order="L"),  # MNIST's statistics: tanh units want centred inputs
          L("Conv2D", "C1", filters=6, **tanh_conv),
          L("AvgPool2D", "S2", pool_size=2, stride=2),
          L("Tanh", "S2_tanh"),
          L("Conv2D", "C3", filters=16, **tanh_conv),
          L("AvgPool2D", "S4", pool_size=2, stride=2),
          L("Tanh", "S4_tanh"),
          L("Conv2D", "C5", filters=120, **tanh_conv),
          L("Flatten", "flatten"),
          L("Dense", "F6", units=84, activation="tanh", initializer="glorot_uniform"),
          L("RBF", "Out", units=10),
          L("Output", "output", classes=10))
    return b.project(
        "lenet-5",
        "LeCun's LeNet-5 (1998), the lecture's first architecture. 32×32 input, 5×5 tanh "
        "convolutions C1/C3/C5 (28, 10, 1), 2×2 average pools S2/S4 (14, 5) each followed by "
        "the table's tanh, dense F6 of 84 and an RBF output of 10 Euclidean units. Trains on "
        "the digits dataset resized to 32×32, with light ImageDataGenerator-style "
        "augmentation (the 1,797 digits are few: without it the network overfits): press "
        "Train (F5) and watch the Training panel.",
        # The lecture pads MNIST's 28×28 digits to 32×32: the loader's resize is intended.
        ui_extra={"accept_data_shape": [1, 28, 28]},
        data={"dataset": "digits"},
        augmentation={"enabled": True, "rotation_range": 10.0, "width_shift_range": 0.1,
                      "height_shift_range": 0.1, "zoom_range": 0.1},
        training={"optimizer": "adam", "lr": 0.001, "batch_size": 64, "epochs": 25})


def alexnet() -> Project:
    same_relu = {"padding": "same", "activation": "relu"}
    b = Builder()
    b.seq(None,
          L("Input", "In", **{**IMAGENET_INPUT, "shape": [3, 227, 227]}),
          L("Conv2D", "C1", filters=96, kernel_size=11, stride=4, activation="relu"),
          L("LocalResponseNorm", "norm1", size=5, alpha=1e-4, beta=0.75, k=2.0),
          L("MaxPool2D", "S2", pool_size=3, stride=2),
          L("Conv2D", "C3", filters=256, kernel_size=5, **same_relu),
          L("LocalResponseNorm", "norm3", size=5, alpha=1e-4, beta=0.75, k=2.0),
          L("MaxPool2D", "S4", pool_size=3, stride=2),
          L("Conv2D", "C5", filters=384, kernel_size=3, **same_relu),
          L("Conv2D", "C6", filters=384, kernel_size=3, **same_relu),
          L("Conv2D", "C7", filters=256, kernel_size=3, **same_relu),
          L("MaxPool2D", "pool5", pool_size=3, stride=2),
          L("Flatten", "flatten"),
          L("Dense", "F8", units=4096, activation="relu"),
          L("Dropout", "drop8", rate=0.5),
          L("Dense", "F9", units=4096, activation="relu"),
          L("Dropout", "drop9", rate=0.5),
          L("Dense", "Out", units=1000, activation="softmax"),
          L("Output", "output", classes=1000))
    return b.project(
        "alexnet",
        "Krizhevsky's AlexNet (2012), as the lecture tabulates it. The input is 227×227: the "
        "table's 55/27/27/13/13/13 map sizes need 227, not the 224 it lists. Local response "
        "normalization follows C1 and C3 and the original paper's final 3×3/2 max pool "
        "(pool5) takes 13×13 to 6×6 before F8. " + FOLDER_HINT,
        data=IMAGENET_DATA, augmentation=IMAGENET_AUGMENTATION,
        training={"optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4,
                  "batch_size": 128, "epochs": 90, "schedule": "step", "step_size": 30})


# ---------------------------------------------------------- ImageNet networks
def vgg16() -> Project:
    b = Builder()
    x = b.add("Input", "input", **IMAGENET_INPUT)
    for block, (filters, convs) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3),
                                              (512, 3)], start=1):
        with b.group(f"block{block}"):
            x = b.seq(x, *[L("Conv2D", f"block{block}_conv{i}", filters=filters,
                             kernel_size=3, padding=1, activation="relu")
                           for i in range(1, convs + 1)],
                      L("MaxPool2D", f"block{block}_pool", pool_size=2))
    x = b.seq(x,
              L("AdaptiveAvgPool", "avgpool", output_size=7),
              L("Flatten", "flatten"),
              L("Dense", "fc1", units=4096, activation="relu"),
              L("Dropout", "dropout1", rate=0.5),
              L("Dense", "fc2", units=4096, activation="relu"),
              L("Dropout", "dropout2", rate=0.5))
    classifier_head(b, x)
    return b.project(
        "vgg16",
        "Oxford's VGG-16 (2014): thirteen 3×3 convolutions and three dense layers. The "
        "convolutions sit in five blocks named as in Keras's VGG16; the parameters equal "
        "torchvision's vgg16 (138,357,544), and its 7×7 adaptive average pool lets other "
        "input sizes reach fc1 unchanged. " + FOLDER_HINT,
        collapsed=True, data=IMAGENET_DATA, augmentation=IMAGENET_AUGMENTATION,
        training={"optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4,
                  "batch_size": 64, "epochs": 90, "schedule": "step", "step_size": 30})


GOOGLENET_MODULES = [  # torchvision's Inception(in, 1x1, 3x3red, 3x3, 5x5red, 5x5, pool_proj)
    ("inception3a", 64, 96, 128, 16, 32, 32),
    ("inception3b", 128, 128, 192, 32, 96, 64),
    "maxpool3",
    ("inception4a", 192, 96, 208, 16, 48, 64),
    ("inception4b", 160, 112, 224, 24, 64, 64),
    ("inception4c", 128, 128, 256, 24, 64, 64),
    ("inception4d", 112, 144, 288, 32, 64, 64),
    ("inception4e", 256, 160, 320, 32, 128, 128),
    "maxpool4",
    ("inception5a", 256, 160, 320, 32, 128, 128),
    ("inception5b", 384, 192, 384, 48, 128, 128),
]


def inception(b: Builder, x: str, name: str, c1: int, c3r: int, c3: int, c5r: int, c5: int,
              proj: int) -> str:
    """Four branches concatenated; branch3 uses a 3×3 convolution, as torchvision does."""
    def basic(src: str, prefix: str, filters: int, kernel: int) -> str:
        return conv_bn_relu(b, src, prefix, filters, kernel, padding=kernel // 2, eps=1e-3)

    with b.group(name):
        p = f"{name}_"
        branch1 = basic(x, f"{p}branch1_", c1, 1)
        branch2 = basic(basic(x, f"{p}branch2_0_", c3r, 1), f"{p}branch2_1_", c3, 3)
        branch3 = basic(basic(x, f"{p}branch3_0_", c5r, 1), f"{p}branch3_1_", c5, 3)
        pool = b.add("MaxPool2D", f"{p}branch4_0", x, pool_size=3, stride=1, padding=1,
                     ceil_mode=True)
        branch4 = basic(pool, f"{p}branch4_1_", proj, 1)
        return b.add("Concat", f"{p}concat", branch1, branch2, branch3, branch4)


def googlenet() -> Project:
    b = Builder()
    x = b.add("Input", "input", **IMAGENET_INPUT)
    x = conv_bn_relu(b, x, "conv1_", 64, 7, stride=2, padding=3, eps=1e-3)
    x = b.add("MaxPool2D", "maxpool1", x, pool_size=3, stride=2, ceil_mode=True)
    x = conv_bn_relu(b, x, "conv2_", 64, 1, eps=1e-3)
    x = conv_bn_relu(b, x, "conv3_", 192, 3, padding=1, eps=1e-3)
    x = b.add("MaxPool2D", "maxpool2", x, pool_size=3, stride=2, ceil_mode=True)
    for module in GOOGLENET_MODULES:
        if module == "maxpool3":
            x = b.add("MaxPool2D", module, x, pool_size=3, stride=2, ceil_mode=True)
        elif module == "maxpool4":
            x = b.add("MaxPool2D", module, x, pool_size=2, stride=2, ceil_mode=True)
        else:
            x = inception(b, x, *module)
    x = b.seq(x, L("GlobalAvgPool", "avgpool"), L("Dropout", "dropout", rate=0.2))
    classifier_head(b, x)
    return b.project(
        "googlenet",
        "Google's GoogLeNet / Inception v1 (2014): nine inception modules. Each is four "
        "parallel branches (1×1, 1×1→3×3, 1×1→3×3, pool→1×1) concatenated. Built like "
        "torchvision's googlenet without the auxiliary classifiers (convolutions without bias "
        "+ BatchNorm, ceil-mode max pools): 6,624,904 trainable parameters. " + FOLDER_HINT,
        collapsed=True, data=IMAGENET_DATA, augmentation=IMAGENET_AUGMENTATION,
        training={"optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 1e-4,
                  "batch_size": 128, "epochs": 90, "schedule": "cosine"})


def basic_block(b: Builder, x: str, p: str, planes: int, stride: int, downsample: bool) -> str:
    """ResNet-18/34's block: 3×3 → 3×3, added to the (projected) input."""
    y = conv_bn_relu(b, x, p, planes, 3, stride, 1, conv="conv1", bn="bn1", relu="relu1")
    y = conv_bn_relu(b, y, p, planes, 3, 1, 1, conv="conv2", bn="bn2", relu=None)
    return residual(b, x, y, p, planes, stride, downsample)


def bottleneck(b: Builder, x: str, p: str, planes: int, stride: int, downsample: bool) -> str:
    """ResNet-50/101/152's block (v1.5: the stride sits on the 3×3): 1×1 → 3×3 → 1×1 ×4."""
    y = conv_bn_relu(b, x, p, planes, 1, conv="conv1", bn="bn1", relu="relu1")
    y = conv_bn_relu(b, y, p, planes, 3, stride, 1, conv="conv2", bn="bn2", relu="relu2")
    y = conv_bn_relu(b, y, p, planes * 4, 1, conv="conv3", bn="bn3", relu=None)
    return residual(b, x, y, p, planes * 4, stride, downsample)


def residual(b: Builder, x: str, y: str, p: str, filters: int, stride: int,
             downsample: bool) -> str:
    if downsample:
        x = conv_bn_relu(b, x, p, filters, 1, stride, conv="downsample_0", bn="downsample_1",
                         relu=None)
    return b.seq(b.add("Add", f"{p}add", y, x), L("ReLU", f"{p}relu"))


def resnet(name: str, block: Callable[..., str], expansion: int, depths: list[int],
           title: str) -> Project:
    b = Builder()
    x = b.add("Input", "input", **IMAGENET_INPUT)
    x = conv_bn_relu(b, x, "", 64, 7, stride=2, padding=3, conv="conv1", bn="bn1")
    x = b.add("MaxPool2D", "maxpool", x, pool_size=3, stride=2, padding=1)
    channels = 64
    for stage, (planes, depth) in enumerate(zip([64, 128, 256, 512], depths), start=1):
        with b.group(f"layer{stage}"):
            for i in range(depth):
                stride = 2 if stage > 1 and i == 0 else 1
                downsample = i == 0 and (stride != 1 or channels != planes * expansion)
                with b.group(f"layer{stage}_{i}"):
                    x = block(b, x, f"layer{stage}_{i}_", planes, stride, downsample)
                channels = planes * expansion
    x = b.add("GlobalAvgPool", "avgpool", x)
    classifier_head(b, x)
    return b.project(
        name, title + " Residual blocks are groups named like torchvision's modules "
        "(layer1_0, ...); convolutions without bias, BatchNorm and ReLU are separate blocks, "
        "as in torchvision's " + name + ". " + FOLDER_HINT,
        collapsed=True, data=IMAGENET_DATA, augmentation=IMAGENET_AUGMENTATION,
        training={"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4,
                  "batch_size": 256, "epochs": 90, "schedule": "step", "step_size": 30})


TEMPLATES: dict[str, Callable[[], Project]] = {
    "keras-mnist": keras_mnist,
    "lenet-5": lenet5,
    "alexnet": alexnet,
    "vgg16": vgg16,
    "googlenet": googlenet,
    "resnet18": lambda: resnet(
        "resnet18", basic_block, 1, [2, 2, 2, 2],
        "He et al.'s ResNet-18 (2015): 8 basic residual blocks of two 3×3 convolutions."),
    "resnet50": lambda: resnet(
        "resnet50", bottleneck, 4, [3, 4, 6, 3],
        "He et al.'s ResNet-50 (2015): 16 bottleneck residual blocks (1×1, 3×3, 1×1)."),
    "resnet152": lambda: resnet(
        "resnet152", bottleneck, 4, [3, 8, 36, 3],
        "He et al.'s ResNet-152 (2015): 50 bottleneck residual blocks (1×1, 3×3, 1×1)."),
}


def main(argv: list[str]) -> int:
    unknown = [n for n in argv if n not in TEMPLATES]
    if unknown:
        print(f"unknown template(s) {', '.join(unknown)}; known: {', '.join(TEMPLATES)}")
        return 2
    TEMPLATE_DIR.mkdir(parents=True, exist_ok=True)
    for name in argv or list(TEMPLATES):
        path = save(TEMPLATES[name](), TEMPLATE_DIR / f"{name}.netdraft")
        print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
