"""Reshape kinds: Flatten, Reshape, ZeroPad2D and Upsample (no weights)."""

from __future__ import annotations

import math
from typing import Any

from engine.layers.base import (
    RESHAPE,
    LayerKind,
    Param,
    Shape,
    ShapeError,
    Spec,
    expect_image,
)
from engine.layers.code import Code, call, number, plain
from engine.layers.convert import call_arg, onnx_attrs, size_param
from engine.shapes import fmt_shape, pair, volume


def _flatten_build(inputs: list[Shape], p: dict[str, Any], out: Shape):
    import torch.nn as nn

    return nn.Flatten()


def _torch_flatten(m: Any) -> Spec:
    if (m.start_dim, m.end_dim) == (1, -1):
        return flatten.id, {}
    return f"Flatten from dim {m.start_dim} to {m.end_dim}"


def _flatten_call(node: Any) -> tuple[Spec, list[Any]]:
    start = call_arg(node, 1, "start_dim", 0)
    end = call_arg(node, 2, "end_dim", -1)
    spec = (flatten.id, {}) if (start, end) == (1, -1) else f"flatten from dim {start} to {end}"
    return spec, [node.args[0] if node.args else None]


def _onnx_flatten(importer: Any, node: Any) -> None:
    if onnx_attrs(node).get("axis", 1) != 1:
        return importer.miss(node, "from another axis than 1")
    importer.block(node, flatten.id, {}, [node.input[0]])


def _onnx_squeeze(importer: Any, node: Any) -> None:
    """Squeezing C×1×1 to C is a Flatten."""
    shape = importer.shape(node.input[0])
    if shape is None or len(shape) != 3 or shape[1:] != (1, 1):
        return importer.miss(node)
    importer.block(node, flatten.id, {}, [node.input[0]])


flatten = LayerKind(
    id="Flatten",
    category=RESHAPE,
    help="Flatten: unrolls the feature maps C×H×W into one vector of C·H·W features, the "
         "bridge from feature extraction to the dense classifier.",
    params=(),
    shape=lambda i, p: (volume(i[0]),),
    build=_flatten_build,
    describe=lambda p: "→ vector",
    emit=plain("nn.Flatten()"),
    torch_modules={"torch.nn.Flatten": _torch_flatten},
    torch_calls={"torch.flatten": _flatten_call, "Tensor.flatten": _flatten_call},
    onnx_ops={"Flatten": _onnx_flatten, "Squeeze": _onnx_squeeze},
)


def _reshape_shape(inputs: list[Shape], p: dict[str, Any]) -> Shape:
    target = tuple(int(d) for d in p["shape"])
    have, want = volume(inputs[0]), volume(target)
    if have != want:
        raise ShapeError(f"target shape {fmt_shape(target)} holds {want:,} values but its "
                         f"input {fmt_shape(inputs[0])} holds {have:,}",
                         f"use a target shape whose sizes multiply to {have:,}, "
                         f"e.g. [{have}]")
    return target


def _reshape_build(inputs: list[Shape], p: dict[str, Any], out: Shape):
    from engine.layers.modules import Reshape

    return Reshape(out)


