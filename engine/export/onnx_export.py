"""ONNX export: one self-contained file with a dynamic batch axis and Netdraft's metadata.

Two exporters, chosen by measurement on torch 2.14 (docs/export.md):

- ``torchscript`` (torch.onnx.export(dynamo=False)): 2–20× faster here (resnet50: ~4.5 s of
  CPU against ~12 s), writes opsets 7–20 natively, but is deprecated and fails on adaptive
  pools whose output does not divide the input and on some float16 kernels.
- ``dynamo`` (torch.export based): handles everything Netdraft builds; opset 18 and newer
  natively, older ones through onnx's version converter.

``auto`` (the default) tries torchscript and falls back to dynamo. When the version converter
lacks an adapter for an operator, the error names the blocks that use it; when both exporters
fail, each block is exported alone to name the one that cannot be expressed.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import onnx
import torch
from torch import nn

from engine.export import DEFAULT_OPSET, NATIVE_OPSET, ExportError
from engine.graph import Graph
from engine.layers import REGISTRY

TORCHSCRIPT_MAX_OPSET = 20
MAX_SINGLE_FILE = 2**31 - 2**26  # protobuf's 2 GB limit, with room for the graph itself


@dataclass
class OnnxExport:
    path: Path
    opset: int
    exporter: str              # the one that wrote the file
    input_name: str
    output_name: str
    batch: str | int
    fp16: bool
    size_bytes: int
    external_data: bool
    metadata: dict[str, str]
    seconds: float


class _Half(nn.Module):
    """float16 weights and arithmetic behind float32 inputs and outputs."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner.half()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.half()).float()


class _LrnOp(torch.autograd.Function):
    """torch's local response norm, exported as one ONNX LRN node (the TorchScript exporter
    otherwise writes a dozen ops — Pow, Pad, AveragePool, Transpose, If — that no importer
    reads back as the block)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, size: int, alpha: float, beta: float,
                k: float) -> torch.Tensor:
        return torch.nn.functional.local_response_norm(x, size, alpha, beta, k)

    @staticmethod
    def symbolic(g: Any, x: Any, size: int, alpha: float, beta: float, k: float) -> Any:
        return g.op("LRN", x, size_i=size, alpha_f=alpha, beta_f=beta, bias_f=k)


class _LrnForExport(nn.Module):
    def __init__(self, lrn: nn.LocalResponseNorm) -> None:
        super().__init__()
        self.size, self.alpha, self.beta, self.k = lrn.size, lrn.alpha, lrn.beta, lrn.k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _LrnOp.apply(x, self.size, self.alpha, self.beta, self.k)


def _lrn_as_onnx_op(module: nn.Module) -> nn.Module:
    """A copy whose local response norms export as ONNX LRN nodes; ``module`` itself when it
    has none. Only odd window sizes: for an even size ONNX centres the window one channel
    later than torch does, so those keep the (exact) decomposition."""
    found = [name for name, m in module.named_modules()
             if isinstance(m, nn.LocalResponseNorm) and m.size % 2 == 1]
    if not found:
        return module
    copy = _copy(module)
    for name in found:
        parent_name, _, child = name.rpartition(".")
        parent = copy.get_submodule(parent_name) if parent_name else copy
        setattr(parent, child, _LrnForExport(getattr(parent, child)))
    return copy


def io_names(graph: Graph) -> tuple[str, str]:
    """The ONNX input and output names: the Input and Output blocks' names."""
    leaves = graph.leaves()
    source = next(n.name for n in leaves if n.kind == "Input")
    sink = next(n.name for n in leaves if n.kind == "Output")
    return source, (sink if sink != source else f"{sink}_out")


