"""The smallest reversible edits, each calling only the engine's public edit methods or the
document's ui setters. Commands (commands.py) are ordered lists of steps; a step records what
it needs to revert itself when it is applied, so redo after undo repeats it exactly."""

from __future__ import annotations

import copy
from typing import Any

from designer.document import ABSENT, Document, Point
from engine.graph import Edge, Node


class Step:
    def apply(self, doc: Document) -> None:
        raise NotImplementedError

    def revert(self, doc: Document) -> None:
        raise NotImplementedError


class AddNode(Step):
    def __init__(self, node: Node, pos: Point | None = None, collapsed: bool = False) -> None:
        self.node = copy.deepcopy(node)
        self.pos = pos
        self.collapsed = collapsed

    def apply(self, doc: Document) -> None:
        doc.graph.add_node(self.node)
        if self.pos is not None:
            doc.set_positions({self.node.id: self.pos})
        if self.collapsed:
            doc.set_collapsed(self.node.id, True)

    def revert(self, doc: Document) -> None:
        doc.graph.remove_node(self.node.id)
        doc.set_positions({self.node.id: None})


class RemoveNode(Step):
    """Remove a block (with any edges still attached) or an empty group."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.snapshot: Node | None = None
        self.edges: list[Edge] = []
        self.pos: Point | None = None
        self.collapsed = False

    def apply(self, doc: Document) -> None:
        self.snapshot = copy.deepcopy(doc.graph.node(self.node_id))
        self.pos = doc.position(self.node_id)
        self.collapsed = doc.is_collapsed(self.node_id)
        self.edges = doc.graph.remove_node(self.node_id)
        doc.set_positions({self.node_id: None})

    def revert(self, doc: Document) -> None:
        assert self.snapshot is not None
        doc.graph.add_node(self.snapshot)
        for edge in self.edges:
            doc.graph.connect(edge)
        doc.set_positions({self.node_id: self.pos})
        if self.collapsed:
            doc.set_collapsed(self.node_id, True)


class Connect(Step):
    def __init__(self, src: str, dst: str, dst_port: int | None = None) -> None:
        self.src, self.dst, self.dst_port = src, dst, dst_port
        self.edge: Edge | None = None

    def apply(self, doc: Document) -> None:
        if self.edge is None:
            self.edge = doc.graph.connect(self.src, self.dst, self.dst_port)
        else:
            doc.graph.connect(self.edge)

    def revert(self, doc: Document) -> None:
        assert self.edge is not None
        doc.graph.disconnect(self.edge)


class Disconnect(Step):
    def __init__(self, edge: Edge) -> None:
        self.edge = edge

    def apply(self, doc: Document) -> None:
        doc.graph.disconnect(self.edge)

    def revert(self, doc: Document) -> None:
        doc.graph.connect(self.edge)


class SetParam(Step):
    def __init__(self, node_id: str, key: str, value: Any) -> None:
        self.node_id, self.key, self.value = node_id, key, copy.deepcopy(value)
        self.old: Any = None

    def apply(self, doc: Document) -> None:
        self.old = doc.graph.set_param(self.node_id, self.key, self.value)

    def revert(self, doc: Document) -> None:
        doc.graph.set_param(self.node_id, self.key, self.old)


class Rename(Step):
    def __init__(self, node_id: str, name: str) -> None:
        self.node_id, self.name = node_id, name
        self.old = ""

    def apply(self, doc: Document) -> None:
        self.old = doc.graph.rename(self.node_id, self.name)

    def revert(self, doc: Document) -> None:
        doc.graph.rename(self.node_id, self.old)


class SetParent(Step):
    def __init__(self, node_id: str, parent: str | None) -> None:
        self.node_id, self.parent = node_id, parent
        self.old: str | None = None

    def apply(self, doc: Document) -> None:
        self.old = doc.graph.set_parent(self.node_id, self.parent)

    def revert(self, doc: Document) -> None:
        doc.graph.set_parent(self.node_id, self.old)


class Group(Step):
    def __init__(self, ids: list[str], name: str | None) -> None:
        self.ids, self.name = list(ids), name
        self.snapshot: Node | None = None
        self.members: list[str] = []

    @property
    def group_id(self) -> str:
        assert self.snapshot is not None
        return self.snapshot.id

    def apply(self, doc: Document) -> None:
        if self.snapshot is None:
            group = doc.graph.group(self.ids, self.name)
            self.snapshot = copy.deepcopy(group)
            self.members = [n.id for n in doc.graph.children(group.id)]
        else:
            doc.graph.regroup(self.snapshot, self.members)

    def revert(self, doc: Document) -> None:
        doc.graph.ungroup(self.group_id)


class Ungroup(Step):
    def __init__(self, group_id: str) -> None:
        self.group_id = group_id
        self.snapshot: Node | None = None
        self.members: list[str] = []
        self.pos: Point | None = None
        self.collapsed = False

    def apply(self, doc: Document) -> None:
        self.pos = doc.position(self.group_id)
        self.collapsed = doc.is_collapsed(self.group_id)
        self.snapshot, self.members = doc.graph.ungroup(self.group_id)
        doc.set_positions({self.group_id: None})

    def revert(self, doc: Document) -> None:
        assert self.snapshot is not None
        doc.graph.regroup(self.snapshot, self.members)
        doc.set_positions({self.group_id: self.pos})
        if self.collapsed:
            doc.set_collapsed(self.group_id, True)


class Move(Step):
    def __init__(self, positions: dict[str, Point | None]) -> None:
        self.positions = dict(positions)
        self.old: dict[str, Point | None] = {}

    def apply(self, doc: Document) -> None:
        self.old = doc.set_positions(self.positions)

    def revert(self, doc: Document) -> None:
        doc.set_positions(self.old)


class Collapse(Step):
    def __init__(self, group_id: str, flag: bool) -> None:
        self.group_id, self.flag = group_id, flag
        self.old = False

    def apply(self, doc: Document) -> None:
        self.old = doc.set_collapsed(self.group_id, self.flag)

    def revert(self, doc: Document) -> None:
        doc.set_collapsed(self.group_id, self.old)


class SetUi(Step):
    """A ui setting kept in the project file (e.g. the layout direction)."""

    def __init__(self, key: str, value: Any) -> None:
        self.key, self.value = key, value
        self.old: Any = None
        self.had = False

    def apply(self, doc: Document) -> None:
        self.had = self.key in doc.project.ui
        self.old = doc.project.ui.get(self.key)
        doc.set_ui(self.key, self.value)

    def revert(self, doc: Document) -> None:
        doc.set_ui(self.key, self.old if self.had else None)


class SetSetting(Step):
    """One data, augmentation or training setting (engine/settings.py) of the project."""

    def __init__(self, section: str, key: str, value: Any) -> None:
        self.section, self.key = section, key
        self.value = value if value is ABSENT else copy.deepcopy(value)
        self.old: Any = None

    def apply(self, doc: Document) -> None:
        self.old = doc.set_setting(self.section, self.key, self.value)

    def revert(self, doc: Document) -> None:
        doc.set_setting(self.section, self.key, self.old)


class SetWeights(Step):
    """The project's weights section: which file holds which blocks' stored tensors."""

    def __init__(self, section: dict[str, Any]) -> None:
        self.section = copy.deepcopy(section)
        self.old: dict[str, Any] = {}

    def apply(self, doc: Document) -> None:
        self.old = doc.set_weights(self.section)

    def revert(self, doc: Document) -> None:
        doc.set_weights(self.old)


class ClearParam(Step):
    """Remove a parameter, so its default applies again (SetParam copies its value, and a
    copy of engine.graph.MISSING is no longer MISSING)."""

    def __init__(self, node_id: str, key: str) -> None:
        self.node_id, self.key = node_id, key
        self.old: Any = None

    def apply(self, doc: Document) -> None:
        from engine.graph import MISSING

        self.old = doc.graph.set_param(self.node_id, self.key, MISSING)

    def revert(self, doc: Document) -> None:
        doc.graph.set_param(self.node_id, self.key, self.old)


class SetInfo(Step):
    """The project's name or description."""

    def __init__(self, key: str, value: str) -> None:
        self.key, self.value = key, value
        self.old = ""

    def apply(self, doc: Document) -> None:
        self.old = doc.set_info(self.key, self.value)

    def revert(self, doc: Document) -> None:
        doc.set_info(self.key, self.old)
