"""Merge kinds: Add (ResNet's shortcut), Concat (GoogLeNet's inception) and Multiply
(squeeze-and-excitation). Each takes two or more inputs, in input-port order."""

from __future__ import annotations

import math
from typing import Any

from engine.layers.activation import sigmoid, silu
from engine.layers.base import (
    MERGE,
    PASS_THROUGH,
    CallConverter,
    LayerKind,
    Shape,
    ShapeError,
    Spec,
)
from engine.layers.code import Code, Emitter
from engine.layers.convert import call_arg, is_traced, onnx_attrs
from engine.layers.dense import dense
from engine.shapes import fmt_shape


def _operator_emit(operator: str) -> Emitter:
    def emit(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
        return Code(None, f" {operator} ".join(f"{{x{i}}}" for i in range(len(inputs))))
    return emit


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


def _binary_call(kind_id: str) -> CallConverter:
    """x + y, torch.add(x, y), x * y…: two computed tensors (a constant has no block)."""
    def converter(node: Any) -> tuple[Spec, list[Any]]:
        tensors = list(node.args[:2])
        if not all(is_traced(t) for t in tensors) or node.kwargs:
            return f"{getattr(node.target, '__name__', node.target)} with a constant", []
        return (kind_id, {}), tensors

    return converter


def _onnx_add(importer: Any, node: Any) -> None:
    """Add / Sum of computed tensors; MatMul + Add of a constant is a Dense with bias."""
    import numpy as np

    computed = [i for i in node.input if i in importer.value]
    if len(computed) == len(node.input) >= 2:
        return importer.block(node, add.id, {}, list(node.input))
    constant = next((importer.consts[i] for i in node.input if i in importer.consts), None)
    producer = importer.value.get(computed[0]) if len(computed) == 1 else None
    block = importer.graph.nodes.get(producer or "")
    if block is not None and block.kind == dense.id and not block.params["bias"] \
            and importer.uses[computed[0]] == 1 and constant is not None \
            and constant.size == block.params["units"]:
        importer.graph.set_param(block.id, "bias", True)
        importer.tensors[block.id]["bias"] = np.ravel(constant).copy()
        return importer.alias(node, computed[0])
    importer.miss(node, "with a constant")


add = LayerKind(
    id="Add",
    category=MERGE,
    help="Adds its inputs value by value (ResNet's shortcut connection); all inputs must "
         "have the same shape.",
    params=(),
    shape=_add_shape,
    build=lambda i, p, o: _module("Add"),
    describe=lambda p: "sum",
    torch_calls=dict.fromkeys(("operator.add", "torch.add", "operator.iadd"),
                              _binary_call("Add")),
    onnx_ops={"Add": _onnx_add, "Sum": _onnx_add},
    emit=_operator_emit("+"),
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


def _cat_call(node: Any) -> tuple[Spec, list[Any]]:
    first = node.args[0] if node.args else None
    tensors = list(first) if isinstance(first, list | tuple) else []
    if call_arg(node, 1, "dim", 0) != 1 or not all(is_traced(t) for t in tensors):
        return "cat along a dimension other than the channels", []
    return ((PASS_THROUGH, {}) if len(tensors) == 1 else (concat.id, {})), tensors


def _onnx_concat(importer: Any, node: Any) -> None:
    shape = importer.shape(node.input[0])
    if shape is None or onnx_attrs(node).get("axis") not in (1, 1 - len(shape) - 1):
        return importer.miss(node, "along another axis than the channels")
    if len(node.input) == 1:
        return importer.alias(node, node.input[0])
    importer.block(node, concat.id, {}, list(node.input))


concat = LayerKind(
    id="Concat",
    category=MERGE,
    help="Stacks its inputs along the channels (GoogLeNet's inception module): same H×W, "
         "the channel counts add up.",
    params=(),
    shape=_concat_shape,
    build=lambda i, p, o: _module("Concat"),
    describe=lambda p: "along channels",
    torch_calls={"torch.cat": _cat_call},
    onnx_ops={"Concat": _onnx_concat},
    emit=lambda i, p, o: Code(None, "torch.cat([{xs}], dim=1)"),
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


def _onnx_mul(importer: Any, node: Any) -> None:
    """Mul of computed tensors; x·sigmoid(x), where the Sigmoid feeds only it, is a SiLU."""
    computed = [i for i in node.input if i in importer.value]
    if len(node.input) == 2 and len(computed) == 2:
        for x, gate in (node.input, node.input[::-1]):
            block = importer.graph.nodes.get(importer.value[gate])
            if block is not None and block.kind == sigmoid.id and importer.uses[gate] == 1 \
                    and importer.graph.predecessors(block.id) == [importer.value[x]]:
                importer.graph.remove_node(block.id)
                return importer.block(node, silu.id, {}, [x])
    if len(computed) == len(node.input) >= 2:
        return importer.block(node, multiply.id, {}, list(node.input))
    importer.miss(node, "with a constant")


multiply = LayerKind(
    id="Multiply",
    category=MERGE,
    help="Multiplies its inputs value by value; a C×1×1 input scales each of the C feature "
         "maps (squeeze-and-excitation). Sizes of 1 stretch to match, as in PyTorch.",
    params=(),
    shape=_multiply_shape,
    build=lambda i, p, o: _module("Multiply"),
    describe=lambda p: "elementwise",
    torch_calls=dict.fromkeys(("operator.mul", "torch.mul"), _binary_call("Multiply")),
    onnx_ops={"Mul": _onnx_mul},
    emit=_operator_emit("*"),
    arity=None,
)


def _module(name: str):
    from engine.layers import modules

    return getattr(modules, name)()


KINDS = (add, concat, multiply)
