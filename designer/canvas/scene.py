"""The canvas scene: follows one Document and keeps an item per engine id.

The scene never edits the model itself: mouse gestures are Interaction objects that push
commands; the scene repaints from the Document's ``refreshed`` signal (DESIGN.md rule 2).
"""

from __future__ import annotations

import os

from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QTransform
from PySide6.QtWidgets import QGraphicsItem, QGraphicsScene, QGraphicsSceneMouseEvent

from designer.canvas import interactions
from designer.canvas.edges import EdgeItem
from designer.canvas.faces import measure_of
from designer.canvas.items import (
    BLOCK_H,
    BLOCK_W,
    PAD,
    BlockItem,
    GroupFrameItem,
)
from designer.canvas.marks import weight_status
from designer.document import Document, Refresh
from engine.graph import Edge
from engine.layout import GROUP_HEADER, GROUP_PADDING

SCENE_MARGIN = 400.0
# How long blocks glide to the places a re-layout gives them (NETDRAFT_ANIMATION_MS=0: at
# once); more than MAX_GLIDES moving blocks jump (a large network stays responsive).
MAX_GLIDES = 600


def animation_ms() -> int:
    try:
        return max(0, int(os.environ.get("NETDRAFT_ANIMATION_MS", "220")))
    except ValueError:
        return 220


