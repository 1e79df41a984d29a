"""Turn a validated graph into a torch.nn.Module that runs the DAG.

Submodules are named after the blocks (``conv1_1.weight``), so a state dict reads like the
canvas. Groups are seen through: their members are ordinary blocks of the flat module.

The Input block's preprocessing (scale, then mean and std per channel) runs inside the
module, so training, validation and every export see pixels the same way; its constants are
non-persistent buffers and never appear in the state dict.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn as nn

from engine.graph import Graph, Node
from engine.layers import REGISTRY, HeadRole
from engine.memory import NotEnoughMemory, available_memory, require
from engine.validate import BYTES_PER_VALUE, Analysis, analyze


class BuildError(ValueError):
    """The graph has problems; the message lists them as validate would."""


@dataclass(frozen=True)
class Step:
    node_id: str
    attr: str          # submodule name
    sources: tuple[str, ...]
    free_after: tuple[str, ...]  # values no later step needs


_RESERVED = set(dir(nn.Module)) | {"steps", "input_id", "output_source", "head_attr",
                                   "head_role", "attr_of", "preprocess", "logits",
                                   "input_shape", "classes"}


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


def parse_channel_values(text: str, channels: int, what: str, node: Node) -> list[float] | None:
    """'0.485,0.456,0.406' -> one float per channel (a single value is repeated).

    >>> from engine.graph import Node
    >>> parse_channel_values("0.5", 3, "mean", Node("n1", "Input", "in"))
    [0.5, 0.5, 0.5]
    """
    text = text.strip()
    if not text:
        return None
    try:
        values = [float(v) for v in text.replace(";", ",").split(",") if v.strip()]
    except ValueError:
        raise BuildError(f"Input '{node.name}': {what} must be numbers separated by commas. "
                         f"Received: {text!r}") from None
    if len(values) == 1:
        values *= channels
    if len(values) != channels:
        raise BuildError(f"Input '{node.name}': {what} needs 1 or {channels} values (one per "
                         f"channel). Received: {len(values)} ({text!r})")
    if what == "std" and any(v == 0 for v in values):
        raise BuildError(f"Input '{node.name}': std cannot be 0. Received: {text!r}")
    return values


class Preprocess(nn.Module):
    """The Input block's preprocessing: x * scale, then (x - mean) / std per channel."""

    def __init__(self, shape: tuple[int, ...], scale: float = 1.0,
                 mean: list[float] | None = None, std: list[float] | None = None) -> None:
        super().__init__()
        self.scale = float(scale)
        view = (1, len(mean or std or [0]), *([1] * (len(shape) - 1)))
        self.register_buffer("mean", None if mean is None
                             else torch.tensor(mean, dtype=torch.float32).view(view),
                             persistent=False)
        self.register_buffer("std", None if std is None
                             else torch.tensor(std, dtype=torch.float32).view(view),
                             persistent=False)

    @property
    def identity(self) -> bool:
        return self.scale == 1.0 and self.mean is None and self.std is None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_floating_point(x):
            x = x.float()
        if self.scale != 1.0:
            x = x * self.scale
        if self.mean is not None:
            x = x - self.mean
        if self.std is not None:
            x = x / self.std
        return x

    def extra_repr(self) -> str:
        parts = [f"scale={self.scale:g}"]
        if self.mean is not None:
            parts.append(f"mean={[round(v, 6) for v in self.mean.flatten().tolist()]}")
        if self.std is not None:
            parts.append(f"std={[round(v, 6) for v in self.std.flatten().tolist()]}")
        return ", ".join(parts)


def make_preprocess(node: Node) -> Preprocess:
    params = REGISTRY.get("Input").resolve(node.params)
    shape = tuple(int(d) for d in params["shape"])
    channels = shape[0] if len(shape) == 3 else 1
    mean = parse_channel_values(params["mean"], channels, "mean", node)
    std = parse_channel_values(params["std"], channels, "std", node)
    if len(shape) != 3 and (mean or std) and channels != 1:
        mean = std = None
    return Preprocess(shape, params["scale"], mean, std)


