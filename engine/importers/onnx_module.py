"""An ONNX model imported whole as one Backbone block: its graph as the block's JSON
'graph' parameter, its float initializers as the block's weights. The module that runs the
graph is engine/layers/onnx_graph.py (OnnxModule); ops outside its OPS fail the import with
their names and counts.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.importers.common import Imported, unmapped_listing
from engine.importers.safe_load import ImportFailure
from engine.layers.backbone import backbone
from engine.layers.onnx_graph import OPS, OnnxModule, attr_name


def _jsonable(value: Any) -> Any:
    from onnx import numpy_helper

    if isinstance(value, bytes):
        return value.decode()
    if hasattr(value, "data_type") and hasattr(value, "dims"):  # a TensorProto
        return numpy_helper.to_array(value).tolist()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def to_spec(model: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(the JSON-able graph, the float initializers by name)."""
    import onnx
    from onnx import numpy_helper

    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    stats = {n.input[i] for n in model.graph.node if n.op_type == "BatchNormalization"
             for i in (3, 4) if len(n.input) > i}
    floats = {k: v for k, v in inits.items() if v.dtype.kind == "f" and v.ndim > 0}
    nodes, consts = [], {}
    for k, v in inits.items():
        if k not in floats:
            consts[k] = {"data": v.astype(np.float64 if v.dtype.kind == "f" else np.int64)
                         .ravel().tolist(), "shape": list(v.shape),
                         "dtype": 1 if v.dtype.kind == "f" else 9 if v.dtype == bool else 7}
    for n in model.graph.node:
        attrs = {a.name: _jsonable(onnx.helper.get_attribute_value(a)) for a in n.attribute}
        if n.op_type == "Constant":
            value = numpy_helper.to_array(n.attribute[0].t) if n.attribute[0].name == "value" \
                else np.array(attrs[n.attribute[0].name])
            consts[n.output[0]] = {"data": value.ravel().tolist(), "shape": list(value.shape),
                                   "dtype": 1 if value.dtype.kind == "f" else 7}
            continue
        nodes.append({"op": n.op_type, "inputs": list(n.input), "outputs": list(n.output),
                      "attrs": attrs})
    inputs = [i.name for i in model.graph.input if i.name not in inits]
    spec = {"input": inputs[0], "output": model.graph.output[0].name, "nodes": nodes,
            "consts": consts,
            "params": {k: list(v.shape) for k, v in floats.items() if k not in stats},
            "buffers": {k: list(v.shape) for k, v in floats.items() if k in stats}}
    return spec, floats


def import_collapsed(model: Any, path: Path, unmapped: Counter) -> Imported:
    """The whole ONNX model as one Backbone block run by torch ops."""
    from engine.graph import Graph
    from engine.importers.backbones import counts
    from engine.project import Project

    missing = Counter(n.op_type for n in model.graph.node
                      if n.op_type not in OPS and n.op_type != "Constant")
    if missing:
        raise ImportFailure(f"{path}: even as one Backbone block, these ops cannot run: "
                            f"{unmapped_listing(missing)}")
    spec, floats = to_spec(model)
    module = OnnxModule(spec)
    state = {module.names[k]: torch.from_numpy(np.array(v, copy=True)) for k, v in floats.items()}
    module.load_state_dict(state)
    inp = next(i for i in model.graph.input if i.name == spec["input"])
    dims = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    in_shape = [int(d) for d in dims[1:]]
    if len(in_shape) < 1 or min(in_shape) < 1:
        raise ImportFailure(f"{path}: its input has no fixed size apart from the batch")
    try:
        with torch.no_grad():
            out_shape = list(module(torch.zeros(1, *in_shape)).shape[1:])
    except Exception as exc:  # an op with attributes this runner does not follow
        raise ImportFailure(f"{path}: cannot run it with torch ops ({type(exc).__name__}: "
                            f"{str(exc)[:200]})") from None
    trainable, stats = counts(module)
    graph = Graph()
    source = graph.add_node("Input", name="input", params={"shape": in_shape})
    block = graph.add_node(backbone.id, name=attr_name(path.stem) or "backbone", params={
        "source": f"onnx:{path.name}", "cut": "", "in_shape": in_shape, "out_shape": out_shape,
        "trainable": trainable, "non_trainable": stats, "macs": 0,
        "graph": json.dumps(spec, separators=(",", ":"))})
    graph.connect(source.id, block.id)
    if len(out_shape) == 1:
        out = graph.add_node("Output", name="output", params={"classes": out_shape[0]})
        graph.connect(block.id, out.id)
    notes = ["kept as one Backbone block run by torch ops"
             + (f" (ops without a block: {unmapped_listing(unmapped)})" if unmapped else "")
             + "; its MACs are not counted"]
    project = Project(graph=graph, name=path.stem,
                      description=f"The ONNX model {path.name} as one Backbone block.")
    return Imported(project, {block.id: module.state_dict()}, notes)
