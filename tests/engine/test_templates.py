"""The bundled templates: they open, validate, and count what the lecture and torchvision count."""

from __future__ import annotations

import re

import pytest

from engine import templates
from engine.summary import format_text, summarize
from engine.validate import analyze

ALL = list(templates.ORDER)

# sum(p.numel() for p in model.parameters()) of torchvision's models, 1,000 classes.
TORCHVISION_PARAMS = {
    "vgg16": 138_357_544,
    "googlenet": 6_624_904,
    "resnet18": 11_689_512,
    "resnet50": 25_557_032,
    "resnet152": 60_192_808,
}


@pytest.fixture(scope="module")
def opened():
    cache = {}

    def get(name):
        if name not in cache:
            project = templates.open_template(name)
            cache[name] = (project, analyze(project.graph))
        return cache[name]

    return get


def test_every_template_is_bundled():
    assert templates.names() == ALL


@pytest.mark.parametrize("name", ALL)
def test_template_opens_and_validates(name, opened):
    project, analysis = opened(name)
    assert project.name == name
    assert analysis.problems == []
    assert analysis.ok
    assert project.graph.lint() == []
    assert all(r.status == "ok" for r in analysis.results.values())


@pytest.mark.parametrize("name", ALL)
def test_template_describes_itself(name, opened):
    project, _ = opened(name)
    first = project.description.split(". ")[0]
    assert 10 <= len(first) <= 90, first
    assert len(project.description) > len(first) + 20  # more than a title


@pytest.mark.parametrize("name", ALL)
def test_template_settings_are_known_and_in_range(name, opened):
    from engine import settings

    project, _ = opened(name)
    for section, schema in settings.SECTIONS.items():
        values = getattr(project, section)
        known = {p.name: p for p in schema}
        assert set(values) <= set(known), section
        for key, value in values.items():
            assert known[key].check(value) is None, (section, key, value)
    assert project.data.get("dataset")


def test_ui_positions_cover_every_block(opened):
    for name in ALL:
        project, _ = opened(name)
        leaves = {n.id for n in project.graph.leaves()}
        assert set(project.ui["positions"]) == leaves, name


# ---------------------------------------------------------------- the lecture
KERAS_ROWS = [
    ("conv1_1", 1_040), ("max_pooling2d_1", 0), ("dropout_1", 0), ("conv1_2", 11_552),
    ("max_pooling2d_2", 0), ("dropout_2", 0), ("flatten_1", 0), ("dense_1", 73_792),
    ("batch_normalization_1", 256), ("dropout_3", 0), ("dense_2", 650),
]
KERAS_SHAPES = [(40, 28, 28), (40, 14, 14), (40, 14, 14), (32, 12, 12), (32, 6, 6), (32, 6, 6),
                (1152,), (64,), (64,), (64,), (10,)]


def test_keras_mnist_matches_the_lecture_summary(opened):
    project, analysis = opened("keras-mnist")
    summary = summarize(project.graph, analysis)
    assert [(r.name, r.params) for r in summary.rows] == KERAS_ROWS
    shapes = [analysis.results[r.node_id].shape for r in summary.rows]
    assert shapes == KERAS_SHAPES
    assert (summary.total_params, summary.trainable_params,
            summary.non_trainable_params) == (87_290, 87_162, 128)
    text = format_text(summary, project.name)
    for line in ("Total params: 87,290", "Trainable params: 87,162",
                 "Non-trainable params: 128"):
        assert line in text.splitlines()


def test_keras_mnist_uses_the_lecture_hyperparameters(opened):
    project, _ = opened("keras-mnist")
    g = project.graph
    assert g.by_name("conv1_1").params == {"filters": 40, "kernel_size": 5, "padding": "same",
                                           "activation": "relu"}
    assert g.by_name("conv1_2").params["initializer"] == "he_normal"
    assert [g.by_name(f"dropout_{i}").params["rate"] for i in (1, 2, 3)] == [0.25] * 3
    assert g.by_name("dense_2").params["activation"] == "softmax"
    assert project.data["dataset"] == "digits"


def sizes(analysis, graph, names):
    return [analysis.results[graph.by_name(n).id].shape for n in names]


def test_lenet5_follows_the_lecture_table(opened):
    project, analysis = opened("lenet-5")
    g = project.graph
    got = sizes(analysis, g, ["C1", "S2", "C3", "S4", "C5", "F6", "Out"])
    assert got == [(6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 5, 5), (120, 1, 1), (84,),
                   (10,)]
    assert g.by_name("S2").kind == g.by_name("S4").kind == "AvgPool2D"
    assert g.by_name("Out").kind == "RBF"
    for name in ("C1", "C3", "C5", "F6"):
        assert g.by_name(name).params["activation"] == "tanh"
    assert [s.name for s in map(g.node, g.successors(g.by_name("S2").id))] == ["S2_tanh"]
    assert project.data["dataset"] == "digits"


