"""Torch modules behind Backbone blocks: a torchvision network cut at a named layer, or an
ONNX graph run by torch ops. State-dict keys are the source's own ('layer1.0.conv1.weight'),
so imported weights land by name."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.fx as fx
import torch.nn as nn

from engine.importers.fx_import import UntraceableError, trace


class BackboneError(ValueError):
    """A Backbone block that cannot be rebuilt: unknown source, cut or options."""


def options_of(p: dict[str, Any]) -> dict[str, Any]:
    text = p.get("options") or ""
    if not text.strip():
        return {}
    try:
        options = json.loads(text)
    except ValueError as exc:
        raise BackboneError(f"Backbone options are not a JSON object ({exc}). Received: "
                            f"{text!r}") from None
    if not isinstance(options, dict):
        raise BackboneError(f"Backbone options must be a JSON object. Received: {text!r}")
    return options


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
        from engine.importers.onnx_module import OnnxModule

        return OnnxModule.from_json(p["graph"], p["cut"])
    raise BackboneError(f"unknown Backbone source {source!r}; expected 'torchvision:NAME' or "
                        "'onnx:FILE'")


def counts(module: nn.Module) -> tuple[int, int]:
    """(trainable, non-trainable) as Keras counts: parameters, then statistics buffers."""
    trainable = sum(p.numel() for p in module.parameters())
    stats = sum(b.numel() for n, b in module.named_buffers()
                if not n.endswith("num_batches_tracked"))
    return trainable, stats


def output_shape(module: nn.Module, in_shape: tuple[int, ...]) -> tuple[int, ...]:
    # The weights' device (meta at import): a traced constant, first in the state dict, may
    # be a CPU tensor that torch.fx made while tracing.
    device = next((t.device for t in module.parameters()),
                  next((t.device for t in module.state_dict().values()), torch.device("cpu")))
    with torch.no_grad():
        out = module(torch.zeros(1, *in_shape, device=device))
    if not isinstance(out, torch.Tensor):
        raise BackboneError("the network returns several outputs; cut it at a single layer")
    return tuple(int(d) for d in out.shape[1:])
