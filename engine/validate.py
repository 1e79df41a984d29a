"""Live validation: every node's output shape, parameter counts, MACs and memory, or a Problem.

Never raises (DESIGN.md rule 4). ``Analysis`` can follow a graph's change notifications and
recompute only what an edit affects: the edited node, then its consumers for as long as an
output changes.
"""

from __future__ import annotations

import difflib
import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from engine.graph import Change, ChangeKind, Edge, Graph, Node
from engine.layers import REGISTRY, LayerKind, ParamFix, Shape, ShapeError
from engine.layers.base import COMMON_PARAMS
from engine.shapes import fmt_shape, volume

BYTES_PER_VALUE = 4  # float32 activations
_STRUCTURE = {ChangeKind.EDGE_ADDED, ChangeKind.EDGE_REMOVED, ChangeKind.NODE_ADDED,
              ChangeKind.NODE_REMOVED}
# What the whole-graph checks (one Input, one Output, named in messages) depend on.
_BLOCK_SET = {ChangeKind.NODE_ADDED, ChangeKind.NODE_REMOVED, ChangeKind.RENAMED}


@dataclass(frozen=True)
class ParamEdit:
    node_id: str
    key: str
    value: Any


@dataclass(frozen=True)
class Fix:
    """One click that fixes a problem: parameter edits, or (ui_value set) accepting the
    data's shape as it is (engine/data_fit.py)."""

    label: str
    node_id: str
    edits: tuple[ParamEdit, ...] = ()
    ui_value: tuple[int, ...] | None = None


# StrEnums: they still equal the words they replace ("ok", "cycle"), which files and
# events carry.
class Status(StrEnum):
    OK = "ok"
    PROBLEM = "problem"
    UNKNOWN = "unknown"  # an input upstream has a problem


class Code(StrEnum):
    """What kind of problem: the analysis finds all but the last two."""

    PARAM = "param"
    UNKNOWN_KIND = "unknown_kind"
    UNCONNECTED = "unconnected"
    EXTRA_INPUT = "extra_input"
    SHAPE = "shape"
    MERGE = "merge"
    SIZE = "size"
    CYCLE = "cycle"
    NO_INPUT = "no_input"
    NO_OUTPUT = "no_output"
    MANY_INPUTS = "many_inputs"
    MANY_OUTPUTS = "many_outputs"
    DATA = "data"  # the block does not fit the project's data (Analysis.set_external)
    RUN = "run"  # a training run failed on the block


@dataclass(frozen=True)
class Problem:
    """What is wrong, where, with the numbers (message) and what to do (hint)."""

    node_id: str | None
    code: Code
    message: str
    hint: str = ""
    # The hint's fixes that are edits (structured, so nobody parses the hint's text).
    fixes: tuple[Fix, ...] = field(default=(), compare=False)

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


@dataclass(frozen=True)
class NodeResult:
    node_id: str
    status: Status
    shape: Shape | None = None
    input_shapes: tuple[Shape, ...] = ()
    trainable: int = 0
    non_trainable: int = 0
    macs: int = 0
    memory: int = 0  # activation bytes per sample
    problem: Problem | None = None

    @property
    def params(self) -> int:
        return self.trainable + self.non_trainable

    @property
    def ok(self) -> bool:
        return self.status == Status.OK


@dataclass(frozen=True)
class GroupResult:
    node_id: str
    status: str
    input_shapes: tuple[Shape, ...]
    output_shapes: tuple[Shape, ...]
    trainable: int
    non_trainable: int
    macs: int
    memory: int
    problems: tuple[Problem, ...] = field(default=())

    @property
    def params(self) -> int:
        return self.trainable + self.non_trainable


def node_label(node: Node) -> str:
    return f"{node.kind} '{node.name}'"


def _join(node: Node, message: str) -> str:
    """'Dense 'fc1' expects …' reads as one sentence; other clauses follow a colon."""
    sentence = message.startswith(("expects", "receives", "has ", "takes ", "inputs ", "is "))
    sep = " " if sentence else ": "
    return f"{node_label(node)}{sep}{message}"


