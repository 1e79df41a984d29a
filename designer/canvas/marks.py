"""What a block shows about training: frozen (lr_mult 0) or a learning-rate multiplier, and
where its weights come from (imported, trained, fresh, or stale: re-initialised because an
edit made the stored ones no longer fit). Read from the engine each time, like faces.py.

One cue each on the canvas: a hatched fill and a snowflake badge for frozen blocks, a "W"
badge for stored weights (blue imported, green trained), an amber "↺" badge for stale ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPen

from designer import theme
from designer.document import Document
from engine import weights
from engine.layers import REGISTRY
from engine.layers.backbone import backbone

WORDS = {
    "imported": "imported weights",
    "trained": "trained weights",
    "fresh": "no stored weights: starts from its initializer",
    "stale": "re-initialised: its stored weights no longer fit",
}


@dataclass(frozen=True)
class Marks:
    frozen: str = ""           # "all" (lr_mult 0), "some" (a group partly frozen) or ""
    lr_mult: float = 1.0       # a block's multiplier (groups: when all members share one)
    weights: str = ""          # imported, trained, fresh, stale; "" without stored weights
    detail: str = ""           # stale: what is stored and what the block needs
    blocks: int = 0            # a group's blocks with weights
    frozen_blocks: int = 0

    def lines(self) -> list[str]:
        """Tooltip lines (plain text)."""
        out = []
        if self.frozen == "all":
            out.append("Frozen (lr_mult 0): its weights do not train" if not self.blocks else
                       f"Frozen: all {self.blocks} blocks with weights (lr_mult 0)")
        elif self.frozen == "some":
            out.append(f"Partly frozen: {self.frozen_blocks} of {self.blocks} blocks with "
                       "weights")
        elif self.lr_mult != 1.0:
            out.append(f"Learning rate × {self.lr_mult:g}")
        if self.weights:
            text = WORDS[self.weights]
            out.append(f"Weights: {text}" + (f" ({self.detail})" if self.detail else ""))
        return out


def has_weights(doc: Document, node_id: str) -> bool:
    node = doc.graph.nodes[node_id]
    if node.kind == backbone.id:
        return True
    result = doc.analysis.results.get(node_id)
    return result is not None and result.params > 0


def weight_status(doc: Document, node_id: str) -> tuple[str, str]:
    """(status, detail) of one block, as engine.weights.statuses words it; ("", "") when
    the project stores no weights at all (every block is plainly new)."""
    section = doc.project.weights or {}
    blocks = section.get("blocks") or {}
    if not blocks:
        return "", ""
    entry = blocks.get(node_id)
    result = doc.analysis.results.get(node_id)
    node = doc.graph.nodes[node_id]
    if entry is None:
        return ("fresh", "") if has_weights(doc, node_id) else ("", "")
    source = entry.get("source", "imported") if isinstance(entry, dict) else "imported"
    if result is None or not result.ok or node.kind not in REGISTRY:
        return source, "not checked: the block has a problem"
    kind = REGISTRY.get(node.kind)
    params = kind.resolve(node.params)
    inputs = list(result.input_shapes)
    why = weights.fits(node.kind, inputs, params, kind.params_count(inputs, params,
                                                                    result.shape),
                       entry.get("shapes", {}))
    return ("stale", why) if why else (source, "")


def _lr(doc: Document, node_id: str) -> float:
    value = doc.graph.nodes[node_id].params.get("lr_mult", 1.0)
    try:
        return float(value)
    except (TypeError, ValueError):
        return 1.0


def block_marks(doc: Document, node_id: str) -> Marks:
    node = doc.graph.nodes[node_id]
    if node.is_group:
        return group_marks(doc, node_id)
    if not has_weights(doc, node_id):
        return Marks()
    lr = _lr(doc, node_id)
    status, detail = weight_status(doc, node_id)
    return Marks("all" if lr == 0 else "", lr, status, detail)


def group_marks(doc: Document, group_id: str) -> Marks:
    members = [m.id for m in doc.graph.members(group_id) if has_weights(doc, m.id)]
    if not members:
        return Marks()
    rates = [_lr(doc, m) for m in members]
    frozen = sum(1 for r in rates if r == 0)
    statuses = [weight_status(doc, m)[0] for m in members]
    status = next((s for s in ("stale", "trained", "imported") if s in statuses), "")
    stale = statuses.count("stale")
    detail = f"{stale} of {len(members)} blocks" if stale else ""
    shared = rates[0] if len(set(rates)) == 1 else 1.0
    state = "all" if frozen == len(members) else "some" if frozen else ""
    return Marks(state, shared, status, detail, len(members), frozen)


# ------------------------------------------------------------------- painting
FROZEN_LIGHT, FROZEN_DARK = QColor(60, 120, 200, 110), QColor(120, 180, 255, 90)
BADGE_FROZEN = QColor("#1f9bbf")
BADGE_IMPORTED = QColor("#4b5bd4")
BADGE_TRAINED = QColor("#2e9d57")
BADGE_STALE = QColor("#d9910b")
BADGE = 16.0


def frozen_brush() -> QBrush:
    dark = theme.colors() is theme.DARK
    return QBrush(FROZEN_DARK if dark else FROZEN_LIGHT, Qt.BrushStyle.BDiagPattern)


def paint_frozen(painter: QPainter, rect: QRectF, radius: float, marks: Marks) -> None:
    """Hatch a frozen block's face (all frozen: dense; partly: the left half)."""
    if not marks.frozen:
        return
    painter.save()
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(frozen_brush())
    area = rect if marks.frozen == "all" else QRectF(rect.x(), rect.y(), rect.width() / 2,
                                                    rect.height())
    painter.drawRoundedRect(area, radius, radius)
    painter.restore()


