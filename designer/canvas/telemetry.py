"""Live block telemetry on the canvas: while a run trains with `training.telemetry_every`,
each block shows a strip with its activation mean and std, its fraction of dead ReLU
outputs and its gradient norm from the trainer's latest `telemetry` event; a block whose
gradients vanish or explode is marked in red.

A strip is a child item of its block (it moves and hides with it) drawn over the block's
bottom line; the overlay keeps the latest figures, so a canvas rebuilt between events shows
them again with the next one.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem

from designer import theme
from designer.canvas.items import BLOCK_H, BLOCK_W, LOD_NAMES, LOD_TEXT

STRIP_H = 18.0
WARN = QColor("#d12c2c")


def _number(value: Any) -> str:
    if value is None or not isinstance(value, int | float) or not math.isfinite(value):
        return "—"
    if value != 0 and (abs(value) < 1e-2 or abs(value) >= 1e3):
        return f"{value:.0e}"
    return f"{value:.2f}"


def _blend(base: QColor, tint: QColor, amount: float) -> QColor:
    return QColor(int(base.red() + (tint.red() - base.red()) * amount),
                  int(base.green() + (tint.green() - base.green()) * amount),
                  int(base.blue() + (tint.blue() - base.blue()) * amount))


def strip_text(stats: dict[str, Any]) -> str:
    """'μ 0.12  σ 0.53  dead 12%  ∇ 3e-03' (dead only where a ReLU follows)."""
    parts = [f"μ {_number(stats.get('mean'))}", f"σ {_number(stats.get('std'))}"]
    if stats.get("dead") is not None:
        parts.append(f"dead {stats['dead']:.0%}")
    grad = stats.get("grad_norm")
    if grad is not None:
        parts.append(f"∇ {_number(grad)}")
    flag = stats.get("flag")
    if flag:
        parts.append(flag)
    return "  ".join(parts)


class TelemetryStrip(QGraphicsItem):
    def __init__(self, block: QGraphicsItem, stats: dict[str, Any]) -> None:
        super().__init__(block)
        self.stats = stats
        self.setZValue(5)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    def set_stats(self, stats: dict[str, Any]) -> None:
        self.stats = stats
        self.setToolTip(f"Live telemetry of '{stats.get('name', '')}': activation mean "
                        f"{_number(stats.get('mean'))}, std {_number(stats.get('std'))}"
                        + (f", {stats['dead']:.0%} of ReLU outputs dead"
                           if stats.get("dead") is not None else "")
                        + (f", gradient norm {_number(stats.get('grad_norm'))}"
                           if stats.get("grad_norm") is not None else "")
                        + (f" — gradients {stats['flag']}" if stats.get("flag") else ""))
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802
        return QRectF(0, BLOCK_H - STRIP_H, BLOCK_W, STRIP_H)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        if lod < LOD_NAMES:
            return
        colors = theme.colors()
        flagged = bool(self.stats.get("flag"))
        rect = self.boundingRect()
        # Opaque: the strip covers the block's counts line while a run reports.
        background = WARN if flagged else _blend(colors.block, colors.accent, 0.16)
        painter.fillRect(rect.adjusted(1, 0, -1, -1), background)
        if lod < LOD_TEXT:
            return
        font = QFont(painter.font())
        font.setPointSizeF(max(6.5, font.pointSizeF() * 0.8))
        painter.setFont(font)
        painter.setPen(QPen(QColor("white") if flagged else colors.text))
        text = painter.fontMetrics().elidedText(strip_text(self.stats),
                                                Qt.TextElideMode.ElideRight,
                                                int(rect.width() - 8))
        painter.drawText(rect.adjusted(4, 0, -4, 0),
                         Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, text)


def _on(strip: TelemetryStrip, block: QGraphicsItem | None) -> bool:
    """Whether a strip still hangs on this block (a rebuilt canvas deleted the old ones)."""
    try:
        return block is not None and strip.parentItem() is block
    except RuntimeError:
        return False


class TelemetryOverlay:
    """The strips of one canvas scene, from the latest telemetry event."""

    def __init__(self, scene: Any) -> None:
        self.scene = scene
        self.latest: dict[str, dict[str, Any]] = {}
        self.strips: dict[str, TelemetryStrip] = {}
        self.visible = True

    def show(self, blocks: dict[str, dict[str, Any]]) -> None:
        self.latest = dict(blocks)
        if self.visible:
            self._draw()

    def _draw(self) -> None:
        blocks = getattr(self.scene, "blocks", {})
        for node_id, stats in self.latest.items():
            block = blocks.get(node_id)
            strip = self.strips.get(node_id)
            if strip is not None and not _on(strip, block):
                self._drop(node_id)
                strip = None
            if block is None:
                continue  # not on the canvas (inside a collapsed group): nothing to mark
            if strip is None:
                strip = self.strips[node_id] = TelemetryStrip(block, stats)
            strip.set_stats(stats)

    def _drop(self, node_id: str) -> None:
        strip = self.strips.pop(node_id, None)
        if strip is None:
            return
        try:
            if strip.scene() is not None:
                strip.scene().removeItem(strip)
        except RuntimeError:  # its block went with a rebuilt canvas, and it with it
            pass

    def clear(self) -> None:
        self.latest = {}
        for node_id in list(self.strips):
            self._drop(node_id)

    def set_visible(self, flag: bool) -> None:
        self.visible = flag
        if flag:
            self._draw()
        else:
            for node_id in list(self.strips):
                self._drop(node_id)

    def flagged(self) -> list[str]:
        return [node_id for node_id, stats in self.latest.items() if stats.get("flag")]
