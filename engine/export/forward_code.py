"""forward() as a person would write it: blocks in order, branches and merges as plain
statements, and each group as a method of the model (``x = self.layer1(x)``).

Groups become methods rather than submodules so the parameters keep GraphModule's flat names
(``layer1_0_conv1.weight``) and state dicts load both ways. A group stays inline (its blocks
written where it stands) when it cannot be one call: when a path leaves it and comes back,
when it holds the Input or Output, or when it holds the classifier head that logits() splits.
Blocks whose value never reaches the Output are built but not called.
"""

from __future__ import annotations

import heapq
import keyword
import re
from dataclasses import dataclass, field

from engine.backend.build import module_attr
from engine.graph import Graph
from engine.layers.code import Code

# Names a local variable must not take in the generated file.
_TAKEN_NAMES = {"self", "torch", "nn", "F"}


@dataclass
class Unit:
    """One statement of a body: a block, or a call to a group's method."""

    id: str
    method: str | None                 # the group's method name; None for a block
    inputs: list[str]                  # value (node) ids read, a block's in port order
    outputs: list[str]                 # value ids it makes that others read
    rank: int
    members: set[str] = field(default_factory=set)


@dataclass
class Method:
    name: str
    group_id: str | None
    params: list[str]                  # value ids passed in
    returns: list[str]                 # value ids handed back
    units: list[Unit]


class ForwardWriter:
    """Builds the bodies of forward() and the group methods.

    attrs: submodule name per node id (GraphModule's), codes: Code per node id,
    order: leaf ids in the analysis's topological order, taken: the class's attribute names
    so far (group methods get names that clash with none of them).
    """

    def __init__(self, graph: Graph, order: list[str], attrs: dict[str, str],
                 codes: dict[str, Code], taken: set[str], split_head: bool) -> None:
        self.graph = graph
        self.attrs = attrs
        self.codes = codes
        self.taken = taken
        self.rank = {node_id: i for i, node_id in enumerate(order)}
        kinds = {i: graph.nodes[i].kind for i in order}
        self.input_id = next(i for i in order if kinds[i] == "Input")
        self.output_id = next(i for i in order if kinds[i] == "Output")
        self.head = graph.predecessors(self.output_id)[0]
        self.split_head = split_head
        self.live = self._reaching_output()
        self.methods: list[Method] = []
        self.method_of: dict[str, str] = {}

    # -------------------------------------------------------------- structure
    def _reaching_output(self) -> set[str]:
        seen = {self.output_id}
        stack = [self.output_id]
        while stack:
            for src in self.graph.predecessors(stack.pop()):
                if src not in seen:
                    seen.add(src)
                    stack.append(src)
        return seen

    def _code_members(self, group_id: str) -> set[str]:
        return {n.id for n in self.graph.members(group_id) if n.id in self.live}

    def _keeps(self, group_id: str) -> bool:
        members = self._code_members(group_id)
        if not members or {self.input_id, self.output_id} & members:
            return False
        if self.split_head and self.head in members:
            return False
        return self._convex(members) and bool(self._outputs(members))

    def _convex(self, members: set[str]) -> bool:
        """No path leaves the group and comes back into it."""
        stack = [s for m in members for s in self.graph.successors(m)
                 if s not in members and s in self.live]
        seen: set[str] = set()
        while stack:
            node_id = stack.pop()
            if node_id in members:
                return False
            if node_id not in seen:
                seen.add(node_id)
                stack.extend(s for s in self.graph.successors(node_id) if s in self.live)
        return True

    def _ordered(self, members: set[str]) -> list[str]:
        return sorted(members, key=self.rank.__getitem__)

    def _inputs(self, members: set[str]) -> list[str]:
        found: list[str] = []
        for node_id in self._ordered(members):
            for src in self.graph.predecessors(node_id):
                if src not in members and src not in found:
                    found.append(src)
        return found

    def _outputs(self, members: set[str]) -> list[str]:
        return [m for m in self._ordered(members)
                if any(s not in members and s in self.live
                       for s in self.graph.successors(m))]

    def _units(self, scope: str | None) -> list[Unit]:
        """The statements of a scope: its blocks and kept groups; others are opened up."""
        units: list[Unit] = []
        for child in self.graph.children(scope):
            if child.is_group:
                if self._keeps(child.id):
                    members = self._code_members(child.id)
                    units.append(Unit(child.id, self._method(child.id), self._inputs(members),
                                      self._outputs(members),
                                      min(self.rank[m] for m in members), members))
                else:
                    units.extend(self._units(child.id))
            elif child.id in self.live and child.id not in (self.input_id, self.output_id):
                if self.split_head and child.id == self.head:
                    continue
                units.append(Unit(child.id, None, self.graph.predecessors(child.id),
                                  [child.id], self.rank[child.id], {child.id}))
        return units

    def _method(self, group_id: str) -> str:
        if group_id not in self.method_of:
            self.method_of[group_id] = module_attr(self.graph.nodes[group_id].name, self.taken)
        return self.method_of[group_id]

    @staticmethod
    def _sort(units: list[Unit]) -> list[Unit]:
        """Topological order of the units, earliest block first where free to choose."""
        producer = {v: u.id for u in units for v in u.members}
        by_id = {u.id: u for u in units}
        needs = {u.id: {producer[v] for v in u.inputs if v in producer} - {u.id}
                 for u in units}
        users: dict[str, set[str]] = {u.id: set() for u in units}
        for uid, deps in needs.items():
            for dep in deps:
                users[dep].add(uid)
        ready = [(u.rank, u.id) for u in units if not needs[u.id]]
        heapq.heapify(ready)
        ordered: list[Unit] = []
        while ready:
            _, uid = heapq.heappop(ready)
            ordered.append(by_id[uid])
            for user in users[uid]:
                needs[user].discard(uid)
                if not needs[user]:
                    heapq.heappush(ready, (by_id[user].rank, user))
        return ordered

    # ------------------------------------------------------------------ build
    def build(self) -> Method:
        """The top-level body (forward or features); group methods land in self.methods."""
        returns = [self.graph.predecessors(self.head)[0] if self.split_head else self.head]
        top = Method("", None, [self.input_id], returns, self._sort(self._units(None)))
        pending = [u for u in top.units if u.method]
        while pending:
            unit = pending.pop(0)
            method = Method(unit.method or "", unit.id, unit.inputs, unit.outputs,
                            self._sort(self._units(unit.id)))
            self.methods.append(method)
            pending.extend(u for u in method.units if u.method)
        return top

    # ------------------------------------------------------------------ write
    def body(self, method: Method, first_lines: list[str] | None = None
             ) -> tuple[list[str], list[str]]:
        """The parameter names and statements of a method, ending with its return."""
        prefix = "" if method.group_id is None else self.graph.nodes[method.group_id].name
        used = set(_TAKEN_NAMES)
        var: dict[str, str] = {}
        for value in method.params:
            var[value] = self._fresh(value, prefix, used, first=len(method.params) == 1)
        var_names = dict(var)
        uses: dict[str, int] = {}
        for unit in method.units:
            for value in set(unit.inputs):
                uses[value] = uses.get(value, 0) + 1
        for value in method.returns:
            uses[value] = uses.get(value, 0) + 1  # handed back: never dies
        lines = list(first_lines or [])
        for unit in method.units:
            args = [var[v] for v in unit.inputs]
            dying = []
            for value in dict.fromkeys(unit.inputs):
                uses[value] -= 1
                if uses[value] == 0:
                    dying.append(value)
            expr = self._expression(unit, args)
            reuse = next((v for v in dying if var[v] == "x"), dying[0] if dying else None)
            targets = []
            for i, value in enumerate(unit.outputs):
                if i == 0 and reuse is not None:
                    targets.append(var[reuse])
                else:
                    targets.append(self._fresh(value, prefix, used))
            for value in dying:
                var.pop(value)
            for value, name in zip(unit.outputs, targets):
                var[value] = name
            lines.append(f"{', '.join(targets)} = {expr}")
        lines.append("return " + ", ".join(var[v] for v in method.returns))
        return [var_names[v] for v in method.params], lines

    def _expression(self, unit: Unit, args: list[str]) -> str:
        if unit.method:
            return f"self.{unit.method}({', '.join(args)})"
        return format_call(self.codes[unit.id].call, f"self.{self.attrs[unit.id]}", args)

    def _fresh(self, value: str, prefix: str, used: set[str], first: bool = False) -> str:
        """A new variable name: 'x' for a lone parameter, else the block's name without
        its group's prefix."""
        if first and "x" not in used:
            used.add("x")
            return "x"
        name = self.graph.nodes[value].name
        if prefix and name.startswith(prefix) and len(name) > len(prefix) + 1:
            name = name[len(prefix):].lstrip("_-. ")
        # 'branch2_0_conv' starts the branch 'branch2'.
        name = re.sub(r"(?<=.)(_\d+)?_(conv|bn|relu)$|(?<=.)_\d+$", "", name) or name
        return _identifier(name, used)


