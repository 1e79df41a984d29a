"""Connections: a curve from an output port to an input port, labelled with the tensor shape
it carries."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFontMetricsF,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPen,
    QPolygonF,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QStyleOptionGraphicsItem,
    QWidget,
)

from designer import theme
from designer.canvas.items import BLOCK_H, BLOCK_W, LOD_TEXT, PORT_R, font
from engine.graph import Edge


class EdgeItem(QGraphicsPathItem):
    """A connection, labelled with the tensor shape it carries. Its item path (the curve
    plus the label's room) only gives Qt its geometry in C++; ``path`` is what is drawn."""

    def __init__(self, edge: Edge) -> None:
        super().__init__()
        self.setPen(QPen(Qt.PenStyle.NoPen))
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.edge = edge
        self.highlighted = False  # a block dragged from the palette would be inserted here
        self.curve = QPainterPath()
        self.label_rect = QRectF()
        self._label_text = ""  # what the label's rectangle was sized for
        self.p1 = QPointF()
        self.p2 = QPointF()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setZValue(1)

    def label(self) -> str:
        result = self.scene().doc.analysis.results.get(self.edge.src)
        if result is None or not result.ok or result.shape is None:
            return "?"
        from engine.shapes import fmt_shape

        return fmt_shape(result.shape)

    def set_ends(self, p1: QPointF, p2: QPointF, direction: str) -> None:
        self.p1, self.p2 = QPointF(p1), QPointF(p2)
        self.curve = edge_path(p1, p2, direction)
        self._place_label()
        self._sync_geometry()

    def _sync_geometry(self) -> None:
        room = QPainterPath(self.curve)
        room.addRect(self.label_rect)
        room.addRect(self.curve.boundingRect().adjusted(-6, -6, 6, 6))
        self.setPath(room)

    def refresh_label(self) -> None:
        """The shape it carries changed: repaint, and grow the room for the label only when
        the new text does not fit (a geometry change costs more than a repaint)."""
        text = self.label()
        if text == self._label_text:
            return
        self._label_text = text
        if self._label_width(text) > self.label_rect.width():
            self._place_label()
            self._sync_geometry()
        self.update()

    @staticmethod
    def _label_width(text: str) -> float:
        return QFontMetricsF(font("small")).horizontalAdvance(text) + 8

    def _place_label(self) -> None:
        if self.scene() is None:
            return
        text = self.label()
        if text != self._label_text:
            self.update()  # setPath repaints only when the path itself changes
        self._label_text = text
        w = max(self._label_width(text), self.label_rect.width())
        h = QFontMetricsF(font("small")).height() + 2
        mid = self.curve.pointAtPercent(0.5)
        self.label_rect = QRectF(mid.x() - w / 2, mid.y() - h / 2, w, h)

    def _label_box(self, text: str) -> QRectF:
        """The box drawn behind the current text, centred in the room kept for labels."""
        w = self._label_width(text)
        return QRectF(self.label_rect.center().x() - w / 2, self.label_rect.y(), w,
                      self.label_rect.height())

    def shape(self) -> QPainterPath:
        stroker = QPainterPathStroker()
        stroker.setWidth(10)
        return stroker.createStroke(self.curve)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        colors = theme.colors()
        selected = self.isSelected()
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        color = colors.selection if selected or self.highlighted else colors.edge
        if self.highlighted:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            glow = QColor(colors.accent)
            glow.setAlpha(90)
            painter.setPen(QPen(glow, 8))
            painter.drawPath(self.curve)
        if lod < LOD_TEXT:
            painter.setPen(QPen(color, 0))
            painter.drawPath(self.curve)
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(color, 2.2 if selected else 1.4))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self.curve)
        painter.setBrush(color)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawPolygon(_arrow(self.curve))
        text = self.label()
        box = self._label_box(text)
        painter.setBrush(QBrush(colors.label_bg))
        painter.setPen(QPen(colors.grid, 1))
        painter.drawRoundedRect(box, 4, 4)
        painter.setPen(colors.muted)
        painter.setFont(font("small"))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)


def edge_path(p1: QPointF, p2: QPointF, direction: str) -> QPainterPath:
    """A smooth curve leaving an output port along the flow and entering an input port;
    long edges that would run through the blocks between bow out to the side."""
    path = QPainterPath(p1)
    dx, dy = p2.x() - p1.x(), p2.y() - p1.y()
    if direction == "LR":
        along, across = dx, dy
    else:
        along, across = dy, dx
    reach = max(abs(along) * 0.45, 40.0)
    bow = 0.0
    span = BLOCK_H if direction == "TB" else BLOCK_W
    if along > 2.2 * span and abs(across) < BLOCK_W * 0.6:
        bow = BLOCK_W * 0.75  # skip connections pass beside the main path
    if direction == "LR":
        c1 = QPointF(p1.x() + reach, p1.y() + bow)
        c2 = QPointF(p2.x() - reach, p2.y() + bow)
    else:
        c1 = QPointF(p1.x() + bow, p1.y() + reach)
        c2 = QPointF(p2.x() + bow, p2.y() - reach)
    path.cubicTo(c1, c2, p2)
    return path


def _arrow(path: QPainterPath) -> QPolygonF:
    """The arrowhead, its tip touching the input port's dot (drawn over the curve's end)."""
    from math import cos, radians, sin

    a = radians(path.angleAtPercent(0.99))
    back = QPointF(-cos(a), sin(a))
    tip = path.pointAtPercent(1.0) + back * (PORT_R + 0.5)
    side = QPointF(sin(a), cos(a)) * 4
    return QPolygonF([tip, tip + back * 8 + side, tip + back * 8 - side])
