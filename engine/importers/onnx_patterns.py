"""Multi-node ONNX patterns that Netdraft's own exporter writes, mapped back to one block.

- The Input block's preprocessing: Mul by the scale, Sub the mean, Div by the std right
  after the graph input (engine/backend/build.py, Preprocess) becomes the Input's params;
  the file's 'preprocessing' metadata gives the exact values and the channel order.
- RBF (engine/backend/modules.py): ReduceSum(x·x) - (x·2) @ Wᵀ + ReduceSum(W·W) becomes one
  RBF block holding W.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from engine.layers.convert import onnx_attrs
from engine.layers.dense import rbf


def _constant_nodes(model: Any) -> dict[str, np.ndarray]:
    """Initializers and Constant nodes' values, by tensor name."""
    from onnx import numpy_helper

    values = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            a = onnx_attrs(node)
            if "value" in a:
                values[node.output[0]] = numpy_helper.to_array(a["value"])
            elif "value_float" in a:
                values[node.output[0]] = np.array(a["value_float"], dtype=np.float32)
    return values


def _axes(node: Any, consts: dict[str, np.ndarray]) -> list[int] | None:
    a = onnx_attrs(node)
    if "axes" in a:
        return [int(v) for v in a["axes"]]
    if len(node.input) > 1 and node.input[1] in consts:
        return [int(v) for v in np.ravel(consts[node.input[1]])]
    return None


def find_rbf(model: Any) -> tuple[dict[int, tuple[str, np.ndarray]], set[int]]:
    """RBF patterns: {index of the final Add: (input tensor, W)} and the indices they cover."""
    nodes = list(model.graph.node)
    consts = _constant_nodes(model)
    producer = {o: i for i, n in enumerate(nodes) for o in n.output}
    uses: dict[str, int] = {}
    for n in nodes:
        for name in n.input:
            uses[name] = uses.get(name, 0) + 1
    outputs = {o.name for o in model.graph.output}

    def made_by(tensor: str, op: str) -> int | None:
        i = producer.get(tensor)
        if i is None or nodes[i].op_type != op:
            return None
        if tensor not in outputs and uses.get(tensor, 0) != 1:
            return None
        return i

    found: dict[int, tuple[str, np.ndarray]] = {}
    covered: set[int] = set()
    for end, node in enumerate(nodes):
        if node.op_type != "Add" or len(node.input) != 2:
            continue
        for s, b in (node.input, node.input[::-1]):
            match = _match_rbf(nodes, consts, made_by, s, b)
            if match is not None:
                x, weight, inner = match
                found[end] = (x, weight)
                covered |= inner
                break
    return found, covered


def _match_rbf(nodes, consts, made_by, s: str, b: str):
    sub = made_by(s, "Sub")
    if sub is None:
        return None
    a_name, m_name = nodes[sub].input
    red = made_by(a_name, "ReduceSum")
    mm = made_by(m_name, "MatMul")
    if red is None or mm is None or _axes(nodes[red], consts) not in ([1], [-1]) \
            or not onnx_attrs(nodes[red]).get("keepdims", 1):
        return None
    sq = made_by(nodes[red].input[0], "Mul")
    if sq is None or nodes[sq].input[0] != nodes[sq].input[1]:
        return None
    x = nodes[sq].input[0]
    p_name, wt_name = nodes[mm].input
    wt = consts.get(wt_name)
    twice = made_by(p_name, "Mul")
    if wt is None or wt.ndim != 2 or twice is None:
        return None
    k = [consts.get(i) for i in nodes[twice].input]
    if nodes[twice].input[0] == x and k[1] is not None and np.allclose(k[1], 2.0):
        pass
    elif nodes[twice].input[1] == x and k[0] is not None and np.allclose(k[0], 2.0):
        pass
    else:
        return None
    weight = np.ascontiguousarray(wt.T)
    inner = {sq, red, twice, mm, sub}
    bias = consts.get(b)
    rb = made_by(b, "ReduceSum")
    if rb is not None:
        w2 = consts.get(nodes[rb].input[0])
        if w2 is None or _axes(nodes[rb], consts) not in ([1], [-1]) \
                or onnx_attrs(nodes[rb]).get("keepdims", 1):
            return None
        bias = w2.sum(axis=1)
        inner.add(rb)
    if bias is None or bias.size != weight.shape[0] \
            or not np.allclose(np.ravel(bias), (weight * weight).sum(1), rtol=1e-4, atol=1e-5):
        return None
    return x, weight, inner


