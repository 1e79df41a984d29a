"""Plain PyTorch code for each layer kind: ONE table, keyed by kind id.

An emitter turns a block (its input shapes, resolved parameters and output shape) into a
``Code``: the submodule's constructor, the forward expression and the weight-initialisation
lines. The result must compute exactly what the kind's ``build`` module computes and keep its
state-dict keys (``Conv2dAct`` subclasses ``nn.Conv2d``, so a Conv2D is an ``nn.Conv2d``
here). tests/export/test_export_kinds.py fails when a registered kind has no entry, so adding a
kind forces adding its emitter.
"""

from __future__ import annotations

from typing import Any

from engine.layers.code import (
    Code,
    Emitter,
    NoCode,
    activated,
    call,
    initializer_lines,
    number,
    pad_call,
    plain,
    size,
)
from engine.layers.pool import pooled_size, window
from engine.shapes import pair, resolve_padding

Shape = tuple[int, ...]


# torch.nn has no module for these; each is a few lines in the generated file.
HELPERS = {
    "RBF": '''\
class RBF(nn.Module):
    """Euclidean radial-basis units (LeNet-5): the squared distance to each unit's centre."""

    def __init__(self, in_features, units):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(units, in_features))
        bound = in_features ** -0.5
        nn.init.uniform_(self.weight, -bound, bound)

    def forward(self, x):
        x2 = (x * x).sum(dim=1, keepdim=True)
        w2 = (self.weight * self.weight).sum(dim=1)
        return x2 - 2.0 * x @ self.weight.t() + w2
''',
    "SumPool2d": '''\
class SumPool2d(nn.Module):
    """Sum pooling: the sum over each window, as an average over zero-padded input times
    the window area."""

    def __init__(self, kernel_size, stride, pad=(0, 0, 0, 0)):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride
        self.pad = pad
        self.area = float(kernel_size[0] * kernel_size[1])

    def forward(self, x):
        x = F.pad(x, self.pad)
        return F.avg_pool2d(x, self.kernel_size, self.stride) * self.area
''',
    "torchvision_backbone": '''\
def torchvision_backbone(name, cut="", options=None):
    """torchvision's network (its weights come from Netdraft's), cut after ``cut``."""
    from torchvision.models import get_model
    from torchvision.models.feature_extraction import create_feature_extractor

    model = get_model(name, weights=None, **(options or {})).eval()
    if not cut:
        return model
    extractor = create_feature_extractor(model, return_nodes=[cut])
    output = next(node for node in extractor.graph.nodes if node.op == "output")
    output.args = (output.args[0][cut],)
    extractor.recompile()
    return extractor
''',
}

