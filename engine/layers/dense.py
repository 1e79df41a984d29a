"""Dense (fully connected) and RBF: the classification component."""

from __future__ import annotations

from typing import Any

from engine.layers.base import CLASSIFICATION, LayerKind, Param, Shape, ShapeError
from engine.layers.conv import ACTIVATION, BIAS, INITIALIZER
from engine.shapes import fmt_shape


def expect_vector(shape: Shape, block: str = "Dense") -> int:
    if len(shape) != 1:
        raise ShapeError(f"expects a vector but receives {fmt_shape(shape)}",
                         "insert a Flatten before it")
    return shape[0]


def _dense_shape(inputs: list[Shape], p: dict[str, Any]) -> Shape:
    expect_vector(inputs[0])
    return (p["units"],)


def _dense_counts(inputs: list[Shape], p: dict[str, Any], out: Shape) -> tuple[int, int]:
    return (inputs[0][0] * p["units"] + (p["units"] if p["bias"] else 0), 0)


def _dense_build(inputs: list[Shape], p: dict[str, Any], out: Shape):
    from engine.layers.modules import LinearAct

    return LinearAct(inputs[0][0], p["units"], p["bias"], p["activation"], p["initializer"])


def _describe_dense(p: dict[str, Any]) -> str:
    text = f"{p['units']} units"
    if p["activation"] != "none":
        text += f", {p['activation']}"
    return text


dense = LayerKind(
    id="Dense",
    category=CLASSIFICATION,
    help="Fully connected layer: every input feature connects to every unit.",
    params=(
        Param("units", "int", 64, "Number of output units (neurons).", min=1, max=10_000_000),
        BIAS, ACTIVATION, INITIALIZER,
    ),
    shape=_dense_shape,
    params_count=_dense_counts,
    macs=lambda i, p, o: i[0][0] * p["units"],
    build=_dense_build,
    describe=_describe_dense,
)


def _rbf_build(inputs: list[Shape], p: dict[str, Any], out: Shape):
    from engine.layers.modules import RBF

    return RBF(inputs[0][0], p["units"])


rbf = LayerKind(
    id="RBF",
    category=CLASSIFICATION,
    help="LeNet-5's Euclidean radial-basis output units: each unit outputs the squared "
         "distance between its input and its centre; the smallest wins.",
    params=(Param("units", "int", 10, "Number of RBF units (classes).", min=1,
                  max=1_000_000),),
    shape=_dense_shape,
    params_count=lambda i, p, o: (i[0][0] * p["units"], 0),
    macs=lambda i, p, o: i[0][0] * p["units"],
    build=_rbf_build,
    describe=lambda p: f"{p['units']} units, Euclidean",
)

KINDS = (dense, rbf)
