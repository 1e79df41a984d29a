"""The canvas view: zoom, pan, fit, drops from the palette and of project files."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QDragEnterEvent,
    QDropEvent,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPen,
    QWheelEvent,
)
from PySide6.QtWidgets import QGraphicsView, QWidget

from designer import theme
from designer.canvas.items import BlockItem, GroupFrameItem
from designer.canvas.minimap import Minimap
from designer.canvas.scene import CanvasScene

KIND_MIME = "application/x-netdraft-kind"
MIN_ZOOM, MAX_ZOOM = 0.04, 4.0
ZOOM_STEP = 1.25
GRID_STEP = 20.0


class CanvasView(QGraphicsView):
    kind_dropped = Signal(str, QPointF)  # kind id, scene position (the block's centre)
    files_dropped = Signal(list)  # paths of .netdraft files
    zoom_changed = Signal(float)
    context_menu_requested = Signal(QPoint)  # global position

    def __init__(self, scene: CanvasScene, parent: QWidget | None = None) -> None:
        super().__init__(scene, parent)
        # A viewport made here: PySide already knows its type, whereas the first viewport()
        # of one Qt made costs ~20 ms (PySide loads every QWidget subclass to identify it).
        self.setViewport(QWidget())
        self.setRenderHints(QPainter.RenderHint.Antialiasing
                            | QPainter.RenderHint.TextAntialiasing)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        self.setOptimizationFlags(QGraphicsView.OptimizationFlag.DontSavePainterState)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setRubberBandSelectionMode(Qt.ItemSelectionMode.IntersectsItemShape)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setAcceptDrops(True)
        self.setCacheMode(QGraphicsView.CacheModeFlag.CacheBackground)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._space = False
        self._pan_from: QPointF | None = None
        self.minimap = Minimap(self)
        scene.content_changed.connect(self.minimap.schedule)

    def canvas(self) -> CanvasScene:
        return self.scene()  # type: ignore[return-value]

    # ----------------------------------------------------------------- zoom
    def zoom(self) -> float:
        return self.transform().m11()

    def zoom_by(self, factor: float, anchor_under_mouse: bool = False) -> None:
        target = min(MAX_ZOOM, max(MIN_ZOOM, self.zoom() * factor))
        factor = target / self.zoom()
        if abs(factor - 1.0) < 1e-6:
            return
        old = self.transformationAnchor()
        if not anchor_under_mouse:
            self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.scale(factor, factor)
        self.setTransformationAnchor(old)
        self.zoom_changed.emit(self.zoom())
        self.minimap.follow()

    def zoom_in(self) -> None:
        self.zoom_by(ZOOM_STEP)

    def zoom_out(self) -> None:
        self.zoom_by(1 / ZOOM_STEP)

    def content_rect(self) -> QRectF:
        rect = QRectF()
        for table in (self.canvas().blocks, self.canvas().frames):
            for item in table.values():
                if item.isVisible():
                    box = item.sceneBoundingRect()
                    rect = box if rect.isNull() else rect.united(box)
        return rect

    def fit(self) -> None:
        """Show the whole network (Ctrl+0), never magnified past 100%."""
        rect = self.content_rect()
        if rect.isNull():
            return
        self.fitInView(rect.adjusted(-30, -30, 30, 30), Qt.AspectRatioMode.KeepAspectRatio)
        if self.zoom() > 1.0:
            self.zoom_by(1.0 / self.zoom())
        self.centerOn(rect.center())
        self.zoom_changed.emit(self.zoom())
        self.minimap.schedule()

    def show_start(self, readable: float = 0.65) -> None:
        """Fit the network; when that makes it too small to read, show its beginning at a
        readable zoom instead (the top, or the left for left-to-right layouts)."""
        self.fit()
        rect = self.content_rect()
        if rect.isNull() or self.zoom() >= readable:
            return
        self.zoom_by(readable / self.zoom())
        half_w = self.viewport().width() / 2 / self.zoom()
        half_h = self.viewport().height() / 2 / self.zoom()
        # Centre across the flow on the first blocks, not on the whole network: a long one
        # may drift sideways, and its middle can be far from where it starts.
        lr = self.canvas().doc is not None and self.canvas().doc.direction == "LR"
        start = self._first_blocks(lr, 2 * (half_w if lr else half_h))
        if lr:
            self.centerOn(rect.left() + half_w - 20, start.center().y())
        else:
            self.centerOn(start.center().x(), rect.top() + half_h - 20)

    def _first_blocks(self, lr: bool, reach: float) -> QRectF:
        """Around the shown blocks within ``reach`` of the network's start."""
        items = [i for t in (self.canvas().blocks, self.canvas().frames) for i in t.values()
                 if i.isVisible()]
        boxes = [i.sceneBoundingRect() for i in items]
        first = min(b.left() if lr else b.top() for b in boxes)
        rect = QRectF()
        for box in boxes:
            if (box.left() if lr else box.top()) <= first + reach:
                rect = box if rect.isNull() else rect.united(box)
        return rect

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            steps = event.angleDelta().y() / 120.0
            self.zoom_by(ZOOM_STEP ** (steps * 0.5), anchor_under_mouse=True)
            event.accept()
            return
        super().wheelEvent(event)

    def scrollContentsBy(self, dx: int, dy: int) -> None:  # noqa: N802
        super().scrollContentsBy(dx, dy)
        self.minimap.follow()

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self.minimap.reposition()
        self.minimap.schedule()  # its height follows the view's

    # ------------------------------------------------------------------ pan
    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        if event.key() == Qt.Key.Key_Escape:
            self.canvas().cancel_interaction()
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self.viewport().unsetCursor()
            event.accept()
            return
        super().keyReleaseEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.MiddleButton or (
                self._space and event.button() == Qt.MouseButton.LeftButton):
            self._pan_from = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            # Shift extends the selection, for rubber-band selection as for clicks.
            event = QMouseEvent(event.type(), event.position(), event.globalPosition(),
                                event.button(), event.buttons(),
                                event.modifiers() | Qt.KeyboardModifier.ControlModifier)
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._pan_from is not None:
            delta = event.position() - self._pan_from
            self._pan_from = event.position()
            self.pan_by(-delta.x(), -delta.y())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._pan_from is not None:
            self._pan_from = None
            if self._space:
                self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            else:
                self.viewport().unsetCursor()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def contextMenuEvent(self, event) -> None:  # noqa: N802
        # A right-click on a block that is not selected acts on that block alone.
        item = self.canvas().block_at(self.mapToScene(event.pos()), self.transform())
        if isinstance(item, BlockItem | GroupFrameItem) and not item.isSelected():
            self.canvas().select_ids([item.node_id])
        self.context_menu_requested.emit(event.globalPos())
        event.accept()

    def pan_by(self, dx: float, dy: float) -> None:
        h, v = self.horizontalScrollBar(), self.verticalScrollBar()
        h.setValue(h.value() + round(dx))
        v.setValue(v.value() + round(dy))

    def focusOutEvent(self, event) -> None:  # noqa: N802
        self._space = False
        super().focusOutEvent(event)

    # ---------------------------------------------------------------- drops
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if self._accepts(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        if self._accepts(event):
            event.acceptProposedAction()
            if event.mimeData().hasFormat(KIND_MIME):
                # Show which connection a drop here would insert the block into.
                scene_pos = self.mapToScene(event.position().toPoint())
                self.canvas().set_drop_target(self.canvas().edge_at(scene_pos, self.transform()))
        else:
            event.ignore()

    def dragLeaveEvent(self, event) -> None:  # noqa: N802
        self.canvas().set_drop_target(None)
        super().dragLeaveEvent(event)

    def _accepts(self, event) -> bool:
        mime = event.mimeData()
        return mime.hasFormat(KIND_MIME) or bool(_project_paths(mime))

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        self.canvas().set_drop_target(None)
        mime = event.mimeData()
        paths = _project_paths(mime)
        if paths:
            self.files_dropped.emit(paths)
            event.acceptProposedAction()
            return
        if mime.hasFormat(KIND_MIME):
            kind = bytes(mime.data(KIND_MIME)).decode("utf-8")
            self.kind_dropped.emit(kind, self.mapToScene(event.position().toPoint()))
            event.acceptProposedAction()
            return
        event.ignore()

    # ----------------------------------------------------------- background
    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802
        colors = theme.colors()
        painter.fillRect(rect, colors.background)
        if self.zoom() < 0.6:
            return
        pen = QPen(colors.grid, 0)
        painter.setPen(pen)
        step = GRID_STEP * (4 if self.zoom() < 1.2 else 1)
        left = int(rect.left() // step) * step
        top = int(rect.top() // step) * step
        x = left
        while x < rect.right():
            painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
            x += step
        y = top
        while y < rect.bottom():
            painter.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))
            y += step

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.PaletteChange:
            self.resetCachedContent()
        return super().event(event)


def _project_paths(mime) -> list[str]:
    if not mime.hasUrls():
        return []
    return [u.toLocalFile() for u in mime.urls()
            if u.isLocalFile() and u.toLocalFile().endswith(".netdraft")]
