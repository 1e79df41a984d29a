"""Pooling kinds (feature extraction): max, average and sum pooling, global and adaptive pools.

Pools have no weights. MACs count the multiply-accumulates of convolution, dense and RBF
weights only, so every pool reports 0 MACs.
"""

from __future__ import annotations

from typing import Any

from engine.layers.base import FEATURE_POOL, LayerKind, Param, ParamFix, Shape, ShapeError
from engine.layers.conv import describe_window, expect_image, spatial_out
from engine.shapes import conv_output_size, pair, resolve_padding

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


def pooled_size(size: int, kernel: int, stride: int, before: int, after: int,
                ceil_mode: bool, padded_first: bool | None = None) -> int:
    """Output length along one axis as the built module computes it: torch's own padding
    when the padding is even, else the zeros are added first. ``padded_first`` says which
    (default: this axis's sides differ); the module pads both axes first when either is
    uneven, and with ceil_mode the two differ (torch drops a window that starts in its own
    padding, not in padding added before).

    >>> pooled_size(5, 2, 2, 0, 0, ceil_mode=False), pooled_size(5, 2, 2, 0, 0, ceil_mode=True)
    (2, 3)
    >>> pooled_size(3, 2, 2, 1, 1, ceil_mode=True)  # a window may not start in the padding
    2
    >>> pooled_size(8, 3, 3, 1, 1, ceil_mode=True, padded_first=True)  # the other axis uneven
    4
    """
    if padded_first is None:
        padded_first = before != after
    if not padded_first:
        return conv_output_size(size, kernel, stride, before, ceil_mode=ceil_mode)
    return conv_output_size(size + before + after, kernel, stride, 0, ceil_mode=ceil_mode)


def window(p: dict[str, Any]) -> dict[str, Any]:
    """A pool's parameters in conv.py's sliding-window words (stride unset = pool size)."""
    stride = p["pool_size"] if p["stride"] is None else p["stride"]
    return {"kernel_size": p["pool_size"], "stride": stride, "padding": p["padding"]}


def _words(h: int, w: int) -> str:
    return str(h) if h == w else f"{h}×{w}"


def _pool_shape(inputs: list[Shape], p: dict[str, Any]) -> Shape:
    c, h, w = expect_image("pool", inputs[0])
    win = window(p)
    kh, kw = pair(win["kernel_size"])
    if not isinstance(p["padding"], str):
        ph, pw = pair(p["padding"])
        if ph > kh // 2 or pw > kw // 2:
            most = min(kh // 2, kw // 2)
            raise ShapeError(f"padding {_words(ph, pw)} is more than half its pool size "
                             f"{_words(kh, kw)}",
                             f"use padding ≤ {most}, or 'same'",
                             (ParamFix(f"Use padding {most}", (("padding", most),)),
                              ParamFix("Use padding 'same'", (("padding", "same"),))))
    if not p["ceil_mode"]:
        out_h, out_w = spatial_out("pool", h, w, win, "pool_size")
        return (c, out_h, out_w)
    sh, sw = pair(win["stride"])
    top, bottom, left, right = resolve_padding(p["padding"], (kh, kw))
    padded_first = not (top == bottom and left == right)  # as the built module pads
    out_h = pooled_size(h, kh, sh, top, bottom, ceil_mode=True, padded_first=padded_first)
    out_w = pooled_size(w, kw, sw, left, right, ceil_mode=True, padded_first=padded_first)
    if out_h < 1 or out_w < 1:
        # Raises: the window does not fit its padded input.
        spatial_out("pool", h, w, win, "pool_size")
    return (c, out_h, out_w)


def _describe_pool(p: dict[str, Any]) -> str:
    text = describe_window(window(p))
    return text + ", ceil" if p["ceil_mode"] else text


def _pool_kind(kind_id: str, help_text: str, module: str) -> LayerKind:
    def build(inputs: list[Shape], p: dict[str, Any], out: Shape):
        from engine.layers import modules

        win = window(p)
        return getattr(modules, module)(win["kernel_size"], win["stride"], p["padding"],
                                        p["ceil_mode"])

    return LayerKind(
        id=kind_id,
        category=FEATURE_POOL,
        help=help_text,
        params=(POOL_SIZE, STRIDE, PADDING, CEIL_MODE),
        shape=_pool_shape,
        build=build,
        describe=_describe_pool,
    )


max_pool2d = _pool_kind(
    "MaxPool2D", "Max pooling: keeps the largest value of each window, shrinking the feature "
    "maps; no weights (0 params, 0 MACs).", "MaxPool2dPad")
avg_pool2d = _pool_kind(
    "AvgPool2D", "Average pooling: keeps the mean of each window, shrinking the feature maps; "
    "no weights (0 params, 0 MACs).", "AvgPool2dPad")
sum_pool2d = _pool_kind(
    "SumPool2D", "Sum pooling: keeps the sum of each window (average × window area), "
    "shrinking the feature maps; no weights (0 params, 0 MACs).", "SumPool2d")


def _global_shape(inputs: list[Shape], p: dict[str, Any]) -> Shape:
    c, _, _ = expect_image("global pool", inputs[0])
    return (c,)


def _global_kind(kind_id: str, help_text: str, module: str) -> LayerKind:
    def build(inputs: list[Shape], p: dict[str, Any], out: Shape):
        from engine.layers import modules

        return getattr(modules, module)()

    return LayerKind(id=kind_id, category=FEATURE_POOL, help=help_text, params=(),
                     shape=_global_shape, build=build, describe=lambda p: "C×H×W → C")


global_avg_pool = _global_kind(
    "GlobalAvgPool", "Global average pooling: one mean per feature map, C×H×W → C; replaces "
    "Flatten before the classifier (GoogLeNet, ResNet).", "GlobalAvgPool")
global_max_pool = _global_kind(
    "GlobalMaxPool", "Global max pooling: the largest value of each feature map, C×H×W → C.",
    "GlobalMaxPool")


def _adaptive_shape(inputs: list[Shape], p: dict[str, Any]) -> Shape:
    c, _, _ = expect_image("AdaptiveAvgPool", inputs[0])
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
)

KINDS = (max_pool2d, avg_pool2d, sum_pool2d, global_avg_pool, global_max_pool,
         adaptive_avg_pool)