def metadata(project: Any, class_names: list[str]) -> dict[str, str]:
    """What a deployment needs besides the graph: class names, the Input's preprocessing
    (applied inside the model; given so a caller knows what to feed) and the project."""
    graph = project.graph
    node = next(n for n in graph.leaves() if n.kind == "Input")
    params = REGISTRY.get("Input").resolve(node.params)
    pre = {
        "input_shape": [int(d) for d in params["shape"]],
        "scale": params["scale"],
        "mean": _numbers(params["mean"]),
        "std": _numbers(params["std"]),
        "channel_order": params["channel_order"],
        "applied_in_model": True,
    }
    return {
        "netdraft.project": project.name,
        "netdraft.description": project.description,
        "class_names": json.dumps(class_names),
        "preprocessing": json.dumps(pre),
    }


def _numbers(text: str) -> list[float]:
    return [float(v) for v in re.split(r"[,;]", text) if v.strip()]


def export_onnx(project: Any, module: nn.Module, path: str | Path, *,
                opset: int = DEFAULT_OPSET, batch: str | int = "dynamic", fp16: bool = False,
                class_names: list[str] | None = None, exporter: str = "auto") -> OnnxExport:
    """Write ``module`` (build_module(project.graph) with its weights) to ``path``."""
    start = time.perf_counter()
    path = Path(path)
    graph = project.graph
    module = module.eval()
    names = io_names(graph)
    target = _Half(_copy(module)) if fp16 else module
    model, used = _export(graph, module, target, tuple(module.input_shape), names, opset,
                          batch, exporter)
    meta = metadata(project, class_names if class_names is not None
                    else _output_class_names(graph))
    del model.metadata_props[:]
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=value)
    model.doc_string = f"{project.name}: exported by Netdraft"
    model.graph.name = re.sub(r"\W", "_", project.name) or "netdraft"
    external = sum(t.ByteSize() for t in model.graph.initializer) > MAX_SINGLE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    if external:
        onnx.save_model(model, str(path), save_as_external_data=True,
                        all_tensors_to_one_file=True, location=f"{path.name}.data")
    else:
        onnx.save_model(model, str(path))
    try:
        onnx.checker.check_model(str(path) if external else model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"the exported model fails onnx.checker: {_first_line(exc)}") from None
    return OnnxExport(path, opset, used, names[0], names[1], batch, fp16, path.stat().st_size,
                      external, meta, time.perf_counter() - start)


def _export(graph: Graph, module: nn.Module, target: nn.Module, shape: tuple[int, ...],
            names: tuple[str, str], opset: int, batch: str | int,
            exporter: str) -> tuple[onnx.ModelProto, str]:
    """The ModelProto and the exporter that made it."""
    dynamic = batch == "dynamic"
    large = sum(p.numel() * p.element_size() for p in target.parameters()) > MAX_SINGLE_FILE
    order = {"auto": ["torchscript", "dynamo"], "torchscript": ["torchscript"],
             "dynamo": ["dynamo"]}[exporter]
    if large or opset > TORCHSCRIPT_MAX_OPSET:
        order = [e for e in order if e != "torchscript"] or order
    failure: BaseException | None = None
    for name in order:
        # A traced batch of 1 halves torchscript's work; torch.export specializes a size-1
        # dimension, so the dynamo exporter traces a batch of 2.
        size = (2 if name == "dynamo" else 1) if dynamic else int(batch)
        example = torch.rand((size, *shape))
        try:
            model = _quiet(lambda name=name, x=example: _run_exporter(name, target, (x,), names,
                                                                    opset, dynamic))
        except Exception as exc:  # the exporters raise many types; try the next one
            failure = exc
            continue
        if name == "dynamo" and opset < NATIVE_OPSET:
            try:
                model = _convert(model, opset, graph, module)
            except ExportError as exc:
                if "torchscript" not in order:
                    raise
                why = _blame(graph, module, torch.rand((1, *shape)), opset, ["torchscript"],
                             failure)
                raise ExportError(f"{exc} The TorchScript exporter, which writes opset "
                                  f"{opset} directly, failed as well: {why}") from None
        return model, name
    raise ExportError(_blame(graph, module, torch.rand((1, *shape)), opset, order, failure))


