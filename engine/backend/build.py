"""Turn a validated graph into a torch.nn.Module that runs the DAG.

Submodules are named after the blocks (``conv1_1.weight``), so a state dict reads like the
canvas. Groups are seen through: their members are ordinary blocks of the flat module.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass

import torch
import torch.nn as nn

from engine.graph import Graph
from engine.layers import REGISTRY
from engine.validate import Analysis, analyze


class BuildError(ValueError):
    """The graph has problems; the message lists them as validate would."""


@dataclass(frozen=True)
class Step:
    node_id: str
    attr: str          # submodule name ("" for Input)
    sources: tuple[str, ...]
    free_after: tuple[str, ...]  # values no later step needs


_RESERVED = set(dir(nn.Module)) | {"steps", "input_id", "output_source", "head_attr",
                                   "head_kind"}


def module_attr(name: str, taken: set[str]) -> str:
    """A block name as a Python identifier that is not already used.

    >>> module_attr("conv1-1", set()), module_attr("2nd", set()), module_attr("forward", set())
    ('conv1_1', 'b_2nd', 'forward_')
    """
    attr = re.sub(r"\W", "_", name) or "block"
    if attr[0].isdigit():
        attr = f"b_{attr}"
    if keyword.iskeyword(attr) or attr in _RESERVED:
        attr += "_"
    base, i = attr, 1
    while attr in taken:
        i += 1
        attr = f"{base}_{i}"
    taken.add(attr)
    return attr


class GraphModule(nn.Module):
    """Runs the blocks in topological order, freeing each value after its last use."""

    def __init__(self, graph: Graph, analysis: Analysis | None = None) -> None:
        super().__init__()
        analysis = analysis or analyze(graph)
        if not analysis.ok:
            listing = "\n".join(f"  - {p}" for p in analysis.problems)
            raise BuildError(f"the network has {len(analysis.problems)} problem(s); "
                             f"fix them before building:\n{listing}")
        taken: set[str] = set()
        order = analysis.order
        last_use: dict[str, int] = {}
        for index, node_id in enumerate(order):
            for src in graph.predecessors(node_id):
                last_use[src] = index
        self.attr_of: dict[str, str] = {}
        steps: list[Step] = []
        self.input_id = ""
        self.output_source = ""
        for index, node_id in enumerate(order):
            node = graph.nodes[node_id]
            kind = REGISTRY.get(node.kind)
            result = analysis.results[node_id]
            if node.kind == "Input":
                self.input_id = node_id
                continue
            if node.kind == "Output":
                self.output_source = graph.predecessors(node_id)[0]
                continue
            attr = module_attr(node.name, taken)
            params = kind.resolve(node.params)
            module = kind.build(list(result.input_shapes), params, result.shape)
            self.add_module(attr, module)
            self.attr_of[node_id] = attr
            free = tuple(s for s in set(graph.predecessors(node_id)) if last_use[s] == index)
            steps.append(Step(node_id, attr, tuple(graph.predecessors(node_id)), free))
        self.steps = steps
        head = graph.nodes.get(self.output_source)
        self.head_attr = self.attr_of.get(self.output_source, "")
        self.head_kind = head.kind if head else ""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = {self.input_id: x}
        for step in self.steps:
            args = [values[s] for s in step.sources]
            values[step.node_id] = getattr(self, step.attr)(*args)
            for done in step.free_after:
                if done != self.output_source:
                    values.pop(done, None)
        return values[self.output_source]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Scores for a classification loss: the network without its final softmax, and
        RBF distances negated (the nearest centre scores highest)."""
        values = {self.input_id: x}
        for step in self.steps:
            args = [values[s] for s in step.sources]
            module = getattr(self, step.attr)
            if step.node_id == self.output_source:
                return _as_logits(module, self.head_kind, args)
            values[step.node_id] = module(*args)
            for done in step.free_after:
                values.pop(done, None)
        return values[self.output_source]


def _as_logits(module: nn.Module, kind: str, args: list[torch.Tensor]) -> torch.Tensor:
    if kind == "Softmax":
        return args[0]
    if kind == "RBF":
        return -module(*args)
    if getattr(module, "activation", None) == "softmax":
        return module.pre_activation(*args)
    return module(*args)


def build_module(graph: Graph, analysis: Analysis | None = None) -> GraphModule:
    return GraphModule(graph, analysis)


def lr_multipliers(graph: Graph, module: GraphModule) -> dict[str, float]:
    """Each block's learning-rate multiplier by submodule name (0 means frozen)."""
    out = {}
    for node_id, attr in module.attr_of.items():
        out[attr] = float(graph.nodes[node_id].params.get("lr_mult", 1.0))
    return out


def apply_freezing(graph: Graph, module: GraphModule) -> list[dict]:
    """Freeze blocks with lr_mult 0 and return optimizer parameter groups with
    per-block multipliers (each group carries 'lr_mult' for the trainer to scale)."""
    groups: dict[float, list[nn.Parameter]] = {}
    for attr, mult in lr_multipliers(graph, module).items():
        for param in getattr(module, attr).parameters():
            param.requires_grad_(mult > 0)
            if mult > 0:
                groups.setdefault(mult, []).append(param)
    return [{"params": params, "lr_mult": mult} for mult, params in sorted(groups.items())]