class CanvasScene(QGraphicsScene):
    selection_ids_changed = Signal(list)  # node ids selected
    group_toggle_requested = Signal(str)  # group id to expand or collapse
    content_changed = Signal()  # items moved, added or removed (for the minimap)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.doc: Document | None = None
        self.blocks: dict[str, BlockItem] = {}
        self.frames: dict[str, GroupFrameItem] = {}
        self.edges: dict[Edge, EdgeItem] = {}
        self.bar_measure = "params"
        self.interaction: interactions.Interaction | None = None
        self.owner: dict[str, str] = {}  # node id -> the id it is drawn as
        self._bar_total = -1
        self._drop_target: EdgeItem | None = None  # the edge a palette drop would split
        # Blocks with stored weights and their status, to say when an edit makes them stale.
        self.weight_seen: dict[str, str] = {}
        self.last_refusal: tuple[QPointF, str] | None = None  # where and why, for tests
        self._fresh: set[str] = set()  # blocks added by this refresh: placed, not glided
        self._animation = None  # (QVariantAnimation, step) while blocks glide
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)
        self.selectionChanged.connect(self._emit_selection)

    # -------------------------------------------------------------- document
    def set_document(self, doc: Document) -> None:
        if self.doc is not None:
            self.doc.refreshed.disconnect(self.on_refresh)
            self.doc.latency.changed.disconnect(self._latency_changed)
        self.doc = doc
        doc.refreshed.connect(self.on_refresh)
        doc.latency.changed.connect(self._latency_changed)
        self.rebuild()

    def _latency_changed(self) -> None:
        if self.bar_measure == "latency":
            self._update_bars(force=True)

    def rebuild(self) -> None:
        doc = self.doc
        self.finish_animation()
        self.clearSelection()
        self._drop_target = None
        self.clear()
        self.blocks.clear()
        self.frames.clear()
        self.edges.clear()
        if doc is None:
            return
        for node in doc.graph.nodes.values():
            self._add_node_items(node.id)
        for node_id in doc.graph.nodes:
            for edge in doc.graph.inputs_of(node_id):  # unsorted: faster than graph.edges
                self._add_edge_item(edge)
        self._sync_visibility()
        self._place_all()
        self._update_bars(force=True)
        self._fit_scene_rect(keep_view=False)
        self.weight_seen = {}
        self._watch_weights(set(doc.graph.nodes), announce=False)
        self.content_changed.emit()

    def _add_node_items(self, node_id: str) -> None:
        node = self.doc.graph.nodes[node_id]
        item = BlockItem(node_id, is_group=node.is_group)
        self.addItem(item)
        self.blocks[node_id] = item
        if node.is_group:
            frame = GroupFrameItem(node_id)
            self.addItem(frame)
            self.addItem(frame.body)
            self.frames[node_id] = frame

    def header_rects(self) -> list[QRectF]:
        """The title bars of the expanded groups: edge labels keep off them."""
        return [f.header_rect() for f in self.frames.values() if f.isVisible()]

    def _add_edge_item(self, edge: Edge) -> None:
        item = EdgeItem(edge)
        self.addItem(item)
        self.edges[edge] = item

    def on_refresh(self, refresh: Refresh) -> None:
        doc = self.doc
        if doc is None:
            return
        if refresh.everything:
            self.rebuild()
            return
        for node_id in refresh.removed:
            for table in (self.blocks, self.frames):
                item = table.pop(node_id, None)
                if item is not None:
                    if isinstance(item, GroupFrameItem):
                        self.removeItem(item.body)
                    self.removeItem(item)
        for edge in refresh.edges_removed:
            item = self.edges.pop(edge, None)
            if item is not None:
                self.removeItem(item)
        for node_id in refresh.added:
            if node_id in doc.graph.nodes and node_id not in self.blocks:
                self._add_node_items(node_id)
                self._fresh.add(node_id)
        for edge in refresh.edges_added:
            if edge not in self.edges and edge in doc.graph.inputs_of(edge.dst):
                self._add_edge_item(edge)
        if refresh.structure:
            self._sync_visibility()
            self._place_all(animate=True)
        else:
            self._place(refresh.positions, animate=True)
        touched = refresh.results | refresh.nodes
        self._watch_weights(touched, announce=True)
        self._repaint(touched)
        self._update_bars(force=refresh.structure, touched=touched)
        if refresh.structure or refresh.positions:
            self._fit_scene_rect()
            self.content_changed.emit()

    def _watch_weights(self, ids: set[str], announce: bool) -> None:
        """Follow the status of blocks with stored weights; an edit that makes them no
        longer fit is said in the status bar (the block shows ↺; Undo brings them back)."""
        doc = self.doc
        stored = (doc.project.weights or {}).get("blocks") or {}
        if not stored:
            return
        newly: list[tuple[str, str, str]] = []
        rank = {node_id: k for k, node_id in enumerate(doc.analysis.order)}
        for node_id in sorted(ids, key=lambda i: (rank.get(i, len(rank)), i)):
            if node_id not in stored or node_id not in doc.graph.nodes:
                continue
            status, detail = weight_status(doc, node_id)
            before = self.weight_seen.get(node_id)
            self.weight_seen[node_id] = status
            if announce and status == "stale" and before not in (None, "stale"):
                newly.append((node_id, before, detail))
        if not newly:
            return
        if len(newly) == 1:
            node_id, before, detail = newly[0]
            node = doc.graph.nodes[node_id]
            text = (f"{node.kind} '{node.name}': its {before} weights no longer fit "
                    f"({detail}); it is marked re-initialised (↺) and starts from its "
                    "initializer when trained. Undo brings them back.")
        else:
            names = ", ".join(doc.label(i) for i, _b, _d in newly[:3])
            more = ", …" if len(newly) > 3 else ""
            text = (f"{len(newly)} blocks' stored weights no longer fit ({names}{more}): "
                    "they are marked re-initialised (↺) and start from their initializers "
                    "when trained. Undo brings them back.")
        doc.message.emit(text)

    # ------------------------------------------------------------- visibility
    def _sync_visibility(self) -> None:
        """Which items show: blocks outside collapsed groups, collapsed groups as blocks,
        expanded groups as frames; edges between visible owners, once per pair."""
        doc = self.doc
        self.owner = {i: doc.visible_owner(i) for i in doc.graph.nodes}
        collapsed = doc.collapsed
        for node_id, item in self.blocks.items():
            hidden_inside = self.owner[node_id] != node_id
            if item.is_group:
                item.setVisible(not hidden_inside and node_id in collapsed)
                self.frames[node_id].setVisible(not hidden_inside and node_id not in collapsed)
            else:
                item.setVisible(not hidden_inside)
        shown: set[tuple[str, str]] = set()
        for edge, item in sorted(self.edges.items()):
            ends = (self.owner.get(edge.src, edge.src), self.owner.get(edge.dst, edge.dst))
            visible = ends[0] != ends[1] and ends not in shown
            shown.add(ends)
            item.setVisible(visible)
        for item in self.selectedItems():
            if not item.isVisible():
                item.setSelected(False)

    # -------------------------------------------------------------- geometry
    def _place_all(self, animate: bool = False) -> None:
        self._place(set(self.blocks), all_edges=True, animate=animate)

    def _place(self, ids: set[str], all_edges: bool = False, animate: bool = False) -> None:
        """Put blocks where the document says; with ``animate`` the ones already shown
        glide there (a re-layout after an edit is followed by the eye, not a jump)."""
        self.finish_animation()
        doc = self.doc
        moved = set()
        glides = []
        for node_id in ids:
            item = self.blocks.get(node_id)
            if item is None:
                continue
            pos = doc.position(node_id)
            if pos is None:
                pos = self._default_position(node_id)
            target = QPointF(*pos)
            if item.pos() != target:
                if animate and item.isVisible() and node_id not in self._fresh:
                    glides.append((item, QPointF(item.pos()), target))
                else:
                    item.setPos(target)
            moved.add(node_id)
        self._fresh = set()
        if not moved and not all_edges:
            return
        if all_edges:
            edges = list(self.edges.values())
        else:
            owners = {self.owner.get(i, i) for i in moved}
            edges = [e for edge, e in self.edges.items()
                     if self.owner.get(edge.src) in owners or self.owner.get(edge.dst) in owners
                     or edge.src in moved or edge.dst in moved]
        if glides and animation_ms() > 0 and len(glides) <= MAX_GLIDES:
            self._glide(glides, edges)
            return
        for item, _start, end in glides:
            item.setPos(end)
        self.update_frames()  # first: labels keep off the title bars where they are now
        self.adjust_edges(edges)

    def _glide(self, glides, edges) -> None:
        from PySide6.QtCore import QEasingCurve, QVariantAnimation

        animation = QVariantAnimation(self)
        animation.setStartValue(0.0)
        animation.setEndValue(1.0)
        animation.setDuration(animation_ms())
        animation.setEasingCurve(QEasingCurve.Type.InOutCubic)

        def step(t) -> None:
            for item, start, end in glides:
                item.setPos(start + (end - start) * float(t))
            self.update_frames()
            self.adjust_edges(edges)

        animation.valueChanged.connect(step)
        animation.finished.connect(lambda: step(1.0))
        self._animation = (animation, step)
        step(0.0)
        animation.start()

    def finish_animation(self) -> None:
        """Jump a running glide to its end (another change arrives, or a test looks)."""
        if self._animation is None:
            return
        animation, step = self._animation
        self._animation = None
        animation.stop()
        step(1.0)
        animation.deleteLater()

    def _default_position(self, node_id: str) -> tuple[float, float]:
        # A block the ui has no place for (an engine edit outside the designer).
        return (0.0, 0.0)

    def adjust_edges(self, edges) -> None:
        direction = self.doc.direction
        for item in edges:
            if not item.isVisible():
                continue
            src = self.blocks.get(self.owner.get(item.edge.src, item.edge.src))
            dst = self.blocks.get(self.owner.get(item.edge.dst, item.edge.dst))
            if src is None or dst is None:
                continue
            p1, p2 = src.scene_port("out"), dst.scene_port("in")
            item.set_ends(p1, p2, direction, self.obstacles(p1, p2, (src, dst)))

    def obstacles(self, p1: QPointF, p2: QPointF, ends) -> list[QRectF]:
        """The shown blocks between an edge's ends, which its curve must not run over."""
        band = QRectF(p1, p2).normalized()
        if self.doc.direction == "LR":
            band.adjust(0, -BLOCK_W * 3, 0, BLOCK_W * 3)
        else:
            band.adjust(-BLOCK_W * 3, 0, BLOCK_W * 3, 0)
        out = []
        for item in self.items(band, Qt.ItemSelectionMode.IntersectsItemBoundingRect):
            if isinstance(item, BlockItem) and item.isVisible() and item not in ends:
                out.append(QRectF(item.pos(), item.pos() + QPointF(BLOCK_W, BLOCK_H)))
        return out

    def update_frames(self) -> None:
        """Fit each expanded group's frame around its visible members (innermost first)."""
        graph = self.doc.graph
        shown = [g for g, frame in self.frames.items() if frame.isVisible()]
        if not shown:
            return
        children: dict[str, list[str]] = {}
        for node in graph.nodes.values():
            if node.parent is not None:
                children.setdefault(node.parent, []).append(node.id)
        depth = {g: len(graph.ancestors_of(g)) for g in shown}
        rects: dict[str, QRectF] = {}
        for group_id in sorted(shown, key=lambda g: -depth[g]):
            frame = self.frames[group_id]
            rect = QRectF()
            for child_id in children.get(group_id, []):
                if child_id in rects:
                    part = rects[child_id]
                else:
                    item = self.blocks.get(child_id)
                    if item is None or not item.isVisible():
                        continue
                    part = QRectF(item.pos(), item.pos() + QPointF(BLOCK_W, BLOCK_H))
                rect = part if rect.isNull() else rect.united(part)
            if rect.isNull():
                pos = self.doc.position(group_id) or (0.0, 0.0)
                rect = QRectF(pos[0], pos[1], BLOCK_W, BLOCK_H)
            rect = rect.adjusted(-GROUP_PADDING, -GROUP_PADDING - GROUP_HEADER,
                                 GROUP_PADDING, GROUP_PADDING)
            rects[group_id] = rect
            frame.set_rect(rect)

    def _fit_scene_rect(self, keep_view: bool = True) -> None:
        """The scene's extent: the items with a margin, and (``keep_view``) what the views
        show now, so that an edit which removes blocks at the edge (a delete, a group
        closing up) never scrolls the view away from where the user is looking."""
        rect = self.itemsBoundingRect()
        if rect.isNull():
            rect = QRectF(0, 0, BLOCK_W, BLOCK_H)
        rect = rect.adjusted(-SCENE_MARGIN, -SCENE_MARGIN, SCENE_MARGIN, SCENE_MARGIN)
        shown = []
        if keep_view:
            for view in self.views():
                seen = view.mapToScene(view.viewport().rect()).boundingRect()
                shown.append((view, seen))
                rect = rect.united(seen)
        self.setSceneRect(rect)
        for view, seen in shown:
            if view.mapToScene(view.viewport().rect()).boundingRect() != seen:
                view.centerOn(seen.center())

    # -------------------------------------------------------------- repainting
    def _repaint(self, ids: set[str]) -> None:
        """Repaint blocks whose analysis or parameters changed, their groups and edges."""
        if not ids:
            return
        graph = self.doc.graph
        groups: set[str] = set()
        for node_id in ids:
            item = self.blocks.get(node_id)
            if item is not None:
                item.update()
            if node_id in graph.nodes:
                groups.update(graph.ancestors_of(node_id))
        for group_id in groups:
            for table in (self.blocks, self.frames):
                item = table.get(group_id)
                if item is not None:
                    item.update()
        for node_id in ids:
            for edge in graph.outputs_of(node_id) if node_id in graph.nodes else ():
                item = self.edges.get(edge)
                if item is not None and item.isVisible():
                    item.refresh_label()

    def set_bar_measure(self, measure: str) -> None:
        self.bar_measure = measure
        self._update_bars(force=True)

    def _update_bars(self, force: bool, touched: set[str] = frozenset()) -> None:
        """Each block's share bar; only blocks whose bar moves by a pixel repaint. While the
        network's total stays the same only the touched blocks (and their groups) can move."""
        doc = self.doc
        totals = doc.totals
        total = (doc.latency.total_micros() if self.bar_measure == "latency"
                 else totals["params"] if self.bar_measure == "params" else totals["macs"])
        if force or total != self._bar_total:
            ids = self.blocks.keys()
        else:
            ids = set(touched)
            for node_id in touched:
                if node_id in doc.graph.nodes:
                    ids.update(doc.graph.ancestors_of(node_id))
        self._bar_total = total
        track = BLOCK_W - 2 * PAD
        scale = track / total if total > 0 else 0.0
        counts = doc._counts
        for node_id in ids:
            item = self.blocks.get(node_id)
            if item is None or not item.isVisible():
                continue  # hidden blocks get their bar when they show (a structure change)
            if item.is_group or self.bar_measure == "latency":
                value = measure_of(doc, node_id, self.bar_measure)
            else:
                c = counts.get(node_id)
                value = 0 if c is None else (c[0] + c[1] if self.bar_measure == "params"
                                             else c[2])
            px = round(value * scale)
            if px != item.bar_px:
                item.bar_px = px
                item.update()

    # ---------------------------------------------------------------- queries
    def item_for(self, node_id: str) -> QGraphicsItem | None:
        """The item that shows a node now: its block, its frame or its collapsed group."""
        owner = self.owner.get(node_id, node_id)
        frame = self.frames.get(owner)
        if frame is not None and frame.isVisible():
            return frame
        return self.blocks.get(owner)

    def selected_ids(self) -> list[str]:
        ids = []
        for item in self.selectedItems():
            if isinstance(item, BlockItem | GroupFrameItem):
                ids.append(item.node_id)
        return sorted(ids, key=lambda i: (self.blocks[i].y(), self.blocks[i].x())
                      if i in self.blocks else (0, 0))

    def selected_edges(self) -> list[Edge]:
        return [i.edge for i in self.selectedItems() if isinstance(i, EdgeItem)]

    def select_ids(self, ids) -> None:
        self.blockSignals(True)
        self.clearSelection()
        for node_id in ids:
            item = self.item_for(node_id)
            if item is not None:
                item.setSelected(True)
        self.blockSignals(False)
        self._emit_selection()

    def refused_at(self, scene_pos: QPointF, text: str) -> None:
        """Say why a gesture was refused in a tooltip beside ``scene_pos``."""
        from PySide6.QtWidgets import QToolTip

        self.last_refusal = (QPointF(scene_pos), text)
        for view in self.views():
            viewport = view.viewport()
            point = view.mapFromScene(scene_pos) + QPoint(12, 8)
            QToolTip.showText(viewport.mapToGlobal(point), text, viewport)
            break

    def _emit_selection(self) -> None:
        self.selection_ids_changed.emit(self.selected_ids())

    def block_at(self, pos: QPointF, transform: QTransform) -> QGraphicsItem | None:
        for item in self.items(pos, Qt.ItemSelectionMode.IntersectsItemShape,
                               Qt.SortOrder.DescendingOrder, transform):
            if isinstance(item, BlockItem | GroupFrameItem | EdgeItem) and item.isVisible():
                return item
        return None

    def set_drop_target(self, item: EdgeItem | None) -> None:
        if item is self._drop_target:
            return
        for edge_item in (self._drop_target, item):
            if edge_item is not None and edge_item.scene() is self:
                edge_item.highlighted = edge_item is item
                edge_item.update()
        self._drop_target = item

    def edge_at(self, pos: QPointF, transform: QTransform) -> EdgeItem | None:
        for item in self.items(pos, Qt.ItemSelectionMode.IntersectsItemShape,
                               Qt.SortOrder.DescendingOrder, transform):
            if isinstance(item, EdgeItem) and item.isVisible():
                return item
        return None

    # ------------------------------------------------------------------ mouse
    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:  # noqa: N802
        if self.doc is not None and self.interaction is None:
            started = interactions.start(self, event)
            if started is not None:
                self.interaction = started
                event.accept()
                return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:  # noqa: N802
        if self.interaction is not None:
            self.interaction.move(event)
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:  # noqa: N802
        if self.interaction is not None:
            interaction, self.interaction = self.interaction, None
            interaction.release(event)
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QGraphicsSceneMouseEvent) -> None:  # noqa: N802
        item = self.block_at(event.scenePos(), self._transform(event))
        if isinstance(item, BlockItem) and item.is_group or isinstance(item, GroupFrameItem):
            self.group_toggle_requested.emit(item.node_id)
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def cancel_interaction(self) -> None:
        if self.interaction is not None:
            self.interaction.cancel()
            self.interaction = None

    @staticmethod
    def _transform(event: QGraphicsSceneMouseEvent) -> QTransform:
        widget = event.widget()
        view = widget.parent() if widget is not None else None
        return view.transform() if view is not None else QTransform()

