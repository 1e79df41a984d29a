"""Graphics items: thin views of engine ids. Each paints what faces.py reads from the engine.

Blocks are cached in device coordinates and drawn without text when zoomed far out
(level of detail), so a 1,000-block canvas stays smooth (DESIGN.md canvas notes).
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QPainter,
    QPainterPath,
    QPen,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsRectItem,
    QStyleOptionGraphicsItem,
    QWidget,
)

from designer import theme
from designer.canvas import marks
from designer.canvas.faces import Face, block_face
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
    """Fonts for the canvas, made once (after the application exists). Names and shapes
    are the application's own size, so a block reads at 100 % like the rest of the window."""
    if not _FONTS:
        base = QFont()
        size = base.pointSizeF() if base.pointSizeF() > 0 else 9.0
        title = QFont(base)
        title.setPointSizeF(size)
        title.setBold(True)
        small = QFont(base)
        small.setPointSizeF(size * 0.85)
        body = QFont(base)
        body.setPointSizeF(size * 0.95)
        shape = QFont(base)
        shape.setPointSizeF(size)
        shape.setBold(True)
        _FONTS.update(title=title, small=small, body=body, shape=shape)
    return _FONTS[role]


def elide(text: str, role: str, width: float) -> str:
    return QFontMetricsF(font(role)).elidedText(text, Qt.TextElideMode.ElideRight, width)


def elide_name(text: str, role: str, width: float) -> str:
    """A name too long for its room keeps both ends ("branch…_proj"): blocks side by side
    differ at the end of their names more often than at the start."""
    return QFontMetricsF(font(role)).elidedText(text, Qt.TextElideMode.ElideMiddle, width)


def two_lines(text: str, role: str, width: float) -> list[str]:
    """``text`` broken between words into at most two lines, the second elided."""
    metrics = QFontMetricsF(font(role))
    words = text.split(" ")
    first = words[0]
    k = 1
    while k < len(words) and metrics.horizontalAdvance(f"{first} {words[k]}") <= width:
        first = f"{first} {words[k]}"
        k += 1
    if k == len(words):
        return [elide(first, role, width)]
    return [elide(first, role, width), elide(" ".join(words[k:]), role, width)]


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
        selected = self.isSelected()
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
        marks.paint_frozen(painter, rect, 6, face.marks)
        node = self.scene().doc.graph.nodes.get(self.node_id)
        if node is not None and not self.is_group:
            painter.fillRect(QRectF(1.5, 6, 3, BLOCK_H - 12), category_color(node.kind))
        self._paint_text(painter, face, colors)
        track = QRectF(PAD, BLOCK_H - PAD, BLOCK_W - 2 * PAD, BAR_H)
        painter.fillRect(track, colors.grid)
        painter.fillRect(QRectF(track.x(), track.y(), self.bar_px, BAR_H), colors.bar)
        self._paint_ports(painter, colors)
        right = BLOCK_W - 4
        if face.status == "problem":
            badge = QRectF(BLOCK_W - 20, -8, 16, 16)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(colors.problem)
            painter.drawEllipse(badge)
            painter.setPen(QColor("white"))
            painter.setFont(font("shape"))
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, "!")
            right -= 20
        for text, color in marks.badges(face.marks):
            marks.paint_badge(painter, QRectF(right - marks.BADGE, -8, marks.BADGE,
                                              marks.BADGE), text, color,
                              faded=text == "❄" and face.marks.frozen == "some")
            right -= marks.BADGE + 4

    def _paint_overview(self, painter: QPainter, face: Face, lod: float, rect: QRectF,
                        fill: QColor, border: QColor, selected: bool) -> None:
        """Zoomed far out: a box, its share bar and, while it can be read, its name."""
        colors = theme.colors()
        problem = face.status == "problem"
        painter.fillRect(rect, fill)
        if face.marks.frozen == "all":
            painter.fillRect(rect, marks.frozen_brush())
        painter.fillRect(QRectF(0, BLOCK_H - 4 * BAR_H, self.bar_px, 4 * BAR_H), colors.bar)
        pen = QPen(border, (3.0 if selected or problem else 1.0) / max(lod, 0.02))
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(rect)
        if lod < LOD_NAMES:
            return
        # Names (and output shapes while they fit) at a constant size on screen.
        area = rect.adjusted(6, 1, -6, -4 * BAR_H)
        big = QFont(font("title"))
        big.setPixelSize(max(10, min(int(11 / lod), 40)))
        small = QFont(font("body"))
        small.setPixelSize(max(9, min(int(9.5 / lod), 34)))
        h1, h2 = QFontMetricsF(big).height(), QFontMetricsF(small).height()
        shape = face.shape if face.status == "ok" else ""
        if not shape or h1 + h2 > area.height():
            h2, shape = 0.0, ""
        top = area.center().y() - (h1 + h2) / 2
        painter.setFont(big)
        painter.setPen(colors.problem if problem else colors.text)
        painter.drawText(QRectF(area.left(), top, area.width(), h1),
                         Qt.AlignmentFlag.AlignCenter,
                         QFontMetricsF(big).elidedText(face.title, Qt.TextElideMode.ElideMiddle,
                                                       area.width()))
        if shape:
            painter.setFont(small)
            painter.setPen(colors.accent)
            painter.drawText(QRectF(area.left(), top + h1, area.width(), h2),
                             Qt.AlignmentFlag.AlignCenter,
                             QFontMetricsF(small).elidedText(shape, Qt.TextElideMode.ElideRight,
                                                             area.width()))

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
        painter.drawText(QRectF(left, 4, inner - kind_w - 4, 20),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         self.title_text(face))
        painter.setFont(font("body"))
        painter.drawText(QRectF(left, 24, inner, 18),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         elide(face.detail, "body", inner))
        if face.status != "ok":
            # The problem (or why the shape is unknown) gets the two bottom lines.
            text, color = ((face.problem, colors.problem) if face.status == "problem" else
                           ("shape unknown (problem upstream)", colors.unknown))
            painter.setFont(font("body"))
            painter.setPen(color)
            for k, line in enumerate(two_lines(text, "body", inner)):
                painter.drawText(QRectF(left, 42 + 15 * k, inner, 16),
                                 Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                                 line)
            return
        line = f"→ {face.shape}"
        room = QFontMetricsF(font("shape")).horizontalAdvance(line) + 2
        painter.setFont(font("shape"))
        painter.setPen(colors.accent)
        painter.drawText(QRectF(left, 44, inner, 18),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         elide(line, "shape", inner))
        params = f"{face.params:,} params"
        metrics = QFontMetricsF(font("small"))
        params_w = inner - room - 6
        if metrics.horizontalAdvance(params) > params_w:
            params = f"{human_count(face.params)} params"  # 11.70 M params
        painter.setFont(font("small"))
        painter.setPen(colors.muted)
        if params_w > 0:
            painter.drawText(QRectF(BLOCK_W - PAD - params_w, 44, params_w, 18),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                             elide(params, "small", params_w))
        if face.macs:
            painter.drawText(QRectF(left, 60, inner, 12),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                             f"{human_count(face.macs)} MACs")

    def title_text(self, face: Face | None = None) -> str:
        """The name as drawn at 100 %: shortened inside a group, elided in the middle."""
        face = face or self.face()
        inner = BLOCK_W - 2 * PAD - 2
        kind_w = min(QFontMetricsF(font("small")).horizontalAdvance(face.kind) + 2, inner / 2)
        return elide_name(face.title, "title", inner - kind_w - 4)

    def _paint_ports(self, painter: QPainter, colors: theme.CanvasColors) -> None:
        painter.setPen(QPen(colors.block, 1.5))
        painter.setBrush(colors.port)
        for which in ("in", "out"):
            if which == "in" and not self.has_input():
                continue
            painter.drawEllipse(self.port_pos(which), PORT_R, PORT_R)


