"""Pooling kinds (feature extraction): max, average and sum pooling, global and adaptive pools.

Pools have no weights. MACs count the multiply-accumulates of convolution, dense and RBF
weights only, so every pool reports 0 MACs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.layers.base import (
    FEATURE_POOL,
    CallConverter,
    LayerKind,
    OnnxHandler,
    Param,
    ParamFix,
    Shape,
    ShapeError,
    Spec,
    TorchConverter,
    describe_window,
    expect_image,
    size_words,
    spatial_out,
)
from engine.layers.code import Code, Emitter, call, pad_call, size
from engine.layers.convert import call_arg, is_traced, onnx_attrs, onnx_window, size_param
from engine.layers.reshape import reshape
from engine.shapes import pair, pooled_size, resolve_padding

POOL_SIZE = Param("pool_size", "size", 2, "Window size: one number or [h, w].", min=1)
STRIDE = Param("stride", "size", None, "Distance between windows; empty means the pool size "
               "(windows side by side, no overlap).", min=1, optional=True)
PADDING = Param("padding", "padding", "valid",
                "'valid' (no padding), 'same' (keeps H×W at stride 1), or explicit padding "
                "per side, at most half the window: a number or [h, w]. Max pooling never "
                "picks a padded value; average and sum pooling count padded zeros.")
CEIL_MODE = Param("ceil_mode", "bool", False,
                  "Round the output size up: a window that runs past the border still gives "
                  "an output (PyTorch's ceil_mode).")


def window(p: dict[str, Any]) -> dict[str, Any]:
    """A pool's parameters in conv.py's sliding-window words (stride unset = pool size)."""
    stride = p["pool_size"] if p["stride"] is None else p["stride"]
    return {"kernel_size": p["pool_size"], "stride": stride, "padding": p["padding"]}


def _pool_shape(inputs: list[Shape], p: dict[str, Any]) -> Shape:
    c, h, w = expect_image(inputs[0])
    win = window(p)
    kh, kw = pair(win["kernel_size"])
    if not isinstance(p["padding"], str):
        ph, pw = pair(p["padding"])
        if ph > kh // 2 or pw > kw // 2:
            most = min(kh // 2, kw // 2)
            raise ShapeError(f"padding {size_words(ph, pw)} is more than half its pool size "
                             f"{size_words(kh, kw)}",
                             f"use padding ≤ {most}, or 'same'",
                             (ParamFix(f"Use padding {most}", (("padding", most),)),
                              ParamFix("Use padding 'same'", (("padding", "same"),))))
    if not p["ceil_mode"]:
        out_h, out_w = spatial_out(h, w, win, "pool_size")
        return (c, out_h, out_w)
    sh, sw = pair(win["stride"])
    top, bottom, left, right = resolve_padding(p["padding"], (kh, kw))
    padded_first = not (top == bottom and left == right)  # as the built module pads
    out_h = pooled_size(h, kh, sh, top, bottom, ceil_mode=True, padded_first=padded_first)
    out_w = pooled_size(w, kw, sw, left, right, ceil_mode=True, padded_first=padded_first)
    if out_h < 1 or out_w < 1:
        # Raises: the window does not fit its padded input.
        spatial_out(h, w, win, "pool_size")
    return (c, out_h, out_w)


def _describe_pool(p: dict[str, Any]) -> str:
    text = describe_window(window(p))
    return text + ", ceil" if p["ceil_mode"] else text


def _pool_pads(p: dict[str, Any]) -> tuple[tuple[int, int, int, int], bool]:
    """(left, right, top, bottom), as F.pad takes them, and whether they are even."""
    top, bottom, left, right = resolve_padding(p["padding"], pair(p["pool_size"]))
    return (left, right, top, bottom), top == bottom and left == right


def _padded_pool(module: str, code_name: str,
                 pad_value: str | None) -> tuple[Callable[..., Any], Emitter]:
    """Build and emit for a torch pool that takes the padding words (MaxPool2dPad…); uneven
    padding is added first, with ``pad_value`` (max pooling must never pick a padded 0)."""
    def build(inputs: list[Shape], p: dict[str, Any], out: Shape):
        from engine.layers import modules

        win = window(p)
        return getattr(modules, module)(win["kernel_size"], win["stride"], p["padding"],
                                        p["ceil_mode"])

    def emit(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
        win = window(p)
        pads, symmetric = _pool_pads(p)
        left, _, top, _ = pads
        stride = None if pair(win["stride"]) == pair(win["kernel_size"]) else size(
            win["stride"])
        module_call = call(code_name, size(win["kernel_size"]), stride=stride,
                           padding=size((top, left)) if symmetric and (top or left) else None,
                           ceil_mode="True" if p["ceil_mode"] else None)
        x = "{x}" if symmetric else pad_call(pads, pad_value)
        pooled = f"{{m}}({x})"
        if not symmetric and p["ceil_mode"]:
            # torch pools the padding as input: keep the windows the rule keeps.
            pooled += f"[:, :, :{out[1]}, :{out[2]}]"
        return Code(module_call, pooled)

    return build, emit


def _sum_pool_args(inputs: list[Shape], p: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """SumPool2d's arguments: even padding stays torch's own (so torch still refuses more
    than half a window); uneven padding, and the zeros that complete the windows ceil_mode
    lets run past the border, are added first. They depend only on the input's H×W, which
    the Input fixes, so they are worked out once, when the block is built."""
    win = window(p)
    (kh, kw), (sh, sw) = pair(win["kernel_size"]), pair(win["stride"])
    (left, right, top, bottom), symmetric = _pool_pads(p)
    _, h, w = inputs[0]
    first = not symmetric
    out_h = pooled_size(h, kh, sh, top, bottom, p["ceil_mode"], padded_first=first)
    out_w = pooled_size(w, kw, sw, left, right, p["ceil_mode"], padded_first=first)
    extra_h = max(0, (out_h - 1) * sh + kh - (h + top + bottom))
    extra_w = max(0, (out_w - 1) * sw + kw - (w + left + right))
    if symmetric:
        padding, pad = (top, left), (0, extra_w, 0, extra_h)
    else:
        padding, pad = (0, 0), (left, right + extra_w, top, bottom + extra_h)
    return {"kernel_size": (kh, kw), "stride": (sh, sw), "padding": padding, "pad": pad}


def _sum_pool_build(inputs: list[Shape], p: dict[str, Any], out: Shape):
    from engine.layers.modules import SumPool2d

    return SumPool2d(**_sum_pool_args(inputs, p))


def _sum_pool_emit(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
    args = _sum_pool_args(inputs, p)
    module_call = call("SumPool2d", str(args["kernel_size"]), str(args["stride"]),
                       padding=str(args["padding"]) if any(args["padding"]) else None,
                       pad=str(args["pad"]) if any(args["pad"]) else None)
    return Code(module_call, helpers=("engine.layers.modules.SumPool2d",))


def _pool_kind(kind_id: str, help_text: str,
               build_emit: tuple[Callable[..., Any], Emitter], **sources: Any) -> LayerKind:
    build, emit = build_emit
    return LayerKind(
        id=kind_id,
        category=FEATURE_POOL,
        help=help_text,
        params=(POOL_SIZE, STRIDE, PADDING, CEIL_MODE),
        shape=_pool_shape,
        build=build,
        describe=_describe_pool,
        emit=emit,
        **sources,
    )


def _torch_window(kind_id: str, m: Any) -> Spec:
    stride = size_param(m.stride) if m.stride is not None else None
    params = {"pool_size": size_param(m.kernel_size), "stride": stride,
              "padding": size_param(m.padding), "ceil_mode": bool(m.ceil_mode)}
    if stride == params["pool_size"]:
        params["stride"] = None
    return kind_id, params


def _torch_max_pool(m: Any) -> Spec:
    if size_param(m.dilation) != 1 or m.return_indices:
        return "MaxPool2d with dilation or return_indices"
    return _torch_window(max_pool2d.id, m)


def _torch_avg_pool(m: Any) -> Spec:
    if m.divisor_override or (size_param(m.padding) and not m.count_include_pad):
        return "AvgPool2d with divisor_override or count_include_pad=False"
    return _torch_window(avg_pool2d.id, m)


def _pool_call(module: str, names: tuple[tuple[str, Any], ...],
               convert: TorchConverter) -> CallConverter:
    """F.max_pool2d / F.avg_pool2d with constant arguments (Inception v3), read as the
    module they equal; ``names``: the function's arguments after the input, with defaults."""
    def converter(node: Any) -> tuple[Spec, list[Any]]:
        import torch.nn as nn

        first = node.args[0] if node.args else None
        values = {n: call_arg(node, i + 1, n, d) for i, (n, d) in enumerate(names)}
        if any(is_traced(v) for v in values.values()) or values["kernel_size"] is None:
            return f"{node.target.__name__} with computed arguments", [first]
        if not values["stride"]:
            values["stride"] = None
        return convert(getattr(nn, module)(**values)), [first]

    return converter


