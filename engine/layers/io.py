"""Input and Output: where data enters the network and where the classification head ends."""

from __future__ import annotations

from typing import Any

from engine.layers.base import IO, LayerKind, Param, Shape, ShapeError
from engine.layers.code import Code
from engine.shapes import fmt_shape


def _input_shape(inputs: list[Shape], p: dict[str, Any]) -> Shape:
    return tuple(int(d) for d in p["shape"])


def _input_build(inputs: list[Shape], p: dict[str, Any], out: Shape):
    import torch.nn as nn

    return nn.Identity()


def _pass_emit(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
    # The Input's preprocessing is written by engine/export/python_code.py, which knows the
    # whole file; the Output computes nothing.
    return Code(None, "{x}")


input_kind = LayerKind(
    id="Input",
    category=IO,
    help="The input: an image C×H×W (channels, height, width) or a vector of features.",
    params=(
        Param("shape", "ints", [1, 28, 28],
              "C×H×W for images (e.g. [3, 224, 224]) or [features] for vectors."),
        Param("scale", "float", 1.0, "Preprocessing: pixels are multiplied by this first "
              "(e.g. 1/255).", min=0.0),
        Param("mean", "str", "", "Preprocessing: per-channel mean to subtract, comma-separated "
              "(empty: none)."),
        Param("std", "str", "", "Preprocessing: per-channel std to divide by, comma-separated "
              "(empty: none)."),
        Param("channel_order", "choice", "RGB", "Channel order the network expects.",
              choices=("RGB", "BGR", "L")),
    ),
    shape=_input_shape,
    build=_input_build,
    describe=lambda p: fmt_shape(tuple(p["shape"])),
    emit=_pass_emit,
    arity=0,
)

LOSSES = ("cross_entropy", "nll", "bce", "mse")


def _output_shape(inputs: list[Shape], p: dict[str, Any]) -> Shape:
    shape = inputs[0]
    if len(shape) != 1:
        raise ShapeError(f"expects a vector of {p['classes']} class scores but receives "
                         f"{fmt_shape(shape)}",
                         "insert a Flatten (or GlobalAvgPool) and a Dense with "
                         f"{p['classes']} units before it")
    if shape[0] != p["classes"]:
        raise ShapeError(f"expects {p['classes']} class scores but receives {shape[0]}",
                         f"give the block before it {p['classes']} units, or set classes "
                         f"to {shape[0]}")
    return shape


output_kind = LayerKind(
    id="Output",
    category=IO,
    help="The classification output: the class scores the loss is computed on.",
    params=(
        Param("classes", "int", 10, "Number of classes.", min=1, max=1_000_000),
        Param("loss", "choice", "cross_entropy",
              "Training loss: cross_entropy (softmax + log loss), nll (on log-probabilities), "
              "bce (multi-label), mse.", choices=LOSSES),
        Param("class_names", "str", "", "Optional class names, comma-separated."),
    ),
    shape=_output_shape,
    build=_input_build,
    describe=lambda p: f"{p['classes']} classes, {p['loss']}",
    emit=_pass_emit,
)

KINDS = (input_kind, output_kind)
