"""Regularization kinds: Dropout and SpatialDropout2D (active only while training)."""

from __future__ import annotations

from typing import Any

from engine.layers.base import REGULARIZATION, LayerKind, Param, Shape, expect_image
from engine.layers.code import plain
from engine.layers.convert import call_arg, onnx_attrs

RATE = Param("rate", "float", 0.5, "Fraction of values dropped (set to zero) during training; "
             "the rest are scaled by 1/(1 − rate).", min=0.0, max=0.99)


def _dropout_build(inputs: list[Shape], p: dict[str, Any], out: Shape):
    import torch.nn as nn

    return nn.Dropout(p["rate"])


def _onnx_dropout(importer: Any, node: Any) -> None:
    import numpy as np

    ratio = importer.const(node, 1) if len(node.input) > 1 else None
    rate = float(np.ravel(ratio)[0]) if ratio is not None else float(
        onnx_attrs(node).get("ratio", 0.5))
    importer.block(node, dropout.id, {"rate": rate}, [node.input[0]])


dropout = LayerKind(
    id="Dropout",
    category=REGULARIZATION,
    help="Dropout: during training, randomly zeroes a fraction of the values so the network "
         "cannot rely on any single one (AlexNet's classifier); does nothing at inference.",
    params=(RATE,),
    shape=lambda i, p: i[0],
    build=_dropout_build,
    describe=lambda p: f"rate {p['rate']:g}",
    emit=plain("nn.Dropout({rate!r})"),
    torch_modules={"torch.nn.Dropout": lambda m: (dropout.id, {"rate": float(m.p)})},
    torch_calls={"torch.nn.functional.dropout": lambda node: (
        (dropout.id, {"rate": float(call_arg(node, 1, "p", 0.5))}),
        [node.args[0] if node.args else None])},
    onnx_ops={"Dropout": _onnx_dropout},
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
    shape=lambda i, p: expect_image(i[0]),
    build=_spatial_build,
    describe=lambda p: f"rate {p['rate']:g}",
    emit=plain("nn.Dropout2d({rate!r})"),
    torch_modules={"torch.nn.Dropout2d": lambda m: (spatial_dropout2d.id, {"rate": float(m.p)})},
)

KINDS = (dropout, spatial_dropout2d)