def _run_exporter(name: str, target: nn.Module, args: tuple, names: tuple[str, str] | None,
                  opset: int, dynamic: bool) -> onnx.ModelProto:
    io_kwargs = {"input_names": [names[0]], "output_names": [names[1]]} if names else {}
    if name == "torchscript":
        buffer = io.BytesIO()
        axes = {n: {0: "batch"} for n in names} if dynamic and names else None
        # PRESERVE (the module is in eval mode) keeps BatchNorm blocks as BatchNormalization
        # nodes; EVAL would fold them into the convolutions and change the parameter count.
        torch.onnx.export(_lrn_as_onnx_op(target), args, buffer, dynamo=False,
                          opset_version=opset,
                          dynamic_axes=axes, do_constant_folding=True,
                          training=torch.onnx.TrainingMode.PRESERVE, **io_kwargs)
        return onnx.load_from_string(buffer.getvalue())
    shapes = ({0: torch.export.Dim("batch", min=1)},) if dynamic else None
    program = torch.onnx.export(target, args, None, dynamo=True,
                                opset_version=max(opset, NATIVE_OPSET), dynamic_shapes=shapes,
                                external_data=False, optimize=False, verbose=False,
                                **io_kwargs)
    _optimize_keeping_batchnorm(program)
    model = program.model_proto
    _drop_invented_biases(model, {name for name, _ in target.named_parameters()})
    return model


