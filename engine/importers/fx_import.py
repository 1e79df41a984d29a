"""A torch.nn.Module as an editable Netdraft graph.

torch.fx traces the module's dataflow (residual adds, inception concats, squeeze-and-excitation
multiplies) with every module that has no children as one call; each call becomes a block of
the kind that claims its module class or function in the registry (``torch_modules`` and
``torch_calls`` on the kinds), grouped by the module path (``layer1`` / ``layer1_0``), and
each block records which module's tensors it takes. What has no kind is counted by name in ``unmapped``
and never dropped silently: the caller fails with that list or keeps the model in a Backbone.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx
import torch.nn as nn

from engine.graph import GROUP_KIND, Graph
from engine.importers import fx_patterns
from engine.layers import REGISTRY
from engine.layers.backbone_module import UntraceableError, trace
from engine.layers.base import PASS_THROUGH
from engine.validate import analyze

IDENTITY = (PASS_THROUGH, {})
_COUNTER = re.compile(r"_\d+$")  # fx numbers repeated calls: add, add_1, add_2…
GROUP_DEPTH = 3  # stage / block / branch: deeper module paths share their block's group


@dataclass
class Converted:
    graph: Graph
    sources: dict[str, str] = field(default_factory=dict)  # node id -> module path
    notes: list[str] = field(default_factory=list)
    unmapped: Counter = field(default_factory=Counter)


def _resolve(path: str) -> Any | None:
    """The object a dotted path names ("torch.nn.Conv2d"), or None when its library is not
    installed (then none of its modules can be met). A path naming nothing is an error in
    the kind that claims it."""
    module, _, name = path.rpartition(".")
    try:
        owner = importlib.import_module(module)
    except ModuleNotFoundError:
        return None
    try:
        return getattr(owner, name)
    except AttributeError:
        raise ValueError(f"{path!r}, claimed by {_claimant(path)}, names nothing") from None


def _claimant(path: str) -> str:
    entry = REGISTRY.torch_modules.get(path) or REGISTRY.torch_calls.get(path)
    return entry[0].id if entry else "no kind"


@functools.cache
def _sources() -> tuple[dict[type, tuple[Any, Any]], dict[Any, tuple[Any, Any]]]:
    """The registry's torch sources by the class or function they name: {module class:
    (kind, converter)} and {function: (kind, converter)}. The kinds are all registered when
    engine.layers is imported, so this is built once."""
    return (_by_object(REGISTRY.torch_modules.items()),
            _by_object((path, entry) for path, entry in REGISTRY.torch_calls.items()
                       if not path.startswith("Tensor.")))


def _by_object(entries: Iterable[tuple[str, tuple[Any, Any]]]) -> dict[Any, tuple[Any, Any]]:
    """{resolved object: entry}; two paths of one object (an alias) claimed by two kinds are
    refused as the registry refuses one path claimed twice."""
    table: dict[Any, tuple[Any, Any]] = {}
    for path, entry in entries:
        target = _resolve(path)
        if target is None:
            continue
        if target in table and table[target][0] is not entry[0]:
            raise ValueError(f"{path!r} is claimed by {entry[0].id}, and the same object "
                             f"under another path by {table[target][0].id}")
        table[target] = entry
    return table


def module_spec(m: nn.Module) -> tuple[str, dict[str, Any]] | str:
    """(kind, params), IDENTITY, or a short description of why it has no kind."""
    entry = _sources()[0].get(type(m))
    if entry is not None:
        kind, convert = entry
        return (kind.id, {}) if convert is None else convert(m)
    # Identities at inference that no kind claims (torchvision's StochasticDepth is a kind).
    if type(m) is nn.Identity:
        return IDENTITY
    return type(m).__name__


def function_spec(node: fx.Node) -> tuple[tuple[str, dict[str, Any]] | str, list[Any]]:
    """(spec, tensor inputs) for a call_function or call_method node."""
    if node.op == "call_method":
        entry = REGISTRY.torch_calls.get(f"Tensor.{node.target}")
        if entry is None:
            return f"tensor.{node.target}()", []
    else:
        entry = _sources()[1].get(node.target)
        if entry is None:
            return getattr(node.target, "__name__", str(node.target)), []
    kind, convert = entry
    if convert is None:
        return (kind.id, {}), [node.args[0] if node.args else None]
    return convert(node)


def _scope(node: fx.Node) -> list[str]:
    """The module paths enclosing a node, outermost first (its own module excluded)."""
    stack = node.meta.get("nn_module_stack") or {}
    paths = [v[0] if isinstance(v, tuple) else k for k, v in stack.items()]
    if node.op == "call_module" and paths:
        paths = paths[:-1]
    return [p for p in paths if p][:GROUP_DEPTH]


class _Builder:
    def __init__(self, model: nn.Module, input_shape: tuple[int, ...]) -> None:
        self.gm = trace(model)
        self.input_shape = input_shape
        self.out = Converted(Graph(), notes=fx_patterns.rewrite(self.gm))
        self.groups: dict[str, str] = {}
        self.value: dict[fx.Node, str] = {}
        self.calls: Counter = Counter()

    def group_of(self, node: fx.Node) -> str | None:
        parent = None
        for path in _scope(node):
            if path not in self.groups:
                name = self.out.graph.unique_name(path.replace(".", "_"))
                self.groups[path] = self.out.graph.add_node(GROUP_KIND, name=name,
                                                            parent=parent).id
            parent = self.groups[path]
        return parent

    def add(self, node: fx.Node, kind: str, params: dict[str, Any], inputs: list[Any],
            name: str | None = None) -> str:
        graph = self.out.graph
        if name is None:
            scope = _scope(node)
            name = node.name if node.op == "call_module" or not scope else \
                scope[-1].replace(".", "_") + "_" + _COUNTER.sub("", node.name)
        block = graph.add_node(kind, name=graph.unique_name(name), params=params,
                               parent=self.group_of(node))
        for port, src in enumerate(inputs):
            graph.connect(self.value[src], block.id, port)
        self.value[node] = block.id
        return block.id

    def run(self, prepend: list[tuple[str, dict[str, Any], str]]) -> Converted:
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                if self.value:
                    self.out.unmapped["a second input"] += 1
                    continue
                self.add(node, "Input", {"shape": list(self.input_shape)}, [], name="input")
                for kind, params, name in prepend:
                    self.add(node, kind, params, [node], name=name)
            elif node.op == "call_module":
                self.module_call(node)
            elif node.op in ("call_function", "call_method"):
                spec, inputs = function_spec(node)
                self.place(node, spec, inputs)
            elif node.op == "output":
                self.output(node)
            else:  # get_attr: a tensor used directly that no pattern made a block
                self.out.unmapped[f"{node.op} {str(node.target).rsplit('.', 1)[-1]}"] += 1
        return self.out

    def module_call(self, node: fx.Node) -> None:
        module = self.gm.get_submodule(node.target)
        spec = module_spec(module)
        self.calls[node.target] += 1
        if self.calls[node.target] > 1 and any(True for _ in module.state_dict()):
            self.out.unmapped[f"{type(module).__name__} called twice with shared weights"] += 1
            return
        block = self.place(node, spec, [node.args[0]] if node.args else [])
        if block and any(True for _ in module.state_dict()):
            self.out.sources[block] = node.target

    def place(self, node: fx.Node, spec: Any, inputs: list[Any]) -> str | None:
        if isinstance(spec, str):
            self.out.unmapped[spec] += 1
            return None
        if not inputs or not all(isinstance(i, fx.Node) for i in inputs):
            self.out.unmapped[f"{node.op} {node.target} on non-tensor inputs"] += 1
            return None
        if any(i not in self.value for i in inputs):
            return None  # downstream of something unmapped: counted there already
        kind, params = spec
        if kind == PASS_THROUGH:
            self.value[node] = self.value[inputs[0]]
            return None
        return self.add(node, kind, params, inputs)

    def output(self, node: fx.Node) -> None:
        result = node.args[0]
        if not isinstance(result, fx.Node):
            self.out.unmapped["several outputs"] += 1
            return
        if result not in self.value or self.out.unmapped:
            return
        analysis = analyze(self.out.graph)
        shape = analysis.results[self.value[result]].shape
        if shape is not None and len(shape) == 1:
            block = self.out.graph.add_node("Output", name="output",
                                            params={"classes": int(shape[0])})
            self.out.graph.connect(self.value[result], block.id)


def to_graph(model: nn.Module, input_shape: tuple[int, ...],
             prepend: list[tuple[str, dict[str, Any], str]] | None = None) -> Converted:
    """Trace ``model`` (in eval mode: training-only branches are left out) into a graph.

    ``prepend``: blocks (kind, params, name) inserted right after the Input. A model that
    torch.fx cannot trace comes back with that one reason in ``unmapped``.
    """
    try:
        builder = _Builder(model, input_shape)
    except UntraceableError as exc:
        return Converted(Graph(), unmapped=Counter({str(exc): 1}))
    return builder.run(prepend or [])


def block_state(kind_id: str, params: dict[str, Any], inputs: list[tuple[int, ...]],
                shape: tuple[int, ...]) -> dict[str, torch.Size]:
    """The tensors a block of this kind holds, built on the meta device (no memory)."""
    kind = REGISTRY.get(kind_id)
    with torch.device("meta"):
        module = kind.build(inputs, kind.resolve(params), shape)
    return {k: v.shape for k, v in module.state_dict().items()}


def take_tensors(converted: Converted, state: dict[str, torch.Tensor]
                 ) -> tuple[dict[str, dict[str, torch.Tensor]], list[str]]:
    """Each block's tensors from the model's state dict, renamed to the block's own keys.

    Returns (tensors by node id, the model's keys no block took).
    """
    graph = converted.graph
    analysis = analyze(graph)
    taken: set[str] = set()
    tensors: dict[str, dict[str, torch.Tensor]] = {}
    for node_id, path in converted.sources.items():
        node = graph.nodes[node_id]
        result = analysis.results[node_id]
        want = block_state(node.kind, node.params, list(result.input_shapes), result.shape)
        prefix = f"{path}."
        mine = {k[len(prefix):]: k for k in state if k.startswith(prefix)}
        if path in state and len(want) == 1:  # a tensor that is a block (layer scale)
            mine = {next(iter(want)): path}
        block: dict[str, torch.Tensor] = {}
        for key, shape in want.items():
            source = mine.get(key) or next((full for short, full in mine.items()
                                            if short.rsplit(".", 1)[-1] == key), None)
            tensor = None if source is None else fitted(state[source], shape)
            if tensor is None:
                found = None if source is None else tuple(state[source].shape)
                raise ValueError(f"{node.name}: no tensor {path}.{key} of shape "
                                 f"{tuple(shape)} (found {found})")
            block[key] = tensor
            taken.add(source)
        tensors[node_id] = block
    return tensors, [k for k in state if k not in taken]


def fitted(tensor: torch.Tensor, shape: torch.Size) -> torch.Tensor | None:
    """The tensor in the block's shape: as it is, or with trailing axes of 1 added (a Linear's
    out×in weight for the 1×1 convolution fx_patterns made of it); None when it differs."""
    if tensor.shape == shape:
        return tensor
    n = tensor.dim()
    if tuple(tensor.shape) == tuple(shape)[:n] and all(d == 1 for d in tuple(shape)[n:]):
        return tensor.reshape(shape)
    return None
