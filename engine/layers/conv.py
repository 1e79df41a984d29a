"""Convolution kinds: Conv2D, DepthwiseConv2D, ConvTranspose2D (feature extraction)."""

from __future__ import annotations

from typing import Any

from engine.layers.base import (
    BIAS,
    FEATURE_CONV,
    FUSED_ACTIVATION,
    INITIALIZER,
    LayerKind,
    Param,
    ParamFix,
    Shape,
    ShapeError,
    Spec,
    describe_window,
    expect_image,
    spatial_out,
)
from engine.layers.code import Code, activated, call, initializer_lines, pad_call, size
from engine.layers.convert import onnx_attrs, onnx_window, size_param
from engine.shapes import (
    pair,
    resolve_padding,
    transposed_output_size,
)

KERNEL = Param("kernel_size", "size", 3, "Kernel (filter) size: one number or [h, w].", min=1)
STRIDE = Param("stride", "size", 1, "Distance between consecutive receptive fields.", min=1)
PADDING = Param("padding", "padding", "valid",
                "'valid' (no padding), 'same' (zero padding keeps H×W at stride 1), "
                "or explicit zeros per side: a number or [h, w].")
DILATION = Param("dilation", "size", 1, "Spacing between kernel taps.", min=1)


def _conv_shape(inputs: list[Shape], p: dict[str, Any]) -> Shape:
    c, h, w = expect_image(inputs[0])
    groups = p["groups"]
    if c % groups or p["filters"] % groups:
        raise ShapeError(f"groups {groups} must divide both the input channels {c} and the "
                         f"filters {p['filters']}",
                         f"use groups 1 or a common divisor of {c} and {p['filters']}",
                         (ParamFix("Use groups 1", (("groups", 1),)),))
    out_h, out_w = spatial_out(h, w, p)
    return (p["filters"], out_h, out_w)