def natural_order(graph: Graph, order: list[str]) -> list[str]:
    """A topological order of the leaves that follows the project file where it may (the
    order blocks were designed in), so branch 1 reads before branch 2."""
    position = {node_id: i for i, node_id in enumerate(graph.nodes)}
    wanted = set(order)
    needs = {i: len(graph.predecessors(i)) for i in order}
    ready = [(position[i], i) for i in order if needs[i] == 0]
    heapq.heapify(ready)
    out: list[str] = []
    while ready:
        _, node_id = heapq.heappop(ready)
        out.append(node_id)
        for edge in graph.outputs_of(node_id):
            if edge.dst in wanted:
                needs[edge.dst] -= 1
                if needs[edge.dst] == 0:
                    heapq.heappush(ready, (position[edge.dst], edge.dst))
    return out if len(out) == len(order) else list(order)


def format_call(template: str, module: str, args: list[str]) -> str:
    """Fill a Code.call template: {m}, {x}, {xs} and {x0}, {x1}, ..."""
    return template.format(m=module, x=args[0] if args else "", xs=", ".join(args),
                            **{f"x{i}": a for i, a in enumerate(args)})


def _identifier(name: str, taken: set[str]) -> str:
    """A block or group name as a fresh Python identifier (lower-case friendly)."""
    ident = re.sub(r"\W", "_", name) or "v"
    if ident[0].isdigit():
        ident = f"v_{ident}"
    if keyword.iskeyword(ident):
        ident += "_"
    base, i = ident, 1
    while ident in taken:
        i += 1
        ident = f"{base}_{i}"
    taken.add(ident)
    return ident
