"""Activation kinds: a nonlinearity applied to every value; the shape stays as it is."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from engine.layers.base import (
    ACTIVATION,
    HeadRole,
    LayerKind,
    OnnxHandler,
    Param,
    Shape,
    Spec,
    TorchConverter,
)
from engine.layers.code import Code, Emitter, number, plain
from engine.layers.convert import onnx_attrs


def _same_shape(inputs: list[Shape], p: dict[str, Any]) -> Shape:
    return inputs[0]


def _activation(kind_id: str, help_text: str, module: str, params: tuple[Param, ...] = (),
                args: Callable[[dict[str, Any]], dict[str, Any]] = lambda p: {},
                describe: Callable[[dict[str, Any]], str] = lambda p: "",
                **sources: Any) -> LayerKind:
    def build(inputs: list[Shape], p: dict[str, Any], out: Shape):
        import torch.nn as nn

        return getattr(nn, module)(**args(p))

    sources.setdefault("emit", plain(f"nn.{module}()"))  # as build makes it, by default
    return LayerKind(id=kind_id, category=ACTIVATION, help=help_text, params=params,
                     shape=_same_shape, build=build, describe=describe, **sources)


def _leaky_emit(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
    slope = p["negative_slope"]
    return Code("nn.LeakyReLU()" if slope == 0.01 else f"nn.LeakyReLU({number(slope)})")


def _elu_emit(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
    return Code("nn.ELU()" if p["alpha"] == 1.0 else f"nn.ELU(alpha={number(p['alpha'])})")


def _softmax_emit(module: str) -> Emitter:
    # Its logits are what it is given: the loss takes the scores before the softmax.
    return lambda inputs, p, out: Code(f"nn.{module}(dim=1)", scores="{x}")


def _onnx_plain(kind_id: str) -> OnnxHandler:
    def handle(importer: Any, node: Any) -> None:
        importer.block(node, kind_id, {}, [node.input[0]])

    return handle


def _torch_gelu(m: Any) -> Spec:
    return "GELU with the tanh approximation" if m.approximate != "none" else (gelu.id, {})


def _gelu_call(node: Any) -> tuple[Spec, list[Any]]:
    if node.kwargs.get("approximate", "none") != "none":
        return "gelu with the tanh approximation", []
    return (gelu.id, {}), [node.args[0] if node.args else None]


def _onnx_gelu(importer: Any, node: Any) -> None:
    if onnx_attrs(node).get("approximate", "none") != "none":
        return importer.miss(node, "tanh approximation")
    importer.block(node, gelu.id, {}, [node.input[0]])


def _onnx_leaky_relu(importer: Any, node: Any) -> None:
    slope = float(onnx_attrs(node).get("alpha", 0.01))
    importer.block(node, leaky_relu.id, {"negative_slope": slope}, [node.input[0]])


def _onnx_elu(importer: Any, node: Any) -> None:
    alpha = float(onnx_attrs(node).get("alpha", 1.0))
    importer.block(node, elu.id, {"alpha": alpha}, [node.input[0]])


def _onnx_hardsigmoid(importer: Any, node: Any) -> None:
    a = onnx_attrs(node)
    if not (math.isclose(a.get("alpha", 0.2), 1 / 6, rel_tol=1e-6)
            and math.isclose(a.get("beta", 0.5), 0.5)):
        return importer.miss(node, "alpha other than 1/6")
    importer.block(node, hardsigmoid.id, {}, [node.input[0]])


def _onnx_clip(importer: Any, node: Any) -> None:
    """Clip(0, 6) is ReLU6 and Clip(0, ∞) ReLU (MobileNet's exports)."""
    import numpy as np

    a = onnx_attrs(node)
    low = importer.const(node, 1) if len(node.input) > 1 else a.get("min")
    high = importer.const(node, 2) if len(node.input) > 2 else a.get("max")
    low = None if low is None else float(np.ravel(low)[0])
    high = None if high is None else float(np.ravel(high)[0])
    if low == 0.0 and high == 6.0:
        return importer.block(node, relu6.id, {}, [node.input[0]])
    if low == 0.0 and (high is None or math.isinf(high)):
        return importer.block(node, relu.id, {}, [node.input[0]])
    importer.miss(node, f"to [{low}, {high}]")


def _torch_softmax(kind_id: str) -> TorchConverter:
    def convert(m: Any) -> Spec:
        return (kind_id, {}) if m.dim in (1, -1) else f"{kind_id} over dim {m.dim}"

    return convert


def _onnx_softmax(kind_id: str) -> OnnxHandler:
    def handle(importer: Any, node: Any) -> None:
        shape = importer.shape(node.input[0])
        axis = onnx_attrs(node).get("axis", -1 if importer.opset >= 13 else 1)
        if shape is None or axis % (len(shape) + 1) != 1:
            return importer.miss(node, "over another axis than the channels")
        importer.block(node, kind_id, {}, [node.input[0]])

    return handle


relu = _activation("ReLU", "Rectified linear unit: max(0, x); the usual choice after a "
                   "convolution.", "ReLU",
                   torch_modules={"torch.nn.ReLU": None},
                   torch_calls=dict.fromkeys(("torch.nn.functional.relu", "torch.relu",
                                              "torch.relu_", "Tensor.relu", "Tensor.relu_")),
                   onnx_ops={"Relu": _onnx_plain("ReLU")})
relu6 = _activation("ReLU6", "ReLU capped at 6: min(max(0, x), 6) (MobileNet).", "ReLU6",
                    torch_modules={"torch.nn.ReLU6": None},
                    torch_calls={"torch.nn.functional.relu6": None},
                    onnx_ops={"Clip": _onnx_clip})
leaky_relu = _activation(
    "LeakyReLU", "Leaky ReLU: x for x > 0, else a small slope × x, so negative inputs still "
    "pass a gradient.", "LeakyReLU",
    params=(Param("negative_slope", "float", 0.01, "Slope for negative inputs.", min=0.0,
                  max=1.0),),
    args=lambda p: {"negative_slope": p["negative_slope"]},
    describe=lambda p: f"slope {p['negative_slope']:g}",
    torch_modules={"torch.nn.LeakyReLU": lambda m: (
        leaky_relu.id, {"negative_slope": float(m.negative_slope)})},
    onnx_ops={"LeakyRelu": _onnx_leaky_relu},
    emit=_leaky_emit)
elu = _activation(
    "ELU", "Exponential linear unit: x for x > 0, else alpha·(eˣ − 1).", "ELU",
    params=(Param("alpha", "float", 1.0, "Value approached for very negative inputs "
                  "(as −alpha).", min=0.0, max=100.0),),
    args=lambda p: {"alpha": p["alpha"]},
    describe=lambda p: f"alpha {p['alpha']:g}",
    torch_modules={"torch.nn.ELU": lambda m: (elu.id, {"alpha": float(m.alpha)})},
    onnx_ops={"Elu": _onnx_elu},
    emit=_elu_emit)
gelu = _activation("GELU", "Gaussian error linear unit: x weighted by the probability that a "
                   "standard normal is below x (transformers).", "GELU",
                   torch_modules={"torch.nn.GELU": _torch_gelu},
                   torch_calls={"torch.nn.functional.gelu": _gelu_call},
                   onnx_ops={"Gelu": _onnx_gelu})
silu = _activation("SiLU", "Sigmoid linear unit (swish): x · sigmoid(x) (EfficientNet).", "SiLU",
                   torch_modules={"torch.nn.SiLU": None},
                   torch_calls={"torch.nn.functional.silu": None})
tanh = _activation("Tanh", "Hyperbolic tangent: squashes values into (−1, 1) (LeNet-5).", "Tanh",
                   torch_modules={"torch.nn.Tanh": None},
                   torch_calls=dict.fromkeys(("torch.tanh", "torch.nn.functional.tanh",
                                              "Tensor.tanh")),
                   onnx_ops={"Tanh": _onnx_plain("Tanh")})
sigmoid = _activation("Sigmoid", "Logistic sigmoid: squashes values into (0, 1); a probability "
                      "per output.", "Sigmoid",
                      torch_modules={"torch.nn.Sigmoid": None},
                      torch_calls=dict.fromkeys(("torch.sigmoid", "torch.nn.functional.sigmoid",
                                                 "Tensor.sigmoid")),
                      onnx_ops={"Sigmoid": _onnx_plain("Sigmoid")},
                      head=HeadRole.SIGMOID)
hardswish = _activation("Hardswish", "Hard swish: a cheap piecewise approximation of SiLU "
                        "(MobileNetV3).", "Hardswish",
                        torch_modules={"torch.nn.Hardswish": None},
                        torch_calls={"torch.nn.functional.hardswish": None},
                        onnx_ops={"HardSwish": _onnx_plain("Hardswish")})
hardsigmoid = _activation("Hardsigmoid", "Hard sigmoid: a cheap piecewise-linear sigmoid "
                          "(MobileNetV3).", "Hardsigmoid",
                          torch_modules={"torch.nn.Hardsigmoid": None},
                          torch_calls={"torch.nn.functional.hardsigmoid": None},
                          onnx_ops={"HardSigmoid": _onnx_hardsigmoid})
softmax = _activation(
    "Softmax", "Softmax over the channels (the class scores): outputs are positive and sum "
    "to 1, i.e. class probabilities.", "Softmax", args=lambda p: {"dim": 1},
    describe=lambda p: "over channels",
    torch_modules={"torch.nn.Softmax": _torch_softmax("Softmax")},
    onnx_ops={"Softmax": _onnx_softmax("Softmax")},
    emit=_softmax_emit("Softmax"), head=HeadRole.PROBABILITIES)
log_softmax = _activation(
    "LogSoftmax", "Log of the softmax over the channels; pairs with the nll loss.",
    "LogSoftmax", args=lambda p: {"dim": 1}, describe=lambda p: "over channels",
    torch_modules={"torch.nn.LogSoftmax": _torch_softmax("LogSoftmax")},
    onnx_ops={"LogSoftmax": _onnx_softmax("LogSoftmax")},
    emit=_softmax_emit("LogSoftmax"), head=HeadRole.PROBABILITIES)

KINDS = (relu, relu6, leaky_relu, elu, gelu, silu, tanh, sigmoid, hardswish, hardsigmoid,
         softmax, log_softmax)
