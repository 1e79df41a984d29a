"""Every user edit as one undoable command (DESIGN.md rule 2).

A Command is an ordered list of steps (steps.py) that call the engine's edit methods; a
compound edit (delete a selection, insert on an edge, paste) is one command, so one undo.
``Document.push``-style use: ``execute(doc, command)`` applies the steps once, rolls back and
reports the engine's message if one is refused, and only then puts the command on the stack.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtGui import QUndoCommand

from designer import steps
from designer.document import Document, Point
from engine.graph import Edge, GraphEditError, Node
from engine.layers import REGISTRY

PARAM_MERGE_ID = 1001
POSITION_MERGE_ID = 1002
SETTING_MERGE_ID = 1003


class Command(QUndoCommand):
    def __init__(self, doc: Document, text: str, step_list: Iterable[steps.Step] = (),
                 merge_key: Any = None) -> None:
        super().__init__(text)
        # The stack (a child of the Document) owns this command on the C++ side; a strong
        # Python reference back would make a cycle that the garbage collector frees in an
        # order that crashes PySide (the Document's C++ side deleted first).
        self._doc = weakref.ref(doc)
        self.steps: list[steps.Step] = list(step_list)
        self.merge_key = merge_key
        self._applied = False

    @property
    def doc(self) -> Document:
        doc = self._doc()
        assert doc is not None, "a command outlived its document"
        return doc

    def apply_first(self) -> None:
        """Apply the steps one by one; on a refusal revert those done and re-raise."""
        done: list[steps.Step] = []
        try:
            for step in self.steps:
                step.apply(self.doc)
                done.append(step)
        except GraphEditError:
            for step in reversed(done):
                step.revert(self.doc)
            raise
        self._applied = True

    def redo(self) -> None:
        if self._applied:  # already applied by execute(); QUndoStack.push calls redo once
            self._applied = False
            return
        for step in self.steps:
            step.apply(self.doc)

    def undo(self) -> None:
        for step in reversed(self.steps):
            step.revert(self.doc)

    def id(self) -> int:
        if self.merge_key is None:
            return -1
        return {"param": PARAM_MERGE_ID, "setting": SETTING_MERGE_ID}.get(
            self.merge_key[0], POSITION_MERGE_ID)

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 (Qt's name)
        if not isinstance(other, Command) or other.merge_key != self.merge_key:
            return False
        # Typing "40" into a spin box is one step, not "4" then "40".
        self.steps.extend(other.steps)
        return True


def execute(doc: Document, command: Command) -> bool:
    """Apply and record a command; a refused edit becomes a status-bar message."""
    try:
        command.apply_first()
    except GraphEditError as err:
        doc.message.emit(str(err))
        return False
    doc.undo_stack.push(command)
    return True


# ------------------------------------------------------------------ factories
def _count(n: int, word: str = "block") -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def new_node(doc: Document, kind: str, name: str | None = None,
             params: dict[str, Any] | None = None, parent: str | None = None) -> Node:
    """A node with a fresh id and unique name, not yet in the graph."""
    base = name or _default_name(kind)
    return Node(id=doc.graph.new_id(), kind=kind, name=doc.graph.unique_name(base),
                params=dict(params or {}), parent=parent)


def _default_name(kind: str) -> str:
    return kind.lower().replace("2d", "")


def add_block(doc: Document, kind: str, pos: Point, params: dict[str, Any] | None = None,
              name: str | None = None) -> Command:
    node = new_node(doc, kind, name, params)
    return Command(doc, f"Add {kind} {node.name}", [steps.AddNode(node, pos)])


def insert_on_edge(doc: Document, kind: str, pos: Point, edge: Edge) -> Command:
    """A new block between an edge's two ends (drop onto an edge)."""
    node = new_node(doc, kind)
    src, dst = doc.label(edge.src), doc.label(edge.dst)
    return Command(doc, f"Insert {node.name} between {src} and {dst}", [
        steps.AddNode(node, pos),
        steps.Disconnect(edge),
        steps.Connect(edge.src, node.id, 0),
        steps.Connect(node.id, edge.dst, edge.dst_port),
    ])


