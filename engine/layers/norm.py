"""Normalization kinds: BatchNorm, LayerNorm and AlexNet's LocalResponseNorm."""

from __future__ import annotations

from typing import Any

from engine.layers.base import NORMALIZATION, LayerKind, Param, Shape, ShapeError
from engine.layers.conv import expect_image
from engine.shapes import fmt_shape, volume

EPSILON = Param("epsilon", "float", 1e-5, "Small number added to the variance so it never "
                "divides by zero.", min=1e-12, max=1.0)


def _batchnorm_shape(inputs: list[Shape], p: dict[str, Any]) -> Shape:
    shape = inputs[0]
    if len(shape) not in (1, 3):
        raise ShapeError(f"expects a vector or an image C×H×W but receives {fmt_shape(shape)}",
                         "insert a Flatten or a Reshape to C×H×W before it")
    return shape


def _batchnorm_build(inputs: list[Shape], p: dict[str, Any], out: Shape):
    import torch.nn as nn

    layer = nn.BatchNorm1d if len(inputs[0]) == 1 else nn.BatchNorm2d
    return layer(inputs[0][0], eps=p["epsilon"], momentum=p["momentum"])


batch_norm = LayerKind(
    id="BatchNorm",
    category=NORMALIZATION,
    help="Batch normalization: normalizes each channel (or feature) over the batch, then "
         "scales and shifts it; running mean and variance are non-trainable, as Keras counts.",
    params=(
        Param("momentum", "float", 0.1, "How fast the running statistics follow each batch, "
              "in PyTorch's convention: new = (1 − momentum)·old + momentum·batch "
              "(Keras's 0.99 is 0.01 here).", min=0.0, max=1.0),
        EPSILON,
    ),
    shape=_batchnorm_shape,
    # Per channel: gamma and beta learn; running mean and variance are statistics.
    params_count=lambda i, p, o: (2 * i[0][0], 2 * i[0][0]),
    build=_batchnorm_build,
    describe=lambda p: f"momentum {p['momentum']:g}, ε {p['epsilon']:g}",
)


def _layernorm_build(inputs: list[Shape], p: dict[str, Any], out: Shape):
    import torch.nn as nn

    return nn.LayerNorm(list(inputs[0]), eps=p["epsilon"])


layer_norm = LayerKind(
    id="LayerNorm",
    category=NORMALIZATION,
    help="Layer normalization: normalizes each sample over all its values (C×H×W or the "
         "vector), then scales and shifts every value; independent of the batch size.",
    params=(EPSILON,),
    shape=lambda i, p: i[0],
    params_count=lambda i, p, o: (2 * volume(i[0]), 0),
    build=_layernorm_build,
    describe=lambda p: f"ε {p['epsilon']:g}",
)


def _lrn_shape(inputs: list[Shape], p: dict[str, Any]) -> Shape:
    return expect_image("LocalResponseNorm", inputs[0])


def _lrn_build(inputs: list[Shape], p: dict[str, Any], out: Shape):
    import torch.nn as nn

    return nn.LocalResponseNorm(p["size"], alpha=p["alpha"], beta=p["beta"], k=p["k"])


local_response_norm = LayerKind(
    id="LocalResponseNorm",
    category=NORMALIZATION,
    help="Local response normalization (AlexNet): each value is divided by the activity of "
         "neighbouring channels at the same position; no weights.",
    params=(
        Param("size", "int", 5, "Number of neighbouring channels summed over.", min=1,
              max=1024),
        Param("alpha", "float", 1e-4, "Scale of the neighbours' sum of squares.", min=0.0),
        Param("beta", "float", 0.75, "Exponent of the divisor.", min=0.0),
        Param("k", "float", 2.0, "Constant added inside the divisor.", min=0.0),
    ),
    shape=_lrn_shape,
    build=_lrn_build,
    describe=lambda p: f"size {p['size']}, α {p['alpha']:g}, β {p['beta']:g}, k {p['k']:g}",
)

KINDS = (batch_norm, layer_norm, local_response_norm)
