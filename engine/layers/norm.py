"""Normalization kinds: BatchNorm, LayerNorm, AlexNet's LocalResponseNorm and ConvNeXt's
LayerNorm2d."""

from __future__ import annotations

from typing import Any

from engine.layers.base import (
    NORMALIZATION,
    LayerKind,
    Param,
    Shape,
    Spec,
    expect_image,
    expect_vector_or_image,
)
from engine.layers.code import Code, call, number
from engine.layers.convert import onnx_attrs
from engine.shapes import volume

EPSILON = Param("epsilon", "float", 1e-5, "Small number added to the variance so it never "
                "divides by zero.", min=1e-12, max=1.0)


def _batchnorm_shape(inputs: list[Shape], p: dict[str, Any]) -> Shape:
    return expect_vector_or_image(inputs[0])


def _batchnorm_build(inputs: list[Shape], p: dict[str, Any], out: Shape):
    import torch.nn as nn

    layer = nn.BatchNorm1d if len(inputs[0]) == 1 else nn.BatchNorm2d
    return layer(inputs[0][0], eps=p["epsilon"], momentum=p["momentum"])


def _batchnorm_emit(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
    layer = "nn.BatchNorm1d" if len(inputs[0]) == 1 else "nn.BatchNorm2d"
    return Code(call(layer, str(inputs[0][0]),
                     eps=None if p["epsilon"] == 1e-5 else number(p["epsilon"]),
                     momentum=None if p["momentum"] == 0.1 else number(p["momentum"])))


def _torch_batchnorm(m: Any) -> Spec:
    if not (m.affine and m.track_running_stats):
        return f"{type(m).__name__} without affine weights or running statistics"
    momentum = 0.1 if m.momentum is None else float(m.momentum)
    return batch_norm.id, {"momentum": momentum, "epsilon": float(m.eps)}


def _onnx_batchnorm(importer: Any, node: Any) -> None:
    """BatchNormalization in inference mode; ONNX's momentum is torch's 1 − momentum."""
    import numpy as np

    a = onnx_attrs(node)
    values = [importer.const(node, i) for i in range(1, 5)]
    if any(v is None for v in values) or a.get("training_mode", 0) or len(node.output) > 1:
        return importer.miss(node, "in training mode")
    scale, bias, mean, var = values
    params = {"epsilon": float(a.get("epsilon", 1e-5)),
              "momentum": round(1.0 - float(a.get("momentum", 0.9)), 6)}
    importer.block(node, batch_norm.id, params, [node.input[0]],
                   {"weight": scale, "bias": bias, "running_mean": mean, "running_var": var,
                    "num_batches_tracked": np.array(0, dtype=np.int64)})


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
    torch_modules={"torch.nn.BatchNorm1d": _torch_batchnorm,
                   "torch.nn.BatchNorm2d": _torch_batchnorm},
    onnx_ops={"BatchNormalization": _onnx_batchnorm},
    emit=_batchnorm_emit,
    weights=lambda i, p: {k: (i[0][0],) for k in ("weight", "bias", "running_mean",
                                                  "running_var")},
)


def _layernorm_build(inputs: list[Shape], p: dict[str, Any], out: Shape):
    import torch.nn as nn

    return nn.LayerNorm(list(inputs[0]), eps=p["epsilon"])


def _layernorm_emit(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
    shape = inputs[0]
    dims = str(shape[0]) if len(shape) == 1 else str(tuple(shape))
    return Code(call("nn.LayerNorm", dims,
                     eps=None if p["epsilon"] == 1e-5 else number(p["epsilon"])))


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
    emit=_layernorm_emit,
    weights=lambda i, p: {"weight": tuple(i[0]), "bias": tuple(i[0])},
)


def _lrn_shape(inputs: list[Shape], p: dict[str, Any]) -> Shape:
    return expect_image(inputs[0])


def _lrn_build(inputs: list[Shape], p: dict[str, Any], out: Shape):
    import torch.nn as nn

    return nn.LocalResponseNorm(p["size"], alpha=p["alpha"], beta=p["beta"], k=p["k"])


