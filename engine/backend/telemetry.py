"""Live statistics of every block while a network trains: the `telemetry` event.

With ``training.telemetry_every`` N > 0 the trainer arms a Telemetry before every N-th step
(counted over the whole run) and sends what it collected after that step:

    {"event": "telemetry", "epoch": 3, "step": 20,
     "blocks": {node_id: {"name", "mean", "std", "dead", "grad_norm", "flag"}, ...}}

- ``mean`` and ``std`` (population, over every value of the batch) of the block's output,
  as the training forward pass computed it (dropout and BatchNorm in training mode); for
  a head whose final softmax the loss leaves out, of the scores the loss sees;
- ``dead``: the fraction of the output that is 0, for blocks whose output is a ReLU's (a
  ReLU or ReLU6 block, or an ``activation`` of relu or relu6); null for the others;
- ``grad_norm``: the L2 norm of the gradients of the block's parameters on that step,
  read as each one is accumulated (before gradient clipping, and divided by the fp16
  scaler's scale); null for blocks without trainable parameters;
- ``flag``: "exploding" when grad_norm is above EXPLODING_GRADIENT or not finite,
  "vanishing" when it is below VANISHING_GRADIENT or VANISHING_RATIO times the largest
  block's on that step, else null.

Unarmed steps run no hook at all; an armed step adds a few reductions per block and one
device-to-host copy (benchmarks/telemetry.py measures the cost).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn as nn

from engine.backend.build import GraphModule
from engine.graph import Graph
from engine.layers.activation import relu, relu6

VANISHING_GRADIENT = 1e-7  # a block's gradient norm below this is vanishing
VANISHING_RATIO = 1e-4     # ... and so is one below this fraction of the largest block's
EXPLODING_GRADIENT = 1e3   # above this (or inf, nan) it is exploding
RELU_KINDS = (relu.id, relu6.id)
RELU_ACTIVATIONS = ("relu", "relu6")
SCORES = "\0scores"  # the scorer's output, under a key no node id takes


def ends_in_relu(graph: Graph, node_id: str) -> bool:
    node = graph.nodes[node_id]
    return node.kind in RELU_KINDS or node.params.get("activation") in RELU_ACTIVATIONS


def flag_of(norm: float | None, largest: float) -> str | None:
    """The mark of one block's gradient norm on a step whose largest is ``largest``.

    >>> flag_of(2e3, 2e3), flag_of(1e-8, 1.0), flag_of(1e-5, 1.0), flag_of(0.5, 1.0)
    ('exploding', 'vanishing', 'vanishing', None)
    """
    if norm is None:
        return None
    if not math.isfinite(norm) or norm > EXPLODING_GRADIENT:
        return "exploding"
    if norm < VANISHING_GRADIENT or (math.isfinite(largest) and norm < VANISHING_RATIO * largest):
        return "vanishing"
    return None


class Telemetry:
    """Hooks on a GraphModule's blocks, present only between arm() and collect()."""

    def __init__(self, module: GraphModule, graph: Graph, every: int = 0,
                 scaler: Any = None, scorer: nn.Module | None = None) -> None:
        """``scaler``: the run's GradScaler (gradients arrive multiplied by its scale);
        ``scorer``: the module whose output the loss reads, for the head's statistics
        when the loss skips the head's own forward (its softmax)."""
        self.module = module
        self.graph = graph
        self.every = int(every)
        self.scaler = scaler
        self.scorer = scorer
        self.blocks = [(node_id, getattr(module, attr)) for node_id, attr
                       in module.attr_of.items()]
        self.relu = {node_id for node_id, _ in self.blocks if ends_in_relu(graph, node_id)}
        self._handles: list[Any] = []
        self._stats: dict[str, torch.Tensor] = {}
        self._grads: dict[str, list[torch.Tensor]] = {}
        self._scale = 1.0

    def due(self, global_step: int) -> bool:
        """Whether step ``global_step`` (from 1, over the whole run) is one to measure."""
        return self.every > 0 and global_step % self.every == 0

    def start(self, global_step: int) -> bool:
        """arm() when step ``global_step`` is due; whether it was."""
        if self.due(global_step):
            self.arm()
            return True
        return False

    def arm(self) -> None:
        """Hook every block's forward and every trainable parameter's gradient, for one
        forward and backward pass."""
        self.disarm()
        self._stats, self._grads = {}, {}
        self._scale = float(self.scaler.get_scale()) if self.scaler is not None \
            and self.scaler.is_enabled() else 1.0
        if self.scorer is not None:
            self._handles.append(self.scorer.register_forward_hook(
                self._forward_hook(SCORES)))
        for node_id, block in self.blocks:
            self._handles.append(block.register_forward_hook(self._forward_hook(node_id)))
            trainable = [p for p in block.parameters() if p.requires_grad]
            if trainable:
                self._grads[node_id] = []
            for param in trainable:
                self._handles.append(param.register_post_accumulate_grad_hook(
                    self._grad_hook(node_id)))

    def disarm(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _forward_hook(self, node_id: str):
        relu = node_id in self.relu

        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            if not isinstance(output, torch.Tensor):
                return
            with torch.no_grad():
                values = output.detach().float()
                std, mean = torch.std_mean(values, correction=0)
                dead = (values <= 0).sum() / max(values.numel(), 1) if relu \
                    else torch.full_like(mean, math.nan)
                self._stats[node_id] = torch.stack((mean, std, dead))
        return hook

    def _grad_hook(self, node_id: str):
        def hook(param: torch.Tensor) -> None:
            if param.grad is not None:
                self._grads[node_id].append(param.grad.detach().float().pow(2).sum())
        return hook

    def collect(self) -> dict[str, Any]:
        """Remove the hooks and return {"blocks": {node_id: statistics}} for the pass since
        arm() (one copy from the device)."""
        self.disarm()
        ids = [node_id for node_id, _ in self.blocks]
        head = self.module.output_source
        if head not in self._stats and SCORES in self._stats:
            self._stats[head] = self._stats[SCORES]
        nan = torch.tensor(math.nan)
        rows = []
        for node_id in ids:
            stats = self._stats.get(node_id)
            parts = self._grads.get(node_id)
            squared = torch.stack(parts).sum() if parts else None
            rows.append(torch.cat((
                stats.cpu() if stats is not None else nan.repeat(3),
                (squared.cpu() if squared is not None else nan).reshape(1))))
        table = torch.stack(rows).double().tolist() if rows else []
        norms = {}
        for node_id, (*_, squared) in zip(ids, table):
            has_grad = bool(self._grads.get(node_id))
            norms[node_id] = math.sqrt(squared) / self._scale if has_grad else None
        finite = [n for n in norms.values() if n is not None and math.isfinite(n)]
        largest = max(finite, default=math.nan)
        blocks = {}
        for node_id, (mean, std, dead, _) in zip(ids, table):
            norm = norms[node_id]
            blocks[node_id] = {"name": self.graph.nodes[node_id].name, "mean": _num(mean),
                               "std": _num(std), "dead": _num(dead), "grad_norm": norm,
                               "flag": flag_of(norm, largest)}
        self._stats, self._grads = {}, {}
        return {"blocks": blocks}


def _num(value: float) -> float | None:
    return None if math.isnan(value) else value


def for_trainer(module: GraphModule, graph: Graph, every: int, runtime: Any, main: bool,
                scorer: nn.Module | None = None) -> tuple[Telemetry | None, list[str]]:
    """The trainer's Telemetry (None when off or not rank 0) and the notes to show: a
    compiled network keeps no hooks added after compiling, so telemetry is off with it."""
    if not every or not main:
        return None, []
    if runtime.compile:
        return None, ["training.telemetry_every is ignored with compile on (a compiled "
                      "network does not run hooks added later); switch compile off to "
                      "see block statistics"]
    return Telemetry(module, graph, every, runtime.scaler, scorer), []