class Analysis:
    """Results for every node of a graph; with live=True it follows the graph's edits."""

    def __init__(self, graph: Graph, live: bool = False) -> None:
        self.graph = graph
        self.results: dict[str, NodeResult] = {}
        self._order: list[str] = []
        self._rank: dict[str, int] = {}
        self._structure_dirty = True
        self._acyclic = 0  # the first _acyclic ids of _order have no cycle upstream
        self._inputs: dict[str, list[Edge]] = {}
        self._whole_dirty = True  # the Input/Output checks: blocks added, removed, renamed
        self._dirty: set[str] = set(n.id for n in graph.leaves())
        self._group_cache: dict[str, GroupResult] = {}
        self._graph_problems: list[Problem] = []
        self._cyclic: set[str] = set()
        # What depends only on (kind, params[, input shapes]) is worked out once per distinct
        # key: networks repeat their blocks (ResNet-152's 516 blocks are 56 distinct ones).
        self._checked: dict[tuple[str, str], tuple[str, str] | None] = {}
        self._outcomes: dict[tuple[str, str, tuple[Shape, ...]], _Computed | _Refused] = {}
        # Problems found outside the graph (the data does not fit a block): they mark the
        # block but keep its shape, so the blocks after it are still analysed.
        self._external: dict[str, Problem] = {}
        self.live = live
        if live:
            graph.changed.subscribe(self._on_change)
        self.update()

    def set_external(self, problems: dict[str, Problem]) -> None:
        """Replace the problems that come from outside the graph (node id -> Problem); the
        next update() recomputes the blocks whose external problem changed."""
        changed = {i for i in set(problems) | set(self._external)
                   if problems.get(i) != self._external.get(i)}
        self._external = dict(problems)
        self._dirty |= {i for i in changed if i in self.graph.nodes}

    def close(self) -> None:
        if self.live:
            self.graph.changed.unsubscribe(self._on_change)
            self.live = False

    # ------------------------------------------------------------ following
    def _on_change(self, change: Change) -> None:
        self._group_cache.clear()
        what = change.what
        if what in _STRUCTURE:
            self._structure_dirty = True
        if what in _BLOCK_SET:
            self._whole_dirty = True
        if what is ChangeKind.NODE_REMOVED:
            self.results.pop(change.node_id, None)
            self._dirty.discard(change.node_id)
        elif change.node_id is not None and change.node_id in self.graph.nodes:
            if what is not ChangeKind.PARENT_CHANGED:
                self._dirty.add(change.node_id)

    # ------------------------------------------------------------ computing
    def update(self) -> set[str]:
        """Recompute what changed; returns the ids whose results differ from before."""
        if self._structure_dirty:
            self._sort()
        changed: set[str] = set()
        if len(self._dirty) >= self._acyclic and self._dirty.issuperset(
                self._order[:self._acyclic]):
            changed = self._sweep()
        heap = [(self._rank.get(i, -1), i) for i in self._dirty if i in self.graph.nodes]
        heapq.heapify(heap)
        queued = {i for _, i in heap}
        self._dirty.clear()
        graph = self.graph
        while heap:
            _, node_id = heapq.heappop(heap)
            queued.discard(node_id)
            node = graph.nodes[node_id]
            if node.is_group:
                continue
            result = self._compute(node)
            if self.results.get(node_id) == result:
                continue
            self.results[node_id] = result
            changed.add(node_id)
            for succ in graph.successors(node_id):
                if succ not in queued:
                    queued.add(succ)
                    heapq.heappush(heap, (self._rank.get(succ, -1), succ))
        if changed:
            self._group_cache.clear()
        if self._whole_dirty:
            self._graph_problems = self._whole_graph_problems()
            self._whole_dirty = False
        return changed

    def _sweep(self) -> set[str]:
        """Everything is dirty (a first analysis): compute in topological order, no queue.
        Only the nodes on or behind a cycle stay dirty, for update()'s queue."""
        changed = set()
        results, nodes = self.results, self.graph.nodes
        for node_id in self._order[:self._acyclic]:
            result = self._compute(nodes[node_id])
            if results.get(node_id) != result:
                results[node_id] = result
                changed.add(node_id)
        self._dirty.difference_update(self._order[:self._acyclic])
        return changed

    def _sort(self) -> None:
        """Kahn's topological order; nodes left over sit on or behind a cycle."""
        graph = self.graph
        leaves = [n.id for n in graph.leaves()]
        # Edges change only with the structure, which re-sorts first: keep them for _compute.
        self._inputs = {i: graph.inputs_of(i) for i in leaves}
        indegree = {i: len(edges) for i, edges in self._inputs.items()}
        ready = sorted(i for i, d in indegree.items() if d == 0)
        order: list[str] = []
        while ready:
            node_id = ready.pop()
            order.append(node_id)
            for edge in graph.outputs_of(node_id):
                indegree[edge.dst] -= 1
                if indegree[edge.dst] == 0:
                    ready.append(edge.dst)
        leftover = [i for i in leaves if indegree[i] > 0]
        self._order = order + leftover
        self._acyclic = len(order)
        old_rank = self._rank
        self._rank = {i: r for r, i in enumerate(self._order)}
        previous_cyclic = self._cyclic
        self._cyclic = {i for i in leftover if self._reaches(i, i)}
        # A new order can change which nodes sit on a cycle: recheck those.
        self._dirty.update(leftover)
        self._dirty.update(i for i in leaves if i not in old_rank)
        self._dirty.update(i for i in previous_cyclic if i in graph.nodes)
        self._structure_dirty = False

    def _reaches(self, start: str, target: str) -> bool:
        seen: set[str] = set()
        stack = list(self.graph.successors(start))
        while stack:
            node_id = stack.pop()
            if node_id == target:
                return True
            if node_id not in seen:
                seen.add(node_id)
                stack.extend(self.graph.successors(node_id))
        return False

    def _compute(self, node: Node) -> NodeResult:
        try:
            result = self._compute_unsafe(node)
        except Exception as exc:  # a shape rule's bug must not take the designer down
            return self._problem(node, Code.SHAPE, _join(node, f"cannot be analysed: {exc}"),
                                 "check its parameters")
        external = self._external.get(node.id)
        if external is not None and result.status == Status.OK:
            return replace(result, status=Status.PROBLEM, problem=external)
        return result

    def _problem(self, node: Node, code: Code, message: str, hint: str,
                 inputs: tuple[Shape, ...] = (), fixes: tuple[ParamFix, ...] = ()
                 ) -> NodeResult:
        bound = tuple(Fix(f.label, node.id, tuple(ParamEdit(node.id, k, v)
                                                   for k, v in f.changes))
                      for f in fixes)
        return NodeResult(node.id, Status.PROBLEM, None, inputs,
                          problem=Problem(node.id, code, message, hint, bound))

    def _compute_unsafe(self, node: Node) -> NodeResult:
        if node.kind not in REGISTRY:
            known = ", ".join(sorted(REGISTRY.ids()))
            return self._problem(node, Code.UNKNOWN_KIND,
                                 _join(node, f"unknown block kind {node.kind!r}"),
                                 f"replace it with one of: {known}")
        kind = REGISTRY.get(node.kind)
        params_key = (node.kind, repr(node.params))  # repr tells 1, 1.0 and True apart
        if params_key in self._checked:
            wrong = self._checked[params_key]
        else:
            wrong = self._checked[params_key] = _param_problems(kind, node.params)
        if node.id in self._cyclic:  # a cycle hides no parameter problem: both are listed
            message = "is part of a cycle"
            hint = "remove one of the connections that loop back to it"
            if wrong is not None:
                message, hint = f"{message}; {wrong[0]}", f"{hint}; {wrong[1]}"
            return self._problem(node, Code.CYCLE, _join(node, message), hint)
        if wrong is not None:
            return self._problem(node, Code.PARAM, _join(node, wrong[0]), wrong[1], (),
                                 _default_fixes(kind, node.params))
        edges = self._inputs.get(node.id)
        if edges is None:
            edges = self.graph.inputs_of(node.id)
        # The common case first: one block feeding input 0 of a one-input kind.
        if not (kind.arity == 1 and len(edges) == 1 and edges[0].dst_port == 0):
            wrong = self._port_problem(node, kind, edges)
            if wrong is not None:
                return wrong
        shapes = []
        for edge in edges:
            source = self.results.get(edge.src)
            # A shape with a problem is an external one (the data): the shape still holds.
            if source is None or source.shape is None:
                return NodeResult(node.id, Status.UNKNOWN)
            shapes.append(source.shape)
        inputs = tuple(shapes)
        key = (*params_key, inputs)
        outcome = self._outcomes.get(key)
        if outcome is None:
            if len(self._outcomes) > 4 * len(self.graph.nodes) + 1000:
                self._outcomes.clear()  # a long live session: forget old variants
                self._checked.clear()
            outcome = self._outcomes[key] = _evaluate(kind, node.params, inputs)
        if isinstance(outcome, _Refused):
            return self._problem(node, outcome.code, _join(node, outcome.message),
                                 outcome.hint, inputs, outcome.fixes)
        return NodeResult(node.id, Status.OK, outcome.shape, inputs, outcome.trainable,
                          outcome.non_trainable, outcome.macs, outcome.memory)

    def _port_problem(self, node: Node, kind: LayerKind, edges: list) -> NodeResult | None:
        """A problem when the node's inputs do not match its kind's arity."""
        ports = [e.dst_port for e in edges]
        if kind.arity == 0 and edges:
            return self._problem(node, Code.EXTRA_INPUT,
                                 _join(node, f"takes no input but receives {len(edges)}"),
                                 "remove the connections into it")
        if kind.arity is not None and kind.arity > 0:
            missing = [p for p in range(kind.arity) if p not in ports]
            if missing:
                return self._problem(node, Code.UNCONNECTED, _join(node, "has no input"),
                                     "connect a block's output to it")
            extra = [p for p in ports if p >= kind.arity]
            if extra:
                return self._problem(
                    node, Code.EXTRA_INPUT,
                    _join(node, f"takes {kind.arity} input but receives {len(edges)}"),
                    "merge the branches with an Add or Concat block first")
        if kind.arity is None:
            if len(edges) < 2:
                return self._problem(
                    node, Code.UNCONNECTED,
                    _join(node, f"merges two or more inputs but receives {len(edges)}"),
                    "connect a second branch to it")
        return None

    def _whole_graph_problems(self) -> list[Problem]:
        problems = []
        leaves = self.graph.leaves()
        inputs = [n for n in leaves if n.kind == "Input"]
        outputs = [n for n in leaves if n.kind == "Output"]
        if not inputs:
            problems.append(Problem(None, Code.NO_INPUT, "The network has no Input block",
                                    "add an Input from the Input / output palette"))
        elif len(inputs) > 1:
            names = ", ".join(repr(n.name) for n in inputs)
            problems.append(Problem(inputs[1].id, Code.MANY_INPUTS,
                                    f"The network has {len(inputs)} Input blocks ({names})",
                                    "keep one Input; feed branches from it"))
        if not outputs:
            problems.append(Problem(None, Code.NO_OUTPUT, "The network has no Output block",
                                    "add an Output after the last Dense block"))
        elif len(outputs) > 1:
            names = ", ".join(repr(n.name) for n in outputs)
            problems.append(Problem(outputs[1].id, Code.MANY_OUTPUTS,
                                    f"The network has {len(outputs)} Output blocks ({names})",
                                    "keep one Output"))
        return problems

    # --------------------------------------------------------------- reading
    @property
    def problems(self) -> list[Problem]:
        """Every problem, in graph order, then the whole-graph ones."""
        found = [self.results[i].problem for i in self._order
                 if i in self.results and self.results[i].problem is not None]
        return found + self._graph_problems  # type: ignore[return-value]

    @property
    def ok(self) -> bool:
        return not self._graph_problems and all(r.ok for r in self.results.values())

    @property
    def order(self) -> list[str]:
        """Leaf node ids in topological order."""
        return list(self._order)

    def totals(self, node_ids: Iterable[str] | None = None) -> dict[str, int]:
        ids = self.results.keys() if node_ids is None else node_ids
        total = {"trainable": 0, "non_trainable": 0, "macs": 0, "memory": 0}
        for node_id in ids:
            result = self.results.get(node_id)
            if result is None:
                continue
            total["trainable"] += result.trainable
            total["non_trainable"] += result.non_trainable
            total["macs"] += result.macs
            total["memory"] += result.memory
        total["params"] = total["trainable"] + total["non_trainable"]
        return total

    def group(self, group_id: str) -> GroupResult:
        """A group seen from outside: the shapes crossing its border and its summed counts."""
        cached = self._group_cache.get(group_id)
        if cached is not None:
            return cached
        graph = self.graph
        member_ids = {n.id for n in graph.members(group_id)}
        inside = sorted(member_ids, key=lambda i: self._rank.get(i, 0))
        in_shapes: list[Shape] = []
        out_shapes: list[Shape] = []
        for node_id in inside:
            for edge in graph.inputs_of(node_id):
                if edge.src not in member_ids:
                    src = self.results.get(edge.src)
                    if src is not None and src.shape is not None and src.shape not in in_shapes:
                        in_shapes.append(src.shape)
            leaves_group = any(e.dst not in member_ids for e in graph.outputs_of(node_id))
            result = self.results.get(node_id)
            if leaves_group and result is not None and result.shape is not None:
                out_shapes.append(result.shape)
        totals = self.totals(inside)
        problems = tuple(self.results[i].problem for i in inside
                         if i in self.results and self.results[i].problem is not None)
        statuses = {self.results[i].status for i in inside if i in self.results}
        status = (Status.PROBLEM if problems
                  else Status.UNKNOWN if Status.UNKNOWN in statuses else Status.OK)
        result = GroupResult(group_id, status, tuple(in_shapes), tuple(out_shapes),
                             totals["trainable"], totals["non_trainable"], totals["macs"],
                             totals["memory"], problems)  # type: ignore[arg-type]
        self._group_cache[group_id] = result
        return result


