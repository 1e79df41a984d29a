"""Mouse gestures on the canvas, one object each (as orange-canvas-core's interactions).

The scene forwards press/move/release to the active interaction; an interaction ends by
pushing one command (or none). New gestures are new classes, not new branches in one
mousePressEvent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QPainterPath, QPen, QTransform
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsSceneMouseEvent

from designer import commands, theme
from designer.canvas.edges import EdgeItem, edge_path
from designer.canvas.items import BlockItem, GroupFrameItem
from engine.layers import REGISTRY

if TYPE_CHECKING:
    from designer.canvas.scene import CanvasScene

GRID = 10.0
DRAG_START = 3.0  # pixels before a press becomes a drag


def _transform(event: QGraphicsSceneMouseEvent) -> QTransform:
    widget = event.widget()
    view = widget.parent() if widget is not None else None
    return view.transform() if view is not None else QTransform()


def start(scene: CanvasScene, event: QGraphicsSceneMouseEvent) -> Interaction | None:
    """The interaction a left press begins, or None to let the view rubber-band select."""
    if event.button() != Qt.MouseButton.LeftButton:
        return None
    pos = event.scenePos()
    item = scene.block_at(pos, _transform(event))
    if isinstance(item, BlockItem):
        port = item.port_at(item.mapFromScene(pos))
        if port is not None:
            return NewLink(scene, item, port)
        return MoveSelection(scene, item, event)
    if isinstance(item, GroupFrameItem):
        if item.toggle_rect().contains(pos):
            scene.group_toggle_requested.emit(item.node_id)
            return Interaction(scene)
        return MoveSelection(scene, item, event)
    if isinstance(item, EdgeItem):
        _select(scene, item, event.modifiers())
        return Interaction(scene)
    return None


def _select(scene: CanvasScene, item, modifiers) -> None:
    additive = modifiers & (Qt.KeyboardModifier.ShiftModifier
                            | Qt.KeyboardModifier.ControlModifier)
    if additive:
        item.setSelected(not item.isSelected())
    elif not item.isSelected():
        scene.clearSelection()
        item.setSelected(True)


class Interaction:
    """A gesture that does nothing (a click that only selects)."""

    def __init__(self, scene: CanvasScene) -> None:
        self.scene = scene

    def move(self, event: QGraphicsSceneMouseEvent) -> None:
        pass

    def release(self, event: QGraphicsSceneMouseEvent) -> None:
        pass

    def cancel(self) -> None:
        pass


class MoveSelection(Interaction):
    """Drag the selected blocks; groups move with everything inside them. Dropping a lone,
    unconnected block onto an edge inserts it there."""

    def __init__(self, scene: CanvasScene, item, event: QGraphicsSceneMouseEvent) -> None:
        super().__init__(scene)
        self.item = item
        self.was_selected = item.isSelected()
        self.modifiers = event.modifiers()
        _select(scene, item, event.modifiers())
        self.press = event.scenePos()
        self.screen_press = event.screenPos()
        self.dragging = False
        self.start: dict[str, tuple[float, float]] = {}
        doc = scene.doc
        for selected in scene.selectedItems():
            if isinstance(selected, BlockItem | GroupFrameItem):
                for node_id in _with_descendants(scene, selected.node_id):
                    pos = doc.position(node_id)
                    if pos is None and node_id in scene.blocks:
                        p = scene.blocks[node_id].pos()
                        pos = (p.x(), p.y())
                    if pos is not None:
                        self.start[node_id] = pos

    def _delta(self, event: QGraphicsSceneMouseEvent) -> QPointF:
        d = event.scenePos() - self.press
        return QPointF(round(d.x() / GRID) * GRID, round(d.y() / GRID) * GRID)

    def move(self, event: QGraphicsSceneMouseEvent) -> None:
        if not self.dragging:
            moved = event.screenPos() - self.screen_press
            if abs(moved.x()) + abs(moved.y()) < DRAG_START:
                return
            self.dragging = True
        delta = self._delta(event)
        scene = self.scene
        for node_id, (x, y) in self.start.items():
            item = scene.blocks.get(node_id)
            if item is not None:
                item.setPos(x + delta.x(), y + delta.y())
        owners = {scene.owner.get(i, i) for i in self.start}
        scene.update_frames()
        scene.adjust_edges([e for edge, e in scene.edges.items()
                            if scene.owner.get(edge.src) in owners
                            or scene.owner.get(edge.dst) in owners])

    def release(self, event: QGraphicsSceneMouseEvent) -> None:
        scene = self.scene
        if not self.dragging:
            additive = self.modifiers & (Qt.KeyboardModifier.ShiftModifier
                                         | Qt.KeyboardModifier.ControlModifier)
            if self.was_selected and not additive:  # a click on a selected block
                scene.select_ids([self.item.node_id])
            return
        delta = self._delta(event)
        positions = {i: (x + delta.x(), y + delta.y()) for i, (x, y) in self.start.items()}
        if delta.isNull():
            return
        doc = scene.doc
        cmd = self._insert_command(positions) or commands.move(doc, positions)
        if not commands.execute(doc, cmd):
            scene._place(set(self.start))

    def _insert_command(self, positions) -> commands.Command | None:
        scene, doc = self.scene, self.scene.doc
        if len(positions) != 1 or not isinstance(self.item, BlockItem) or self.item.is_group:
            return None
        node_id = self.item.node_id
        if doc.graph.inputs_of(node_id) or doc.graph.outputs_of(node_id):
            return None
        centre = self.item.sceneBoundingRect().center()
        edge_item = scene.edge_at(centre, QTransform())
        if edge_item is None:
            return None
        from designer.relayout import Relayout

        cmd = commands.insert_existing(doc, node_id, positions[node_id], edge_item.edge)
        cmd.steps.append(Relayout(doc.visible_owner(edge_item.edge.src)))
        return cmd

    def cancel(self) -> None:
        self.scene._place(set(self.start))


def _with_descendants(scene: CanvasScene, node_id: str) -> list[str]:
    graph = scene.doc.graph
    out = [node_id]
    for child in graph.children(node_id):
        out.extend(_with_descendants(scene, child.id))
    return out


class NewLink(Interaction):
    """Drag from an output port to a block's input (or from an input to an output)."""

    def __init__(self, scene: CanvasScene, item: BlockItem, port: str) -> None:
        super().__init__(scene)
        self.item = item
        self.port = port
        self.anchor = item.scene_port(port)
        self.line = QGraphicsPathItem()
        pen = QPen(theme.colors().accent, 2, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self.line.setPen(pen)
        self.line.setZValue(10)
        scene.addItem(self.line)
        self._draw(self.anchor)

    def _draw(self, pos: QPointF) -> None:
        direction = self.scene.doc.direction
        if self.port == "out":
            path = edge_path(self.anchor, pos, direction)
        else:
            path = edge_path(pos, self.anchor, direction)
        self.line.setPath(path if not path.isEmpty() else QPainterPath(self.anchor))

    def move(self, event: QGraphicsSceneMouseEvent) -> None:
        self._draw(event.scenePos())

    def release(self, event: QGraphicsSceneMouseEvent) -> None:
        self.cancel()
        scene = self.scene
        target = None
        for item in scene.items(event.scenePos(), Qt.ItemSelectionMode.IntersectsItemShape,
                                Qt.SortOrder.DescendingOrder, _transform(event)):
            if isinstance(item, BlockItem) and item.isVisible() and item is not self.item:
                target = item
                break
        if target is None:
            return
        doc = scene.doc
        if self.port == "out":
            src, dst = self.item.node_id, target.node_id
        else:
            src, dst = target.node_id, self.item.node_id
        # Why a connection is refused is said beside the port it was dropped on, where the
        # eyes are, as well as in the status bar.
        where = target.scene_port("in" if self.port == "out" else "out")
        src = group_exit(scene, src)
        dst = group_entry(scene, dst)
        if src is None or dst is None:
            text = "expand the group to choose which block inside it to connect"
            doc.message.emit(text)
            scene.refused_at(where, text)
            return
        said: list[str] = []
        doc.message.connect(said.append)
        try:
            ok = commands.execute(doc, commands.connect(doc, src, dst))
        finally:
            doc.message.disconnect(said.append)
        if not ok and said:
            scene.refused_at(where, said[0])

    def cancel(self) -> None:
        if self.line.scene() is not None:
            self.scene.removeItem(self.line)


def group_exit(scene: CanvasScene, node_id: str) -> str | None:
    """The block whose output a collapsed group gives: its last block in graph order."""
    doc = scene.doc
    if not doc.graph.nodes[node_id].is_group:
        return node_id
    members = {n.id for n in doc.graph.members(node_id)}
    ordered = [i for i in doc.analysis.order if i in members]
    return ordered[-1] if ordered else None


def group_entry(scene: CanvasScene, node_id: str) -> str | None:
    """The block inside a collapsed group that still needs an input, if there is one."""
    doc = scene.doc
    if not doc.graph.nodes[node_id].is_group:
        return node_id
    waiting = []
    for member in doc.graph.members(node_id):
        kind = REGISTRY.get(member.kind) if member.kind in REGISTRY else None
        if kind is not None and kind.arity != 0 and not doc.graph.inputs_of(member.id):
            waiting.append(member.id)
    return waiting[0] if len(waiting) == 1 else None

