"""The Data panel's pictures: a grid of sample images with their labels and the class
counts as bars. Both paint from plain numbers (a data scan's report), no pyqtgraph."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

TRAIN_COLOR = QColor("#3a7bd5")
VAL_COLOR = QColor("#e0782b")


def to_qimage(pixels: np.ndarray) -> QImage:
    """An H×W×C uint8 array (C 1 or 3) as a QImage that owns a copy of the pixels."""
    pixels = np.ascontiguousarray(pixels)
    h, w = pixels.shape[:2]
    if pixels.ndim == 2 or pixels.shape[2] == 1:
        image = QImage(pixels.tobytes(), w, h, w, QImage.Format.Format_Grayscale8)
    else:
        image = QImage(pixels[..., :3].tobytes(), w, h, 3 * w, QImage.Format.Format_RGB888)
    return image.copy()  # the bytes object above is temporary


class SampleGrid(QWidget):
    """Sample images, nearest-neighbour scaled (a 28×28 digit stays sharp), label below."""

    TILE = 64
    CAPTION = 16

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.images: list[QImage] = []
        self.captions: list[str] = []
        self.message = "Choose data to see samples."
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_samples(self, images: list[np.ndarray], captions: list[str]) -> None:
        self.images = [to_qimage(i) for i in images]
        self.captions = list(captions)
        self.update()

    def set_message(self, text: str) -> None:
        self.images, self.captions, self.message = [], [], text
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(6 * (self.TILE + 8), 3 * (self.TILE + self.CAPTION + 8))

    def layout_tiles(self) -> tuple[int, int, int]:
        """(columns, tile size, cell height) that fit every image in the widget."""
        count = max(1, len(self.images))
        width, height = max(1, self.width()), max(1, self.height())
        best = (1, 16, 16 + self.CAPTION)
        for columns in range(1, count + 1):
            rows = -(-count // columns)
            tile = min((width - 4) // columns - 8, (height - 4) // rows - self.CAPTION - 8,
                       160)
            if tile > best[1]:
                best = (columns, tile, tile + self.CAPTION + 8)
        return best

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        text = self.palette().color(QPalette.ColorRole.Text)
        painter.setPen(text)
        if not self.images:
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             self.message)
            return
        columns, tile, cell = self.layout_tiles()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        for index, (image, caption) in enumerate(zip(self.images, self.captions)):
            row, col = divmod(index, columns)
            x, y = 4 + col * (tile + 8), 4 + row * cell
            painter.drawImage(QRectF(x, y, tile, tile), image)
            painter.drawText(QRectF(x - 4, y + tile + 1, tile + 8, self.CAPTION),
                             Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                             painter.fontMetrics().elidedText(caption,
                                                              Qt.TextElideMode.ElideRight,
                                                              tile + 8))


class ClassBars(QWidget):
    """One row per class: its training count (blue) and validation count (orange)."""

    ROW = 18

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.names: list[str] = []
        self.train: list[int] = []
        self.val: list[int] = []
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

    def set_counts(self, names: list[str], train: list[int], val: list[int]) -> None:
        self.names, self.train, self.val = list(names), list(train), list(val)
        self.setMinimumHeight(self.ROW * (len(names) + 1) + 8)
        self.updateGeometry()
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(260, self.ROW * (len(self.names) + 1) + 8)

    def paintEvent(self, event) -> None:  # noqa: N802
        if not self.names:
            return
        painter = QPainter(self)
        metrics = painter.fontMetrics()
        text = self.palette().color(QPalette.ColorRole.Text)
        label_w = min(110, max(metrics.horizontalAdvance(n) for n in self.names) + 8)
        count_w = metrics.horizontalAdvance("00,000 + 00,000") + 8
        bar_w = max(20, self.width() - label_w - count_w - 8)
        top = max(max(t + v for t, v in zip(self.train, self.val)), 1)
        painter.setPen(text)
        painter.drawText(QRectF(label_w, 0, bar_w, self.ROW),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         "■ training  ■ validation")
        painter.fillRect(QRectF(label_w, 6, 8, 8), TRAIN_COLOR)
        painter.fillRect(QRectF(label_w + metrics.horizontalAdvance("■ training  "), 6, 8, 8),
                         VAL_COLOR)
        for row, (name, t, v) in enumerate(zip(self.names, self.train, self.val), start=1):
            y = row * self.ROW
            painter.setPen(text)
            painter.drawText(QRectF(0, y, label_w - 6, self.ROW),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                             metrics.elidedText(name, Qt.TextElideMode.ElideRight, label_w - 6))
            wt, wv = bar_w * t / top, bar_w * v / top
            painter.fillRect(QRectF(label_w, y + 3, wt, self.ROW - 6), TRAIN_COLOR)
            painter.fillRect(QRectF(label_w + wt, y + 3, wv, self.ROW - 6), VAL_COLOR)
            painter.drawText(QRectF(label_w + wt + wv + 4, y, count_w, self.ROW),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                             f"{t:,} + {v:,}")
