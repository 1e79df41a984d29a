"""Which block each ONNX node belongs to.

The exporters name nodes after the blocks' attributes (TorchScript: ``/conv1/Conv``; dynamo:
the module path in the ``pkg.torch.onnx.name_scopes`` metadata). onnxruntime's optimizer and
the quantizer rename or add nodes (``/conv1/Conv_quant``, reorders, fused nodes): a node whose
name does not say its block takes the block of the node that produced its first input, so
every node lands in a block.
"""

from __future__ import annotations

import re
from typing import Any

from engine.graph import Graph

PREPROCESS_ATTR = "_preprocess"  # the Input block's scale and mean/std (GraphModule)


def attr_blocks(graph: Graph, attr_of: dict[str, str]) -> dict[str, str]:
    """attr -> block id, the Input's preprocessing included."""
    table = {attr: node_id for node_id, attr in attr_of.items()}
    source = next((n.id for n in graph.leaves() if n.kind == "Input"), None)
    if source is not None:
        table.setdefault(PREPROCESS_ATTR, source)
    return table


def _scope_block(name: str, meta: dict[str, str], blocks: dict[str, str]) -> str | None:
    scopes = re.findall(r"'([^']*)'", meta.get("pkg.torch.onnx.name_scopes", "")) \
        or [s for s in re.split(r"[/.]", name) if s]
    return next((blocks[s] for s in scopes if s in blocks), None)


def node_blocks(model: Any, blocks: dict[str, str],
                known: dict[str, str] | None = None) -> dict[str, str]:
    """ONNX node name -> block id for every node of ``model`` (an onnx ModelProto) that
    computes something. ``blocks``: attr -> block id; ``known``: node name -> block id
    from an earlier version of the model (the exporter's, before optimization)."""
    known = known or {}
    owner: dict[str, str] = {}
    producer: dict[str, str] = {}  # value -> block id
    pending = []
    for node in model.graph.node:
        meta = {p.key: p.value for p in node.metadata_props}
        block = known.get(node.name) or _scope_block(node.name, meta, blocks) \
            or _by_prefix(node.name, known)
        if block is None:
            block = next((producer[i] for i in node.input if i in producer), None)
        if block is None:
            pending.append(node)
            continue
        owner[node.name] = block
        for out in node.output:
            producer[out] = block
    consumers: dict[str, str] = {}
    for node in model.graph.node:
        if node.name in owner:
            for value in node.input:
                consumers.setdefault(value, owner[node.name])
    for node in pending:  # reads only the graph's input or constants: its consumer's block
        block = next((consumers[o] for o in node.output if o in consumers), None)
        if block is not None:
            owner[node.name] = block
    return owner


def _by_prefix(name: str, known: dict[str, str]) -> str | None:
    """The block of the longest known node name that ``name`` extends (``/C1/Conv_quant``
    is ``/C1/Conv``'s)."""
    best = max((k for k in known if k and name.startswith(k)), key=len, default=None)
    return known[best] if best is not None else None


# What onnxruntime folds into the convolution or matrix product before it (BatchNorm, an
# activation, a residual Add) or around a quantized one (QDQ pairs).
FUSABLE = {"BatchNormalization", "Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid",
           "Add", "Sum", "QuantizeLinear", "DequantizeLinear"}
FUSE_DEPTH = 4


def _base(op_type: str) -> str:
    for prefix in ("Fused", "QLinear"):
        op_type = op_type.removeprefix(prefix)
    return op_type


def optimized_blocks(original: Any, optimized: Any, blocks: dict[str, str]) -> dict[str, str]:
    """node_blocks for onnxruntime's optimized version of ``original``. A fused node is
    named after the value it writes, which is the last fused op's (the ReLU after a
    convolution and its BatchNorm): it belongs to the block of the op it runs, found by
    walking back through what was fused into it."""
    known = node_blocks(original, blocks)
    by_name = {n.name: n for n in original.graph.node}
    made_by = {o: n for n in original.graph.node for o in n.output}
    fixed = dict(known)
    for node in optimized.graph.node:
        source = by_name.get(node.name) or made_by.get(node.name.removesuffix("_nchwc"))
        if source is None:
            continue
        if _base(source.op_type) != _base(node.op_type):
            source = _fused_source(source, _base(node.op_type), made_by) or source
        if source.name in known:
            fixed[node.name] = known[source.name]
    return node_blocks(optimized, blocks, fixed)


def _fused_source(last: Any, op_type: str, made_by: dict[str, Any]) -> Any:
    """The nearest node of ``op_type`` upstream of ``last`` through fusable ops only
    (breadth first, first inputs first)."""
    level = [last]
    for _ in range(FUSE_DEPTH):
        following = []
        for node in level:
            if node.op_type not in FUSABLE:
                continue
            for value in node.input:
                producer = made_by.get(value)
                if producer is None:
                    continue
                if _base(producer.op_type) == op_type:
                    return producer
                following.append(producer)
        level = following
    return None