def badges(marks: Marks) -> list[tuple[str, QColor]]:
    """The badges to draw, right to left after any problem badge."""
    out: list[tuple[str, QColor]] = []
    if marks.weights == "stale":
        out.append(("↺", BADGE_STALE))
    elif marks.weights in ("imported", "trained"):
        out.append(("W", BADGE_IMPORTED if marks.weights == "imported" else BADGE_TRAINED))
    if marks.frozen:
        out.append(("❄", BADGE_FROZEN))
    return out


def paint_badge(painter: QPainter, rect: QRectF, text: str, color: QColor,
                faded: bool = False) -> None:
    painter.save()
    fill = QColor(color)
    if faded:
        fill.setAlpha(150)
    painter.setPen(QPen(QColor("white"), 1.2))
    painter.setBrush(fill)
    painter.drawEllipse(rect)
    if text == "❄":
        _snowflake(painter, rect.center(), rect.width() * 0.32)
    elif text == "↺":
        _arrow_circle(painter, rect.center(), rect.width() * 0.27)
    else:
        from designer.canvas.items import font

        painter.setFont(font("shape"))
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
    painter.restore()


def _white_pen(width: float) -> QPen:
    pen = QPen(QColor("white"), width)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    return pen


def _snowflake(painter: QPainter, centre: QPointF, r: float) -> None:
    """Drawn, not a glyph: fonts without ❄ would show a box."""
    painter.setPen(_white_pen(1.3))
    for k in range(3):
        a = math.pi / 2 + k * math.pi / 3
        d = QPointF(math.cos(a) * r, math.sin(a) * r)
        painter.drawLine(centre - d, centre + d)


def _arrow_circle(painter: QPainter, centre: QPointF, r: float) -> None:
    """A circular arrow: weights re-initialised."""
    painter.setPen(_white_pen(1.5))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    box = QRectF(centre.x() - r, centre.y() - r, 2 * r, 2 * r)
    painter.drawArc(box, 60 * 16, 270 * 16)
    tip = QPointF(centre.x() + r * math.cos(math.radians(60)),
                  centre.y() - r * math.sin(math.radians(60)))
    painter.drawLine(tip, tip + QPointF(3.2, 0.6))
    painter.drawLine(tip, tip + QPointF(0.4, 3.2))