def _param_problems(kind: LayerKind, params: dict[str, Any]) -> tuple[str, str] | None:
    """Every parameter outside the kind's schema, as one (message, hint); None when all fit.

    A value out of range names the range; an unknown key names what the kind takes instead,
    e.g. "remove 'bogus' (Dropout takes rate; every block also takes lr_mult)".
    """
    known = {p.name for p in kind.schema}
    messages, hints = [], []
    refused = [issue for issue in kind.check_params(params) if issue.known]
    if refused:
        messages += [f"{issue.param}: {issue.reason}" for issue in refused]
        names = " and ".join(issue.param for issue in refused)
        hints.append(f"set {names} within {'its' if len(refused) == 1 else 'their'} "
                     "allowed values")
    unknown = [str(name) for name in params if name not in known]
    if unknown:
        messages += [f"unknown parameter {name!r}" for name in unknown]
        guesses = [(name, difflib.get_close_matches(name, sorted(known), n=1)) for name in unknown]
        guesses = [(name, close[0]) for name, close in guesses if close]
        if len(unknown) == 1:
            meant = f"did you mean {guesses[0][1]!r}? " if guesses else ""
        else:
            meant = "".join(f"did you mean {close!r} for {name!r}? " for name, close in guesses)
        own = ", ".join(p.name for p in kind.params)
        common = ", ".join(p.name for p in COMMON_PARAMS)
        takes = (f"{kind.id} takes {own}; every block also takes {common}" if own
                 else f"{kind.id} takes only {common}, as every block does")
        hints.append(f"remove {', '.join(repr(n) for n in unknown)} ({meant}{takes})")
    if not messages:
        return None
    return "; ".join(messages), "; ".join(hints)


