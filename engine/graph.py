"""The network as a graph: nodes, edges, groups, edit methods and change notifications.

The Graph is the only model (DESIGN.md rule 1). Every edit is a small public method with an
exact inverse so an undo stack can be built on them:

    add_node      <-> remove_node   (remove_node returns the edges it took away)
    connect       <-> disconnect
    set_param     <-> set_param     (returns the old value; MISSING restores "unset")
    rename        <-> rename        (returns the old name)
    group         <-> ungroup       (ungroup returns what group() needs to redo it)
    set_parent    <-> set_parent    (returns the old parent)

Groups are nodes of kind "Group" whose members point at them through ``parent``; edges
always join leaf nodes, so validation and the builder see straight through groups.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any

GROUP_KIND = "Group"


class GraphEditError(ValueError):
    """An edit that would break the graph's invariants (unknown id, taken port, ...)."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass
class Node:
    id: str
    kind: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    parent: str | None = None

    @property
    def is_group(self) -> bool:
        return self.kind == GROUP_KIND

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "kind": self.kind, "name": self.name,
                                "params": copy.deepcopy(self.params)}
        if self.parent is not None:
            data["parent"] = self.parent
        return data


@dataclass(frozen=True, order=True)
class Edge:
    src: str
    dst: str
    dst_port: int = 0
    src_port: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"src": self.src, "src_port": self.src_port,
                "dst": self.dst, "dst_port": self.dst_port}

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> Edge:
        return cls(src=item["src"], dst=item["dst"], dst_port=item.get("dst_port", 0),
                   src_port=item.get("src_port", 0))

    def __str__(self) -> str:
        out = f" (output {self.src_port})" if self.src_port else ""
        return f"{self.src!r}{out} -> input {self.dst_port} of {self.dst!r}"


class ChangeKind(Enum):
    NODE_ADDED = "node_added"
    NODE_REMOVED = "node_removed"
    EDGE_ADDED = "edge_added"
    EDGE_REMOVED = "edge_removed"
    PARAM_CHANGED = "param_changed"
    RENAMED = "renamed"
    PARENT_CHANGED = "parent_changed"


@dataclass(frozen=True)
class Change:
    """One notification: what happened, to which node (an edge's destination for edge
    changes), and the edge or parameter key where that matters."""

    what: ChangeKind
    node_id: str | None = None
    edge: Edge | None = None
    key: str | None = None


@dataclass(frozen=True)
class LintIssue:
    """One broken invariant: the sentence, and the node or edge it is about (with the
    field at fault), so a loader can point at the JSON path."""

    message: str
    node_id: str | None = None
    edge: Edge | None = None
    field: str | None = None

    def __str__(self) -> str:
        return self.message


class Event:
    """A tiny Qt-free signal: the designer subscribes, the engine emits."""

    def __init__(self) -> None:
        self._handlers: list[Callable[[Change], None]] = []

    def subscribe(self, handler: Callable[[Change], None]) -> None:
        self._handlers.append(handler)

    def unsubscribe(self, handler: Callable[[Change], None]) -> None:
        self._handlers.remove(handler)

    def emit(self, change: Change) -> None:
        for handler in list(self._handlers):
            handler(change)


# Bounded: int() refuses 4,300 digits, and new_id never reaches an id this long anyway.
_ID_NUMBER = re.compile(r"^n(\d{1,18})$")


def _natural_key(node_id: str) -> tuple[Any, ...]:
    """'n2' before 'n10'."""
    return tuple(int(part) if part.isdigit() else part
                 for part in re.split(r"(\d+)", node_id))