def _reshape_emit(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
    return Code(None, "{x}.reshape(-1, " + ", ".join(str(d) for d in out) + ")")


def _onnx_reshape(importer: Any, node: Any) -> None:
    """A Reshape to a constant shape that keeps the batch: nothing when the shape stays, a
    Flatten to a vector, else a Reshape."""
    import numpy as np

    target = importer.const(node, 1)
    shape = importer.shape(node.input[0])
    if target is None or shape is None:
        return importer.miss(node, "to a computed shape")
    rest = [int(d) for d in np.ravel(target)[1:]]
    total = math.prod(shape)
    if rest.count(-1) == 1:
        known = math.prod(d for d in rest if d != -1)
        rest[rest.index(-1)] = total // known if known else 0
    if 0 in rest or math.prod(rest) != total:
        return importer.miss(node, "that moves the batch dimension")
    if tuple(rest) == shape:
        return importer.alias(node, node.input[0])
    if len(rest) == 1:
        return importer.block(node, flatten.id, {}, [node.input[0]])
    importer.block(node, reshape.id, {"shape": rest}, [node.input[0]])


reshape = LayerKind(
    id="Reshape",
    category=RESHAPE,
    help="Reshape: rearranges the same values into a new shape, e.g. a vector of 784 into an "
         "image 1×28×28.",
    params=(Param("shape", "ints", [1, 28, 28], "Target shape without the batch, e.g. "
                  "[1, 28, 28] or [784]; its sizes must multiply to the input's."),),
    shape=_reshape_shape,
    build=_reshape_build,
    emit=_reshape_emit,
    describe=lambda p: "→ " + fmt_shape(tuple(p["shape"])),
    onnx_ops={"Reshape": _onnx_reshape},
)


def _zero_pad_shape(inputs: list[Shape], p: dict[str, Any]) -> Shape:
    c, h, w = expect_image(inputs[0])
    ph, pw = pair(p["padding"])
    return (c, h + 2 * ph, w + 2 * pw)


def _zero_pad_build(inputs: list[Shape], p: dict[str, Any], out: Shape):
    import torch.nn as nn

    ph, pw = pair(p["padding"])
    return nn.ZeroPad2d((pw, pw, ph, ph))


def _zero_pad_emit(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
    ph, pw = pair(p["padding"])
    return Code(f"nn.ZeroPad2d({ph})" if ph == pw else f"nn.ZeroPad2d(({pw}, {pw}, {ph}, {ph}))")


def _torch_zero_pad(m: Any) -> Spec:
    left, right, top, bottom = m.padding
    if left != right or top != bottom:
        return "ZeroPad2d with uneven padding"
    return zero_pad2d.id, {"padding": size_param((top, left))}


def _onnx_pad(importer: Any, node: Any) -> None:
    import numpy as np

    a = onnx_attrs(node)
    pads = importer.const(node, 1) if len(node.input) > 1 else a.get("pads")
    value = importer.const(node, 2) if len(node.input) > 2 else a.get("value", 0.0)
    if pads is None or a.get("mode", "constant") != "constant" or \
            (value is not None and float(np.ravel(value)[0] if np.size(value) else 0)):
        return importer.miss(node, "other than zeros")
    p = [int(v) for v in np.ravel(pads)]
    if len(p) != 8 or any(p[i] for i in (0, 1, 4, 5)) or p[2] != p[6] or p[3] != p[7]:
        return importer.miss(node, "uneven, or on the batch or channels")
    importer.block(node, zero_pad2d.id, {"padding": size_param([p[2], p[3]])}, [node.input[0]])


zero_pad2d = LayerKind(
    id="ZeroPad2D",
    category=RESHAPE,
    help="Zero padding: adds a border of zeros around every feature map, so the next "
         "convolution keeps the edges.",
    params=(Param("padding", "size", 1, "Zeros added on each side: a number or [h, w].",
                  min=0),),
    shape=_zero_pad_shape,
    build=_zero_pad_build,
    emit=_zero_pad_emit,
    describe=lambda p: "pad {}×{}".format(*pair(p["padding"])),
    torch_modules={"torch.nn.ZeroPad2d": _torch_zero_pad},
    onnx_ops={"Pad": _onnx_pad},
)


def _upsample_shape(inputs: list[Shape], p: dict[str, Any]) -> Shape:
    c, h, w = expect_image(inputs[0])
    s = p["scale_factor"]
    return (c, h * s, w * s)


def _upsample_build(inputs: list[Shape], p: dict[str, Any], out: Shape):
    import torch.nn as nn

    extra = {"align_corners": False} if p["mode"] == "bilinear" else {}
    return nn.Upsample(scale_factor=float(p["scale_factor"]), mode=p["mode"], **extra)


def _upsample_emit(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
    extra = {"align_corners": "False"} if p["mode"] == "bilinear" else {}
    return Code(call("nn.Upsample", scale_factor=number(p["scale_factor"]),
                     mode=f'"{p["mode"]}"', **extra))


def _torch_upsample(m: Any) -> Spec:
    scale = m.scale_factor
    scale = scale[0] if isinstance(scale, tuple) and len(set(scale)) == 1 else scale
    if m.size is not None or not isinstance(scale, int | float) or float(scale) != int(scale) \
            or m.mode not in ("nearest", "bilinear") or m.align_corners:
        return "Upsample with a fixed size, a fractional scale or align_corners"
    return upsample.id, {"scale_factor": int(scale), "mode": m.mode}


def _onnx_resize(importer: Any, node: Any) -> None:
    """Resize by a whole factor: nearest (asymmetric) or bilinear (half-pixel)."""
    import numpy as np

    a = onnx_attrs(node)
    shape = importer.shape(node.input[0])
    scales = importer.const(node, 2)
    sizes = importer.const(node, 3)
    if scales is None or scales.size == 0:
        scales = None if sizes is None or shape is None else \
            np.ravel(sizes)[-2:] / np.array(shape[1:])
    mode = a.get("mode", "nearest")
    coords = a.get("coordinate_transformation_mode", "half_pixel")
    factor = None if scales is None else np.ravel(scales)[-2:]
    ok = factor is not None and factor[0] == factor[1] and float(factor[0]).is_integer()
    if mode == "nearest" and coords == "asymmetric" and ok:
        kind_mode = "nearest"
    elif mode == "linear" and coords in ("half_pixel", "pytorch_half_pixel") and ok:
        kind_mode = "bilinear"
    else:
        return importer.miss(node, f"{mode} with {coords} or a fractional scale")
    importer.block(node, upsample.id, {"scale_factor": int(factor[0]), "mode": kind_mode},
                   [node.input[0]])


upsample = LayerKind(
    id="Upsample",
    category=RESHAPE,
    help="Upsampling: enlarges every feature map by a whole factor, repeating (nearest) or "
         "interpolating (bilinear) values; no weights.",
    params=(
        Param("scale_factor", "int", 2, "Height and width are multiplied by this.", min=1,
              max=64),
        Param("mode", "choice", "nearest", "How new values are filled in.",
              choices=("nearest", "bilinear")),
    ),
    shape=_upsample_shape,
    build=_upsample_build,
    emit=_upsample_emit,
    describe=lambda p: f"×{p['scale_factor']}, {p['mode']}",
    torch_modules={"torch.nn.Upsample": _torch_upsample},
    onnx_ops={"Resize": _onnx_resize, "Upsample": _onnx_resize},
)

KINDS = (flatten, reshape, zero_pad2d, upsample)
