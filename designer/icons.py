"""Icons drawn with QPainter at whatever size and pixel ratio they are shown (no image files),
so they stay crisp on high-DPI screens."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QIconEngine, QPainter, QPainterPath, QPen, QPixmap

from engine.layers import base

Glyph = Callable[[QPainter, QRectF, QColor], None]


class _Engine(QIconEngine):
    def __init__(self, glyph: Glyph, color: QColor) -> None:
        super().__init__()
        self.glyph = glyph
        self.color = color

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode,  # noqa: D401
              state: QIcon.State) -> None:
        color = QColor(self.color)
        if mode == QIcon.Mode.Disabled:
            color.setAlpha(90)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        side = min(rect.width(), rect.height())
        box = QRectF(rect.x() + (rect.width() - side) / 2, rect.y() + (rect.height() - side) / 2,
                     side, side).adjusted(side * 0.08, side * 0.08, -side * 0.08, -side * 0.08)
        self.glyph(painter, box, color)
        painter.restore()

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        pixmap = QPixmap(size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        self.paint(painter, QRect(0, 0, size.width(), size.height()), mode, state)
        painter.end()
        return pixmap

    def clone(self) -> QIconEngine:
        return _Engine(self.glyph, self.color)


def _pen(color: QColor, r: QRectF, width: float = 0.08) -> QPen:
    pen = QPen(color, max(1.0, r.width() * width))
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    return pen


def _conv(p: QPainter, r: QRectF, c: QColor) -> None:
    p.setPen(_pen(c, r, 0.06))
    step = r.width() / 4
    for i in range(5):
        p.drawLine(QPointF(r.left() + i * step, r.top()), QPointF(r.left() + i * step, r.bottom()))
        p.drawLine(QPointF(r.left(), r.top() + i * step), QPointF(r.right(), r.top() + i * step))
    kernel = QColor(c)
    kernel.setAlpha(150)
    p.fillRect(QRectF(r.left(), r.top(), step * 2, step * 2), kernel)


def _pool(p: QPainter, r: QRectF, c: QColor) -> None:
    p.setPen(_pen(c, r, 0.07))
    half = r.width() / 2
    for dx in (0, half / 2):
        for dy in (0, half / 2):
            p.drawRect(QRectF(r.left() + dx, r.top() + dy, half / 2, half / 2))
    p.setBrush(c)
    p.drawRect(QRectF(r.right() - half * 0.6, r.bottom() - half * 0.6, half * 0.6, half * 0.6))
    p.drawLine(QPointF(r.left() + half * 1.05, r.top() + half * 0.5),
               QPointF(r.right() - half * 0.3, r.bottom() - half * 0.7))


def _dense(p: QPainter, r: QRectF, c: QColor) -> None:
    left = [QPointF(r.left() + r.width() * 0.15, r.top() + r.height() * f) for f in (.2, .5, .8)]
    right = [QPointF(r.right() - r.width() * 0.15, r.top() + r.height() * f) for f in (.35, .65)]
    p.setPen(_pen(c, r, 0.04))
    for a in left:
        for b in right:
            p.drawLine(a, b)
    p.setBrush(c)
    for point in left + right:
        p.drawEllipse(point, r.width() * 0.1, r.width() * 0.1)


def _norm(p: QPainter, r: QRectF, c: QColor) -> None:
    path = QPainterPath(QPointF(r.left(), r.bottom()))
    path.cubicTo(QPointF(r.center().x() - r.width() * 0.15, r.bottom()),
                 QPointF(r.center().x() - r.width() * 0.2, r.top()),
                 QPointF(r.center().x(), r.top()))
    path.cubicTo(QPointF(r.center().x() + r.width() * 0.2, r.top()),
                 QPointF(r.center().x() + r.width() * 0.15, r.bottom()),
                 QPointF(r.right(), r.bottom()))
    p.setPen(_pen(c, r))
    p.drawPath(path)


def _dropout(p: QPainter, r: QRectF, c: QColor) -> None:
    p.setPen(_pen(c, r, 0.06))
    rad = r.width() * 0.12
    for i, fx in enumerate((0.2, 0.5, 0.8)):
        for j, fy in enumerate((0.2, 0.5, 0.8)):
            centre = QPointF(r.left() + r.width() * fx, r.top() + r.height() * fy)
            if (i + j) % 3 == 1:
                p.setBrush(Qt.BrushStyle.NoBrush)
            else:
                p.setBrush(c)
            p.drawEllipse(centre, rad, rad)


def _activation(p: QPainter, r: QRectF, c: QColor) -> None:
    p.setPen(_pen(c, r, 0.05))
    p.drawLine(QPointF(r.left(), r.center().y()), QPointF(r.right(), r.center().y()))
    p.setPen(_pen(c, r, 0.1))
    p.drawPolyline([QPointF(r.left(), r.center().y()), QPointF(r.center().x(), r.center().y()),
                    QPointF(r.right(), r.top())])


def _reshape(p: QPainter, r: QRectF, c: QColor) -> None:
    p.setPen(_pen(c, r, 0.07))
    p.drawRect(QRectF(r.left(), r.top(), r.width() * 0.45, r.height() * 0.45))
    p.drawRect(QRectF(r.left(), r.bottom() - r.height() * 0.12, r.width(), r.height() * 0.12))
    p.drawLine(QPointF(r.left() + r.width() * 0.22, r.top() + r.height() * 0.5),
               QPointF(r.left() + r.width() * 0.22, r.bottom() - r.height() * 0.2))


def _merge(p: QPainter, r: QRectF, c: QColor) -> None:
    p.setPen(_pen(c, r, 0.09))
    mid = QPointF(r.center().x(), r.center().y() + r.height() * 0.1)
    p.drawLine(QPointF(r.left(), r.top()), mid)
    p.drawLine(QPointF(r.right(), r.top()), mid)
    p.drawLine(mid, QPointF(r.center().x(), r.bottom()))


def _io(p: QPainter, r: QRectF, c: QColor) -> None:
    p.setPen(_pen(c, r, 0.09))
    p.drawRect(QRectF(r.center().x(), r.top(), r.width() / 2, r.height()))
    p.drawLine(QPointF(r.left(), r.center().y()), QPointF(r.center().x() + r.width() * 0.25,
                                                         r.center().y()))
    tip = QPointF(r.center().x() + r.width() * 0.25, r.center().y())
    p.drawLine(tip, tip + QPointF(-r.width() * 0.18, -r.height() * 0.18))
    p.drawLine(tip, tip + QPointF(-r.width() * 0.18, r.height() * 0.18))


def _backbone(p: QPainter, r: QRectF, c: QColor) -> None:
    p.setPen(_pen(c, r, 0.06))
    fill = QColor(c)
    fill.setAlpha(70)
    p.setBrush(fill)
    for k in range(3):
        off = k * r.width() * 0.15
        p.drawRect(QRectF(r.left() + off, r.top() + off, r.width() * 0.7, r.height() * 0.7))


def _group(p: QPainter, r: QRectF, c: QColor) -> None:
    pen = _pen(c, r, 0.06)
    pen.setStyle(Qt.PenStyle.DashLine)
    p.setPen(pen)
    p.drawRoundedRect(r, r.width() * 0.12, r.width() * 0.12)
    p.setPen(_pen(c, r, 0.06))
    p.setBrush(c)
    p.drawRect(QRectF(r.left() + r.width() * 0.2, r.top() + r.height() * 0.25,
                      r.width() * 0.25, r.height() * 0.5))
    p.drawRect(QRectF(r.left() + r.width() * 0.55, r.top() + r.height() * 0.25,
                      r.width() * 0.25, r.height() * 0.5))


def _arrange(p: QPainter, r: QRectF, c: QColor) -> None:
    p.setPen(_pen(c, r, 0.07))
    p.setBrush(c)
    w = r.width() * 0.3
    boxes = [QRectF(r.center().x() - w / 2, r.top(), w, w * 0.6),
             QRectF(r.left(), r.bottom() - w * 0.6, w, w * 0.6),
             QRectF(r.right() - w, r.bottom() - w * 0.6, w, w * 0.6)]
    for box in boxes:
        p.drawRect(box)
    p.drawLine(boxes[0].center(), boxes[1].center())
    p.drawLine(boxes[0].center(), boxes[2].center())


def _problem(p: QPainter, r: QRectF, c: QColor) -> None:
    p.setPen(_pen(c, r, 0.08))
    p.setBrush(Qt.BrushStyle.NoBrush)
    path = QPainterPath(QPointF(r.center().x(), r.top()))
    path.lineTo(r.right(), r.bottom())
    path.lineTo(r.left(), r.bottom())
    path.closeSubpath()
    p.drawPath(path)
    p.drawLine(QPointF(r.center().x(), r.top() + r.height() * 0.35),
               QPointF(r.center().x(), r.top() + r.height() * 0.65))
    p.drawPoint(QPointF(r.center().x(), r.top() + r.height() * 0.82))


def _page(r: QRectF) -> QPainterPath:
    fold = r.width() * 0.3
    left, right = r.left() + r.width() * 0.15, r.right() - r.width() * 0.15
    path = QPainterPath(QPointF(left, r.top()))
    path.lineTo(right - fold, r.top())
    path.lineTo(right, r.top() + fold)
    path.lineTo(right, r.bottom())
    path.lineTo(left, r.bottom())
    path.closeSubpath()
    return path


def _new(p: QPainter, r: QRectF, c: QColor) -> None:
    p.setPen(_pen(c, r, 0.07))
    fill = QColor(c)
    fill.setAlpha(40)
    p.setBrush(fill)
    p.drawPath(_page(r))
    fold = r.width() * 0.3
    corner = QPointF(r.right() - r.width() * 0.15 - fold, r.top() + fold)
    p.drawPolyline([corner - QPointF(0, fold), corner, corner + QPointF(fold, 0)])


def _open(p: QPainter, r: QRectF, c: QColor) -> None:
    p.setPen(_pen(c, r, 0.07))
    fill = QColor(c)
    fill.setAlpha(60)
    top, tab = r.top() + r.height() * 0.18, r.top() + r.height() * 0.32
    back = QPainterPath(QPointF(r.left(), r.bottom()))
    back.lineTo(r.left(), top)
    back.lineTo(r.left() + r.width() * 0.35, top)
    back.lineTo(r.left() + r.width() * 0.45, tab)
    back.lineTo(r.right() - r.width() * 0.1, tab)
    back.lineTo(r.right() - r.width() * 0.1, r.top() + r.height() * 0.45)
    p.drawPath(back)
    p.setBrush(fill)
    front = QPainterPath(QPointF(r.left(), r.bottom()))
    front.lineTo(r.left() + r.width() * 0.18, r.top() + r.height() * 0.45)
    front.lineTo(r.right(), r.top() + r.height() * 0.45)
    front.lineTo(r.right() - r.width() * 0.18, r.bottom())
    front.closeSubpath()
    p.drawPath(front)


def _save(p: QPainter, r: QRectF, c: QColor) -> None:
    p.setPen(_pen(c, r, 0.07))
    fill = QColor(c)
    fill.setAlpha(40)
    p.setBrush(fill)
    p.drawRoundedRect(r.adjusted(r.width() * 0.05, r.height() * 0.05, -r.width() * 0.05,
                                 -r.height() * 0.05), r.width() * 0.08, r.width() * 0.08)
    p.setBrush(c)
    p.drawRect(QRectF(r.left() + r.width() * 0.28, r.top() + r.height() * 0.05,
                      r.width() * 0.44, r.height() * 0.28))
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawRect(QRectF(r.left() + r.width() * 0.22, r.top() + r.height() * 0.55,
                      r.width() * 0.56, r.height() * 0.4))


def _arrow(p: QPainter, r: QRectF, c: QColor, back: bool) -> None:
    p.setPen(_pen(c, r, 0.1))
    y = r.center().y()
    tip, tail = (r.left(), r.right()) if back else (r.right(), r.left())
    head = r.width() * (0.35 if back else -0.35)
    p.drawLine(QPointF(tail, y), QPointF(tip, y))
    p.drawPolyline([QPointF(tip + head, y - abs(head)), QPointF(tip, y),
                    QPointF(tip + head, y + abs(head))])


def _train(p: QPainter, r: QRectF, c: QColor) -> None:
    """A play triangle: start training."""
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor("#2e9d4f") if c.alpha() == 255 else c)
    p.drawPolygon([QPointF(r.left() + r.width() * 0.22, r.top() + r.height() * 0.12),
                   QPointF(r.right() - r.width() * 0.1, r.center().y()),
                   QPointF(r.left() + r.width() * 0.22, r.bottom() - r.height() * 0.12)])


def _stop(p: QPainter, r: QRectF, c: QColor) -> None:
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor("#c8412f") if c.alpha() == 255 else c)
    p.drawRect(r.adjusted(r.width() * 0.2, r.height() * 0.2, -r.width() * 0.2,
                          -r.height() * 0.2))


GLYPHS: dict[str, Glyph] = {
    "new": _new, "open": _open, "save": _save,
    "undo": lambda p, r, c: _arrow(p, r, c, back=True),
    "redo": lambda p, r, c: _arrow(p, r, c, back=False),
    base.FEATURE_CONV: _conv, base.FEATURE_POOL: _pool, base.CLASSIFICATION: _dense,
    base.NORMALIZATION: _norm, base.REGULARIZATION: _dropout, base.ACTIVATION: _activation,
    base.RESHAPE: _reshape, base.MERGE: _merge, base.IO: _io, base.BACKBONES: _backbone,
    "group": _group, "arrange": _arrange, "problem": _problem, "train": _train,
    "stop": _stop,
}

_CACHE: dict[tuple[str, str], QIcon] = {}


def icon(name: str, color: QColor | None = None) -> QIcon:
    """The icon for a palette category (or 'group', 'arrange')."""
    color = color or QColor("#4a78b8")
    key = (name, color.name())
    if key not in _CACHE:
        _CACHE[key] = QIcon(_Engine(GLYPHS.get(name, _backbone), color))
    return _CACHE[key]
