"""Training curves with pyqtgraph: loss, accuracy and learning rate against epochs.

Imported only when a panel that plots is first shown (pyqtgraph costs ~0.5 s). Step points
are kept in a bounded buffer that halves its resolution when full, so a 100,000-step run
holds a few thousand points; pyqtgraph draws them downsampled and clipped to the view.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout, QWidget

STEP_CAPACITY = 4096
TRAIN_COLOR = "#3a7bd5"
STEP_COLOR = "#a9c6ee"  # the training colour, lightened: opaque pens draw faster
VAL_COLOR = "#e0782b"
LR_COLOR = "#4c9a52"
# Overlaid runs in the history: one colour each.
RUN_COLORS = ("#3a7bd5", "#e0782b", "#4c9a52", "#b04fc0", "#c9a227", "#d64550", "#2aa198")


class StepBuffer:
    """(x, y) points; when full, neighbouring pairs are averaged and every later point is
    the mean of twice as many steps, so memory stays bounded however long the run."""

    def __init__(self, capacity: int = STEP_CAPACITY) -> None:
        self.capacity = capacity
        self.x = np.empty(capacity, dtype=np.float64)
        self.y = np.empty(capacity, dtype=np.float64)
        self.size = 0
        self.stride = 1
        self._pending: list[tuple[float, float]] = []

    def append(self, x: float, y: float) -> None:
        self._pending.append((x, y))
        if len(self._pending) < self.stride:
            return
        xs, ys = zip(*self._pending)
        self._pending.clear()
        if self.size == self.capacity:
            half = self.capacity // 2
            self.x[:half] = self.x[:self.capacity].reshape(half, 2).mean(axis=1)
            self.y[:half] = self.y[:self.capacity].reshape(half, 2).mean(axis=1)
            self.size = half
            self.stride *= 2
        self.x[self.size] = xs[-1]
        self.y[self.size] = sum(ys) / len(ys)
        self.size += 1

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        return self.x[:self.size], self.y[:self.size]

    def clear(self) -> None:
        self.size, self.stride = 0, 1
        self._pending.clear()


def _plot(title: str, left: str, legend: tuple[int, int] | None = (-8, 8)) -> pg.PlotWidget:
    """A plot; ``legend`` is its offset (negative x: from the right, negative y: from the
    bottom), None for none."""
    plot = pg.PlotWidget()
    plot.setBackground(None)
    item = plot.getPlotItem()
    item.setTitle(title, size="9pt")
    item.setLabel("bottom", "epoch")
    item.setLabel("left", left)
    # No grid, and fixed axis sizes: the translucent grid cost a third of each repaint, and a
    # tick label growing by a digit must not lay the panel out again while a run streams
    # (both measured in benchmarks/training_panel.py).
    item.getAxis("left").setWidth(62)
    item.getAxis("bottom").setHeight(34)
    item.setClipToView(True)
    item.setDownsampling(auto=True, mode="peak")
    if legend is not None:
        item.addLegend(offset=legend, labelTextSize="8pt", brush=(255, 255, 255, 200))
    for side in ("left", "bottom"):
        # 0.9 stays 0.9: no "(x0.001)" rescaling of accuracies and learning rates.
        item.getAxis(side).enableAutoSIPrefix(False)
    plot.setMinimumSize(180, 140)
    return plot


def _finite(values: Iterable[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None or not math.isfinite(v) else v for v in values],
                    dtype=np.float64)


class CurvePlots(QWidget):
    """Loss, accuracy and learning-rate plots side by side."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loss_plot = _plot("Loss", "loss")
        self.acc_plot = _plot("Accuracy", "accuracy", legend=(-8, -8))  # curves rise
        self.lr_plot = _plot("Learning rate", "lr", legend=None)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for plot in (self.loss_plot, self.acc_plot, self.lr_plot):
            layout.addWidget(plot, 1)
        pen = pg.mkPen
        self.step_loss = StepBuffer()
        self.step_lr = StepBuffer()
        self.epochs: list[dict] = []
        self.curves = {
            "step_loss": self.loss_plot.plot(name="train (steps)", pen=pen(STEP_COLOR)),
            # Lines without symbols: scatter symbols cost a third of each redraw.
            "train_loss": self.loss_plot.plot(name="train", pen=pen(TRAIN_COLOR, width=2)),
            "val_loss": self.loss_plot.plot(name="validation", pen=pen(VAL_COLOR, width=2)),
            "train_accuracy": self.acc_plot.plot(name="train", pen=pen(TRAIN_COLOR, width=2)),
            "val_accuracy": self.acc_plot.plot(name="validation",
                                               pen=pen(VAL_COLOR, width=2)),
            "lr": self.lr_plot.plot(name="lr", pen=pen(LR_COLOR, width=2)),
        }
        self.overlays: list = []
        # Which plots have new data: a step changes the loss (and the learning rate only
        # when it moves), an epoch all three; only those are redrawn.
        self._dirty: set[str] = set()
        self._last_lr: float | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(100)  # at most ten redraws a second, however fast events come
        self._timer.timeout.connect(self.redraw)
        self.redraws = 0

    # ------------------------------------------------------------- live run
    def clear(self) -> None:
        self.step_loss.clear()
        self.step_lr.clear()
        self.epochs.clear()
        self._last_lr = None
        self.clear_overlays()
        self._dirty = {"loss", "accuracy", "lr"}
        self.redraw()

    def add_step(self, epoch: int, step: int, steps: int, loss: float | None,
                 lr: float | None) -> None:
        x = epoch - 1 + step / max(1, steps)
        if loss is not None and math.isfinite(loss):
            self.step_loss.append(x, loss)
            self._dirty.add("loss")
        if lr is not None and math.isfinite(lr):
            self.step_lr.append(x, lr)
            if lr != self._last_lr:
                self._dirty.add("lr")
                self._last_lr = lr
        self.schedule()

    def add_epoch(self, record: dict) -> None:
        # A resumed run repeats no epoch, but a restart from an earlier checkpoint may.
        self.epochs = [e for e in self.epochs if e["epoch"] < record["epoch"]]
        self.epochs.append(record)
        self._dirty |= {"loss", "accuracy", "lr"}
        self.schedule()

    def set_epochs(self, rows: list[dict]) -> None:
        """Epochs read back from a run folder's metrics.csv (a resumed run's history)."""
        self.epochs = sorted((r for r in rows if r.get("epoch") is not None),
                             key=lambda r: r["epoch"])
        self._dirty |= {"loss", "accuracy", "lr"}
        self.schedule()

    def schedule(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def redraw(self) -> None:
        self._timer.stop()
        dirty, self._dirty = self._dirty, set()
        if not dirty:
            return
        self.redraws += 1
        epochs = np.array([e["epoch"] for e in self.epochs], dtype=np.float64)
        if "loss" in dirty:
            self.curves["step_loss"].setData(*self.step_loss.data())
        for key in ("train_loss", "val_loss", "train_accuracy", "val_accuracy"):
            if key.split("_")[1] in dirty:
                values = _finite(e.get(key) for e in self.epochs)
                shown = ~np.isnan(values)
                self.curves[key].setData(epochs[shown], values[shown])
        if "lr" in dirty:
            x, y = self.step_lr.data()
            if not len(x) and self.epochs:
                x, y = epochs, _finite(e.get("lr") for e in self.epochs)
            self.curves["lr"].setData(x, y)
            self._lr_range(y)

    def _lr_range(self, values: np.ndarray) -> None:
        """A learning rate is read from 0: a constant one otherwise sits mid-axis at "0"."""
        item = self.lr_plot.getPlotItem()
        finite = values[np.isfinite(values)] if len(values) else values
        if item.getAxis("left").logMode or not len(finite):
            item.enableAutoRange(axis="y")
            return
        item.setYRange(0.0, float(finite.max()) * 1.15 or 1.0, padding=0)

    def hide_legends(self) -> None:
        for plot in (self.loss_plot, self.acc_plot, self.lr_plot):
            legend = plot.getPlotItem().legend
            if legend is not None:
                legend.hide()

    def set_log_loss(self, flag: bool) -> None:
        self.loss_plot.getPlotItem().setLogMode(y=flag)
        self.lr_plot.getPlotItem().setLogMode(y=flag)
        self._dirty.add("lr")
        self.redraw()

    # --------------------------------------------------------------- history
    def clear_overlays(self) -> None:
        for plot, item in self.overlays:
            plot.removeItem(item)
        self.overlays.clear()

    def overlay(self, runs: list[tuple[str, list[dict]]]) -> None:
        """Several runs' epoch curves on the same axes (validation solid, training dashed)."""
        self.step_loss.clear()
        self.step_lr.clear()
        self.epochs = []
        self._dirty = {"loss", "accuracy", "lr"}
        self.redraw()
        self.clear_overlays()
        from PySide6.QtCore import Qt

        for index, (label, rows) in enumerate(runs):
            color = RUN_COLORS[index % len(RUN_COLORS)]
            epochs = np.array([r["epoch"] for r in rows], dtype=np.float64)
            for plot, key, style, name in (
                    (self.loss_plot, "val_loss", Qt.PenStyle.SolidLine, f"{label} val"),
                    (self.loss_plot, "train_loss", Qt.PenStyle.DashLine, f"{label} train"),
                    (self.acc_plot, "val_accuracy", Qt.PenStyle.SolidLine, f"{label} val"),
                    (self.acc_plot, "train_accuracy", Qt.PenStyle.DashLine, f"{label} train"),
                    (self.lr_plot, "lr", Qt.PenStyle.SolidLine, label)):
                values = _finite(r.get(key) for r in rows)
                shown = ~np.isnan(values)
                if not shown.any():
                    continue
                item = plot.plot(epochs[shown], values[shown], name=name,
                                 pen=pg.mkPen(color, width=2, style=style))
                self.overlays.append((plot, item))
