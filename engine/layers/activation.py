"""Activation kinds: a nonlinearity applied to every value; the shape stays as it is."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.layers.base import ACTIVATION, LayerKind, Param, Shape


def _same_shape(inputs: list[Shape], p: dict[str, Any]) -> Shape:
    return inputs[0]


def _activation(kind_id: str, help_text: str, module: str, params: tuple[Param, ...] = (),
                args: Callable[[dict[str, Any]], dict[str, Any]] = lambda p: {},
                describe: Callable[[dict[str, Any]], str] = lambda p: "") -> LayerKind:
    def build(inputs: list[Shape], p: dict[str, Any], out: Shape):
        import torch.nn as nn

        return getattr(nn, module)(**args(p))

    return LayerKind(id=kind_id, category=ACTIVATION, help=help_text, params=params,
                     shape=_same_shape, build=build, describe=describe)


relu = _activation("ReLU", "Rectified linear unit: max(0, x); the usual choice after a "
                   "convolution.", "ReLU")
relu6 = _activation("ReLU6", "ReLU capped at 6: min(max(0, x), 6) (MobileNet).", "ReLU6")
leaky_relu = _activation(
    "LeakyReLU", "Leaky ReLU: x for x > 0, else a small slope × x, so negative inputs still "
    "pass a gradient.", "LeakyReLU",
    params=(Param("negative_slope", "float", 0.01, "Slope for negative inputs.", min=0.0,
                  max=1.0),),
    args=lambda p: {"negative_slope": p["negative_slope"]},
    describe=lambda p: f"slope {p['negative_slope']:g}")
elu = _activation(
    "ELU", "Exponential linear unit: x for x > 0, else alpha·(eˣ − 1).", "ELU",
    params=(Param("alpha", "float", 1.0, "Value approached for very negative inputs "
                  "(as −alpha).", min=0.0, max=100.0),),
    args=lambda p: {"alpha": p["alpha"]},
    describe=lambda p: f"alpha {p['alpha']:g}")
gelu = _activation("GELU", "Gaussian error linear unit: x weighted by the probability that a "
                   "standard normal is below x (transformers).", "GELU")
silu = _activation("SiLU", "Sigmoid linear unit (swish): x · sigmoid(x) (EfficientNet).", "SiLU")
tanh = _activation("Tanh", "Hyperbolic tangent: squashes values into (−1, 1) (LeNet-5).", "Tanh")
sigmoid = _activation("Sigmoid", "Logistic sigmoid: squashes values into (0, 1); a probability "
                      "per output.", "Sigmoid")
hardswish = _activation("Hardswish", "Hard swish: a cheap piecewise approximation of SiLU "
                        "(MobileNetV3).", "Hardswish")
hardsigmoid = _activation("Hardsigmoid", "Hard sigmoid: a cheap piecewise-linear sigmoid "
                          "(MobileNetV3).", "Hardsigmoid")
softmax = _activation(
    "Softmax", "Softmax over the channels (the class scores): outputs are positive and sum "
    "to 1, i.e. class probabilities.", "Softmax", args=lambda p: {"dim": 1},
    describe=lambda p: "over channels")
log_softmax = _activation(
    "LogSoftmax", "Log of the softmax over the channels; pairs with the nll loss.",
    "LogSoftmax", args=lambda p: {"dim": 1}, describe=lambda p: "over channels")

KINDS = (relu, relu6, leaky_relu, elu, gelu, silu, tanh, sigmoid, hardswish, hardsigmoid,
         softmax, log_softmax)