def preprocessing_metadata(model: Any) -> dict[str, Any]:
    for prop in model.metadata_props:
        if prop.key == "preprocessing":
            try:
                value = json.loads(prop.value)
            except ValueError:
                return {}
            return value if isinstance(value, dict) else {}
    return {}


def _number(value: float, described: Any) -> float:
    """The metadata's value where it is the constant's (it is exact); else the constant."""
    if isinstance(described, (int, float)) and np.isclose(described, value, rtol=1e-6,
                                                          atol=1e-9):
        return float(described)
    return float(np.format_float_positional(np.float32(value), unique=True, trim="-"))


class PatternsMixin:
    """The Input's preprocessing (tried first on every Mul, Sub and Div), op_Sub and op_Div
    (no block otherwise) and the RBF pattern's block."""

    pre_stage: int = 0

    def preprocess(self, node: Any) -> bool:
        """Mul/Sub/Div by a constant straight after the Input: the Input's own params."""
        stage = {"Mul": 1, "Sub": 2, "Div": 3}.get(node.op_type)
        computed = [i for i in node.input if i in self.value]
        if stage is None or len(node.input) != 2 or len(computed) != 1 \
                or stage <= self.pre_stage or (stage > 1 and node.input[0] != computed[0]):
            return False
        x = computed[0]
        block = self.graph.nodes.get(self.value[x])
        constant = self.consts.get(node.input[1] if node.input[0] == x else node.input[0])
        if block is None or block.kind != "Input" or constant is None or self.uses[x] != 1 \
                or x in {o.name for o in self.model.graph.output}:
            return False
        shape = list(block.params["shape"])
        channels = shape[0] if len(shape) == 3 else 1
        values = np.ravel(constant).astype(np.float64)
        # Per channel: (C,), (C,1,1) or (1,C,1,1), or one value for all.
        lead = [d for d in constant.shape[:-len(shape)] if d != 1] if constant.ndim > len(shape) \
            else []
        if lead or values.size not in (1, channels) or (values.size > 1 and (
                constant.ndim == 0 or (constant.ndim >= len(shape)
                                       and constant.shape[-len(shape)] != channels))):
            return False
        meta = self.pre_meta
        if stage == 1:
            if values.size != 1 or values[0] <= 0:
                return False
            self.graph.set_param(block.id, "scale", _number(values[0], meta.get("scale")))
        else:
            key = "mean" if stage == 2 else "std"
            if key == "std" and np.any(values == 0):
                return False
            described = meta.get(key)
            if isinstance(described, list) and len(described) == values.size:
                numbers = [_number(v, d) for v, d in zip(values, described)]
            elif isinstance(described, list) and len(described) == 1:
                numbers = [_number(v, described[0]) for v in values]
            else:
                numbers = [_number(v, None) for v in values]
            if len(set(numbers)) == 1:
                numbers = numbers[:1]
            self.graph.set_param(block.id, key, ",".join(f"{v!r}" for v in numbers))
        if meta.get("channel_order") in ("RGB", "BGR", "L"):
            self.graph.set_param(block.id, "channel_order", meta["channel_order"])
        self.pre_stage = stage
        self.alias(node, x)
        return True

    def op_Sub(self, node: Any) -> None:
        self.miss(node, "with a constant")

    def op_Div(self, node: Any) -> None:
        self.miss(node, "with a constant")

    def rbf(self, node: Any, x: str, weight: np.ndarray) -> None:
        if x not in self.value:
            return self.miss(node, "RBF after an unmapped layer")
        self.block(node, rbf.id, {"units": int(weight.shape[0])}, [x],
                   {"weight": weight.astype(np.float32)})
