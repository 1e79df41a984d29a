"""The torch module behind a Backbone block: a torchvision network cut at a named layer, or
an ONNX graph run by torch ops. State-dict keys are the source's own ('layer1.0.conv1.weight'),
so imported weights land by name.

The torch.fx tracing that cuts a network lives here too, the one tracer of the project: the
fx importer (engine/importers/fx_import.py) traces with it, so one lock serializes every
trace. Imported only from the Backbone's build and from the importers.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.fx as fx
import torch.nn as nn

from engine.layers.backbone import BackboneError, options_of

# Modules with children whose forward branches on its inputs (torch.fx cannot trace into
# them): each is one call, listed by name where it has no kind.
OPAQUE = (nn.MultiheadAttention,)


class UntraceableError(ValueError):
    """torch.fx cannot follow the model's dataflow (Python control flow on tensor values)."""


class LeafTracer(fx.Tracer):
    """Every module without children is one call in the trace."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return next(m.children(), None) is None or isinstance(m, OPAQUE)


_TRACING = threading.Lock()


@contextmanager
def _collections_held_off() -> Iterator[None]:
    """torch.fx reads its callers' bytecode through frame objects while it traces; a
    garbage collection that another thread started meanwhile (the designer traces on a
    worker while the window runs) crashed CPython 3.11 in the collector. One trace at a
    time, with automatic collections held off until it ends."""
    with _TRACING:
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            yield
        finally:
            if was_enabled:
                gc.enable()


def trace(model: nn.Module) -> fx.GraphModule:
    """The traced module. The tensors torch.fx finds made in forward (MaxViT's) become its
    buffers _tensor_constant0, 1, …; the tracer leaves them on ``model`` too, where a second
    trace would number its own from 22: they are removed, so the names (the keys of the
    weights stored for a Backbone) are the same however often a model is traced."""
    before = set(model.__dict__)
    try:
        with _collections_held_off():
            return fx.GraphModule(model, LeafTracer().trace(model))
    except (fx.proxy.TraceError, TypeError, NotImplementedError) as exc:
        raise UntraceableError(f"torch.fx cannot trace it ({type(exc).__name__}: "
                               f"{_first_line(exc)})") from None
    finally:
        for name in set(model.__dict__) - before:
            if name.startswith("_tensor_constant"):
                delattr(model, name)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:160] if lines else ""


def torchvision_model(name: str, options: dict[str, Any], meta: bool = False) -> nn.Module:
    """torchvision's constructor without weights (they come from the project or a file)."""
    from torchvision import models

    try:
        builder = models.get_model_builder(name)
    except ValueError:
        known = ", ".join(sorted(models.list_models(module=models)))
        raise BackboneError(f"torchvision has no model {name!r}; it has: {known}") from None
    kwargs = dict(options)
    if name in ("googlenet", "inception_v3"):
        kwargs.setdefault("init_weights", True)  # torchvision warns when it is left unset
    try:
        if not meta:
            return builder(weights=None, **kwargs).eval()
        try:
            with torch.device("meta"):
                return builder(weights=None, **kwargs).eval()
        except NotImplementedError:
            # RegNet computes its widths with tensors (.tolist()), which meta tensors cannot
            # give: build on the CPU with only the weights themselves put on meta.
            with _weights_on_meta():
                return builder(weights=None, **kwargs).eval()
    except TypeError as exc:
        raise BackboneError(f"torchvision's {name} does not take these options: {exc}. "
                            f"Received: {options}") from None


@contextmanager
def _weights_on_meta() -> Iterator[None]:
    """Parameters and buffers registered by this thread go to the meta device (each is
    allocated empty on the CPU for a moment, and initialized on meta: no memory, no time).
    Other threads' modules are left alone."""
    owner = threading.get_ident()
    register_parameter, register_buffer = nn.Module.register_parameter, \
        nn.Module.register_buffer

    def parameter(self: nn.Module, name: str, param: nn.Parameter | None) -> None:
        if param is not None and threading.get_ident() == owner:
            param = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)
        register_parameter(self, name, param)

    def buffer(self: nn.Module, name: str, tensor: torch.Tensor | None,
               persistent: bool = True) -> None:
        if tensor is not None and threading.get_ident() == owner:
            tensor = tensor.to("meta")
        register_buffer(self, name, tensor, persistent)

    nn.Module.register_parameter, nn.Module.register_buffer = parameter, buffer
    try:
        yield
    finally:
        nn.Module.register_parameter, nn.Module.register_buffer = register_parameter, \
            register_buffer


def find_cut(gm: fx.GraphModule, cut: str) -> fx.Node:
    """The node whose output a cut keeps: a traced node's name, or the last computation
    inside a module path ('layer4', 'features.12')."""
    names = {cut, cut.replace(".", "_")}
    last = None
    for node in gm.graph.nodes:
        if node.name in names and node.op != "output":
            return node
        stack = node.meta.get("nn_module_stack") or {}
        paths = {v[0] if isinstance(v, tuple) else k for k, v in stack.items()}
        if cut in paths or cut.replace("_", ".") in paths:
            last = node
    if last is None:
        modules = [n for n, _ in gm.named_children()]
        raise BackboneError(f"there is no layer {cut!r} to cut at; top-level layers: "
                            + ", ".join(modules))
    return last


def cut_model(model: nn.Module, cut: str) -> nn.Module:
    """The model up to and including ``cut``; layers after it (and their weights) are gone.

    Traced in eval mode, so training-only branches (GoogLeNet's auxiliary heads) stay out
    even when the Backbone trains. Uncut, a model torch.fx cannot trace runs whole.
    """
    try:
        gm = trace(model)
    except UntraceableError as exc:
        if not cut:
            return model
        raise BackboneError(f"cannot cut this network at {cut!r}: {exc}; keep it whole "
                            "(no cut)") from None
    if not cut:
        return gm
    keep = find_cut(gm, cut)
    output = next(n for n in gm.graph.nodes if n.op == "output")
    output.args = (keep,)
    gm.graph.eliminate_dead_code()
    gm.delete_all_unused_submodules()
    gm.recompile()
    return gm


def build_backbone(p: dict[str, Any]) -> nn.Module:
    source = p["source"]
    scheme, _, name = source.partition(":")
    if scheme == "torchvision":
        return cut_model(torchvision_model(name, options_of(p)), p["cut"])
    if scheme == "onnx":
        from engine.layers.onnx_graph import OnnxModule

        return OnnxModule.from_json(p["graph"], p["cut"])
    raise BackboneError(f"unknown Backbone source {source!r}; expected 'torchvision:NAME' or "
                        "'onnx:FILE'")