_MAX_POOL_ARGS = (("kernel_size", None), ("stride", None), ("padding", 0), ("dilation", 1),
                  ("ceil_mode", False), ("return_indices", False))
_AVG_POOL_ARGS = (("kernel_size", None), ("stride", None), ("padding", 0), ("ceil_mode", False),
                  ("count_include_pad", True), ("divisor_override", None))


def _onnx_pool(kind_id: str) -> OnnxHandler:
    def handle(importer: Any, node: Any) -> None:
        a = onnx_attrs(node)
        padding, why = onnx_window(a)
        kernel = a.get("kernel_shape", [])
        if why or len(kernel) != 2 or set(a.get("dilations", [1])) != {1} \
                or len(node.output) > 1:
            return importer.miss(node, why or "not 2-D, dilated or with indices")
        if kind_id == avg_pool2d.id and padding not in (0, "same") and not a.get(
                "count_include_pad", 0):
            return importer.miss(node, "padded zeros left out of the average")
        stride = size_param(a.get("strides", [1, 1]))
        params = {"pool_size": size_param(kernel),
                  "stride": None if stride == size_param(kernel) else stride,
                  "padding": padding, "ceil_mode": bool(a.get("ceil_mode", 0))}
        importer.block(node, kind_id, params, [node.input[0]])

    return handle