def test_alexnet_map_sizes_need_227(opened):
    project, analysis = opened("alexnet")
    g = project.graph
    names = ["C1", "S2", "C3", "S4", "C5", "C6", "C7", "pool5"]
    got = [s[1:] for s in sizes(analysis, g, names)]
    assert got == [(s, s) for s in (55, 27, 27, 13, 13, 13, 13, 6)]
    assert [s[0] for s in sizes(analysis, g, names)] == [96, 96, 256, 256, 384, 384, 256, 256]
    assert sizes(analysis, g, ["F8", "F9", "Out"]) == [(4096,), (4096,), (1000,)]
    assert "227" in project.description and "224" in project.description


# ----------------------------------------------------------------- torchvision
def torchvision_model(name):
    torch = pytest.importorskip("torch")
    models = pytest.importorskip("torchvision.models")
    extra = {"aux_logits": False, "init_weights": False} if name == "googlenet" else {}
    with torch.device("meta"):  # weights=None and no memory: only shapes and counts
        return getattr(models, name)(weights=None, **extra)


def running_stats(model):
    import torch.nn as nn

    return sum(m.running_mean.numel() + m.running_var.numel() for m in model.modules()
               if isinstance(m, nn.modules.batchnorm._BatchNorm))


@pytest.mark.parametrize("name", list(TORCHVISION_PARAMS))
def test_counts_equal_torchvision(name, opened):
    project, analysis = opened(name)
    model = torchvision_model(name)
    parameters = sum(p.numel() for p in model.parameters())
    assert parameters == TORCHVISION_PARAMS[name]
    totals = analysis.totals()
    # torchvision's parameters() are what trains; BatchNorm's running statistics are
    # buffers, which Netdraft counts as non-trainable params, as Keras does.
    assert totals["trainable"] == parameters
    assert totals["non_trainable"] == running_stats(model)
    assert totals["params"] == parameters + running_stats(model)


def torch_name(node_name):
    """layer1_0_downsample_0 -> layer1.0.downsample.0, inception3a_branch2_1_conv -> ..."""
    return re.sub(r"_(?=\d|conv|bn|downsample|branch)", ".", node_name)


@pytest.mark.parametrize("name", ["googlenet", "resnet18", "resnet50", "resnet152"])
def test_each_block_equals_its_torchvision_module(name, opened):
    """Names follow torchvision's modules: per-block counts and output shapes agree."""
    import torch

    project, analysis = opened(name)
    model = torchvision_model(name)
    modules = dict(model.named_modules())
    seen = {}

    def record(key):
        def hook(module, inputs, output):
            seen[key] = tuple(output.shape)
        return hook

    hooks = [m.register_forward_hook(record(k)) for k, m in modules.items()
             if k and not isinstance(m, torch.nn.ReLU)]
    model.eval()
    model(torch.empty(1, 3, 224, 224, device="meta"))
    for hook in hooks:
        hook.remove()
    matched = 0
    for node in project.graph.leaves():
        key = torch_name(node.name)
        if key not in modules or isinstance(modules[key], torch.nn.ReLU):
            continue
        matched += 1
        result = analysis.results[node.id]
        params = sum(p.numel() for p in modules[key].parameters())
        assert result.trainable == params, node.name
        assert (1, *result.shape) == seen[key] or key == "avgpool", node.name
    convs = sum(isinstance(m, torch.nn.Conv2d) for m in modules.values())
    bns = sum(isinstance(m, torch.nn.BatchNorm2d) for m in modules.values())
    assert matched >= convs + bns + 1  # every conv, bn and the fc found their block


def test_inception_modules_and_residual_blocks_are_groups(opened):
    project, _ = opened("googlenet")
    g = project.graph
    names = {n.name for n in g.nodes.values() if n.is_group}
    assert names == {f"inception{i}" for i in ("3a", "3b", "4a", "4b", "4c", "4d", "4e",
                                               "5a", "5b")}
    concat = g.by_name("inception3a_concat")
    assert concat.kind == "Concat" and concat.parent == g.by_name("inception3a").id
    assert [g.node(p).name for p in g.predecessors(concat.id)] == [
        "inception3a_branch1_relu", "inception3a_branch2_1_relu", "inception3a_branch3_1_relu",
        "inception3a_branch4_1_relu"]
    project, _ = opened("resnet50")
    g = project.graph
    block = g.by_name("layer2_0")
    assert block.is_group and g.node(block.parent).name == "layer2"
    members = [n.name for n in g.members(block.id)]
    assert members == [f"layer2_0_{m}" for m in (
        "conv1", "bn1", "relu1", "conv2", "bn2", "relu2", "conv3", "bn3", "downsample_0",
        "downsample_1", "add", "relu")]
