"""An overview of a large network in the view's corner: click or drag it to move there.

The blocks are drawn once into a pixmap when the network changes; scrolling only redraws
the rectangle of the visible area over it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen, QPixmap
from PySide6.QtWidgets import QWidget

from designer import theme

if TYPE_CHECKING:
    from designer.canvas.view import CanvasView

SIZE = QSize(200, 150)
MARGIN = 10
SHOW_ABOVE = 24  # visible blocks before the overview appears (when enabled)


class Minimap(QWidget):
    def __init__(self, view: CanvasView) -> None:
        super().__init__(view)
        self.view = view
        self.enabled = True
        self._pixmap: QPixmap | None = None
        self._bounds = QRectF()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(60)
        self._timer.timeout.connect(self.rebuild)
        self.resize(SIZE)
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
        self.move(viewport.right() - SIZE.width() - MARGIN,
                  viewport.bottom() - SIZE.height() - MARGIN)

    def rebuild(self) -> None:
        scene = self.view.canvas()
        items = [i for t in (scene.frames, scene.blocks) for i in t.values() if i.isVisible()]
        if not self.enabled or len(items) < SHOW_ABOVE:
            self.hide()
            return
        bounds = QRectF()
        for item in items:
            rect = item.sceneBoundingRect()
            bounds = rect if bounds.isNull() else bounds.united(rect)
        self._bounds = bounds.adjusted(-40, -40, 40, 40)
        ratio = self.devicePixelRatioF()
        pixmap = QPixmap(SIZE * ratio)
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
        self.reposition()
        self.show()
        self.raise_()
        self.update()

    def _scale(self) -> float:
        b = self._bounds
        if b.isNull():
            return 1.0
        return min(SIZE.width() / b.width(), SIZE.height() / b.height())

    def _offset(self) -> QPointF:
        s = self._scale()
        b = self._bounds
        return QPointF((SIZE.width() - b.width() * s) / 2, (SIZE.height() - b.height() * s) / 2)

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
        painter.drawRect(QRectF(0.5, 0.5, SIZE.width() - 1, SIZE.height() - 1))
        visible = self.view.mapToScene(self.view.viewport().rect()).boundingRect()
        painter.setPen(QPen(colors.accent, 1.5))
        fill = QColor(colors.accent)
        fill.setAlpha(40)
        painter.setBrush(fill)
        painter.drawRect(self._to_map(visible).intersected(QRectF(0, 0, SIZE.width(),
                                                                  SIZE.height())))

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self.view.centerOn(self._to_scene(event.position()))
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.buttons() & Qt.MouseButton.LeftButton:
            self.view.centerOn(self._to_scene(event.position()))
        event.accept()