class GraphModule(nn.Module):
    """Runs the blocks in topological order, freeing each value after its last use.

    forward(x) takes raw data (pixels as loaded) and returns what the Output block sees;
    logits(x) returns scores for a classification loss (see _as_logits).
    """

    def __init__(self, graph: Graph, analysis: Analysis | None = None,
                 preprocess: bool = True) -> None:
        super().__init__()
        analysis = analysis or analyze(graph)
        if not analysis.ok:
            listing = "\n".join(f"  - {p}" for p in analysis.problems)
            raise BuildError(f"the network has {len(analysis.problems)} problem(s); "
                             f"fix them before building:\n{listing}")
        _check_room(analysis)
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
        self.input_shape: tuple[int, ...] = ()
        self.classes = 0
        pre: Preprocess | None = None
        for index, node_id in enumerate(order):
            node = graph.nodes[node_id]
            kind = REGISTRY.get(node.kind)
            result = analysis.results[node_id]
            if node.kind == "Input":
                self.input_id = node_id
                self.input_shape = tuple(result.shape or ())
                pre = make_preprocess(node)
                continue
            if node.kind == "Output":
                self.output_source = graph.predecessors(node_id)[0]
                self.classes = int(kind.resolve(node.params)["classes"])
                continue
            attr = module_attr(node.name, taken)
            params = kind.resolve(node.params)
            module = kind.build(list(result.input_shapes), params, result.shape)
            self.add_module(attr, module)
            self.attr_of[node_id] = attr
            free = tuple(s for s in set(graph.predecessors(node_id)) if last_use[s] == index)
            steps.append(Step(node_id, attr, tuple(graph.predecessors(node_id)), free))
        self.steps = steps
        # Its buffers are non-persistent: the state dict holds only the blocks' tensors.
        self._preprocess = pre if (preprocess and pre is not None and not pre.identity) \
            else None
        head = graph.nodes.get(self.output_source)
        self.head_attr = self.attr_of.get(self.output_source, "")
        self.head_role = HeadRole.SCORES
        if head is not None:
            head_kind = REGISTRY.get(head.kind)
            self.head_role = head_kind.head_role(head_kind.resolve(head.params))

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        if self._preprocess is None:
            return x if torch.is_floating_point(x) else x.float()
        return self._preprocess(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x, logits=False)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Scores for a classification loss: the network without its final softmax (or
        log-softmax), and RBF distances negated (the nearest centre scores highest)."""
        return self._run(x, logits=True)

    def _run(self, x: torch.Tensor, logits: bool) -> torch.Tensor:
        values = {self.input_id: self.preprocess(x)}
        for step in self.steps:
            args = [values[s] for s in step.sources]
            module = getattr(self, step.attr)
            if logits and step.node_id == self.output_source:
                return _as_logits(module, self.head_role, args)
            values[step.node_id] = module(*args)
            for done in step.free_after:
                if done != self.output_source:
                    values.pop(done, None)
        return values[self.output_source]


def _as_logits(module: nn.Module, role: HeadRole, args: list[torch.Tensor]) -> torch.Tensor:
    if role is HeadRole.PROBABILITIES:
        # A fused (log-)softmax: the block before it; a Softmax block: what it is given.
        return module.pre_activation(*args) if hasattr(module, "pre_activation") else args[0]
    if role is HeadRole.DISTANCES:
        return -module(*args)
    return module(*args)


def _check_room(analysis: Analysis) -> None:
    """The last guard of DESIGN.md rule 8, for every caller: weights that cannot fit in this
    machine's memory are refused before the first one is allocated. Training, export and
    import check their whole need (optimizer state, activations) before they get here."""
    weights = analysis.totals()["params"] * BYTES_PER_VALUE
    try:
        require("building this network", {"its weights": weights}, available_memory(),
                "this machine's available memory", "Shrink the network")
    except NotEnoughMemory as exc:
        raise BuildError(str(exc)) from None


def build_module(graph: Graph, analysis: Analysis | None = None,
                 preprocess: bool = True) -> GraphModule:
    return GraphModule(graph, analysis, preprocess)


# ----------------------------------------------------------- transfer learning
def lr_multiplier(graph: Graph, node_id: str) -> float:
    """A block's own lr_mult when set, else that of its nearest group that sets one."""
    node = graph.nodes[node_id]
    if "lr_mult" in node.params:
        return float(node.params["lr_mult"])
    for group_id in graph.ancestors_of(node_id):
        params = graph.nodes[group_id].params
        if "lr_mult" in params:
            return float(params["lr_mult"])
    return 1.0


def lr_multipliers(graph: Graph, module: GraphModule) -> dict[str, float]:
    """Each block's learning-rate multiplier by submodule name (0 means frozen)."""
    return {attr: lr_multiplier(graph, node_id) for node_id, attr in module.attr_of.items()}


def frozen_modules(graph: Graph, module: GraphModule) -> list[nn.Module]:
    """Blocks with lr_mult 0; the trainer keeps them in eval mode so a frozen BatchNorm's
    running statistics stay as they are too (Keras's trainable=False)."""
    return [getattr(module, attr) for attr, mult in lr_multipliers(graph, module).items()
            if mult == 0]


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


# ------------------------------------------------------------ foreign weights
def flat_name(key: str) -> str:
    """A dotted torchvision-style key as Netdraft names its blocks: the module path joined
    with '_', the tensor name kept ('layer1.0.conv1.weight' -> 'layer1_0_conv1.weight')."""
    path, _, tensor = key.rpartition(".")
    return f"{path.replace('.', '_')}.{tensor}" if path else key


def map_state_dict(module: nn.Module, foreign: Mapping[str, torch.Tensor]) -> dict:
    """Match another model's state dict to ``module``'s keys and return it renamed.

    Keys are matched by name first (exactly, or with the module path flattened as block
    names are); whatever is left is matched in order when the shapes agree. Raises
    BuildError naming the first key that cannot be placed, with both shapes.
    """
    own = module.state_dict()
    mapped: dict[str, torch.Tensor] = {}
    left_own = [k for k in own]
    left_foreign: list[str] = []
    for key, value in foreign.items():
        target = key if key in own else flat_name(key)
        if target in own and target not in mapped and own[target].shape == value.shape:
            mapped[target] = value
        else:
            left_foreign.append(key)
    left_own = [k for k in left_own if k not in mapped]
    if len(left_own) != len(left_foreign):
        raise BuildError(f"the weights hold {len(foreign)} tensors and the network "
                         f"{len(own)}; {len(left_own)} of the network's are unmatched, "
                         f"e.g. {left_own[:3]}; unmatched in the file: {left_foreign[:3]}")
    for mine, theirs in zip(left_own, left_foreign):
        if own[mine].shape != foreign[theirs].shape:
            raise BuildError(f"weights {theirs!r} have shape {tuple(foreign[theirs].shape)} "
                             f"but {mine!r} needs {tuple(own[mine].shape)}")
        mapped[mine] = foreign[theirs]
    return mapped