def _conv_counts(inputs: list[Shape], p: dict[str, Any], out: Shape) -> tuple[int, int]:
    kh, kw = pair(p["kernel_size"])
    c = inputs[0][0]
    weights = p["filters"] * (c // p["groups"]) * kh * kw
    return (weights + (p["filters"] if p["bias"] else 0), 0)


def _conv_macs(inputs: list[Shape], p: dict[str, Any], out: Shape) -> int:
    kh, kw = pair(p["kernel_size"])
    c = inputs[0][0]
    return out[0] * out[1] * out[2] * (c // p["groups"]) * kh * kw


def _conv_build(inputs: list[Shape], p: dict[str, Any], out: Shape):
    from engine.layers.modules import Conv2dAct

    return Conv2dAct(inputs[0][0], p["filters"], p["kernel_size"], p["stride"],
                     p["padding"], p["dilation"], p["groups"], p["bias"],
                     p["activation"], p["initializer"])


def _conv_emit(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
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


def _conv_weights(inputs: list[Shape], p: dict[str, Any]) -> dict[str, Shape]:
    kh, kw = pair(p["kernel_size"])
    shapes: dict[str, Shape] = {"weight": (p["filters"], inputs[0][0] // p["groups"], kh, kw)}
    if p["bias"]:
        shapes["bias"] = (p["filters"],)
    return shapes


def _describe_conv(p: dict[str, Any]) -> str:
    text = f"{p['filters']} @ {describe_window(p)}"
    if p.get("activation", "none") != "none":
        text += f", {p['activation']}"
    return text


def _torch_conv(m: Any) -> Spec:
    """An nn.Conv2d; one filter group per input channel is a DepthwiseConv2D."""
    if m.padding_mode != "zeros":
        return f"Conv2d with padding_mode={m.padding_mode!r}"
    padding = m.padding if isinstance(m.padding, str) else size_param(m.padding)
    common = {"kernel_size": size_param(m.kernel_size), "stride": size_param(m.stride),
              "padding": padding, "dilation": size_param(m.dilation), "bias": m.bias is not None}
    if m.groups > 1 and m.groups == m.in_channels and m.out_channels % m.in_channels == 0:
        return depthwise_conv2d.id, {"depth_multiplier": m.out_channels // m.in_channels,
                                     **common}
    return conv2d.id, {"filters": m.out_channels, "groups": m.groups, **common}


def _onnx_conv(importer: Any, node: Any) -> None:
    """An ONNX Conv with constant weights; one group per input channel is depthwise."""
    a = onnx_attrs(node)
    w, b = importer.const(node, 1), importer.const(node, 2)
    shape = importer.shape(node.input[0])
    padding, why = onnx_window(a)
    if w is None or w.ndim != 4 or why or shape is None:
        return importer.miss(node, why or "weights computed at run time, or not 2-D")
    groups = a.get("group", 1)
    common = {"kernel_size": size_param(w.shape[2:]),
              "stride": size_param(a.get("strides", [1, 1])), "padding": padding,
              "dilation": size_param(a.get("dilations", [1, 1])), "bias": b is not None}
    tensors = {"weight": w, **({"bias": b} if b is not None else {})}
    if groups > 1 and groups == shape[0] and w.shape[0] % groups == 0:
        importer.block(node, depthwise_conv2d.id,
                       {"depth_multiplier": w.shape[0] // groups, **common},
                       [node.input[0]], tensors)
    else:
        importer.block(node, conv2d.id, {"filters": int(w.shape[0]), "groups": groups,
                                         **common}, [node.input[0]], tensors)


conv2d = LayerKind(
    id="Conv2D",
    category=FEATURE_CONV,
    help="Slides learned filters (kernels) over the image; each filter gives one feature map.",
    params=(
        Param("filters", "int", 32, "Number of filters = number of output feature maps.",
              min=1, max=65536),
        KERNEL, STRIDE, PADDING, DILATION,
        Param("groups", "int", 1, "Split channels into groups convolved separately.",
              min=1, max=65536),
        BIAS, FUSED_ACTIVATION, INITIALIZER,
    ),
    shape=_conv_shape,
    params_count=_conv_counts,
    macs=_conv_macs,
    build=_conv_build,
    describe=_describe_conv,
    emit=_conv_emit,
    weights=_conv_weights,
    torch_modules={"torch.nn.Conv2d": _torch_conv},
    onnx_ops={"Conv": _onnx_conv},
)


def _depthwise_shape(inputs: list[Shape], p: dict[str, Any]) -> Shape:
    c, h, w = expect_image(inputs[0])
    out_h, out_w = spatial_out(h, w, p)
    return (c * p["depth_multiplier"], out_h, out_w)


def _depthwise_as_conv(inputs: list[Shape], p: dict[str, Any]) -> dict[str, Any]:
    c = inputs[0][0]
    return {**p, "filters": c * p["depth_multiplier"], "groups": c}


depthwise_conv2d = LayerKind(
    id="DepthwiseConv2D",
    category=FEATURE_CONV,
    help="One filter per input channel (MobileNet's depthwise step); cheap spatial filtering.",
    params=(
        Param("depth_multiplier", "int", 1, "Output maps per input channel.", min=1, max=64),
        KERNEL, STRIDE, PADDING, DILATION, BIAS, FUSED_ACTIVATION, INITIALIZER,
    ),
    shape=_depthwise_shape,
    params_count=lambda i, p, o: _conv_counts(i, _depthwise_as_conv(i, p), o),
    macs=lambda i, p, o: _conv_macs(i, _depthwise_as_conv(i, p), o),
    build=lambda i, p, o: _conv_build(i, _depthwise_as_conv(i, p), o),
    emit=lambda i, p, o: _conv_emit(i, _depthwise_as_conv(i, p), o),
    weights=lambda i, p: _conv_weights(i, _depthwise_as_conv(i, p)),
    describe=lambda p: f"×{p['depth_multiplier']} @ {describe_window(p)}",
)


def _transpose_shape(inputs: list[Shape], p: dict[str, Any]) -> Shape:
    c, h, w = expect_image(inputs[0])
    kh, kw = pair(p["kernel_size"])
    sh, sw = pair(p["stride"])
    ph, pw = pair(p["padding"])
    oh, ow = pair(p["output_padding"])
    if oh >= sh or ow >= sw:
        raise ShapeError(f"output padding {oh}×{ow} must be smaller than the stride {sh}×{sw}",
                         f"use output padding ≤ {min(sh, sw) - 1}")
    out_h = transposed_output_size(h, kh, sh, ph, oh)
    out_w = transposed_output_size(w, kw, sw, pw, ow)
    if out_h <= 0 or out_w <= 0:
        raise ShapeError(f"the output size reaches {out_h}×{out_w}",
                         "reduce the padding or enlarge the kernel")
    return (p["filters"], out_h, out_w)


def _transpose_counts(inputs: list[Shape], p: dict[str, Any], out: Shape) -> tuple[int, int]:
    kh, kw = pair(p["kernel_size"])
    weights = inputs[0][0] * p["filters"] * kh * kw
    return (weights + (p["filters"] if p["bias"] else 0), 0)


def _transpose_macs(inputs: list[Shape], p: dict[str, Any], out: Shape) -> int:
    kh, kw = pair(p["kernel_size"])
    c, h, w = inputs[0]
    return c * h * w * p["filters"] * kh * kw


def _transpose_build(inputs: list[Shape], p: dict[str, Any], out: Shape):
    from engine.layers.modules import ConvTranspose2dAct

    return ConvTranspose2dAct(inputs[0][0], p["filters"], p["kernel_size"], p["stride"],
                              p["padding"], p["output_padding"], p["bias"], p["activation"],
                              p["initializer"])


def _transpose_emit(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
    nonzero = {k: (None if pair(p[k]) == (0, 0) else size(p[k]))
               for k in ("padding", "output_padding")}
    module = call("nn.ConvTranspose2d", str(inputs[0][0]), str(p["filters"]),
                  size(p["kernel_size"]),
                  stride=None if pair(p["stride"]) == (1, 1) else size(p["stride"]),
                  **nonzero, bias=None if p["bias"] else "False")
    fused = activated("{m}({x})", p["activation"])
    return Code(module, fused.call, initializer_lines(p, p["bias"]), scores=fused.scores)


def _transpose_weights(inputs: list[Shape], p: dict[str, Any]) -> dict[str, Shape]:
    kh, kw = pair(p["kernel_size"])
    shapes: dict[str, Shape] = {"weight": (inputs[0][0], p["filters"], kh, kw)}
    if p["bias"]:
        shapes["bias"] = (p["filters"],)
    return shapes


def _torch_transpose(m: Any) -> Spec:
    if m.groups != 1 or size_param(m.dilation) != 1 or m.padding_mode != "zeros":
        return "ConvTranspose2d with groups, dilation or a padding mode"
    return conv_transpose2d.id, {
        "filters": m.out_channels, "kernel_size": size_param(m.kernel_size),
        "stride": size_param(m.stride), "padding": size_param(m.padding),
        "output_padding": size_param(m.output_padding), "bias": m.bias is not None}


def _onnx_transpose(importer: Any, node: Any) -> None:
    a = onnx_attrs(node)
    w, b = importer.const(node, 1), importer.const(node, 2)
    padding, why = onnx_window(a)
    if w is None or w.ndim != 4 or why or padding == "same" or a.get("group", 1) != 1 \
            or set(a.get("dilations", [1])) != {1} or "output_shape" in a:
        return importer.miss(node, why or "groups, dilation or a fixed output shape")
    params = {"filters": int(w.shape[1]), "kernel_size": size_param(w.shape[2:]),
              "stride": size_param(a.get("strides", [1, 1])), "padding": padding,
              "output_padding": size_param(a.get("output_padding", [0, 0])),
              "bias": b is not None}
    importer.block(node, conv_transpose2d.id, params, [node.input[0]],
                   {"weight": w, **({"bias": b} if b is not None else {})})


conv_transpose2d = LayerKind(
    id="ConvTranspose2D",
    category=FEATURE_CONV,
    help="Transposed convolution: learned upsampling (decoders, segmentation).",
    params=(
        Param("filters", "int", 32, "Number of output feature maps.", min=1, max=65536),
        Param("kernel_size", "size", 2, "Kernel size: one number or [h, w].", min=1),
        Param("stride", "size", 2, "Upsampling factor.", min=1),
        Param("padding", "size", 0, "Zeros removed from each side of the output.", min=0),
        Param("output_padding", "size", 0, "Extra rows/columns added on one side.", min=0),
        BIAS, FUSED_ACTIVATION, INITIALIZER,
    ),
    shape=_transpose_shape,
    params_count=_transpose_counts,
    macs=_transpose_macs,
    build=_transpose_build,
    emit=_transpose_emit,
    weights=_transpose_weights,
    describe=lambda p: f"{p['filters']} @ {pair(p['kernel_size'])[0]}×"
                       f"{pair(p['kernel_size'])[1]}, stride {pair(p['stride'])[0]}",
    torch_modules={"torch.nn.ConvTranspose2d": _torch_transpose},
    onnx_ops={"ConvTranspose": _onnx_transpose},
)

KINDS = (conv2d, depthwise_conv2d, conv_transpose2d)
