"""Reshape kinds: Flatten, Reshape, ZeroPad2D and Upsample (no weights)."""

from __future__ import annotations

from typing import Any

from engine.layers.base import RESHAPE, LayerKind, Param, Shape, ShapeError
from engine.layers.conv import expect_image
from engine.shapes import fmt_shape, pair, volume


def _flatten_build(inputs: list[Shape], p: dict[str, Any], out: Shape):
    import torch.nn as nn

    return nn.Flatten()


flatten = LayerKind(
    id="Flatten",
    category=RESHAPE,
    help="Flatten: unrolls the feature maps C×H×W into one vector of C·H·W features, the "
         "bridge from feature extraction to the dense classifier.",
    params=(),
    shape=lambda i, p: (volume(i[0]),),
    build=_flatten_build,
    describe=lambda p: "→ vector",
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


reshape = LayerKind(
    id="Reshape",
    category=RESHAPE,
    help="Reshape: rearranges the same values into a new shape, e.g. a vector of 784 into an "
         "image 1×28×28.",
    params=(Param("shape", "ints", [1, 28, 28], "Target shape without the batch, e.g. "
                  "[1, 28, 28] or [784]; its sizes must multiply to the input's."),),
    shape=_reshape_shape,
    build=_reshape_build,
    describe=lambda p: "→ " + fmt_shape(tuple(p["shape"])),
)


def _zero_pad_shape(inputs: list[Shape], p: dict[str, Any]) -> Shape:
    c, h, w = expect_image("ZeroPad2D", inputs[0])
    ph, pw = pair(p["padding"])
    return (c, h + 2 * ph, w + 2 * pw)


def _zero_pad_build(inputs: list[Shape], p: dict[str, Any], out: Shape):
    import torch.nn as nn

    ph, pw = pair(p["padding"])
    return nn.ZeroPad2d((pw, pw, ph, ph))


zero_pad2d = LayerKind(
    id="ZeroPad2D",
    category=RESHAPE,
    help="Zero padding: adds a border of zeros around every feature map, so the next "
         "convolution keeps the edges.",
    params=(Param("padding", "size", 1, "Zeros added on each side: a number or [h, w].",
                  min=0),),
    shape=_zero_pad_shape,
    build=_zero_pad_build,
    describe=lambda p: "pad {}×{}".format(*pair(p["padding"])),
)


def _upsample_shape(inputs: list[Shape], p: dict[str, Any]) -> Shape:
    c, h, w = expect_image("Upsample", inputs[0])
    s = p["scale_factor"]
    return (c, h * s, w * s)


def _upsample_build(inputs: list[Shape], p: dict[str, Any], out: Shape):
    import torch.nn as nn

    extra = {"align_corners": False} if p["mode"] == "bilinear" else {}
    return nn.Upsample(scale_factor=float(p["scale_factor"]), mode=p["mode"], **extra)


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
    describe=lambda p: f"×{p['scale_factor']}, {p['mode']}",
)

KINDS = (flatten, reshape, zero_pad2d, upsample)