max_pool2d = _pool_kind(
    "MaxPool2D", "Max pooling: keeps the largest value of each window, shrinking the feature "
    "maps; no weights (0 params, 0 MACs).",
    _padded_pool("MaxPool2dPad", "nn.MaxPool2d", 'float("-inf")'),
    torch_modules={"torch.nn.MaxPool2d": _torch_max_pool},
    torch_calls={"torch.nn.functional.max_pool2d": _pool_call("MaxPool2d", _MAX_POOL_ARGS,
                                                              _torch_max_pool)},
    onnx_ops={"MaxPool": _onnx_pool("MaxPool2D")})
avg_pool2d = _pool_kind(
    "AvgPool2D", "Average pooling: keeps the mean of each window, shrinking the feature maps; "
    "no weights (0 params, 0 MACs).", _padded_pool("AvgPool2dPad", "nn.AvgPool2d", None),
    torch_modules={"torch.nn.AvgPool2d": _torch_avg_pool},
    torch_calls={"torch.nn.functional.avg_pool2d": _pool_call("AvgPool2d", _AVG_POOL_ARGS,
                                                              _torch_avg_pool)},
    onnx_ops={"AveragePool": _onnx_pool("AvgPool2D")})
sum_pool2d = _pool_kind(
    "SumPool2D", "Sum pooling: keeps the sum of each window (average × window area), "
    "shrinking the feature maps; no weights (0 params, 0 MACs).",
    (_sum_pool_build, _sum_pool_emit))


def _global_shape(inputs: list[Shape], p: dict[str, Any]) -> Shape:
    c, _, _ = expect_image(inputs[0])
    return (c,)


def _global_kind(kind_id: str, help_text: str, module: str, expression: str,
                 **sources: Any) -> LayerKind:
    def build(inputs: list[Shape], p: dict[str, Any], out: Shape):
        from engine.layers import modules

        return getattr(modules, module)()

    return LayerKind(id=kind_id, category=FEATURE_POOL, help=help_text, params=(),
                     shape=_global_shape, build=build, describe=lambda p: "C×H×W → C",
                     emit=lambda i, p, o: Code(None, expression), **sources)


def _mean_call(node: Any) -> tuple[Spec, list[Any]]:
    """x.mean([2, 3]) is global average pooling (MNASNet); keepdim keeps C×1×1."""
    first = node.args[0] if node.args else None
    dims = call_arg(node, 1, "dim", None)
    dims = [dims] if isinstance(dims, int) else list(dims or [])
    if sorted(d % 4 for d in dims) != [2, 3]:
        return "mean over other dims than height and width", [first]
    if call_arg(node, 2, "keepdim", False):
        return (adaptive_avg_pool.id, {"output_size": 1}), [first]
    return (global_avg_pool.id, {}), [first]