def _lrn_emit(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
    return Code(call("nn.LocalResponseNorm", str(p["size"]),
                     alpha=None if p["alpha"] == 1e-4 else number(p["alpha"]),
                     beta=None if p["beta"] == 0.75 else number(p["beta"]),
                     k=None if p["k"] == 1.0 else number(p["k"])))


def _onnx_lrn(importer: Any, node: Any) -> None:
    a = onnx_attrs(node)
    importer.block(node, local_response_norm.id,
                   {"size": int(a["size"]), "alpha": float(a.get("alpha", 1e-4)),
                    "beta": float(a.get("beta", 0.75)), "k": float(a.get("bias", 1.0))},
                   [node.input[0]])


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
    emit=_lrn_emit,
    describe=lambda p: f"size {p['size']}, α {p['alpha']:g}, β {p['beta']:g}, k {p['k']:g}",
    torch_modules={"torch.nn.LocalResponseNorm": lambda m: (local_response_norm.id, {
        "size": m.size, "alpha": float(m.alpha), "beta": float(m.beta), "k": float(m.k)})},
    onnx_ops={"LRN": _onnx_lrn},
)


def _layernorm2d_build(inputs: list[Shape], p: dict[str, Any], out: Shape):
    from engine.layers.modules import LayerNorm2d

    return LayerNorm2d(inputs[0][0], eps=p["epsilon"])


def _layernorm2d_emit(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
    # nn.LayerNorm over the last axis, so the channels are moved last and back.
    return Code(call("nn.LayerNorm", str(inputs[0][0]), eps=number(p["epsilon"])),
                "{m}({x}.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)")


def _layernorm2d_module(m: Any) -> tuple[str, dict[str, Any]] | str:
    if not m.elementwise_affine or m.bias is None:
        return "LayerNorm2d without its weight and bias"
    return "LayerNorm2d", {"epsilon": float(m.eps)}


def _onnx_layer_norm(importer: Any, node: Any) -> None:
    """LayerNormalization over the last axis between Transposes that move the channels last
    and back (LayerNorm2d's export) is a LayerNorm2d; over all of C×H×W, a LayerNorm."""
    from engine.layers.channels import producer

    a = onnx_attrs(node)
    x, scale, bias = node.input[0], importer.const(node, 1), importer.const(node, 2)
    shape = importer.shape(x)
    if shape is None or scale is None or bias is None:
        return importer.miss(node, "without constant scale and bias")
    axis = int(a.get("axis", -1)) % (len(shape) + 1)
    params = {"epsilon": float(a.get("epsilon", 1e-5))}
    tensors = {"weight": scale, "bias": bias}
    before = producer(importer, x)
    moved = before is not None and before.op_type == "Transpose" and \
        list(onnx_attrs(before).get("perm", [])) == [0, 2, 3, 1] and importer.uses[x] == 1
    if axis == len(shape) and moved and len(shape) == 3:
        importer.graph.remove_node(importer.value[x])
        return importer.block(node, layer_norm2d.id, params, [before.input[0]], tensors)
    if axis == 1 and scale.shape == shape:
        return importer.block(node, layer_norm.id, params, [x], tensors)
    importer.miss(node, f"over axes {axis} and after")


layer_norm2d = LayerKind(
    id="LayerNorm2d",
    category=NORMALIZATION,
    help="Channel layer normalization (ConvNeXt): at each position, normalizes the C values "
         "across the channels, then scales and shifts each channel; independent of the "
         "batch size and of the other positions.",
    params=(Param("epsilon", "float", 1e-6, "Small number added to the variance so it never "
                  "divides by zero; ConvNeXt uses 1e-6.", min=1e-12, max=1.0),),
    shape=lambda i, p: expect_image(i[0]),
    params_count=lambda i, p, o: (2 * i[0][0], 0),
    build=_layernorm2d_build,
    describe=lambda p: f"over channels, ε {p['epsilon']:g}",
    emit=_layernorm2d_emit,
    weights=lambda i, p: {"weight": (i[0][0],), "bias": (i[0][0],)},
    torch_modules={"torchvision.models.convnext.LayerNorm2d": _layernorm2d_module},
    onnx_ops={"LayerNormalization": _onnx_layer_norm},
)

KINDS = (batch_norm, layer_norm, local_response_norm, layer_norm2d)