def insert_existing(doc: Document, node_id: str, pos: Point, edge: Edge) -> Command:
    """Move an unconnected block onto an edge: it is spliced in."""
    name = doc.label(node_id)
    return Command(doc, f"Insert {name} between {doc.label(edge.src)} and "
                        f"{doc.label(edge.dst)}", [
        steps.Move({node_id: pos}),
        steps.Disconnect(edge),
        steps.Connect(edge.src, node_id, 0),
        steps.Connect(node_id, edge.dst, edge.dst_port),
    ])


def connect(doc: Document, src: str, dst: str) -> Command:
    kind = doc.graph.nodes[dst].kind
    port = doc.graph.free_port(dst) if kind in REGISTRY and REGISTRY.get(
        kind).arity is None else 0
    return Command(doc, f"Connect {doc.label(src)} → {doc.label(dst)}",
                   [steps.Connect(src, dst, port)])


def disconnect(doc: Document, edges: Iterable[Edge]) -> Command:
    edges = sorted(set(edges))
    if len(edges) == 1:
        text = f"Disconnect {doc.label(edges[0].src)} → {doc.label(edges[0].dst)}"
    else:
        text = f"Disconnect {_count(len(edges), 'connection')}"
    return Command(doc, text, [steps.Disconnect(e) for e in edges])


def delete(doc: Document, ids: Iterable[str], edges: Iterable[Edge] = ()) -> Command:
    """Remove blocks (groups with everything inside) and connections as one step."""
    graph = doc.graph
    doomed: list[str] = []
    for node_id in dict.fromkeys(ids):
        if node_id not in graph.nodes or node_id in doomed:
            continue
        doomed.extend(_subtree(doc, node_id))
    doomed = list(dict.fromkeys(doomed))
    leaf_ids = [i for i in doomed if not graph.nodes[i].is_group]
    gone_edges = {e for i in leaf_ids for e in graph.inputs_of(i) + graph.outputs_of(i)}
    gone_edges |= set(edges)
    step_list: list[steps.Step] = [steps.Disconnect(e) for e in sorted(gone_edges)]
    # Members before their groups: a group can only be removed once it is empty.
    depth = {i: len(graph.ancestors_of(i)) for i in doomed}
    for node_id in sorted(doomed, key=lambda i: -depth[i]):
        step_list.append(steps.RemoveNode(node_id))
    names = [doc.label(i) for i in doomed if graph.nodes[i].parent not in doomed]
    if len(names) == 1:
        text = f"Delete {names[0]}"
    elif names:
        text = f"Delete {_count(len(names))}"
    else:
        text = f"Delete {_count(len(gone_edges), 'connection')}"
    return Command(doc, text, step_list)


def _subtree(doc: Document, node_id: str) -> list[str]:
    out = [node_id]
    for child in doc.graph.children(node_id):
        out.extend(_subtree(doc, child.id))
    return out


def set_param(doc: Document, node_id: str, key: str, value: Any) -> Command:
    text = f"Set {doc.label(node_id)} {key} to {_short(value)}"
    return Command(doc, text, [steps.SetParam(node_id, key, value)],
                   merge_key=("param", node_id, key))


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 24 else text[:23] + "…"


def rename(doc: Document, node_id: str, name: str) -> Command:
    return Command(doc, f"Rename {doc.label(node_id)} to {name.strip()}",
                   [steps.Rename(node_id, name)])


def move(doc: Document, positions: dict[str, Point]) -> Command:
    names = [doc.label(i) for i in positions]
    text = f"Move {names[0]}" if len(names) == 1 else f"Move {_count(len(names))}"
    return Command(doc, text, [steps.Move(positions)])