def _conv(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
    kernel, dilation = pair(p["kernel_size"]), pair(p["dilation"])
    top, bottom, left, right = resolve_padding(p["padding"], kernel, dilation)
    symmetric = top == bottom and left == right
    padding = size((top, left)) if symmetric and (top or left) else None
    module = call("nn.Conv2d", str(inputs[0][0]), str(p["filters"]), size(kernel),
                  stride=None if pair(p["stride"]) == (1, 1) else size(p["stride"]),
                  padding=padding,
                  dilation=None if dilation == (1, 1) else size(dilation),
                  groups=None if p["groups"] == 1 else str(p["groups"]),
                  bias=None if p["bias"] else "False")
    x = "{x}" if symmetric else pad_call((left, right, top, bottom))
    fused = activated(f"{{m}}({x})", p["activation"])
    return Code(module, fused.call, initializer_lines(p, p["bias"]), scores=fused.scores)


def _depthwise(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
    c = inputs[0][0]
    return _conv(inputs, {**p, "filters": c * p["depth_multiplier"], "groups": c}, out)


def _transpose(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
    nonzero = {k: (None if pair(p[k]) == (0, 0) else size(p[k]))
               for k in ("padding", "output_padding")}
    module = call("nn.ConvTranspose2d", str(inputs[0][0]), str(p["filters"]),
                  size(p["kernel_size"]),
                  stride=None if pair(p["stride"]) == (1, 1) else size(p["stride"]),
                  **nonzero, bias=None if p["bias"] else "False")
    fused = activated("{m}({x})", p["activation"])
    return Code(module, fused.call, initializer_lines(p, p["bias"]), scores=fused.scores)


def _dense(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
    module = call("nn.Linear", str(inputs[0][0]), str(p["units"]),
                  bias=None if p["bias"] else "False")
    fused = activated("{m}({x})", p["activation"])
    return Code(module, fused.call, initializer_lines(p, p["bias"]), scores=fused.scores)


def _rbf(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
    # The nearest centre scores highest, as GraphModule.logits negates the distances.
    return Code(f"RBF({inputs[0][0]}, {p['units']})", helpers=("RBF",), scores="-{m}({x})")


def _pool_pads(p: dict[str, Any]) -> tuple[tuple[int, int, int, int], bool]:
    top, bottom, left, right = resolve_padding(p["padding"], pair(p["pool_size"]))
    return (left, right, top, bottom), top == bottom and left == right


def _torch_pool(name: str, pad_value: str | None) -> Emitter:
    def emit(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
        win = window(p)
        pads, symmetric = _pool_pads(p)
        left, _, top, _ = pads
        stride = None if pair(win["stride"]) == pair(win["kernel_size"]) else size(
            win["stride"])
        module = call(name, size(win["kernel_size"]), stride=stride,
                      padding=size((top, left)) if symmetric and (top or left) else None,
                      ceil_mode="True" if p["ceil_mode"] else None)
        x = "{x}" if symmetric else pad_call(pads, pad_value)
        return Code(module, f"{{m}}({x})")
    return emit


def _sum_pool(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
    # The padding SumPool2d works out per call depends only on H×W, fixed by the Input.
    win = window(p)
    (kh, kw), (sh, sw) = pair(win["kernel_size"]), pair(win["stride"])
    (left, right, top, bottom), symmetric = _pool_pads(p)
    _, h, w = inputs[0]
    first = not symmetric
    out_h = pooled_size(h, kh, sh, top, bottom, p["ceil_mode"], padded_first=first)
    out_w = pooled_size(w, kw, sw, left, right, p["ceil_mode"], padded_first=first)
    bottom += max(0, (out_h - 1) * sh + kh - (h + top + bottom))
    right += max(0, (out_w - 1) * sw + kw - (w + left + right))
    pads = (left, right, top, bottom)
    module = call("SumPool2d", f"({kh}, {kw})", f"({sh}, {sw})",
                  pad=None if pads == (0, 0, 0, 0) else str(pads))
    return Code(module, helpers=("SumPool2d",))


def _batch_norm(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
    layer = "nn.BatchNorm1d" if len(inputs[0]) == 1 else "nn.BatchNorm2d"
    return Code(call(layer, str(inputs[0][0]),
                     eps=None if p["epsilon"] == 1e-5 else number(p["epsilon"]),
                     momentum=None if p["momentum"] == 0.1 else number(p["momentum"])))


def _layer_norm(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
    shape = inputs[0]
    dims = str(shape[0]) if len(shape) == 1 else str(tuple(shape))
    return Code(call("nn.LayerNorm", dims,
                     eps=None if p["epsilon"] == 1e-5 else number(p["epsilon"])))


def _lrn(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
    return Code(call("nn.LocalResponseNorm", str(p["size"]),
                     alpha=None if p["alpha"] == 1e-4 else number(p["alpha"]),
                     beta=None if p["beta"] == 0.75 else number(p["beta"]),
                     k=None if p["k"] == 1.0 else number(p["k"])))


def _leaky(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
    slope = p["negative_slope"]
    return Code("nn.LeakyReLU()" if slope == 0.01 else f"nn.LeakyReLU({number(slope)})")


def _elu(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
    return Code("nn.ELU()" if p["alpha"] == 1.0 else f"nn.ELU(alpha={number(p['alpha'])})")


def _softmax(name: str) -> Emitter:
    return lambda inputs, p, out: Code(f"nn.{name}(dim=1)", scores="{x}")


def _reshape(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
    return Code(None, "{x}.reshape(-1, " + ", ".join(str(d) for d in out) + ")")


def _zero_pad(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
    ph, pw = pair(p["padding"])
    return Code(f"nn.ZeroPad2d({ph})" if ph == pw else f"nn.ZeroPad2d(({pw}, {pw}, {ph}, {ph}))")


def _upsample(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
    extra = {"align_corners": "False"} if p["mode"] == "bilinear" else {}
    return Code(call("nn.Upsample", scale_factor=number(p["scale_factor"]),
                     mode=f'"{p["mode"]}"', **extra))


def _merge(operator: str) -> Emitter:
    def emit(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
        return Code(None, f" {operator} ".join(f"{{x{i}}}" for i in range(len(inputs))))
    return emit


def _backbone(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
    scheme, _, name = p["source"].partition(":")
    if scheme != "torchvision":
        raise NoCode(f"a Backbone from {p['source']!r} runs an ONNX graph through Netdraft's "
                     "own modules; export the project to ONNX instead")
    from engine.importers.backbones import options_of

    options = options_of(p)
    if name == "googlenet":
        options.setdefault("init_weights", True)  # as Netdraft builds it
    args = [repr(name)] + ([repr(p["cut"])] if p["cut"] or options else [])
    if options:
        args.append(repr(options))
    return Code(f"torchvision_backbone({', '.join(args)})", helpers=("torchvision_backbone",))


def _no_code(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
    return Code(None, "{x}")


EMITTERS: dict[str, Emitter] = {
    # Input and Output carry no computation: python_code.py writes the preprocessing.
    "Input": _no_code,
    "Output": _no_code,
    "Conv2D": _conv,
    "DepthwiseConv2D": _depthwise,
    "ConvTranspose2D": _transpose,
    "Dense": _dense,
    "RBF": _rbf,
    "MaxPool2D": _torch_pool("nn.MaxPool2d", 'float("-inf")'),
    "AvgPool2D": _torch_pool("nn.AvgPool2d", None),
    "SumPool2D": _sum_pool,
    "GlobalAvgPool": lambda i, p, o: Code(None, "{x}.mean(dim=(2, 3))"),
    "GlobalMaxPool": lambda i, p, o: Code(None, "{x}.amax(dim=(2, 3))"),
    "AdaptiveAvgPool": lambda i, p, o: Code(f"nn.AdaptiveAvgPool2d({size(p['output_size'])})"),
    "BatchNorm": _batch_norm,
    "LayerNorm": _layer_norm,
    "LocalResponseNorm": _lrn,
    "ReLU": plain("nn.ReLU()"),
    "ReLU6": plain("nn.ReLU6()"),
    "LeakyReLU": _leaky,
    "ELU": _elu,
    "GELU": plain("nn.GELU()"),
    "SiLU": plain("nn.SiLU()"),
    "Tanh": plain("nn.Tanh()"),
    "Sigmoid": plain("nn.Sigmoid()"),
    "Hardswish": plain("nn.Hardswish()"),
    "Hardsigmoid": plain("nn.Hardsigmoid()"),
    "Softmax": _softmax("Softmax"),
    "LogSoftmax": _softmax("LogSoftmax"),
    "Dropout": plain("nn.Dropout({rate!r})"),
    "SpatialDropout2D": plain("nn.Dropout2d({rate!r})"),
    "Flatten": plain("nn.Flatten()"),
    "Reshape": _reshape,
    "ZeroPad2D": _zero_pad,
    "Upsample": _upsample,
    "Add": _merge("+"),
    "Multiply": _merge("*"),
    "Concat": lambda i, p, o: Code(None, "torch.cat([{xs}], dim=1)"),
    "Backbone": _backbone,
}


def emit(kind: str, inputs: list[Shape], params: dict[str, Any], out: Shape) -> Code:
    try:
        emitter = EMITTERS[kind]
    except KeyError:
        raise NoCode(f"no Python code is defined for {kind!r} blocks; add it to EMITTERS in "
                     "engine/export/emitters.py") from None
    return emitter(inputs, params, out)