def _drop_invented_biases(model: onnx.ModelProto, parameters: set[str]) -> None:
    """The dynamo exporter gives a convolution without bias an all-zero bias of its own;
    drop those (and keep a block's real bias, even when it is all zeros)."""
    from onnx import numpy_helper

    tensors = {t.name: t for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type in ("Conv", "ConvTranspose", "Gemm") and len(node.input) == 3:
            bias = tensors.get(node.input[2])
            if bias is not None and bias.name not in parameters and \
                    not numpy_helper.to_array(bias).any():
                del node.input[2]
    used = {name for node in model.graph.node for name in node.input}
    kept = [t for t in model.graph.initializer if t.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)


def _optimize_keeping_batchnorm(program: Any) -> None:
    """onnxscript's optimizer (constant folding, clean-ups) without its rules that change
    the weights: folding BatchNormalization into the layer before it and dropping all-zero
    biases. ONNX runtimes fuse at load anyway, and the file keeps every block's tensors, as
    an import back into Netdraft needs (same parameter count)."""
    from onnxscript import rewriter

    rules = getattr(rewriter, "_DEFAULT_REWRITE_RULES", None)
    if rules is None:  # a newer onnxscript: leave the graph unoptimized rather than fused
        return
    rewriter._DEFAULT_REWRITE_RULES = tuple(
        r for r in rules if not re.search(r"BatchNorm|OptionalBias", str(getattr(r, "name", ""))))
    try:
        program.optimize()
    finally:
        rewriter._DEFAULT_REWRITE_RULES = rules


def _copy(module: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(module)


def _output_class_names(graph: Graph) -> list[str]:
    node = next(n for n in graph.leaves() if n.kind == "Output")
    text = REGISTRY.get("Output").resolve(node.params)["class_names"]
    return [n.strip() for n in text.split(",") if n.strip()]


def _quiet(run):
    """The exporters print progress, warnings and (from C++) whole graphs on failure; a CLI
    user needs none of it, so file descriptors 1 and 2 go to a scratch file meanwhile."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as scratch, warnings.catch_warnings(), \
            contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        os.dup2(scratch.fileno(), 1)
        os.dup2(scratch.fileno(), 2)
        try:
            return run()
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = lines[0] if lines else type(exc).__name__
    # torch's boilerplate after the reason: where to file an issue, the traced value.
    text = re.split(r"\s+(Please feel free|\[Caused by)", text)[0]
    return text[:300]


# ------------------------------------------------------------ naming the block
def block_label(graph: Graph, module: nn.Module, attr: str) -> str | None:
    for node_id, own in getattr(module, "attr_of", {}).items():
        if own == attr:
            node = graph.nodes[node_id]
            return f"{node.kind} '{node.name}'"
    return None


def _input_label(graph: Graph) -> str:
    node = next(n for n in graph.leaves() if n.kind == "Input")
    return f"Input '{node.name}' (its preprocessing)"


def blocks_using(model: onnx.ModelProto, op_type: str, graph: Graph,
                 module: nn.Module) -> list[str]:
    """The blocks whose ONNX nodes include ``op_type``, from the exporter's name scopes."""
    attrs = set(getattr(module, "attr_of", {}).values())
    found: list[str] = []
    for node in model.graph.node:
        if node.op_type != op_type:
            continue
        meta = {p.key: p.value for p in node.metadata_props}
        # dynamo records the module path in metadata, torchscript in the node's name.
        scopes = re.findall(r"'([^']*)'", meta.get("pkg.torch.onnx.name_scopes", "")) \
            or node.name.split("/")
        attr = next((s for s in scopes if s in attrs), None)
        label = block_label(graph, module, attr) if attr else _input_label(graph)
        if label and label not in found:
            found.append(label)
    return found


def _convert(model: onnx.ModelProto, opset: int, graph: Graph,
             module: nn.Module) -> onnx.ModelProto:
    try:
        return _quiet(lambda: onnx.version_converter.convert_version(model, opset))
    except Exception as exc:  # onnx raises RuntimeError or its own C++ errors
        match = re.search(r"for (\w+)", str(exc))
        op = match.group(1) if match else None
        blocks = blocks_using(model, op, graph, module) if op else []
        where = ", ".join(blocks) if blocks else "a block"
        raise ExportError(
            f"opset {opset} cannot express {where}: its ONNX operator {op or '?'} has no "
            f"conversion below opset {NATIVE_OPSET}. Use --opset {NATIVE_OPSET} or newer "
            f"(onnxruntime reads it), or replace the block. Received: {_first_line(exc)}"
        ) from None


def _record(seen: dict[str, list[torch.Tensor]], attr: str, block: nn.Module,
            args: tuple) -> None:
    seen.setdefault(attr, [a.detach() for a in args])


def _blame(graph: Graph, module: nn.Module, example: torch.Tensor, opset: int,
           exporters: list[str], error: BaseException | None) -> str:
    """Export each block alone, on the inputs it sees, and name the first that no exporter
    can write."""
    seen: dict[str, list[torch.Tensor]] = {}
    hooks = []
    for attr in getattr(module, "attr_of", {}).values():
        block = getattr(module, attr)
        hooks.append(block.register_forward_pre_hook(partial(_record, seen, attr)))
    try:
        with torch.no_grad():
            module(example)
    except Exception as exc:
        return f"the network cannot run on a {tuple(example.shape)} batch: {_first_line(exc)}"
    finally:
        for hook in hooks:
            hook.remove()
    tried: set[str] = set()
    for attr, args in seen.items():
        block = getattr(module, attr)
        key = f"{block!r}{[tuple(a.shape) for a in args]}"
        if key in tried:
            continue
        tried.add(key)
        reasons = []
        for name in exporters:
            try:
                _quiet(lambda b=block, a=tuple(args), n=name: _run_exporter(
                    n, b, a, None, opset, dynamic=False))
                break
            except Exception as exc:
                reasons.append(f"{name}: {_first_line(exc)}")
        else:
            label = block_label(graph, module, attr) or attr
            return f"{label} cannot be exported to ONNX opset {opset}: {'; '.join(reasons)}"
    return f"the ONNX export failed: {_first_line(error) if error else 'unknown error'}"