class GroupFrameItem(QGraphicsItem):
    """An expanded group's title bar, to select, move or collapse it. It is drawn above
    the connections (they pass under it, never over its title); the dashed frame behind
    the members is its ``body``, drawn below everything."""

    HEADER = 24.0

    def __init__(self, node_id: str) -> None:
        super().__init__()
        self.node_id = node_id
        self.rect = QRectF(0, 0, BLOCK_W, BLOCK_H)
        self.body = GroupBodyItem(self)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges)
        self.setAcceptHoverEvents(True)
        self.setZValue(1.5)  # above edges (1), below blocks (2)

    def itemChange(self, change, value):  # noqa: N802
        if change == QGraphicsItem.GraphicsItemChange.ItemVisibleHasChanged:
            self.body.setVisible(bool(value))
        elif change == QGraphicsItem.GraphicsItemChange.ItemSelectedHasChanged:
            self.body.update()
        return super().itemChange(change, value)

    def set_rect(self, rect: QRectF) -> None:
        if rect != self.rect:
            self.prepareGeometryChange()
            self.rect = QRectF(rect)
            self.body.follow()

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

    def colors(self) -> tuple[QColor, QColor, float]:
        colors = theme.colors()
        face = block_face(self.scene().doc, self.node_id)
        selected = self.isSelected()
        border = colors.problem if face.status == "problem" else colors.group_frame
        if selected:
            border = colors.selection
        return colors.group, border, 2.0 if selected or face.status == "problem" else 1.2

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        colors = theme.colors()
        face = block_face(self.scene().doc, self.node_id)
        fill, border, width = self.colors()
        head = self.header_rect()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        # Opaque, with the frame's top corners: what passes under it does not show.
        path = QPainterPath()
        path.addRoundedRect(head, 8, 8)
        path.addRect(head.adjusted(0, 10, 0, 0))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(fill)
        painter.drawPath(path.simplified())
        painter.setPen(QPen(border, width))
        painter.drawLine(head.bottomLeft() + QPointF(1, 0), head.bottomRight() - QPointF(1, 0))
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        if lod < LOD_TEXT:
            return
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


class GroupBodyItem(QGraphicsItem):
    """The dashed frame around an expanded group's members, behind everything."""

    def __init__(self, header: GroupFrameItem) -> None:
        super().__init__()
        self.header = header
        self.setZValue(-1)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    def follow(self) -> None:
        self.prepareGeometryChange()
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802
        return self.header.rect.adjusted(-2, -2, 2, 2)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        if self.header.scene() is None:
            return
        group, border, width = self.header.colors()
        fill = QColor(group)
        fill.setAlpha(150)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(border, width, Qt.PenStyle.DashLine))
        painter.setBrush(fill)
        painter.drawRoundedRect(self.header.rect, 8, 8)
