"""An overview of a large network in the view's corner: click or drag it to move there. It
hides while the whole network is in view (it would only repeat the canvas).

The blocks are drawn once into a pixmap when the network changes; scrolling only redraws
the rectangle of the visible area over it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen, QPixmap
from PySide6.QtWidgets import QWidget

from designer import theme

if TYPE_CHECKING:
    from designer.canvas.view import CanvasView

MAX_W, MAX_H, MIN_SIDE = 200, 260, 64  # shaped like the network, within these bounds
MARGIN = 10
SHOW_ABOVE = 24  # visible blocks before the overview appears (when enabled)


class Minimap(QWidget):
    def __init__(self, view: CanvasView) -> None:
        super().__init__(view)
        self.view = view
        self.enabled = True
        self.wanted = False  # enabled and the network is large: shown when not all in view
        self._pixmap: QPixmap | None = None
        self._bounds = QRectF()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(60)
        self._timer.timeout.connect(self.rebuild)
        self.resize(MAX_W, 150)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Overview: click or drag to move the view")
        self.hide()

    def set_enabled(self, flag: bool) -> None:
        self.enabled = flag
        self.rebuild()

    def schedule(self) -> None:
        self._timer.start()

    def reposition(self) -> None:
        viewport = self.view.viewport().geometry()
        self.move(viewport.right() - self.width() - MARGIN,
                  viewport.bottom() - self.height() - MARGIN)

    def rebuild(self) -> None:
        scene = self.view.canvas()
        items = [i for t in (scene.frames, scene.blocks) for i in t.values() if i.isVisible()]
        self.wanted = self.enabled and len(items) >= SHOW_ABOVE
        if not self.wanted:
            self.hide()
            return
        bounds = QRectF()
        for item in items:
            rect = item.sceneBoundingRect()
            bounds = rect if bounds.isNull() else bounds.united(rect)
        self._bounds = bounds = bounds.adjusted(-40, -40, 40, 40)
        # As tall as a tall network needs (up to 40% of the view), as wide as a wide one.
        max_h = max(120, min(MAX_H, int(self.view.viewport().height() * 0.4)))
        scale = min(MAX_W / bounds.width(), max_h / bounds.height())
        self.resize(max(MIN_SIDE, round(bounds.width() * scale)),
                    max(MIN_SIDE, round(bounds.height() * scale)))
        ratio = self.devicePixelRatioF()
        pixmap = QPixmap(self.size() * ratio)
        pixmap.setDevicePixelRatio(ratio)
        colors = theme.colors()
        pixmap.fill(QColor(colors.background))
        painter = QPainter(pixmap)
        for item in items:
            rect = self._to_map(item.sceneBoundingRect())
            if item in scene.frames.values():
                painter.setPen(QPen(colors.group_frame, 1))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRect(rect)
            else:
                painter.fillRect(rect, colors.block_border)
        painter.end()
        self._pixmap = pixmap
        self.follow()

    def follow(self) -> None:
        """After a zoom, scroll or resize: shown only while part of the network is out of
        view; otherwise repaint the visible area's rectangle."""
        if not self.wanted or self._pixmap is None:
            self.hide()
            return
        visible = self.view.mapToScene(self.view.viewport().rect()).boundingRect()
        if visible.contains(self._bounds.adjusted(40, 40, -40, -40)):
            self.hide()
            return
        self.reposition()
        if not self.isVisible():
            self.show()
            self.raise_()
        self.update()

    def _scale(self) -> float:
        b = self._bounds
        if b.isNull():
            return 1.0
        return min(self.width() / b.width(), self.height() / b.height())

    def _offset(self) -> QPointF:
        s = self._scale()
        b = self._bounds
        return QPointF((self.width() - b.width() * s) / 2, (self.height() - b.height() * s) / 2)

    def _to_map(self, rect: QRectF) -> QRectF:
        s, o, b = self._scale(), self._offset(), self._bounds
        return QRectF(o.x() + (rect.x() - b.x()) * s, o.y() + (rect.y() - b.y()) * s,
                      max(rect.width() * s, 1.0), max(rect.height() * s, 1.0))

    def _to_scene(self, point: QPointF) -> QPointF:
        s, o, b = self._scale(), self._offset(), self._bounds
        return QPointF((point.x() - o.x()) / s + b.x(), (point.y() - o.y()) / s + b.y())

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        if self._pixmap is None:
            return
        colors = theme.colors()
        painter = QPainter(self)
        painter.drawPixmap(0, 0, self._pixmap)
        painter.setPen(QPen(colors.muted, 1))
        painter.drawRect(QRectF(0.5, 0.5, self.width() - 1, self.height() - 1))
        visible = self.view.mapToScene(self.view.viewport().rect()).boundingRect()
        painter.setPen(QPen(colors.accent, 1.5))
        fill = QColor(colors.accent)
        fill.setAlpha(40)
        painter.setBrush(fill)
        painter.drawRect(self._to_map(visible).intersected(QRectF(0, 0, self.width(),
                                                                  self.height())))

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self.view.centerOn(self._to_scene(event.position()))
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.buttons() & Qt.MouseButton.LeftButton:
            self.view.centerOn(self._to_scene(event.position()))
        event.accept()
