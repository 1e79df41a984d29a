"""Graphics items: thin views of engine ids. Each paints what faces.py reads from the engine.

Blocks are cached in device coordinates and drawn without text when zoomed far out
(level of detail), so a 1,000-block canvas stays smooth (DESIGN.md canvas notes).
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
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
    QGraphicsRectItem,
    QStyle,
    QStyleOptionGraphicsItem,
    QWidget,
)

from designer import theme
from designer.canvas.faces import Face, block_face
from engine.graph import Edge
from engine.layers import REGISTRY
from engine.summary import human_count

BLOCK_W, BLOCK_H = 210.0, 84.0
LAYOUT_GAP = (40.0, 72.0)  # auto-arrange: between neighbours, between layers (edge labels)
PORT_R = 5.0
PORT_HIT = 12.0
LOD_TEXT = 0.45  # below this zoom, blocks are boxes with at most their name
LOD_NAMES = 0.12  # below this zoom, boxes without text
BAR_H = 3.0
PAD = 8.0

_FONTS: dict[str, QFont] = {}


def font(role: str) -> QFont:
    """Fonts for the canvas, made once (after the application exists)."""
    if not _FONTS:
        base = QFont()
        title = QFont(base)
        title.setPointSizeF(9.5)
        title.setBold(True)
        small = QFont(base)
        small.setPointSizeF(7.5)
        body = QFont(base)
        body.setPointSizeF(8.5)
        shape = QFont(base)
        shape.setPointSizeF(8.5)
        shape.setBold(True)
        _FONTS.update(title=title, small=small, body=body, shape=shape)
    return _FONTS[role]


def elide(text: str, role: str, width: float) -> str:
    return QFontMetricsF(font(role)).elidedText(text, Qt.TextElideMode.ElideRight, width)


CATEGORY_HUES = {}  # category -> hue, filled on first use from the registry's order


def category_color(kind_id: str) -> QColor:
    if not CATEGORY_HUES:
        from engine.layers.base import CATEGORIES

        for i, category in enumerate(CATEGORIES):
            CATEGORY_HUES[category] = (i * 67 + 200) % 360
    if kind_id not in REGISTRY:
        return QColor("#888888")
    hue = CATEGORY_HUES.get(REGISTRY.get(kind_id).category, 0)
    return QColor.fromHsl(hue, 140, 120)


class BlockItem(QGraphicsRectItem):
    """A block, or a collapsed group drawn as one block with its border shapes.

    A rect item only for its geometry: Qt then answers boundingRect() in C++, which it asks
    for hundreds of times per frame while panning."""

    def __init__(self, node_id: str, is_group: bool = False) -> None:
        m = PORT_R + 3
        super().__init__(-m, -m, BLOCK_W + 2 * m, BLOCK_H + 2 * m)
        self.setPen(QPen(Qt.PenStyle.NoPen))
        self.node_id = node_id
        self.is_group = is_group
        self.bar_px = 0  # the share bar's width, kept to repaint only when it changes
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setAcceptHoverEvents(True)
        self.setZValue(2)

    # geometry -----------------------------------------------------------
    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRect(QRectF(-PORT_R, -PORT_R, BLOCK_W + 2 * PORT_R, BLOCK_H + 2 * PORT_R))
        return path

    def _direction(self) -> str:
        scene = self.scene()
        return scene.doc.direction if scene is not None and scene.doc else "TB"

    def port_pos(self, which: str) -> QPointF:
        """A port's centre in this item's coordinates ('in' or 'out')."""
        if self._direction() == "LR":
            return QPointF(0.0 if which == "in" else BLOCK_W, BLOCK_H / 2)
        return QPointF(BLOCK_W / 2, 0.0 if which == "in" else BLOCK_H)

    def scene_port(self, which: str) -> QPointF:
        return self.mapToScene(self.port_pos(which))

    def has_input(self) -> bool:
        if self.is_group:
            return True
        node = self.scene().doc.graph.nodes.get(self.node_id)
        return not (node and node.kind in REGISTRY and REGISTRY.get(node.kind).arity == 0)

    def port_at(self, local: QPointF) -> str | None:
        for which in ("out", "in"):
            if which == "in" and not self.has_input():
                continue
            delta = local - self.port_pos(which)
            if abs(delta.x()) <= PORT_HIT and abs(delta.y()) <= PORT_HIT:
                return which
        return None

    def face(self) -> Face:
        return block_face(self.scene().doc, self.node_id)

    def hoverEnterEvent(self, event) -> None:  # noqa: N802
        self.setToolTip(self.face().tooltip)
        super().hoverEnterEvent(event)

    # painting -----------------------------------------------------------
    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        colors = theme.colors()
        face = self.face()
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        rect = QRectF(0, 0, BLOCK_W, BLOCK_H)
        fill = colors.group if self.is_group else colors.block
        border = colors.block_border
        width = 1.0
        if face.status == "problem":
            border, width = colors.problem, 2.5
        if selected:
            border, width = colors.selection, 2.5
        if lod < LOD_TEXT:
            self._paint_overview(painter, face, lod, rect, fill, border, selected)
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self.is_group:  # a stack of cards: one block that holds several
            painter.setPen(QPen(colors.block_border, 1))
            painter.setBrush(fill.darker(105))
            painter.drawRoundedRect(rect.translated(4, 4), 6, 6)
        painter.setPen(QPen(border, width))
        painter.setBrush(fill)
        painter.drawRoundedRect(rect, 6, 6)
        node = self.scene().doc.graph.nodes.get(self.node_id)
        if node is not None and not self.is_group:
            painter.fillRect(QRectF(1.5, 6, 3, BLOCK_H - 12), category_color(node.kind))
        self._paint_text(painter, face, colors)
        track = QRectF(PAD, BLOCK_H - PAD, BLOCK_W - 2 * PAD, BAR_H)
        painter.fillRect(track, colors.grid)
        painter.fillRect(QRectF(track.x(), track.y(), self.bar_px, BAR_H), colors.bar)
        self._paint_ports(painter, colors)
        if face.status == "problem":
            badge = QRectF(BLOCK_W - 20, -8, 16, 16)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(colors.problem)
            painter.drawEllipse(badge)
            painter.setPen(QColor("white"))
            painter.setFont(font("shape"))
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, "!")

    def _paint_overview(self, painter: QPainter, face: Face, lod: float, rect: QRectF,
                        fill: QColor, border: QColor, selected: bool) -> None:
        """Zoomed far out: a box, its share bar and, while it can be read, its name."""
        colors = theme.colors()
        problem = face.status == "problem"
        painter.fillRect(rect, fill)
        painter.fillRect(QRectF(0, BLOCK_H - 4 * BAR_H, self.bar_px, 4 * BAR_H), colors.bar)
        pen = QPen(border, (3.0 if selected or problem else 1.0) / max(lod, 0.02))
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(rect)
        if lod >= LOD_NAMES:
            big = QFont(font("title"))
            big.setPixelSize(max(10, min(int(11 / lod), 40)))
            painter.setFont(big)
            painter.setPen(colors.problem if problem else colors.text)
            painter.drawText(rect.adjusted(6, 4, -6, -4 * BAR_H), Qt.AlignmentFlag.AlignCenter,
                             QFontMetricsF(big).elidedText(face.title,
                                                           Qt.TextElideMode.ElideRight,
                                                           BLOCK_W - 12))

    def _paint_text(self, painter: QPainter, face: Face, colors: theme.CanvasColors) -> None:
        inner = BLOCK_W - 2 * PAD - 2
        left = PAD + 2
        kind_w = min(QFontMetricsF(font("small")).horizontalAdvance(face.kind) + 2, inner / 2)
        painter.setFont(font("small"))
        painter.setPen(colors.muted)
        painter.drawText(QRectF(BLOCK_W - PAD - kind_w, 6, kind_w, 16),
                         Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                         elide(face.kind, "small", kind_w))
        painter.setFont(font("title"))
        painter.setPen(colors.text)
        painter.drawText(QRectF(left, 5, inner - kind_w - 4, 18),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         elide(face.title, "title", inner - kind_w - 4))
        painter.setFont(font("body"))
        painter.drawText(QRectF(left, 24, inner, 18),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         elide(face.detail, "body", inner))
        if face.status == "problem":
            line, color, role = face.problem, colors.problem, "body"
        elif face.status == "unknown":
            line, color, role = "shape unknown (problem upstream)", colors.unknown, "body"
        else:
            line, color, role = f"→ {face.shape}", colors.accent, "shape"
        params_w = 0.0
        if face.status == "ok":
            params = f"{face.params:,} params"
            params_w = min(QFontMetricsF(font("small")).horizontalAdvance(params) + 2,
                           inner * 0.45)
            painter.setFont(font("small"))
            painter.setPen(colors.muted)
            painter.drawText(QRectF(BLOCK_W - PAD - params_w, 44, params_w, 18),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                             elide(params, "small", params_w))
            if face.macs:
                painter.drawText(QRectF(left, 60, inner, 12),
                                 Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                                 f"{human_count(face.macs)} MACs")
        painter.setFont(font(role))
        painter.setPen(color)
        room = inner - params_w - 6
        painter.drawText(QRectF(left, 44, room, 18),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         elide(line, role, room))

    def _paint_ports(self, painter: QPainter, colors: theme.CanvasColors) -> None:
        painter.setPen(QPen(colors.block, 1.5))
        painter.setBrush(colors.port)
        for which in ("in", "out"):
            if which == "in" and not self.has_input():
                continue
            painter.drawEllipse(self.port_pos(which), PORT_R, PORT_R)


class GroupFrameItem(QGraphicsItem):
    """An expanded group: a frame behind its members with a title bar to select, move or
    collapse it."""

    HEADER = 24.0

    def __init__(self, node_id: str) -> None:
        super().__init__()
        self.node_id = node_id
        self.rect = QRectF(0, 0, BLOCK_W, BLOCK_H)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setAcceptHoverEvents(True)
        self.setZValue(-1)

    def set_rect(self, rect: QRectF) -> None:
        if rect != self.rect:
            self.prepareGeometryChange()
            self.rect = QRectF(rect)

    def boundingRect(self) -> QRectF:  # noqa: N802
        return self.rect.adjusted(-2, -2, 2, 2)

    def header_rect(self) -> QRectF:
        return QRectF(self.rect.x(), self.rect.y(), self.rect.width(), self.HEADER)

    def toggle_rect(self) -> QRectF:
        head = self.header_rect()
        return QRectF(head.right() - 22, head.y() + 3, 18, 18)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRect(self.header_rect())
        return path

    def hoverEnterEvent(self, event) -> None:  # noqa: N802
        self.setToolTip(block_face(self.scene().doc, self.node_id).tooltip
                        + "<br><i>Double-click the title or press − to collapse.</i>")
        super().hoverEnterEvent(event)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        colors = theme.colors()
        face = block_face(self.scene().doc, self.node_id)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        fill = QColor(colors.group)
        fill.setAlpha(150)
        border = colors.problem if face.status == "problem" else colors.group_frame
        if selected:
            border = colors.selection
        painter.setPen(QPen(border, 2.0 if selected or face.status == "problem" else 1.2,
                            Qt.PenStyle.DashLine))
        painter.setBrush(fill)
        painter.drawRoundedRect(self.rect, 8, 8)
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        if lod < LOD_TEXT:
            return
        head = self.header_rect()
        painter.setPen(colors.text)
        painter.setFont(font("title"))
        text = f"{face.title}  ·  {face.kind}  ·  {face.counts}"
        painter.drawText(head.adjusted(10, 0, -28, 0),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         elide(text, "title", head.width() - 40))
        toggle = self.toggle_rect()
        painter.setPen(QPen(colors.muted, 1.2))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(toggle, 3, 3)
        painter.drawLine(QPointF(toggle.left() + 4, toggle.center().y()),
                         QPointF(toggle.right() - 4, toggle.center().y()))


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
        text = self._label_text = self.label()
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
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
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
    tip = path.pointAtPercent(1.0)
    angle = path.angleAtPercent(0.99)
    from math import cos, radians, sin

    a = radians(angle)
    back = QPointF(-cos(a), sin(a)) * 8
    side = QPointF(sin(a), cos(a)) * 4
    return QPolygonF([tip, tip + back + side, tip + back - side])
