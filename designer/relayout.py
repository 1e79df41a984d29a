"""Laying the network out again after an edit that changes its shape on the canvas (group,
ungroup, expand, collapse, insert on a connection, a block added where another stands), so
that no gap, overlap or S-shaped edge is left behind.

The layout is engine/layout.py's, given the blocks' current places as hints (the order
across the flow stays what the user sees) and pinned at an anchor block that keeps its
place, so the view does not jump. As a step it is part of the edit's command: one undo
takes both back. Pasted blocks are not laid out with the rest: they go beside their
originals, where nothing stands.
"""

from __future__ import annotations

from collections.abc import Callable

from designer import steps
from designer.canvas.items import BLOCK_H, BLOCK_W, LAYOUT_GAP
from designer.document import Document, Point
from engine.layout import arrange

MOVED = 0.5  # pixels: less is no move


def laid_out(doc: Document, anchor: str | None) -> dict[str, Point]:
    """New positions (only those that change) with ``anchor`` where it is now."""
    graph = doc.graph
    hint = {k: p for k in graph.nodes if (p := doc.position(k)) is not None}
    laid = arrange(graph, doc.collapsed, (BLOCK_W, BLOCK_H), doc.direction, LAYOUT_GAP,
                   hint=hint)
    dx = dy = 0.0
    if anchor is not None and anchor in laid and anchor in hint:
        dx = hint[anchor][0] - laid[anchor][0]
        dy = hint[anchor][1] - laid[anchor][1]
    out = {}
    for node_id, (x, y) in laid.items():
        new = (round(x + dx, 2), round(y + dy, 2))
        old = hint.get(node_id)
        if old is None or abs(old[0] - new[0]) > MOVED or abs(old[1] - new[1]) > MOVED:
            out[node_id] = new
    return out


def visible_anchor(doc: Document, around: str) -> str | None:
    """The block to pin when the shape of ``around`` (a group) changes: the block feeding
    it as shown on the canvas, else the one it feeds, else itself."""
    graph = doc.graph
    inside = {around}
    if around in graph.nodes and graph.nodes[around].is_group:
        inside |= {m.id for m in graph.members(around)}
    for node_id in inside:
        for edge in graph.inputs_of(node_id) if node_id in graph.nodes else ():
            if edge.src not in inside:
                return doc.visible_owner(edge.src)
    for node_id in inside:
        for edge in graph.outputs_of(node_id) if node_id in graph.nodes else ():
            if edge.dst not in inside:
                return doc.visible_owner(edge.dst)
    return around if around in graph.nodes else None


class Relayout(steps.Step):
    """Lay out again once the steps before it are applied; the moves it made are what
    redo repeats and undo takes back."""

    def __init__(self, anchor: str | Callable[[], str | None] | None) -> None:
        self.anchor = anchor
        self.move: steps.Move | None = None

    def apply(self, doc: Document) -> None:
        if self.move is None:
            anchor = self.anchor() if callable(self.anchor) else self.anchor
            self.move = steps.Move(laid_out(doc, anchor))
        self.move.apply(doc)

    def revert(self, doc: Document) -> None:
        assert self.move is not None
        self.move.revert(doc)


def free_offset(doc: Document, frag: dict, gap: float = LAYOUT_GAP[0]) -> Point:
    """Where a pasted fragment goes: beside its originals (to the right, or below in a
    left-to-right layout), moved on until nothing shown stands there."""
    boxes = _fragment_boxes(frag)
    if not boxes:
        return (gap, gap)
    left = min(b[0] for b in boxes)
    top = min(b[1] for b in boxes)
    right = max(b[2] for b in boxes)
    bottom = max(b[3] for b in boxes)
    lr = doc.direction == "LR"
    step = (0.0, bottom - top + gap) if lr else (right - left + gap, 0.0)
    taken = _shown_boxes(doc)
    offset = step
    for _ in range(200):
        moved = [(b[0] + offset[0], b[1] + offset[1], b[2] + offset[0], b[3] + offset[1])
                 for b in boxes]
        if not any(_overlap(a, b) for a in moved for b in taken):
            return offset
        offset = (offset[0] + step[0], offset[1] + step[1])
    return offset


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _fragment_boxes(frag: dict) -> list[tuple[float, float, float, float]]:
    """The boxes a fragment shows: blocks outside collapsed groups, collapsed groups."""
    nodes = {n["id"]: n for n in frag.get("nodes", [])}
    collapsed = set(frag.get("collapsed", []))
    positions = frag.get("positions", {})
    groups = {n.get("parent") for n in nodes.values() if n.get("parent")}
    out = []
    for node_id, node in nodes.items():
        parent, hidden = node.get("parent"), False
        while parent in nodes:
            hidden = hidden or parent in collapsed
            parent = nodes[parent].get("parent")
        shown = node_id in collapsed or node_id not in groups
        pos = positions.get(node_id)
        if shown and not hidden and pos is not None:
            out.append((pos[0], pos[1], pos[0] + BLOCK_W, pos[1] + BLOCK_H))
    return out


def _shown_boxes(doc: Document) -> list[tuple[float, float, float, float]]:
    out = []
    for node_id, node in doc.graph.nodes.items():
        if doc.visible_owner(node_id) != node_id:
            continue
        if node.is_group and not doc.is_collapsed(node_id):
            continue
        pos = doc.position(node_id)
        if pos is not None:
            out.append((pos[0], pos[1], pos[0] + BLOCK_W, pos[1] + BLOCK_H))
    return out