def _default_fixes(kind: LayerKind, params: dict[str, Any]) -> tuple[ParamFix, ...]:
    """For values outside the schema: put each back to its default."""
    out = []
    for issue in kind.check_params(params):
        if issue.known:
            default = kind.param(issue.param).default
            out.append(ParamFix(f"Set {issue.param} to {default!r} (its default)",
                                ((issue.param, default),)))
    return tuple(out)


@dataclass(frozen=True)
class _Computed:
    shape: Shape
    trainable: int
    non_trainable: int
    macs: int
    memory: int


@dataclass(frozen=True)
class _Refused:
    code: Code
    message: str
    hint: str
    fixes: tuple[ParamFix, ...]


def _evaluate(kind: LayerKind, node_params: dict[str, Any], inputs: tuple[Shape, ...]
              ) -> _Computed | _Refused:
    """A kind's shape rule and counts on checked params and known input shapes."""
    params = kind.resolve(node_params)
    try:
        shape = tuple(int(d) for d in kind.shape(list(inputs), params))
    except ShapeError as err:
        return _Refused(Code.MERGE if kind.arity is None else Code.SHAPE, err.message,
                        err.hint, tuple(err.fixes))
    if not shape or any(d <= 0 for d in shape):
        padded = any(p.name == "padding" and p.type == "padding" for p in kind.params)
        return _Refused(Code.SIZE, f"output size reaches {fmt_shape(shape)}",
                        "use padding 'same', a smaller kernel or stride, or a larger input",
                        (ParamFix("Use padding 'same'", (("padding", "same"),)),)
                        if padded else ())
    trainable, frozen = kind.params_count(list(inputs), params, shape)
    if params.get("lr_mult", 1.0) == 0:  # Keras counts a frozen layer's weights as non-trainable
        trainable, frozen = 0, trainable + frozen
    macs = kind.macs(list(inputs), params, shape)
    return _Computed(shape, trainable, frozen, macs, volume(shape) * BYTES_PER_VALUE)


def analyze(graph: Graph) -> Analysis:
    """A one-off analysis of the whole graph."""
    return Analysis(graph, live=False)
