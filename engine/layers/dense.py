"""Dense (fully connected) and RBF: the classification component."""

from __future__ import annotations

from typing import Any

from engine.layers.base import (
    BIAS,
    CLASSIFICATION,
    FUSED_ACTIVATION,
    INITIALIZER,
    HeadRole,
    LayerKind,
    Param,
    Shape,
    expect_vector,
)
from engine.layers.code import Code, activated, call, initializer_lines
from engine.layers.convert import onnx_attrs


def _dense_shape(inputs: list[Shape], p: dict[str, Any]) -> Shape:
    expect_vector(inputs[0])
    return (p["units"],)


def _dense_counts(inputs: list[Shape], p: dict[str, Any], out: Shape) -> tuple[int, int]:
    return (inputs[0][0] * p["units"] + (p["units"] if p["bias"] else 0), 0)


def _dense_build(inputs: list[Shape], p: dict[str, Any], out: Shape):
    from engine.layers.modules import LinearAct

    return LinearAct(inputs[0][0], p["units"], p["bias"], p["activation"], p["initializer"])


def _dense_emit(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
    module = call("nn.Linear", str(inputs[0][0]), str(p["units"]),
                  bias=None if p["bias"] else "False")
    fused = activated("{m}({x})", p["activation"])
    return Code(module, fused.call, initializer_lines(p, p["bias"]), scores=fused.scores)


def _dense_weights(inputs: list[Shape], p: dict[str, Any]) -> dict[str, Shape]:
    shapes: dict[str, Shape] = {"weight": (p["units"], inputs[0][0])}
    if p["bias"]:
        shapes["bias"] = (p["units"],)
    return shapes


def _describe_dense(p: dict[str, Any]) -> str:
    text = f"{p['units']} units"
    if p["activation"] != "none":
        text += f", {p['activation']}"
    return text


def _onnx_gemm(importer: Any, node: Any) -> None:
    """Gemm with constant weights; alpha, beta and transB are folded into them."""
    import numpy as np

    a = onnx_attrs(node)
    w, c = importer.const(node, 1), importer.const(node, 2)
    if w is None or a.get("transA", 0) or node.input[0] not in importer.value:
        return importer.miss(node, "weights computed at run time")
    weight = w * a.get("alpha", 1.0) if a.get("alpha", 1.0) != 1.0 else w
    weight = weight if a.get("transB", 0) else weight.T
    tensors = {"weight": np.ascontiguousarray(weight)}
    if c is not None:
        tensors["bias"] = np.broadcast_to(c * a.get("beta", 1.0), (weight.shape[0],)).copy()
    importer.block(node, dense.id, {"units": int(weight.shape[0]), "bias": c is not None},
                   [node.input[0]], tensors)


def _onnx_matmul(importer: Any, node: Any) -> None:
    """MatMul by a constant matrix: a Dense without bias (an Add after it gives the bias)."""
    import numpy as np

    w = importer.const(node, 1)
    if w is None or w.ndim != 2:
        return importer.miss(node, "of two computed tensors")
    importer.block(node, dense.id, {"units": int(w.shape[1]), "bias": False},
                   [node.input[0]], {"weight": np.ascontiguousarray(w.T)})


dense = LayerKind(
    id="Dense",
    category=CLASSIFICATION,
    help="Fully connected layer: every input feature connects to every unit.",
    params=(
        Param("units", "int", 64, "Number of output units (neurons).", min=1, max=10_000_000),
        BIAS, FUSED_ACTIVATION, INITIALIZER,
    ),
    shape=_dense_shape,
    params_count=_dense_counts,
    macs=lambda i, p, o: i[0][0] * p["units"],
    build=_dense_build,
    describe=_describe_dense,
    torch_modules={"torch.nn.Linear": lambda m: (
        dense.id, {"units": m.out_features, "bias": m.bias is not None})},
    onnx_ops={"Gemm": _onnx_gemm, "MatMul": _onnx_matmul},
    emit=_dense_emit,
    weights=_dense_weights,
    width_param="units",
)


def _rbf_build(inputs: list[Shape], p: dict[str, Any], out: Shape):
    from engine.layers.modules import RBF

    return RBF(inputs[0][0], p["units"])


def _rbf_emit(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
    # The nearest centre scores highest, as GraphModule.logits negates the distances.
    return Code(f"RBF({inputs[0][0]}, {p['units']})", helpers=("engine.layers.modules.RBF",),
                scores="-{m}({x})")


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
    emit=_rbf_emit,
    weights=lambda i, p: {"weight": (p["units"], i[0][0])},
    head=HeadRole.DISTANCES,
    width_param="units",
)

KINDS = (dense, rbf)
