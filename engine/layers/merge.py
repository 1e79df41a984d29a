"""Merge kinds: Add (ResNet's shortcut), Concat (GoogLeNet's inception) and Multiply
(squeeze-and-excitation). Each takes two or more inputs, in input-port order."""

from __future__ import annotations

import math
from typing import Any

from engine.layers.base import MERGE, LayerKind, Shape, ShapeError
from engine.shapes import fmt_shape


def _differ(a: Shape, b: Shape, hint: str) -> ShapeError:
    return ShapeError(f"inputs differ: {fmt_shape(a)} vs {fmt_shape(b)}", hint)


def _shortcut_stride(big: Shape, small: Shape) -> int | None:
    """The stride s with which a 1×1 convolution maps big's H×W onto small's, if any."""
    (_, bh, bw), (_, sh, sw) = big, small
    for s in range(1, max(bh, bw) + 1):
        if math.ceil(bh / s) == sh and math.ceil(bw / s) == sw:
            return s
    return None


def _add_hint(a: Shape, b: Shape) -> str:
    if len(a) != len(b):
        return ("add images to images and vectors to vectors: a Flatten (or GlobalAvgPool) "
                "turns the image branch into a vector")
    if len(a) == 1:
        return f"give the {min(a[0], b[0])}-feature branch a Dense with {max(a[0], b[0])} units"
    if len(a) == 3:
        # The shortcut is the branch the other one has downsampled or widened.
        shortcut, main = sorted((a, b), key=lambda s: (-s[1] * s[2], s[0]))
        if shortcut[1:] == main[1:]:
            return f"give the shortcut a 1×1 Conv2D with {main[0]} filters"
        stride = _shortcut_stride(shortcut, main)
        if stride is not None:
            return f"give the shortcut a 1×1 Conv2D with {main[0]} filters and stride {stride}"
    return "give both branches the same shape (filters, strides and padding)"


def _add_shape(inputs: list[Shape], p: dict[str, Any]) -> Shape:
    first = inputs[0]
    for other in inputs[1:]:
        if other != first:
            raise _differ(first, other, _add_hint(first, other))
    return first


add = LayerKind(
    id="Add",
    category=MERGE,
    help="Adds its inputs value by value (ResNet's shortcut connection); all inputs must "
         "have the same shape.",
    params=(),
    shape=_add_shape,
    build=lambda i, p, o: _module("Add"),
    describe=lambda p: "sum",
    arity=None,
)


def _concat_hint(a: Shape, b: Shape) -> str:
    if len(a) != len(b):
        return ("concatenate images with images or vectors with vectors: a Flatten (or "
                "GlobalAvgPool) turns the image branch into a vector")
    if len(a) == 3:
        big, small = sorted((a, b), key=lambda s: -s[1] * s[2])
        stride = _shortcut_stride(big, small)
        pool = (f"a MaxPool2D with stride {stride} on the {fmt_shape(big)} branch"
                if stride is not None else "pooling on the larger branch")
        return (f"match their height×width: {pool}, or a ZeroPad2D on the "
                f"{fmt_shape(small)} branch")
    return "give the inputs the same shape apart from the first (channel) size"


def _concat_shape(inputs: list[Shape], p: dict[str, Any]) -> Shape:
    first = inputs[0]
    for other in inputs[1:]:
        if len(other) != len(first) or other[1:] != first[1:]:
            raise _differ(first, other, _concat_hint(first, other))
    return (sum(s[0] for s in inputs), *first[1:])


concat = LayerKind(
    id="Concat",
    category=MERGE,
    help="Stacks its inputs along the channels (GoogLeNet's inception module): same H×W, "
         "the channel counts add up.",
    params=(),
    shape=_concat_shape,
    build=lambda i, p, o: _module("Concat"),
    describe=lambda p: "along channels",
    arity=None,
)


def _broadcast(a: Shape, b: Shape) -> Shape | None:
    if len(a) != len(b) or any(x != y and 1 not in (x, y) for x, y in zip(a, b)):
        return None
    return tuple(max(x, y) for x, y in zip(a, b))


def _multiply_hint(a: Shape, b: Shape) -> str:
    vector, image = sorted((a, b), key=len)
    if len(vector) == 1 and len(image) == 3 and vector[0] == image[0]:
        return (f"insert a Reshape to [{vector[0]}, 1, 1] after the vector branch so it "
                "scales each feature map")
    return ("give both the same shape, or make one C×1×1 with the same C "
            "(squeeze-and-excitation)")


def _multiply_shape(inputs: list[Shape], p: dict[str, Any]) -> Shape:
    out = inputs[0]
    for other in inputs[1:]:
        merged = _broadcast(out, other)
        if merged is None:
            raise _differ(out, other, _multiply_hint(out, other))
        out = merged
    return out


multiply = LayerKind(
    id="Multiply",
    category=MERGE,
    help="Multiplies its inputs value by value; a C×1×1 input scales each of the C feature "
         "maps (squeeze-and-excitation). Sizes of 1 stretch to match, as in PyTorch.",
    params=(),
    shape=_multiply_shape,
    build=lambda i, p, o: _module("Multiply"),
    describe=lambda p: "elementwise",
    arity=None,
)


def _module(name: str):
    from engine.layers import modules

    return getattr(modules, name)()


KINDS = (add, concat, multiply)
