"""Regularization kinds: Dropout and SpatialDropout2D (active only while training)."""

from __future__ import annotations

from typing import Any

from engine.layers.base import REGULARIZATION, LayerKind, Param, Shape
from engine.layers.conv import expect_image

RATE = Param("rate", "float", 0.5, "Fraction of values dropped (set to zero) during training; "
             "the rest are scaled by 1/(1 − rate).", min=0.0, max=0.99)


def _dropout_build(inputs: list[Shape], p: dict[str, Any], out: Shape):
    import torch.nn as nn

    return nn.Dropout(p["rate"])


dropout = LayerKind(
    id="Dropout",
    category=REGULARIZATION,
    help="Dropout: during training, randomly zeroes a fraction of the values so the network "
         "cannot rely on any single one (AlexNet's classifier); does nothing at inference.",
    params=(RATE,),
    shape=lambda i, p: i[0],
    build=_dropout_build,
    describe=lambda p: f"rate {p['rate']:g}",
)


def _spatial_build(inputs: list[Shape], p: dict[str, Any], out: Shape):
    import torch.nn as nn

    return nn.Dropout2d(p["rate"])


spatial_dropout2d = LayerKind(
    id="SpatialDropout2D",
    category=REGULARIZATION,
    help="Spatial dropout: during training, drops whole feature maps instead of single values "
         "(neighbouring pixels are too alike for plain dropout to help).",
    params=(RATE,),
    shape=lambda i, p: expect_image("SpatialDropout2D", i[0]),
    build=_spatial_build,
    describe=lambda p: f"rate {p['rate']:g}",
)

KINDS = (dropout, spatial_dropout2d)
