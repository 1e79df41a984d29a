"""The Evaluation panel's pictures: the confusion matrix as a heat map with counts (a click
picks the cell's samples) and a gallery of images with captions. Both paint from numbers."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from designer.panels.data_views import to_qimage

HEAT_LOW = QColor("#f4f8fd")
HEAT_HIGH = QColor("#1f5fae")
WRONG_HIGH = QColor("#c8412f")


def _mix(low: QColor, high: QColor, t: float) -> QColor:
    t = min(1.0, max(0.0, t))
    return QColor(int(low.red() + (high.red() - low.red()) * t),
                  int(low.green() + (high.green() - low.green()) * t),
                  int(low.blue() + (high.blue() - low.blue()) * t))


class ConfusionMap(QWidget):
    """Rows: true class, columns: predicted. Each cell is shaded by its share of its row
    (the diagonal blue, mistakes red) and shows its count; a click emits the cell."""

    cell_clicked = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.matrix = np.zeros((0, 0), dtype=np.int64)
        self.names: list[str] = []
        self.selected: tuple[int, int] | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(200, 160)
        self.setMouseTracking(True)

    def set_matrix(self, matrix: np.ndarray, names: list[str]) -> None:
        self.matrix = np.asarray(matrix, dtype=np.int64)
        self.names = list(names)
        self.selected = None
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(320, 300)

    def _geometry(self) -> tuple[float, float, float]:
        """(left margin, top margin, cell size)."""
        n = max(1, len(self.names))
        metrics = self.fontMetrics()
        label = min(90, max((metrics.horizontalAdvance(s) for s in self.names), default=10) + 8)
        top = metrics.height() * 2 + 4
        cell = max(8.0, min((self.width() - label - 4) / n, (self.height() - top - 4) / n))
        return label, top, cell

    def cell_at(self, x: float, y: float) -> tuple[int, int] | None:
        left, top, cell = self._geometry()
        n = len(self.names)
        col, row = int((x - left) // cell), int((y - top) // cell)
        if 0 <= row < n and 0 <= col < n and x >= left and y >= top:
            return row, col
        return None

    def mousePressEvent(self, event) -> None:  # noqa: N802
        hit = self.cell_at(event.position().x(), event.position().y())
        if hit is not None:
            self.selected = hit
            self.update()
            self.cell_clicked.emit(*hit)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        hit = self.cell_at(event.position().x(), event.position().y())
        if hit is None or not self.names:
            self.setToolTip("")
            return
        t, p = hit
        self.setToolTip(f"true {self.names[t]}, predicted {self.names[p]}: "
                        f"{int(self.matrix[t, p])} sample(s); click to show them")

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        text = self.palette().color(QPalette.ColorRole.Text)
        n = len(self.names)
        if not n:
            painter.setPen(text)
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter,
                             "Evaluate a run to see its confusion matrix.")
            return
        left, top, cell = self._geometry()
        metrics = painter.fontMetrics()
        painter.setPen(text)
        painter.drawText(QRectF(left, 0, cell * n, metrics.height()),
                         Qt.AlignmentFlag.AlignCenter, "predicted →")
        rows = self.matrix.sum(axis=1)
        for j, name in enumerate(self.names):
            painter.drawText(QRectF(left + j * cell, metrics.height() + 2, cell,
                                    metrics.height()), Qt.AlignmentFlag.AlignCenter,
                             metrics.elidedText(name, Qt.TextElideMode.ElideRight, int(cell)))
        for i, name in enumerate(self.names):
            y = top + i * cell
            painter.setPen(text)
            painter.drawText(QRectF(0, y, left - 6, cell),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                             metrics.elidedText(name, Qt.TextElideMode.ElideRight,
                                                int(left - 6)))
            for j in range(n):
                count = int(self.matrix[i, j])
                share = count / rows[i] if rows[i] else 0.0
                color = _mix(HEAT_LOW, HEAT_HIGH if i == j else WRONG_HIGH,
                             share if i == j else min(1.0, 3 * share))
                box = QRectF(left + j * cell, y, cell, cell)
                painter.fillRect(box, color)
                if count and cell >= metrics.horizontalAdvance(str(count)) + 3:
                    painter.setPen(QColor("white") if color.lightness() < 140 else
                                   QColor("#222222"))
                    painter.drawText(box, Qt.AlignmentFlag.AlignCenter, str(count))
        painter.setPen(QPen(QColor("#999999"), 1))
        painter.drawRect(QRectF(left, top, cell * n, cell * n))
        if self.selected is not None:
            i, j = self.selected
            painter.setPen(QPen(QColor("#f0a020"), 2.5))
            painter.drawRect(QRectF(left + j * cell, top + i * cell, cell, cell))


class Gallery(QWidget):
    """Images in rows, each with a caption of one or two short lines."""

    TILE = 72
    CAPTION = 30

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.images: list[QImage] = []
        self.captions: list[str] = []
        self.message = ""
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

    def set_items(self, images: list[np.ndarray | None], captions: list[str],
                  message: str = "") -> None:
        blank = np.full((8, 8, 1), 200, dtype=np.uint8)
        self.images = [to_qimage(i if i is not None else blank) for i in images]
        self.captions = list(captions)
        self.message = message
        self.setMinimumHeight(self.height_for(self.width()))
        self.update()

    def _columns(self, width: int) -> int:
        return max(1, (width - 4) // (self.TILE + 8))

    def height_for(self, width: int) -> int:
        rows = -(-len(self.images) // self._columns(width)) if self.images else 1
        return rows * (self.TILE + self.CAPTION + 8) + 8

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self.setMinimumHeight(self.height_for(self.width()))

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        text = self.palette().color(QPalette.ColorRole.Text)
        painter.setPen(text)
        if not self.images:
            painter.drawText(self.rect().adjusted(4, 4, -4, -4),
                             Qt.AlignmentFlag.AlignLeft | Qt.TextFlag.TextWordWrap,
                             self.message)
            return
        columns = self._columns(self.width())
        metrics = painter.fontMetrics()
        for index, (image, caption) in enumerate(zip(self.images, self.captions)):
            row, col = divmod(index, columns)
            x, y = 4 + col * (self.TILE + 8), 4 + row * (self.TILE + self.CAPTION + 8)
            painter.drawImage(QRectF(x, y, self.TILE, self.TILE), image)
            for k, line in enumerate(caption.split("\n")[:2]):
                painter.drawText(QRectF(x - 4, y + self.TILE + 1 + k * metrics.height(),
                                        self.TILE + 8, metrics.height()),
                                 Qt.AlignmentFlag.AlignHCenter,
                                 metrics.elidedText(line, Qt.TextElideMode.ElideRight,
                                                    self.TILE + 8))
