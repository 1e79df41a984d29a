"""Which block a failed parity check starts at: every block's output, in onnxruntime and in
PyTorch, on the inputs the check used; the first block (in the order data flows) whose
outputs differ by more than the check allows, run again in PyTorch on the inputs onnxruntime
gave it, is named. One that agrees on those inputs only passes on what it was given: float32
rounding, which two runtimes do differently and some networks amplify (EfficientNetV2-S with
badly calibrated random weights moved its output by 1e-1 while every block agreed to 7e-7 of
its own outputs), blames no block.

A block's ONNX output is the output of the last ONNX node the exporter scoped to it (the
module path in the dynamo exporter's metadata, the node name's path in TorchScript's), made a
graph output for this run.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.graph import Graph


def block_outputs(model: Any, attrs: set[str]) -> dict[str, str]:
    """attr -> the ONNX value the block's last node writes."""
    last: dict[str, str] = {}
    for node in model.graph.node:
        meta = {p.key: p.value for p in node.metadata_props}
        scopes = re.findall(r"'([^']*)'", meta.get("pkg.torch.onnx.name_scopes", "")) \
            or node.name.split("/")
        attr = next((s for s in scopes if s in attrs), None)
        if attr is not None and node.output:
            last[attr] = node.output[0]
    return last


def first_divergence(graph: Graph, module: torch.nn.Module, onnx_path: str | Path,
                     inputs: torch.Tensor, tolerance: float) -> str:
    """'Conv2D 'conv1' (its outputs differ by up to 3.1e-02 on the same inputs)', or "" when
    no single block can be blamed (the model keeps no block boundaries, or every block agrees
    on the inputs onnxruntime gave it). A block agrees as the parity check's rule says: a
    difference of at most ``tolerance`` × the larger of 1 and its largest output."""
    import onnx

    attr_of: dict[str, str] = getattr(module, "attr_of", {})
    if not attr_of:
        return ""
    model = onnx.load(str(onnx_path))
    values = block_outputs(model, set(attr_of.values()))
    if not values:
        return ""
    got = _onnx_values(model, list(values.values()), inputs)
    seen = _torch_outputs(module, list(attr_of.values()), inputs)
    outputs = {attr: got[name].astype(np.float32) for attr, name in values.items()
               if name in got and isinstance(seen.get(attr), torch.Tensor)
               and got[name].shape == tuple(seen[attr].shape)}  # else a node inside the block
    return _first_differing(graph, module, inputs, outputs, seen, tolerance)


def _onnx_values(model: Any, wanted: list[str], inputs: torch.Tensor) -> dict[str, np.ndarray]:
    """Run ``model`` in onnxruntime with each wanted value it can type made a graph output:
    value name -> what onnxruntime computed."""
    import onnx
    import onnxruntime as ort

    inferred = onnx.shape_inference.infer_shapes(model)
    typed = {v.name: v for v in [*inferred.graph.value_info, *inferred.graph.output]}
    present = {o.name for o in model.graph.output}
    for name in wanted:
        if name not in present and name in typed:
            model.graph.output.append(typed[name])
            present.add(name)
    names = [n for n in dict.fromkeys(wanted) if n in present]
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    feed_type = np.float16 if session.get_inputs()[0].type == "tensor(float16)" else np.float32
    return dict(zip(names, session.run(names, {session.get_inputs()[0].name:
                                               inputs.numpy().astype(feed_type)})))


def _torch_outputs(module: torch.nn.Module, attrs: list[str],
                   inputs: torch.Tensor) -> dict[str, Any]:
    """Each block's output in PyTorch, caught by forward hooks: attr -> its output."""
    seen: dict[str, Any] = {}
    hooks = [getattr(module, attr).register_forward_hook(
        lambda _m, _a, out, attr=attr: seen.setdefault(attr, out))
        for attr in attrs]  # those the exporter left no node for feed others
    try:
        with torch.no_grad():
            module.eval()(inputs)
    finally:
        for hook in hooks:
            hook.remove()
    return seen


def _first_differing(graph: Graph, module: torch.nn.Module, inputs: torch.Tensor,
                     outputs: dict[str, np.ndarray], seen: dict[str, Any],
                     tolerance: float) -> str:
    """The first block, in the order blocks run, whose onnxruntime output differs from
    PyTorch's and still differs when PyTorch runs it on what onnxruntime gave it."""
    sources = {step.attr: step.sources for step in getattr(module, "steps", ())}
    for node_id, attr in module.attr_of.items():  # the order blocks run in
        if attr not in outputs:
            continue
        diff = _difference(outputs[attr], seen[attr], tolerance)
        if diff is None:
            continue
        if attr in sources:  # again, on what onnxruntime gave it
            with torch.no_grad():
                args = [_onnx_input(module, src, inputs, outputs, sources, seen)
                        for src in sources[attr]]
                diff = _difference(outputs[attr], getattr(module, attr)(*args), tolerance)
            if diff is None:
                continue
        node = graph.nodes[node_id]
        return f"{node.kind} '{node.name}' (its outputs differ by up to {diff:.1e}" + \
            (" on the same inputs)" if attr in sources else ")")
    return ""


def _difference(actual: np.ndarray, expected: torch.Tensor, tolerance: float) -> float | None:
    """The largest difference when it is more than the parity check allows, else None."""
    wanted = expected.float().numpy()
    if not wanted.size:
        return None
    diff = float(np.max(np.abs(actual - wanted)))
    scale = float(np.max(np.abs(wanted)))
    return diff if not np.isfinite(diff) or diff > tolerance * max(1.0, scale) else None


def _onnx_input(module: torch.nn.Module, source: str, inputs: torch.Tensor,
                outputs: dict[str, np.ndarray], sources: dict[str, tuple[str, ...]],
                seen: dict[str, Any]) -> torch.Tensor:
    """What onnxruntime computed for block ``source``: the Input's preprocessing as PyTorch
    does it, and a block the model has no value for (a Dropout, which the exporter drops) run
    in PyTorch on what onnxruntime gave it."""
    if source == getattr(module, "input_id", None):
        return module.preprocess(inputs)
    attr = module.attr_of[source]
    if attr in outputs:
        return torch.from_numpy(outputs[attr].copy())
    if attr not in sources:
        return seen[attr]
    return getattr(module, attr)(*[_onnx_input(module, s, inputs, outputs, sources, seen)
                                   for s in sources[attr]])


def locate(project: Any, project_path: str | Path | None, request: Any, report: Any) -> str:
    """After a failed parity check (``report``) of ``request`` (engine.export.pipeline's
    Request and ParityReport): the block it starts at, on the same inputs and weights, or ""
    when none can be named."""
    from engine.export import weights as weights_io
    from engine.export.parity import generated_inputs
    from engine.export.pipeline import build, real_inputs

    module = build(project)
    weights_io.load(module, project, project_path, request.weights)
    if report.inputs == "generated":
        source = next(n for n in project.graph.leaves() if n.kind == "Input")
        pixels = float(source.params.get("scale", 1.0)) != 1.0  # as the check fed it
        inputs = generated_inputs(tuple(module.input_shape), report.batch, pixels)
    else:
        inputs, _kind = real_inputs(project, request.check_data, report.batch)
    return first_divergence(project.graph, module, request.onnx, inputs, report.tolerance)
