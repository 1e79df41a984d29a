"""The Training panel: the project's training settings, Train / Stop / Resume, and the run
as it streams: progress with images/s and ETA, loss / accuracy / learning-rate curves, the
device and notes, the trainer's log, and failures in words.

What a button does (save first, pick the run folder, start the subprocess) lives in
designer/train_control.py; this module only shows. pyqtgraph is imported when the panel is
first shown, torch (to list the GPUs) off the GUI thread.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from designer import workers
from designer.document import Document, Refresh
from designer.panels.parts import PlotSlot, side_column
from designer.panels.settings_form import SettingsForm
from engine import memory

MAIN_KEYS = ("epochs", "batch_size", "optimizer", "lr", "schedule", "label_smoothing",
             "early_stopping", "monitor", "device", "precision")
MORE_KEYS = ("telemetry_every", "momentum", "nesterov", "weight_decay", "step_size", "gamma",
             "patience", "grad_clip", "seed", "channels_last", "compile", "threads")
LABELS = {"lr": "learning rate", "batch_size": "batch size", "early_stopping":
          "early stopping", "label_smoothing": "label smoothing",
          "telemetry_every": "block telemetry every (steps)"}
LOG_LINES = 5000  # the log keeps its last lines: memory stays bounded on long runs


def probe_devices(_job: Any = None) -> list[tuple[str, str]]:
    """(setting value, label) for each device this machine can train on; imports torch."""
    import os

    import torch

    from engine.backend.runtime import mps_available

    found = [("auto", "auto (a GPU if any)"), ("cpu", f"cpu ({os.cpu_count() or 1} cores)")]
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    for index in range(count):
        props = torch.cuda.get_device_properties(index)
        label = f"{props.name}, {props.total_memory / 2**30:.0f} GB"
        found.append(("cuda" if index == 0 and count == 1 else f"cuda:{index}",
                      f"cuda:{index} ({label})"))
    if mps_available():
        found.append(("mps", "mps (Apple GPU)"))
    return found


def _fmt_clock(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = max(0, int(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class TrainingPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc: Document | None = None
        self.plots = None  # CurvePlots, made when first shown
        self.devices: list[tuple[str, str]] | None = None
        self._device_job: workers.Job | None = None
        self.run_info: dict[str, Any] = {}
        self.last_checkpoint: dict[str, Any] | None = None
        self.events_seen = 0
        scroll = self._build_settings_column()
        right = self._build_run_view()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(scroll)
        layout.addLayout(right, 1)
        self.form.edited.connect(lambda *_: self.update_estimate())
        self.set_running(False, resumable=False)

    def _build_settings_column(self) -> QWidget:
        """The training settings (the main ones, more on request), what is trainable and the
        memory estimate."""
        self.form = SettingsForm("training", MAIN_KEYS, LABELS, self)
        self.more = SettingsForm("training", MORE_KEYS, LABELS, self)
        self.more.hide()
        self.more_button = QToolButton(self)
        self.more_button.setText("▸ More settings")
        self.more_button.setAutoRaise(True)
        self.more_button.clicked.connect(self._toggle_more)
        self.memory_label = QLabel(self)
        self.memory_label.setWordWrap(True)
        self.memory_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.trainable_label = QLabel(self)
        self.trainable_label.setWordWrap(True)
        settings_box = QWidget(self)
        column = QVBoxLayout(settings_box)
        column.setContentsMargins(4, 4, 8, 4)
        column.addWidget(self.trainable_label)
        column.addWidget(self.memory_label)
        column.addWidget(self.form)
        column.addWidget(self.more_button, 0, Qt.AlignmentFlag.AlignLeft)
        column.addWidget(self.more)
        column.addStretch(1)
        return side_column(settings_box, self, 320, 400)

    def _build_run_buttons(self) -> QHBoxLayout:
        """Train, Stop and Resume, and the run's status beside them."""
        self.train_button = QPushButton("Train", self)
        self.train_button.setToolTip("Save the project and train it (F5)")
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setToolTip("Finish the current step and keep an 'interrupted' "
                                    "checkpoint (Shift+F5)")
        self.resume_button = QPushButton("Resume", self)
        self.resume_button.setToolTip("Continue the selected run (Run History) or the last "
                                      "one from its last checkpoint")
        self.status = QLabel("Not trained yet: press Train.", self)
        self.status.setWordWrap(True)
        buttons = QHBoxLayout()
        for button in (self.train_button, self.stop_button, self.resume_button):
            buttons.addWidget(button)
        buttons.addWidget(self.status, 1)
        return buttons

    def _build_run_view(self) -> QVBoxLayout:
        """The buttons, the progress, the device and the error, the curves and the log."""
        buttons = self._build_run_buttons()
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.progress.setTextVisible(True)
        self.device_label = QLabel(self)
        self.device_label.setWordWrap(True)
        self.error_label = QLabel(self)
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #d12c2c; font-weight: bold")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()
        self.log_scale = QCheckBox("log scale", self)
        self.log_scale.setToolTip("Loss and learning rate on a logarithmic axis")
        self.log_scale.toggled.connect(self._log_scale)
        self.log_button = QToolButton(self)
        self.log_button.setText("▸ Log")
        self.log_button.setAutoRaise(True)
        self.log_button.clicked.connect(self._toggle_log)
        self.log = QPlainTextEdit(self)
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(LOG_LINES)
        self.log.setMaximumHeight(110)
        self.log.hide()
        self.plot_slot = PlotSlot("Curves appear here while a run trains.", self)
        options = QHBoxLayout()
        options.addWidget(self.device_label, 1)
        options.addWidget(self.log_scale)
        options.addWidget(self.log_button)
        right = QVBoxLayout()
        right.addLayout(buttons)
        right.addWidget(self.progress)
        right.addWidget(self.error_label)
        right.addLayout(options)
        right.addWidget(self.plot_slot, 1)
        right.addWidget(self.log)
        return right

    # -------------------------------------------------------------- document
    def set_document(self, doc: Document) -> None:
        if self.doc is not None:
            self.doc.refreshed.disconnect(self._refreshed)
            self.doc.settings_changed.disconnect(self._settings_changed)
        self.doc = doc
        self.form.set_document(doc)
        self.more.set_document(doc)
        doc.refreshed.connect(self._refreshed)
        doc.settings_changed.connect(self._settings_changed)
        self.update_estimate()

    def _refreshed(self, refresh: Refresh) -> None:
        if refresh.results or refresh.everything or refresh.nodes:
            self.update_estimate()

    def _settings_changed(self, section: str) -> None:
        if section == "training":
            self.update_estimate()

    def update_estimate(self) -> None:
        doc = self.doc
        if doc is None:
            return
        t = doc.settings("training")
        estimate = memory.estimate_training_memory(
            doc.analysis, int(t["batch_size"]), t["optimizer"], t["precision"],
            momentum=float(t["momentum"]))
        available = memory.available_memory()
        text = f"Memory estimate: {estimate.text()}"
        if available:
            text += f"; this machine has {available / 2**30:.1f} GB available"
            if estimate.total > available:
                text = (f"<span style='color:#d12c2c'>{text}: too much: lower the batch "
                        "size</span>")
        self.memory_label.setText(text)
        totals = doc.totals
        self.trainable_label.setText(
            f"Trainable parameters: {totals['trainable']:,} of {totals['params']:,}")

    # ------------------------------------------------------------- showing
    def on_shown(self) -> None:
        """The dock came to the front: pay for pyqtgraph now, and list the devices."""
        self.ensure_plots()
        if self.devices is None and self._device_job is None:
            self._device_job = workers.start(probe_devices, self._devices_found,
                                             lambda _m: None, parent=self)

    def ensure_plots(self):
        if self.plots is None:
            self.plots = self.plot_slot.plots()
            self.plots.set_log_loss(self.log_scale.isChecked())
        return self.plots

    def _devices_found(self, devices: list[tuple[str, str]]) -> None:
        self.devices = devices
        box = self.form.editors["device"].box
        available = {value: label for value, label in devices}
        box.blockSignals(True)
        for index in range(box.count() - 1, -1, -1):
            value = box.itemData(index)
            if value in available:
                box.setItemText(index, available[value])
            else:
                box.removeItem(index)
        box.blockSignals(False)
        self.form.refresh()

    def _toggle_more(self) -> None:
        shown = not self.more.isVisible()
        self.more.setVisible(shown)
        self.more_button.setText(("▾" if shown else "▸") + " More settings")

    def _toggle_log(self) -> None:
        shown = not self.log.isVisible()
        self.log.setVisible(shown)
        self.log_button.setText(("▾" if shown else "▸") + " Log")

    def _log_scale(self, flag: bool) -> None:
        if self.plots is not None:
            self.plots.set_log_loss(flag)

    def set_running(self, running: bool, resumable: bool) -> None:
        self.train_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.resume_button.setEnabled(not running and resumable)
        self.form.setEnabled(not running)
        self.more.setEnabled(not running)

    # ------------------------------------------------------------ the run
    def begin(self, run_dir: str, resumed_rows: list[dict] | None = None) -> None:
        self.ensure_plots().clear()
        if resumed_rows:
            self.plots.set_epochs(resumed_rows)
        self.run_info = {"run_dir": run_dir}
        self.last_checkpoint = None
        self.events_seen = 0
        self.error_label.hide()
        self.progress.setValue(0)
        self.progress.setFormat("starting the trainer…")
        self.device_label.setText("")
        self.status.setText(f"Run folder: {run_dir}")
        self.log.clear()

    def add_log(self, line: str) -> None:
        self.log.appendPlainText(line)

    def show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.show()

    def on_event(self, e: dict) -> None:
        self.events_seen += 1
        handler = getattr(self, f"_on_{e.get('event')}", None)
        if handler is not None:
            handler(e)

    def _on_start(self, e: dict) -> None:
        self.run_info.update(e)
        data = e.get("data") or {}
        text = (f"{e.get('device', '?')} ({e.get('precision', 'fp32')}) · "
                f"{data.get('train', 0):,} training and {data.get('val', 0):,} validation "
                f"images · {data.get('classes', '?')} classes · {e.get('params', 0):,} "
                "parameters")
        if data.get("skipped"):
            text += f" · {data['skipped']} unreadable file(s) skipped"
        notes = e.get("notes") or []
        if notes:
            text += "<br>" + "<br>".join(f"note: {n}" for n in notes)
        self.device_label.setText(text)
        if e.get("start_epoch", 1) > 1:
            self.status.setText(f"Resumed at epoch {e['start_epoch']} in {e.get('run_dir')}")

    def _on_step(self, e: dict) -> None:
        epochs, steps = max(1, e.get("epochs", 1)), max(1, e.get("steps", 1))
        done = (e.get("epoch", 1) - 1) * steps + e.get("step", 0)
        self.progress.setValue(int(1000 * done / (epochs * steps)))
        self.progress.setFormat(
            f"epoch {e.get('epoch')}/{epochs} · step {e.get('step')}/{steps} · "
            f"{e.get('images_per_s') or 0:,.0f} img/s · ETA {_fmt_clock(e.get('eta_s'))}")
        self.ensure_plots().add_step(e.get("epoch", 1), e.get("step", 0), steps,
                                     e.get("loss"), e.get("lr"))

    def _on_epoch(self, e: dict) -> None:
        self.ensure_plots().add_epoch(e)
        text = f"Epoch {e.get('epoch')}/{e.get('epochs')}: loss {e.get('train_loss') or 0:.4f}"
        if e.get("val_accuracy") is not None:
            text += (f", validation loss {e.get('val_loss') or 0:.4f}, accuracy "
                     f"{e['val_accuracy']:.1%}")
        self.status.setText(text)

    def _on_checkpoint(self, e: dict) -> None:
        self.last_checkpoint = e

    def _on_done(self, e: dict) -> None:
        self.progress.setValue(1000 if e.get("status") != "interrupted" else
                               self.progress.value())
        best, monitor = e.get("best_value"), str(e.get("monitor") or "")
        text = f"{e.get('status', 'done').replace('_', ' ').capitalize()}: " \
               f"{e.get('epochs_done', 0)} epoch(s) in {e.get('seconds') or 0:.1f} s"
        if best is not None:
            shown = f"{best:.1%}" if monitor.endswith("accuracy") else f"{best:.4f}"
            text += f"; best {monitor} {shown} (epoch {e.get('best_epoch')})"
        self.status.setText(text)
        self.progress.setFormat(text)

    def _on_error(self, e: dict) -> None:
        self.show_error(e.get("message") or "the run failed")