def _onnx_global_max(importer: Any, node: Any) -> None:
    """GlobalMaxPool keeps C×1×1: a GlobalMaxPool block and a Reshape."""
    shape = importer.shape(node.input[0])
    if shape is None or len(shape) != 3:
        return importer.miss(node)
    importer.block(node, global_max_pool.id, {}, [node.input[0]],
                   output=node.output[0] + "#")
    importer.block(node, reshape.id, {"shape": [shape[0], 1, 1]}, [node.output[0] + "#"])


def _onnx_reduce(importer: Any, node: Any) -> None:
    """ReduceMean / ReduceMax over height and width: a global pool."""
    import numpy as np

    a = onnx_attrs(node)
    axes = a.get("axes")
    if axes is None and len(node.input) > 1:
        axes = importer.const(node, 1)
    shape = importer.shape(node.input[0])
    if shape is None or len(shape) != 3 or axes is None \
            or sorted(int(v) % 4 for v in np.ravel(axes)) != [2, 3]:
        return importer.miss(node, "over other axes than height and width")
    mean = node.op_type == "ReduceMean"
    if a.get("keepdims", 1):
        if mean:
            return importer.block(node, adaptive_avg_pool.id, {"output_size": 1},
                                  [node.input[0]])
        return _onnx_global_max(importer, node)
    importer.block(node, (global_avg_pool if mean else global_max_pool).id, {},
                   [node.input[0]])


global_avg_pool = _global_kind(
    "GlobalAvgPool", "Global average pooling: one mean per feature map, C×H×W → C; replaces "
    "Flatten before the classifier (GoogLeNet, ResNet).", "GlobalAvgPool",
    "{x}.mean(dim=(2, 3))",
    torch_calls={"torch.mean": _mean_call, "Tensor.mean": _mean_call},
    onnx_ops={"ReduceMean": _onnx_reduce})
global_max_pool = _global_kind(
    "GlobalMaxPool", "Global max pooling: the largest value of each feature map, C×H×W → C.",
    "GlobalMaxPool", "{x}.amax(dim=(2, 3))",
    onnx_ops={"GlobalMaxPool": _onnx_global_max, "ReduceMax": _onnx_reduce})


def _adaptive_shape(inputs: list[Shape], p: dict[str, Any]) -> Shape:
    c, _, _ = expect_image(inputs[0])
    oh, ow = pair(p["output_size"])
    return (c, oh, ow)


def _adaptive_build(inputs: list[Shape], p: dict[str, Any], out: Shape):
    import torch.nn as nn

    return nn.AdaptiveAvgPool2d(pair(p["output_size"]))


adaptive_avg_pool = LayerKind(
    id="AdaptiveAvgPool",
    category=FEATURE_POOL,
    help="Adaptive average pooling: averages each feature map down to a fixed size whatever "
         "the input size (torchvision's classifiers use 7×7).",
    params=(Param("output_size", "size", 1, "Output height×width: one number or [h, w].",
                  min=1),),
    shape=_adaptive_shape,
    build=_adaptive_build,
    describe=lambda p: "→ {}×{}".format(*pair(p["output_size"])),
    emit=lambda i, p, o: Code(f"nn.AdaptiveAvgPool2d({size(p['output_size'])})"),
    torch_modules={"torch.nn.AdaptiveAvgPool2d": lambda m: (
        adaptive_avg_pool.id, {"output_size": size_param(m.output_size)})},
    torch_calls={"torch.nn.functional.adaptive_avg_pool2d": lambda node: (
        (adaptive_avg_pool.id, {"output_size": size_param(call_arg(node, 1, "output_size", 1))}),
        [node.args[0] if node.args else None])},
    onnx_ops={"GlobalAveragePool": lambda importer, node: importer.block(
        node, adaptive_avg_pool.id, {"output_size": 1}, [node.input[0]])},
)

KINDS = (max_pool2d, avg_pool2d, sum_pool2d, global_avg_pool, global_max_pool,
         adaptive_avg_pool)
