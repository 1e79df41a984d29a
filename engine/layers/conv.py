"""Convolution kinds: Conv2D, DepthwiseConv2D, ConvTranspose2D (feature extraction)."""

from __future__ import annotations

from typing import Any

from engine.layers.base import (
    ACTIVATIONS,
    FEATURE_CONV,
    INITIALIZERS,
    LayerKind,
    Param,
    ParamFix,
    Shape,
    ShapeError,
)
from engine.shapes import (
    fmt_shape,
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
BIAS = Param("bias", "bool", True, "Add a learned bias per filter.")
ACTIVATION = Param("activation", "choice", "none", "Activation fused after the convolution.",
                   choices=ACTIVATIONS)
INITIALIZER = Param("initializer", "choice", "default",
                    "Weight initializer: he_* suits ReLU, glorot_* suits tanh/sigmoid; "
                    "'default' keeps PyTorch's.", choices=INITIALIZERS)


def expect_image(kind: str, shape: Shape) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ShapeError(f"expects an image C×H×W but receives {fmt_shape(shape)}",
                         "insert a Reshape before it, or feed it from a convolution or "
                         "pooling block")
    return shape  # type: ignore[return-value]


def spatial_out(kind: str, h: int, w: int, p: dict[str, Any],
                kernel_name: str = "kernel_size") -> tuple[int, int]:
    """Output H×W of a sliding window, with a message when the kernel does not fit (and
    the fixes its hint names, setting the block's ``kernel_name`` or padding)."""
    kh, kw = pair(p["kernel_size"])
    sh, sw = pair(p["stride"])
    dh, dw = pair(p.get("dilation", 1))
    top, bottom, left, right = resolve_padding(p["padding"], (kh, kw), (dh, dw))
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    padded_h, padded_w = h + top + bottom, w + left + right
    if span_h > padded_h or span_w > padded_w:
        # The largest kernel whose (dilated) span fits the padded input.
        fit_h, fit_w = (padded_h - 1) // dh + 1, (padded_w - 1) // dw + 1
        smaller = min(fit_h, fit_w)
        new_h, new_w = min(kh, fit_h), min(kw, fit_w)
        kernel = new_h if new_h == new_w else [new_h, new_w]
        raise ShapeError(
            f"kernel {_size_words(kh, kw)} is larger than its padded input "
            f"{padded_h}×{padded_w}",
            f"use padding 'same' or a kernel ≤ {smaller}",
            (ParamFix("Use padding 'same'", (("padding", "same"),)),
             ParamFix(f"Use a {new_h}×{new_w} {kernel_name.split('_')[0]}",
                      ((kernel_name, kernel),))))
    out_h = (padded_h - span_h) // sh + 1
    out_w = (padded_w - span_w) // sw + 1
    return out_h, out_w


def _size_words(h: int, w: int) -> str:
    return str(h) if h == w else f"{h}×{w}"


def _conv_shape(inputs: list[Shape], p: dict[str, Any]) -> Shape:
    c, h, w = expect_image("Conv2D", inputs[0])
    groups = p["groups"]
    if c % groups or p["filters"] % groups:
        raise ShapeError(f"groups {groups} must divide both the input channels {c} and the "
                         f"filters {p['filters']}",
                         f"use groups 1 or a common divisor of {c} and {p['filters']}",
                         (ParamFix("Use groups 1", (("groups", 1),)),))
    out_h, out_w = spatial_out("Conv2D", h, w, p)
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


def describe_window(p: dict[str, Any]) -> str:
    """The lecture's words for a sliding window: "5×5, stride 1, same"."""
    kh, kw = pair(p["kernel_size"])
    sh, sw = pair(p["stride"])
    stride = str(sh) if sh == sw else f"{sh}×{sw}"
    pad = p["padding"] if isinstance(p["padding"], str) else f"pad {p['padding']}"
    return f"{kh}×{kw}, stride {stride}, {pad}"


def _describe_conv(p: dict[str, Any]) -> str:
    text = f"{p['filters']} @ {describe_window(p)}"
    if p.get("activation", "none") != "none":
        text += f", {p['activation']}"
    return text


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
        BIAS, ACTIVATION, INITIALIZER,
    ),
    shape=_conv_shape,
    params_count=_conv_counts,
    macs=_conv_macs,
    build=_conv_build,
    describe=_describe_conv,
)


def _depthwise_shape(inputs: list[Shape], p: dict[str, Any]) -> Shape:
    c, h, w = expect_image("DepthwiseConv2D", inputs[0])
    out_h, out_w = spatial_out("DepthwiseConv2D", h, w, p)
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
        KERNEL, STRIDE, PADDING, DILATION, BIAS, ACTIVATION, INITIALIZER,
    ),
    shape=_depthwise_shape,
    params_count=lambda i, p, o: _conv_counts(i, _depthwise_as_conv(i, p), o),
    macs=lambda i, p, o: _conv_macs(i, _depthwise_as_conv(i, p), o),
    build=lambda i, p, o: _conv_build(i, _depthwise_as_conv(i, p), o),
    describe=lambda p: f"×{p['depth_multiplier']} @ {describe_window(p)}",
)


def _transpose_shape(inputs: list[Shape], p: dict[str, Any]) -> Shape:
    c, h, w = expect_image("ConvTranspose2D", inputs[0])
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
        BIAS, ACTIVATION, INITIALIZER,
    ),
    shape=_transpose_shape,
    params_count=_transpose_counts,
    macs=_transpose_macs,
    build=_transpose_build,
    describe=lambda p: f"{p['filters']} @ {pair(p['kernel_size'])[0]}×"
                       f"{pair(p['kernel_size'])[1]}, stride {pair(p['stride'])[0]}",
)

KINDS = (conv2d, depthwise_conv2d, conv_transpose2d)
