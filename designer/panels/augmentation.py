"""The Augmentation panel: the project's augmentation settings in the lecture's
ImageDataGenerator words, beside a live grid of a few samples and their augmented copies.

The values live in the project (SettingsForm edits them through the undo stack). The grid
follows the settings: a change restarts a short timer, then one worker job imports the torch
backend (lazily, off the GUI thread) and augments every copy in one ``preview`` call. At most
one job runs; a result that a later change made stale is dropped and the latest settings are
drawn instead.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QPainter, QPalette
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from designer import workers
from designer.document import Document
from designer.panels.data_views import to_qimage
from designer.panels.settings_form import SettingsForm
from engine import settings as settings_schema

SECTION = "augmentation"
COPIES = 5          # augmented versions per sample
MAX_SAMPLES = 4
MAX_SIDE = 256      # larger samples are thinned for the preview (it shows the look only)
DEBOUNCE_MS = 120
ERROR_COLOR = "#d12c2c"
LABELS = {
    "enabled": "Augment training images",
    "rescale": "rescale",
    "rotation_range": "rotation_range (°)",
    "width_shift_range": "width_shift_range",
    "height_shift_range": "height_shift_range",
    "shear_range": "shear_range (rad)",
    "zoom_range": "zoom_range",
    "horizontal_flip": "horizontal_flip",
    "vertical_flip": "vertical_flip",
    "brightness": "brightness (±)",
    "contrast": "contrast (±)",
    "random_resized_crop": "random_resized_crop",
    "random_erasing": "random_erasing (p)",
}
FIRST_OF_MORE = "vertical_flip"
NO_DATA = "Choose data in the Data panel to see augmented samples"
LOADING = "loading PyTorch…"

# Whether a preview has imported the torch backend in this process: only the first one
# waits for it, and says so.
_backend_loaded = False


def pick_samples(labels: Any, count: int = MAX_SAMPLES) -> list[int]:
    """Indices of up to ``count`` samples, one per class first (in order of appearance).

    >>> pick_samples([3, 3, 1, 3, 2], 3)
    [0, 2, 4]
    >>> pick_samples([0, 0, 0], 2)
    [0, 1]
    """
    seen: set[Any] = set()
    first: list[int] = []
    for i, label in enumerate(labels):
        if label not in seen:
            seen.add(label)
            first.append(i)
            if len(first) == count:
                return first
    chosen = set(first)
    rest = [i for i in range(len(labels)) if i not in chosen][:count - len(first)]
    return first + rest


def _displayable(images: np.ndarray) -> np.ndarray:
    """N×H×W×C uint8 with C 1 or 3 (extra channels dropped, large images thinned)."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.shape[-1] not in (1, 3):
        images = images[..., :3] if images.shape[-1] > 3 else images[..., :1]
    step = -(-max(images.shape[1:3]) // MAX_SIDE)
    if step > 1:
        images = images[:, ::step, ::step]
    if images.dtype != np.uint8:
        images = np.clip(images, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(images)


def _preview_job(settings: dict[str, Any], samples: np.ndarray, seed: int):
    """The worker's function: every copy of every sample in one ``preview`` call."""
    def run(job: workers.Job) -> np.ndarray:
        from engine.backend import augment  # torch: only ever here, on the pool thread

        n, height, width, channels = samples.shape
        batch = np.repeat(samples.transpose(0, 3, 1, 2), COPIES, axis=0)
        out = augment.preview(settings, batch, seed)
        return np.asarray(out).transpose(0, 2, 3, 1).reshape(
            n, COPIES, height, width, channels)
    return run


class StatusLine(QLabel):
    """One line, elided to its width; the whole text is its tooltip."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def set_full_text(self, text: str) -> None:
        self.full = text
        self.setToolTip(text)
        self._elide()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        self.setText(self.fontMetrics().elidedText(self.full, Qt.TextElideMode.ElideRight,
                                                   max(self.width(), 40)))


class SampleGrid(QWidget):
    """One row per sample: its original, then its augmented copies, pixels scaled up
    nearest-neighbour so that a 28×28 digit stays crisp."""

    GAP = 4
    ORIGINAL_GAP = 14   # sets the original apart from its copies
    MAX_TILE = 160

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.originals: list[QImage] = []
        self.copies: list[list[QImage]] = []
        self.names: list[str] = []
        self.message = NO_DATA
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 160)

    def show_rows(self, originals: list[QImage], copies: list[list[QImage]],
                  names: list[str]) -> None:
        self.originals, self.copies, self.names = originals, copies, names
        self.update()

    def _layout(self) -> tuple[float, float, float]:
        """(label column width, header height, tile side) for the current size."""
        metrics = self.fontMetrics()
        header = metrics.height() + 6
        label = max((metrics.horizontalAdvance(n) for n in self.names), default=0)
        label = min(label + 10, 90) if label else 0
        rows, cols = max(len(self.originals), 1), 1 + COPIES
        by_width = (self.width() - 2 - label - self.ORIGINAL_GAP - self.GAP * (cols - 2)) / cols
        by_height = (self.height() - header - self.GAP * (rows - 1)) / rows
        return label, header, max(4.0, min(by_width, by_height, self.MAX_TILE))

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        palette = self.palette()
        text_color = palette.color(QPalette.ColorRole.WindowText)
        muted = palette.color(QPalette.ColorRole.PlaceholderText)
        if not self.originals:
            painter.setPen(muted)
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             self.message)
            return
        label_w, header, tile = self._layout()
        first_copy = label_w + tile + self.ORIGINAL_GAP
        painter.setPen(muted)
        painter.drawText(QRectF(label_w, 0, tile, header), Qt.AlignmentFlag.AlignCenter,
                         "original")
        copies_w = COPIES * tile + (COPIES - 1) * self.GAP
        painter.drawText(QRectF(first_copy, 0, copies_w, header), Qt.AlignmentFlag.AlignCenter,
                         f"{COPIES} augmented copies")
        frame = palette.color(QPalette.ColorRole.Mid)
        for row, original in enumerate(self.originals):
            y = header + row * (tile + self.GAP)
            if label_w:
                painter.setPen(text_color)
                name = painter.fontMetrics().elidedText(self.names[row],
                                                        Qt.TextElideMode.ElideRight,
                                                        int(label_w) - 8)
                painter.drawText(QRectF(0, y, label_w - 8, tile),
                                 Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                                 name)
            self._tile(painter, original, QRectF(label_w, y, tile, tile))
            copies = self.copies[row] if row < len(self.copies) else []
            for k in range(COPIES):
                box = QRectF(first_copy + k * (tile + self.GAP), y, tile, tile)
                if k < len(copies):
                    self._tile(painter, copies[k], box)
                else:  # still loading: an empty frame where the copy will be
                    painter.setPen(frame)
                    painter.setBrush(Qt.BrushStyle.NoBrush)
                    painter.drawRect(box.adjusted(0.5, 0.5, -0.5, -0.5))

    @staticmethod
    def _tile(painter: QPainter, image: QImage, box: QRectF) -> None:
        scale = min(box.width() / image.width(), box.height() / image.height())
        w, h = image.width() * scale, image.height() * scale
        target = QRectF(box.x() + (box.width() - w) / 2, box.y() + (box.height() - h) / 2, w, h)
        # Scaling up stays pixelated (nearest); only a large image scaled down is smoothed.
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, scale < 1)
        painter.drawImage(target, image)


def _more_heading() -> QWidget:
    """A rule and "More" above the settings past the common ones (FIRST_OF_MORE on)."""
    more = QLabel("<b>More</b>")
    line = QFrame()
    line.setFrameShape(QFrame.Shape.HLine)
    line.setFrameShadow(QFrame.Shadow.Sunken)
    heading = QWidget()
    heading_layout = QVBoxLayout(heading)
    heading_layout.setContentsMargins(0, 6, 0, 0)
    heading_layout.setSpacing(2)
    heading_layout.addWidget(line)
    heading_layout.addWidget(more)
    return heading


class AugmentationPanel(QWidget):
    """``tiles``: the drawn pixels, N×(1+COPIES)×H×W×C uint8, column 0 the originals (None
    until the first preview); ``seed``; ``last_redraw_ms``: from the change to the drawn
    grid; ``status``: the line above the grid."""

    redrawn = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc: Document | None = None
        self.seed = 0
        self.samples: np.ndarray | None = None   # N×H×W×C uint8, the rows shown
        self.names: list[str] = []
        self.tiles: np.ndarray | None = None
        self.last_redraw_ms: float | None = None
        self.error: str | None = None
        self._job: workers.Job | None = None
        self._generation = 0     # bumped by every change; a result of an older one is stale
        self._changed_at = time.perf_counter()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self._start_preview)
        self._build_settings_column()
        right = self._build_preview()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.scroll)
        layout.addLayout(right, 1)
        self._show_seed()
        self._show_status()

    def _build_settings_column(self) -> None:
        """The augmentation settings in a scroll area that scrolls rows, never columns."""
        self.form = SettingsForm(SECTION, labels=LABELS)
        for editor in self.form.editors.values():
            # A spin box sizes itself to its range's end texts: "1" would clip "0.15".
            editor.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        heading = _more_heading()
        row, _ = self.form.form.getWidgetPosition(self.form.editors[FIRST_OF_MORE])
        self.form.form.insertRow(row, heading)
        holder = QWidget()
        holder_layout = QVBoxLayout(holder)
        holder_layout.setContentsMargins(6, 6, 10, 6)
        holder_layout.addWidget(self.form)
        holder_layout.addStretch(1)
        self.scroll = QScrollArea(self)
        self.scroll.setWidget(holder)
        self.scroll.setWidgetResizable(True)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # Wide enough for the form and the scroll bar: only rows scroll, never columns.
        width = (holder.sizeHint().width() + self.scroll.verticalScrollBar().sizeHint().width()
                 + 2 * self.scroll.frameWidth())
        self.scroll.setFixedWidth(width)

    def _build_preview(self) -> QVBoxLayout:
        """A new seed, the status line and the grid of originals and augmented copies."""
        self.new_seed = QPushButton("New seed", self)
        self.new_seed.setToolTip("Draw other random augmentations of the same samples")
        self.new_seed.clicked.connect(self.next_seed)
        self.seed_label = QLabel(self)
        self.status = StatusLine(self)
        self.grid = SampleGrid(self)
        bar = QHBoxLayout()
        bar.addWidget(self.new_seed)
        bar.addWidget(self.seed_label)
        bar.addSpacing(8)
        bar.addWidget(self.status, 1)
        right = QVBoxLayout()
        right.setContentsMargins(0, 0, 0, 0)
        right.addLayout(bar)
        right.addWidget(self.grid, 1)
        return right

    # ------------------------------------------------------------------ inputs
    def set_document(self, doc: Document) -> None:
        if self.doc is not None:
            self.doc.settings_changed.disconnect(self._settings_changed)
        self.doc = doc
        self.form.set_document(doc)
        doc.settings_changed.connect(self._settings_changed)
        self.changed()

    def set_samples(self, images: Any, labels: Any = None,
                    class_names: list[str] | None = None) -> None:
        """The data to preview: N×H×W×C uint8 images (None or empty: no data); up to four
        are shown, different classes first."""
        if images is None or len(images) == 0:
            self.samples, self.names, self.tiles = None, [], None
            self._generation += 1  # a running job's result is for samples gone
            self._timer.stop()
            self.grid.show_rows([], [], [])
            self._show_status()
            return
        labels = list(labels) if labels is not None else [None] * len(images)
        chosen = pick_samples(labels)
        self.samples = _displayable(np.asarray(images)[chosen])
        self.names = [self._name(labels[i], class_names) for i in chosen]
        self.tiles = None
        self.grid.show_rows([to_qimage(a) for a in self.samples], [], self.names)
        self.changed()

    @staticmethod
    def _name(label: Any, class_names: list[str] | None) -> str:
        if label is None:
            return ""
        index = int(label) if isinstance(label, int | np.integer) else None
        if class_names and index is not None and 0 <= index < len(class_names):
            return str(class_names[index])
        return str(label)

    def next_seed(self) -> None:
        self.seed += 1
        self._show_seed()
        self.changed()

    def settings(self) -> dict[str, Any]:
        if self.doc is None:
            return settings_schema.defaults(SECTION)
        return dict(self.doc.settings(SECTION))

    # ------------------------------------------------------------------ preview
    def _settings_changed(self, section: str) -> None:
        if section == SECTION:
            self.changed()

    def changed(self) -> None:
        """Something the grid shows changed: redraw once the edits pause."""
        self._generation += 1
        self._changed_at = time.perf_counter()
        if self.samples is not None:
            self._timer.start()
        self._show_status()

    @property
    def busy(self) -> bool:
        return self._job is not None or self._timer.isActive()

    def _start_preview(self) -> None:
        if self._job is not None or self.samples is None:
            return  # the running job's end starts the latest (its own result is stale)
        fn = _preview_job(self.settings(), self.samples, self.seed)
        self._job = workers.start(fn, self._done, self._failed)
        # Results arrive through the event loop, so this is set before any can.
        self._job.generation = self._generation
        self._show_status()

    def _finished(self) -> bool:
        """The job ended; True when its result is the latest (else the latest starts)."""
        generation, self._job = self._job.generation, None
        if generation == self._generation:
            return True
        if not self._timer.isActive():
            self._start_preview()
        return False

    def _done(self, copies: np.ndarray) -> None:
        global _backend_loaded
        _backend_loaded = True
        if not self._finished():
            return
        self.error = None
        self.tiles = np.concatenate([self.samples[:, None], copies], axis=1)
        self.grid.show_rows([to_qimage(a) for a in self.samples],
                            [[to_qimage(c) for c in row] for row in copies], self.names)
        self.grid.repaint()
        self.last_redraw_ms = (time.perf_counter() - self._changed_at) * 1000.0
        self._show_status()
        self.redrawn.emit()

    def _failed(self, message: str) -> None:
        if not self._finished():
            return
        self.error = message
        self._show_status()

    # ------------------------------------------------------------------ status
    def _show_seed(self) -> None:
        self.seed_label.setText(f"seed {self.seed}")

    def _show_status(self) -> None:
        text, color = self.status_text(), ""
        if self.error:
            color = ERROR_COLOR
        self.status.setStyleSheet(f"color: {color}" if color else "")
        self.status.set_full_text(text)

    def status_text(self) -> str:
        if self.error:
            return f"The preview failed: {self.error}"
        if self.samples is None:
            return ""
        if self.busy and not _backend_loaded:
            return LOADING
        values = self.settings()
        if not values.get("enabled"):
            return ("augmentation is off: the trainer will use the originals; the copies "
                    "show it switched on")
        parts = []
        if not _any_transform(values):
            parts.append("no transform is set: the copies equal the originals")
        elif values.get("rescale", 1.0) != 1.0:
            parts.append("rescale changes the values the network sees, not the look")
        if self.last_redraw_ms is not None:
            parts.append(f"redrawn in {self.last_redraw_ms:.0f} ms")
        return " · ".join(parts)


def _any_transform(values: dict[str, Any]) -> bool:
    """Whether any setting other than ``enabled`` and ``rescale`` changes the images."""
    return any(values.get(p.name) for p in settings_schema.AUGMENTATION
               if p.name not in ("enabled", "rescale"))