class Graph:
    def __init__(self) -> None:
        self._nodes: dict[str, Node] = {}
        # Writes go through the edit methods, so the undo stack and the views hear of them.
        self._nodes_view = MappingProxyType(self._nodes)
        # A dict for its order: lint() names the later of two clashing edges, as listed.
        self._edges: dict[Edge, None] = {}
        self._in: dict[str, dict[int, Edge]] = {}
        self._out: dict[str, set[Edge]] = {}
        self._next_id = 1
        self.changed = Event()

    # ----------------------------------------------------------------- queries
    @property
    def nodes(self) -> Mapping[str, Node]:
        """Every node by id, read-only: edit through the methods below."""
        return self._nodes_view

    @property
    def edges(self) -> list[Edge]:
        return sorted(self._edges)

    def node(self, node_id: str) -> Node:
        try:
            return self._nodes[node_id]
        except KeyError:
            raise GraphEditError(f"there is no node with id {node_id!r}") from None

    def by_name(self, name: str) -> Node:
        for node in self._nodes.values():
            if node.name == name:
                return node
        raise GraphEditError(f"there is no node named {name!r}")

    def inputs_of(self, node_id: str) -> list[Edge]:
        """Edges into a node, ordered by input port."""
        ports = self._in.get(node_id, {})
        return [ports[p] for p in sorted(ports)]

    def outputs_of(self, node_id: str) -> list[Edge]:
        return sorted(self._out.get(node_id, ()))

    def predecessors(self, node_id: str) -> list[str]:
        return [e.src for e in self.inputs_of(node_id)]

    def successors(self, node_id: str) -> list[str]:
        return sorted({e.dst for e in self._out.get(node_id, ())})

    def children(self, group_id: str | None) -> list[Node]:
        """Direct members of a group (None: the top level)."""
        return [n for n in self._nodes.values() if n.parent == group_id]

    def members(self, group_id: str) -> list[Node]:
        """All leaf nodes inside a group, however deeply nested."""
        out: list[Node] = []
        for child in self.children(group_id):
            out.extend(self.members(child.id) if child.is_group else [child])
        return out

    def leaves(self) -> list[Node]:
        """Every node that computes something (groups are only containers)."""
        return [n for n in self._nodes.values() if not n.is_group]

    def ancestors_of(self, node_id: str) -> list[str]:
        """The chain of groups holding a node, innermost first."""
        chain = []
        parent = self.node(node_id).parent
        while parent is not None:
            chain.append(parent)
            parent = self._nodes[parent].parent
        return chain

    def free_port(self, node_id: str) -> int:
        ports = self._in.get(node_id, {})
        port = 0
        while port in ports:
            port += 1
        return port

    def new_id(self) -> str:
        """An id no node has, had, or was reserved (see reserve_ids): ids only grow."""
        while f"n{self._next_id}" in self._nodes:
            self._next_id += 1
        node_id = f"n{self._next_id}"
        self._next_id += 1
        return node_id

    def reserve_ids(self, ids: Iterable[str]) -> None:
        """Never hand out these ids: something kept by block id outside the graph (a
        project's stored weights) still names them, and a new block would inherit it."""
        for node_id in ids:
            self._note_id(node_id)

    def _note_id(self, node_id: str) -> None:
        match = _ID_NUMBER.match(node_id)
        if match:
            self._next_id = max(self._next_id, int(match.group(1)) + 1)

    def unique_name(self, base: str) -> str:
        taken = {n.name for n in self._nodes.values()}
        if base not in taken:
            return base
        stem = re.sub(r"_\d+$", "", base)
        i = 1
        while f"{stem}_{i}" in taken:
            i += 1
        return f"{stem}_{i}"

    # ------------------------------------------------------------------ edits
    def add_node(self, kind: str | Node, name: str | None = None,
                 params: dict[str, Any] | None = None, node_id: str | None = None,
                 parent: str | None = None) -> Node:
        """Add a node (or re-add a Node object, e.g. to undo remove_node)."""
        if isinstance(kind, Node):
            node = copy.deepcopy(kind)
        else:
            node = Node(id=node_id or self.new_id(), kind=kind,
                        name=name or self.unique_name(kind.lower()),
                        params=dict(params or {}), parent=parent)
        if node.id in self._nodes:
            raise GraphEditError(f"node id {node.id!r} is already used by "
                                 f"{self._nodes[node.id].name!r}")
        if node.parent is not None and not self._is_group(node.parent):
            raise GraphEditError(f"{node.parent!r} is not a group")
        clash = next((n for n in self._nodes.values() if n.name == node.name), None)
        if clash is not None:
            raise GraphEditError(f"the name {node.name!r} is already used by another "
                                 f"{clash.kind}")
        self._nodes[node.id] = node
        self._note_id(node.id)
        self.changed.emit(Change(ChangeKind.NODE_ADDED, node.id))
        return node

    def remove_node(self, node_id: str) -> list[Edge]:
        """Remove a node and its edges; returns the edges so undo can restore them."""
        node = self.node(node_id)
        if node.is_group and self.children(node_id):
            raise GraphEditError(f"group {node.name!r} still has members: ungroup it or "
                                 "remove its members first")
        removed = self.inputs_of(node_id) + self.outputs_of(node_id)
        for edge in removed:
            self.disconnect(edge)
        del self._nodes[node_id]
        self.changed.emit(Change(ChangeKind.NODE_REMOVED, node_id))
        return removed

    def connect(self, src: str | Edge, dst: str | None = None, dst_port: int | None = None,
                src_port: int = 0) -> Edge:
        """Join src's output to one of dst's input ports (the first free one by default).
        Cycles are allowed here: analyze() reports them."""
        if isinstance(src, Edge):
            edge = src
        else:
            if dst is None:
                raise GraphEditError("connect needs a destination node")
            port = self.free_port(dst) if dst_port is None else dst_port
            edge = Edge(src=src, dst=dst, dst_port=port, src_port=src_port)
        for end in (edge.src, edge.dst):
            if self.node(end).is_group:
                raise GraphEditError(f"{self._nodes[end].name!r} is a group: connect to "
                                     "the blocks inside it")
        if edge.src == edge.dst:
            raise GraphEditError(f"{self._nodes[edge.src].name!r} cannot feed itself")
        if min(edge.src_port, edge.dst_port) < 0:
            raise GraphEditError(f"ports count from 0; received {edge}")
        taken = self._in.get(edge.dst, {}).get(edge.dst_port)
        if taken is not None:
            raise GraphEditError(
                f"input {edge.dst_port} of {self._nodes[edge.dst].name!r} is already fed by "
                f"{self._nodes[taken.src].name!r}: disconnect it first")
        self._edges[edge] = None
        self._in.setdefault(edge.dst, {})[edge.dst_port] = edge
        self._out.setdefault(edge.src, set()).add(edge)
        self.changed.emit(Change(ChangeKind.EDGE_ADDED, edge.dst, edge=edge))
        return edge

    def disconnect(self, edge: Edge) -> Edge:
        if edge not in self._edges:
            raise GraphEditError(f"there is no connection {edge}")
        del self._edges[edge]
        del self._in[edge.dst][edge.dst_port]
        self._out[edge.src].discard(edge)
        self.changed.emit(Change(ChangeKind.EDGE_REMOVED, edge.dst, edge=edge))
        return edge

    def set_param(self, node_id: str, key: str, value: Any) -> Any:
        """Set (or, with MISSING, unset) one parameter; returns the previous value."""
        node = self.node(node_id)
        old = node.params.get(key, MISSING)
        if value is MISSING:
            node.params.pop(key, None)
        else:
            node.params[key] = copy.deepcopy(value)
        self.changed.emit(Change(ChangeKind.PARAM_CHANGED, node_id, key=key))
        return old

    def rename(self, node_id: str, name: str) -> str:
        node = self.node(node_id)
        name = name.strip()
        if not name:
            raise GraphEditError(f"{node.name!r}: a name cannot be empty")
        clash = next((n for n in self._nodes.values() if n.name == name and n.id != node_id),
                     None)
        if clash is not None:
            raise GraphEditError(f"the name {name!r} is already used by another {clash.kind}")
        old, node.name = node.name, name
        self.changed.emit(Change(ChangeKind.RENAMED, node_id))
        return old

    def set_parent(self, node_id: str, parent: str | None) -> str | None:
        """Move a node into a group (or out to the top level with None)."""
        node = self.node(node_id)
        if parent is not None:
            if not self._is_group(parent):
                raise GraphEditError(f"{parent!r} is not a group")
            if parent == node_id or node_id in self.ancestors_of(parent):
                raise GraphEditError(f"{node.name!r} cannot contain itself")
        old, node.parent = node.parent, parent
        self.changed.emit(Change(ChangeKind.PARENT_CHANGED, node_id))
        return old

    def group(self, node_ids: Iterable[str], name: str | None = None,
              group_id: str | None = None, params: dict[str, Any] | None = None) -> Node:
        """Put nodes into a new group placed where they were (their common parent)."""
        ids = list(dict.fromkeys(node_ids))
        if not ids:
            raise GraphEditError("select at least one block to group")
        parents = {self.node(i).parent for i in ids}
        if len(parents) != 1:
            raise GraphEditError("blocks from different groups cannot be grouped together")
        group = self.add_node(GROUP_KIND, name=name or self.unique_name("group"),
                              node_id=group_id, parent=parents.pop(), params=params)
        for node_id in ids:
            self.set_parent(node_id, group.id)
        return group

    def ungroup(self, group_id: str) -> tuple[Node, list[str]]:
        """Dissolve a group; returns (the group node, its former members) for regrouping."""
        group = self.node(group_id)
        if not group.is_group:
            raise GraphEditError(f"{group.name!r} is not a group")
        snapshot = copy.deepcopy(group)
        members = [n.id for n in self.children(group_id)]
        for node_id in members:
            self.set_parent(node_id, group.parent)
        self.remove_node(group_id)
        return snapshot, members

    def regroup(self, snapshot: Node, members: list[str]) -> Node:
        """The exact inverse of ungroup()."""
        group = self.add_node(snapshot)
        for node_id in members:
            self.set_parent(node_id, group.id)
        return group

    # ------------------------------------------------------------- invariants
    def lint(self) -> list[LintIssue]:
        """Invariant violations, each naming the node or edge it is about; an empty list
        means the graph is sound. The edit methods keep these; a loaded file may not."""
        return self._lint_nodes() + self._lint_edges()

    def _lint_nodes(self) -> list[LintIssue]:
        issues: list[LintIssue] = []
        named: dict[str, Node] = {}
        for key, node in self._nodes.items():
            if key != node.id:
                issues.append(LintIssue(f"node stored under {key!r} has id {node.id!r}",
                                        node_id=key, field="id"))
            first = named.setdefault(node.name, node)
            if first is not node:
                issues.append(LintIssue(
                    f"the name {node.name!r} is used more than once ({first.id!r} and "
                    f"{node.id!r}): give each block its own name", node_id=node.id,
                    field="name"))
            wrong = self._parent_problem(node)
            if wrong:
                issues.append(LintIssue(wrong, node_id=node.id, field="parent"))
        return issues

    def _parent_problem(self, node: Node) -> str:
        if node.parent is None:
            return ""
        parent = self._nodes.get(node.parent)
        if parent is None:
            return (f"{node.name!r} belongs to missing group {node.parent!r}: no block has "
                    "that id; name a group's id or leave the parent out")
        if not parent.is_group:
            return (f"{node.name!r} belongs to {node.parent!r}, not a group (it is the "
                    f"{parent.kind} {parent.name!r}); name a group's id or leave the "
                    "parent out")
        seen = {node.id}
        up: str | None = node.parent
        while up is not None and up in self._nodes:
            if up in seen:
                return (f"group membership of {node.name!r} loops back on itself (through "
                        f"{up!r}); a group cannot be inside its own members")
            seen.add(up)
            up = self._nodes[up].parent
        return ""

    def _lint_edges(self) -> list[LintIssue]:
        issues: list[LintIssue] = []
        fed: dict[tuple[str, int], Edge] = {}
        for edge in self._edges:
            for end, side in ((edge.src, "src"), (edge.dst, "dst")):
                node = self._nodes.get(end)
                if node is None:
                    issues.append(LintIssue(f"edge {edge} dangles: no node {end!r}",
                                            edge=edge, field=side))
                elif node.is_group:
                    issues.append(LintIssue(
                        f"edge {edge} ends on group {end!r} ({node.name!r}): connect the "
                        "blocks inside it", edge=edge, field=side))
            if edge.src == edge.dst:
                issues.append(LintIssue(f"edge {edge}: {edge.src!r} feeds itself",
                                        edge=edge))
            for side, port in (("src_port", edge.src_port), ("dst_port", edge.dst_port)):
                if port < 0:
                    issues.append(LintIssue(f"edge {edge}: {side} is {port}; ports count "
                                            "from 0", edge=edge, field=side))
            first = fed.setdefault((edge.dst, edge.dst_port), edge)
            if first is not edge:
                issues.append(LintIssue(
                    f"input {edge.dst_port} of {edge.dst!r} has two edges (from "
                    f"{first.src!r} and {edge.src!r}): remove one or use another port",
                    edge=edge, field="dst_port"))
            if edge not in self._out.get(edge.src, set()):
                issues.append(LintIssue(f"edge {edge} missing from the output index",
                                        edge=edge))
        indexed = {e for d in self._in.values() for e in d.values()}
        # Of two edges into one port the index holds one: the clash above says it all.
        clashed = {e for e in self._edges if fed[(e.dst, e.dst_port)] != e}
        clashed |= {fed[(e.dst, e.dst_port)] for e in clashed}
        for edge in sorted(set(self._edges) - indexed - clashed):
            issues.append(LintIssue(f"edge {edge} missing from the input index", edge=edge))
        if indexed - set(self._edges):
            issues.append(LintIssue("the input index holds edges the graph does not"))
        return issues

    # ------------------------------------------------------------ persistence
    def to_json(self) -> dict[str, Any]:
        """Nodes in id order, so a document does not depend on the edit history
        (undoing a removal re-adds a node last)."""
        nodes = sorted(self._nodes.values(), key=lambda n: _natural_key(n.id))
        return {"nodes": [n.to_json() for n in nodes],
                "edges": [e.to_json() for e in self.edges]}

    def copy(self) -> Graph:
        """An equal graph that also will not hand out the ids this one used or reserved."""
        twin = Graph.from_json(self.to_json())
        twin._next_id = max(twin._next_id, self._next_id)
        return twin

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Graph:
        """Build from already-validated JSON (project.py checks documents first)."""
        graph = cls()
        for item in data.get("nodes", []):
            node = Node(id=item["id"], kind=item["kind"], name=item["name"],
                        params=copy.deepcopy(item.get("params", {})),
                        parent=item.get("parent"))
            graph._nodes[node.id] = node
            graph._note_id(node.id)
        for item in data.get("edges", []):
            edge = Edge.from_json(item)
            graph._edges[edge] = None
            graph._in.setdefault(edge.dst, {})[edge.dst_port] = edge
            graph._out.setdefault(edge.src, set()).add(edge)
        return graph

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Graph):
            return NotImplemented
        return self._nodes == other._nodes and self._edges == other._edges

    __hash__ = None  # type: ignore[assignment]

    def _is_group(self, node_id: str) -> bool:
        return node_id in self._nodes and self._nodes[node_id].is_group