def group(doc: Document, ids: Iterable[str], name: str | None,
          size: tuple[float, float]) -> Command:
    """Group blocks into one collapsed unit placed where they were."""
    ids = list(dict.fromkeys(ids))
    group_step = steps.Group(ids, name or doc.graph.unique_name("group"))
    cmd = Command(doc, f"Group {_count(len(ids))}", [group_step])
    # The group's id is known once applied: position and collapse follow as steps then.
    cmd.steps.append(_Deferred(lambda: steps.Move(
        {group_step.group_id: _centre_of(doc, ids, size)})))
    cmd.steps.append(_Deferred(lambda: steps.Collapse(group_step.group_id, True)))
    return cmd


class _Deferred(steps.Step):
    """A step built when first applied (it needs an id an earlier step created)."""

    def __init__(self, make: Callable[[], steps.Step]) -> None:
        self.make = make
        self.step: steps.Step | None = None

    def apply(self, doc: Document) -> None:
        if self.step is None:
            self.step = self.make()
        self.step.apply(doc)

    def revert(self, doc: Document) -> None:
        assert self.step is not None
        self.step.revert(doc)


def _centre_of(doc: Document, ids: list[str], size: tuple[float, float]) -> Point:
    points = [doc.position(i) for i in _leaves_and_groups(doc, ids)]
    points = [p for p in points if p is not None]
    if not points:
        return (0.0, 0.0)
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return ((min(xs) + max(xs)) / 2, min(ys))


def _leaves_and_groups(doc: Document, ids: list[str]) -> list[str]:
    out: list[str] = []
    for node_id in ids:
        out.extend(_subtree(doc, node_id))
    return out


def ungroup(doc: Document, group_id: str) -> Command:
    return Command(doc, f"Ungroup {doc.label(group_id)}", [steps.Ungroup(group_id)])


def set_collapsed(doc: Document, group_id: str, flag: bool,
                  shifts: dict[str, Point] | None = None) -> Command:
    """Collapse or expand a group in place; ``shifts`` moves blocks to make or give back
    room, in the same step."""
    verb = "Collapse" if flag else "Expand"
    step_list: list[steps.Step] = [steps.Collapse(group_id, flag)]
    if shifts:
        step_list.append(steps.Move(shifts))
    return Command(doc, f"{verb} {doc.label(group_id)}", step_list)


def arrange(doc: Document, positions: dict[str, Point], direction: str) -> Command:
    word = "top to bottom" if direction == "TB" else "left to right"
    return Command(doc, f"Auto-arrange {word}",
                   [steps.SetUi("direction", direction), steps.Move(positions)])


def set_setting(doc: Document, section: str, key: str, value: Any) -> Command:
    """Typing a learning rate digit by digit merges into one undo step."""
    return Command(doc, f"Set {section}.{key} to {_short(value)}",
                   [steps.SetSetting(section, key, value)],
                   merge_key=("setting", section, key))


def set_settings(doc: Document, text: str, values: dict[tuple[str, str], Any]) -> Command:
    """Several settings as one step (e.g. choosing a dataset resets its validation source)."""
    return Command(doc, text, [steps.SetSetting(section, key, value)
                               for (section, key), value in values.items()])


def apply_fix(doc: Document, fix: Any) -> Command:
    """A problem's fix (engine.validate.Fix): parameter edits or accepting the data's shape,
    as one step."""
    step_list: list[steps.Step] = [steps.SetParam(e.node_id, e.key, e.value)
                                   for e in fix.edits]
    if fix.ui_value is not None:
        from engine.data_fit import ACCEPT_KEY

        step_list.append(steps.SetUi(ACCEPT_KEY, list(fix.ui_value)))
    return Command(doc, fix.label, step_list)


def set_info(doc: Document, key: str, value: str) -> Command:
    """The project's name or description; typing it is one undo step."""
    return Command(doc, f"Set the project's {key}", [steps.SetInfo(key, value)],
                   merge_key=("setting", "info", key))


def set_weights(doc: Document, section: dict[str, Any], text: str) -> Command:
    return Command(doc, text, [steps.SetWeights(section)])
