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

    def set_ends(self, p1: QPointF, p2: QPointF, direction: str,
                 obstacles: list[QRectF] | None = None) -> None:
        self.p1, self.p2 = QPointF(p1), QPointF(p2)
        self.curve = edge_path(p1, p2, direction, obstacles or [])
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
        # Halfway along, or the nearest place off every group's title bar.
        headers = self.scene().header_rects() if hasattr(self.scene(), "header_rects") else []
        for t in LABEL_SPOTS:
            mid = self.curve.pointAtPercent(t)
            rect = QRectF(mid.x() - w / 2, mid.y() - h / 2, w, h)
            if not any(rect.intersects(head) for head in headers):
                break
        self.label_rect = rect

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


LABEL_SPOTS = (0.5, 0.42, 0.58, 0.34, 0.66, 0.26, 0.74, 0.18, 0.82, 0.1, 0.9)
LANE_TURN = 58.0  # a routed edge turns into its lane within the gap between layers
LANE_GAP = 20.0  # a lane runs this far beside the blocks it passes
CLEAR = 4.0  # how near a curve may come to a block it does not join


def edge_path(p1: QPointF, p2: QPointF, direction: str,
              obstacles: list[QRectF] | None = None) -> QPainterPath:
    """A smooth curve leaving an output port along the flow and entering an input port.

    Given the blocks between its ends (``obstacles``), an edge whose plain curve would run
    over one of them is routed instead: it turns into a free lane in the gap after its
    source, runs straight along it, and turns into its target in the gap before it (the
    lane the layout kept for it with its dummy blocks). Without obstacles (a connection
    being dragged) long edges that would run through the blocks between bow out instead.
    """
    lr = direction == "LR"

    def flow(p: QPointF) -> tuple[float, float]:  # (across, along)
        return (p.y(), p.x()) if lr else (p.x(), p.y())

    def point(across: float, along: float) -> QPointF:
        return QPointF(along, across) if lr else QPointF(across, along)

    u1, v1 = flow(p1)
    u2, v2 = flow(p2)
    dv = v2 - v1
    if obstacles is not None:
        plain = _plain(u1, v1, u2, v2, point, 0.0)
        boxes = [_flow_rect(r, lr) for r in obstacles]
        if dv > 0 and boxes and _hits(plain, obstacles):
            lane = _lane(u1, u2, boxes)
            if lane is not None:
                return _routed(u1, v1, u2, v2, lane, point)
        return plain
    reach = max(abs(dv) * 0.45, 40.0)
    span = BLOCK_W if lr else BLOCK_H
    bow = BLOCK_W * 0.75 if dv > 2.2 * span and abs(u2 - u1) < BLOCK_W * 0.6 else 0.0
    return _plain(u1, v1, u2, v2, point, bow, reach)


def _plain(u1: float, v1: float, u2: float, v2: float, point, bow: float,
           reach: float | None = None) -> QPainterPath:
    if reach is None:
        reach = max(abs(v2 - v1) * 0.45, 40.0)
    path = QPainterPath(point(u1, v1))
    path.cubicTo(point(u1 + bow, v1 + reach), point(u2 + bow, v2 - reach), point(u2, v2))
    return path


def _flow_rect(rect: QRectF, lr: bool) -> tuple[float, float, float, float]:
    """(across_lo, along_lo, across_hi, along_hi)."""
    if lr:
        return (rect.top(), rect.left(), rect.bottom(), rect.right())
    return (rect.left(), rect.top(), rect.right(), rect.bottom())


def _hits(path: QPainterPath, obstacles: list[QRectF]) -> bool:
    samples = [path.pointAtPercent(k / 24) for k in range(1, 24)]
    for rect in obstacles:
        inner = rect.adjusted(-CLEAR, -CLEAR, CLEAR, CLEAR)
        if any(inner.contains(p) for p in samples):
            return True
    return False


def _lane(u1: float, u2: float, boxes: list[tuple[float, float, float, float]]
          ) -> float | None:
    """The free line along the flow for a routed edge: the target's own line (the edge
    turns with the others its source fans out to, then arrives straight), else the
    source's (it leaves straight and turns with the others its target merges), else the
    one beside a block in the way nearest to both ends (ties go right)."""
    candidates = {u2, u1}
    for lo, _a, hi, _b in boxes:
        candidates.add(lo - LANE_GAP)
        candidates.add(hi + LANE_GAP)
    margin = LANE_GAP - 2
    free = [c for c in candidates
            if not any(lo - margin < c < hi + margin for lo, _a, hi, _b in boxes)]
    if not free:
        return None
    return min(free, key=lambda c: (0 if c == u2 else 1 if c == u1 else 2,
                                    abs(c - u1) + abs(c - u2), -c))


def _routed(u1: float, v1: float, u2: float, v2: float, lane: float, point) -> QPainterPath:
    turn = min(LANE_TURN, (v2 - v1) / 3)
    a, b = v1 + turn, v2 - turn
    path = QPainterPath(point(u1, v1))
    path.cubicTo(point(u1, v1 + turn / 2), point(lane, v1 + turn / 2), point(lane, a))
    path.lineTo(point(lane, b))
    path.cubicTo(point(lane, b + turn / 2), point(u2, v2 - turn / 2), point(u2, v2))
    return path


def _arrow(path: QPainterPath) -> QPolygonF:
    """The arrowhead, its tip touching the input port's dot (drawn over the curve's end)."""
    from math import cos, radians, sin

    a = radians(path.angleAtPercent(0.99))
    back = QPointF(-cos(a), sin(a))
    tip = path.pointAtPercent(1.0) + back * (PORT_R + 0.5)
    side = QPointF(sin(a), cos(a)) * 4
    return QPolygonF([tip, tip + back * 8 + side, tip + back * 8 - side])
