"""The Run History panel: every run folder of the project, newest first, with its date,
status, best metric and key settings; several selected runs overlaid on one set of curves
with the settings that differ between them side by side.

The history is read from ``runs/`` beside the project file (engine.runs), so runs started
from the command line appear too. Reading is JSON and CSV only, fast enough for the GUI
thread; while the panel is visible a timer re-reads it when a run folder changed. What the
buttons start (resuming a run, loading its weights) is the window's business: the panel only
emits the run folder's path. pyqtgraph is imported when the panel is first shown.
"""

from __future__ import annotations

import dataclasses
import datetime
import html
import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from designer import theme
from designer.document import Document
from designer.panels.parts import PlotSlot
from engine import runs as run_history
from engine import settings as settings_schema
from engine.runs import RunInfo

POLL_MS = 5000
ERROR_COLOR = "#d12c2c"
# The first four fit a half-width dock; the rest scroll into view.
COLUMNS = ("Run", "Status", "Epochs", "Best", "Started", "Device", "Optimizer", "LR", "Batch")
KEY_SETTINGS = {"Optimizer": "optimizer", "LR": "lr", "Batch": "batch_size"}
# What one selected run shows in the settings table.
MAIN_SETTINGS = ("data.dataset", "training.epochs", "training.batch_size",
                 "training.optimizer", "training.lr", "training.schedule",
                 "training.weight_decay", "augmentation.enabled", "training.precision")
NO_PATH = "Save the project to keep its runs in runs/ beside it."
NOTHING_SELECTED = "Select runs to overlay their curves and compare their settings."


# ------------------------------------------------------------------- texts
def value_text(value: Any) -> str:
    """A setting's value as the tables show it.

    >>> [value_text(v) for v in (None, True, 0.001, 64, "adam")]
    ['—', 'on', '0.001', '64', 'adam']
    """
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def started_text(info: RunInfo) -> str:
    if info.started is None:
        return "—"
    return datetime.datetime.fromtimestamp(info.started).strftime("%Y-%m-%d %H:%M")


def epochs_text(info: RunInfo) -> str:
    return f"{info.epochs_done}/{info.epochs}" if info.epochs else str(info.epochs_done)


def setting(info: RunInfo, key: str) -> Any:
    """``section.name`` of the run's recorded settings, defaults filled in; None when the
    run recorded no such section (a run from before run.json)."""
    section, _, name = key.partition(".")
    values = info.settings.get(section) if isinstance(info.settings, dict) else None
    if not isinstance(values, dict) or section not in settings_schema.SECTIONS:
        return None
    return settings_schema.resolve(section, values).get(name)


def best_text(info: RunInfo) -> str:
    """engine.runs.best_metric_text; a run without run.json (an older or command-line run
    whose trainer never wrote one) is judged from metrics.csv by the default monitor."""
    if info.best_value is not None or not info.rows:
        return run_history.best_metric_text(info)
    monitor = settings_schema.defaults("training")["monitor"]
    scored = [(r[monitor], r["epoch"]) for r in info.rows if r.get(monitor) is not None]
    if not scored:
        return run_history.best_metric_text(info)
    pick = max if monitor.endswith("accuracy") else min
    value, epoch = pick(scored, key=lambda pair: pair[0])
    return run_history.best_metric_text(
        dataclasses.replace(info, monitor=monitor, best_value=value, best_epoch=epoch))


def short_labels(names: list[str]) -> list[str]:
    """Run names without the part they all share up to a dash (the project's name), for
    legends and column headers.

    >>> short_labels(["lenet-20250301-101500", "lenet-20250302-093000"])
    ['20250301-101500', '20250302-093000']
    >>> short_labels(["only-one"])
    ['only-one']
    """
    if len(names) < 2:
        return list(names)
    cut = os.path.commonprefix(names).rfind("-") + 1
    return [name[cut:] or name for name in names]


def has_weights(info: RunInfo) -> bool:
    return bool({"best", "last"} & info.checkpoints.keys())


# -------------------------------------------------------------------- panel
class RunsPanel(QWidget):
    resume_requested = Signal(str)
    use_weights_requested = Signal(str)
    selection_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc: Document | None = None
        self.runs: list[RunInfo] = []
        self.plots = None  # CurvePlots, made when first shown
        self._signature: tuple = ()
        self._selected: list[Path] = []
        self._known_paths: set[Path] = set()
        left = self._build_run_list()
        right = self._build_comparison()
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 5)
        splitter.setStretchFactor(1, 6)
        splitter.setSizes([530, 570])
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter)

        self.poll_timer = QTimer(self)
        self.poll_timer.setInterval(POLL_MS)
        self.poll_timer.timeout.connect(self.poll)
        self._update_buttons()

    def _build_run_list(self) -> QWidget:
        """The runs' table (or, without a project file, why there is none), its buttons
        and the last error."""
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.horizontalHeader().setHighlightSections(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.cellDoubleClicked.connect(lambda row, _col: self.open_folders([row]))
        self.empty_label = QLabel(NO_PATH, self)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.list_stack = QStackedWidget(self)
        self.list_stack.addWidget(self.table)
        self.list_stack.addWidget(self.empty_label)
        buttons = self._build_buttons()
        self.error_label = QLabel(self)
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(f"color: {ERROR_COLOR}")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()
        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 4, 0)
        left_layout.addWidget(self.list_stack, 1)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.error_label)
        return left

    def _build_buttons(self) -> QHBoxLayout:
        self.open_button = QPushButton("Open Folder", self)
        self.open_button.setToolTip("Show the selected run's folder (or double-click a run)")
        self.open_button.clicked.connect(lambda: self.open_folders())
        self.delete_button = QPushButton("Delete…", self)
        self.delete_button.setToolTip("Delete the selected runs' folders, checkpoints "
                                      "included")
        self.delete_button.clicked.connect(self.delete_selected)
        self.resume_button = QPushButton("Resume", self)
        self.resume_button.setToolTip("Continue the selected run from its last checkpoint")
        self.resume_button.clicked.connect(
            lambda: self._emit_single(self.resume_requested))
        self.weights_button = QPushButton("Use These Weights", self)
        self.weights_button.setToolTip("Make the run's trained weights (best.pt, else "
                                       "last.pt) the project's weights for evaluation and "
                                       "export")
        self.weights_button.clicked.connect(
            lambda: self._emit_single(self.use_weights_requested))
        self.refresh_button = QPushButton("Refresh", self)
        self.refresh_button.setToolTip("Read the run folders again (done every 5 s when "
                                       "one changes)")
        self.refresh_button.clicked.connect(self._refresh_clicked)
        buttons = QHBoxLayout()
        buttons.setSpacing(4)
        for button in (self.open_button, self.delete_button, self.resume_button,
                       self.weights_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.refresh_button)
        return buttons

    def _build_comparison(self) -> QWidget:
        """The selected runs' curves overlaid, their legend, and their settings side by
        side."""
        self.plot_slot = PlotSlot(NOTHING_SELECTED, self)
        self.legend = QLabel(self)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        # Many runs' names must not widen the dock: the legend is cut at its edge instead.
        self.legend.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.legend.setToolTip("Solid lines: validation; dashed lines: training")
        self.legend.hide()
        self.settings_label = QLabel(NOTHING_SELECTED, self)
        self.settings_table = QTableWidget(0, 0, self)
        self.settings_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.settings_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.settings_table.setWordWrap(False)
        self.settings_table.verticalHeader().setDefaultSectionSize(20)
        self.settings_table.horizontalHeader().setHighlightSections(False)
        self.settings_table.setMaximumHeight(126)  # five rows
        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(4, 0, 0, 0)
        right_layout.setSpacing(2)
        right_layout.addWidget(self.legend)
        right_layout.addWidget(self.plot_slot, 1)
        right_layout.addWidget(self.settings_label)
        right_layout.addWidget(self.settings_table)
        return right

    # -------------------------------------------------------------- document
    def set_document(self, doc: Document) -> None:
        self.doc = doc
        self._selected = []
        self.error_label.hide()
        self.refresh()

    def runs_dir(self) -> Path | None:
        if self.doc is None or self.doc.path is None:
            return None
        return run_history.runs_dir_for(self.doc.path)

    def refresh(self) -> None:
        """Read the run folders again, keeping the selection of runs still there (the
        newest selected when nothing was and the runs changed)."""
        folder = self.runs_dir()
        self._signature = self._current_signature(folder)
        self.runs = run_history.list_runs(folder) if folder is not None else []
        if folder is None:
            self.empty_label.setText(NO_PATH)
        elif not self.runs:
            self.empty_label.setText(
                f"No runs yet in {folder}.\nRuns started from the Training panel or with "
                f"`main.py train FILE` appear here.")
        self.list_stack.setCurrentWidget(self.table if self.runs else self.empty_label)
        keep = set(self._selected)
        paths = {info.path for info in self.runs}
        if not keep and self.runs and paths != self._known_paths:
            # A first look, or a new run: show the newest rather than empty plots.
            keep = {self.runs[0].path}
        self._known_paths = paths
        scroll = self.table.verticalScrollBar().value()
        self.table.blockSignals(True)
        self.table.clearSelection()
        self.table.setRowCount(len(self.runs))
        for row, info in enumerate(self.runs):
            self._fill_row(row, info)
        for row, info in enumerate(self.runs):
            if info.path in keep:
                self._add_row_to_selection(row)
        self.table.blockSignals(False)
        self.table.resizeColumnsToContents()
        self.table.verticalScrollBar().setValue(scroll)
        self._selection_changed()

    def poll(self) -> bool:
        """Refresh when a run folder (or the set of them) changed since the last read, or
        while a run is running (its trainer may have died without a word). True when it
        re-read."""
        folder = self.runs_dir()
        if (self._current_signature(folder) == self._signature
                and not any(r.status == "running" for r in self.runs)):
            return False
        self.refresh()
        return True

    @staticmethod
    def _current_signature(folder: Path | None) -> tuple:
        """The modification times of the runs folder, each run folder and its record and
        metrics: a few stat calls per run."""
        if folder is None:
            return ()
        stamps: list[tuple[str, int]] = []
        try:
            stamps.append((str(folder), folder.stat().st_mtime_ns))
            children = sorted(p for p in folder.iterdir() if p.is_dir())
        except OSError:
            return (str(folder),)
        for child in children:
            for path in (child, child / run_history.RECORD_FILE,
                         child / run_history.METRICS_FILE):
                try:
                    stamps.append((str(path), path.stat().st_mtime_ns))
                except OSError:
                    pass
        return tuple(stamps)

    # -------------------------------------------------------------- the list
    def _fill_row(self, row: int, info: RunInfo) -> None:
        texts = {"Run": info.name, "Started": started_text(info),
                 "Status": info.status.replace("_", " "), "Epochs": epochs_text(info),
                 "Best": best_text(info), "Device": info.device or "—"}
        for label, key in KEY_SETTINGS.items():
            texts[label] = value_text(setting(info, f"training.{key}"))
        tip = str(info.path) + (f"\n{info.message}" if info.message else "")
        for column, label in enumerate(COLUMNS):
            item = QTableWidgetItem(texts[label])
            item.setToolTip(tip)
            if label in ("Epochs", "LR", "Batch"):
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(row, column, item)
        status = self.table.item(row, COLUMNS.index("Status"))
        color = status_color(info.status)
        if color is not None:
            status.setForeground(color)

    def _add_row_to_selection(self, row: int) -> None:
        model = self.table.selectionModel()
        flags = model.SelectionFlag.Select | model.SelectionFlag.Rows
        model.select(self.table.model().index(row, 0), flags)

    def selected_runs(self) -> list[RunInfo]:
        rows = sorted(index.row() for index in self.table.selectionModel().selectedRows())
        return [self.runs[row] for row in rows if row < len(self.runs)]

    def select_paths(self, paths: list[str | os.PathLike[str]]) -> None:
        """Select the runs in these folders (and no others)."""
        wanted = {Path(p) for p in paths}
        self.table.clearSelection()
        for row, info in enumerate(self.runs):
            if info.path in wanted:
                self._add_row_to_selection(row)

    def _selection_changed(self) -> None:
        runs = self.selected_runs()
        paths = [r.path for r in runs]
        changed = paths != self._selected
        self._selected = paths
        self._update_buttons()
        self._show_comparison(runs)
        if changed:
            self.selection_changed.emit()

    def _update_buttons(self) -> None:
        runs = self.selected_runs()
        one = runs[0] if len(runs) == 1 else None
        self.open_button.setEnabled(bool(runs))
        self.delete_button.setEnabled(bool(runs))
        self.resume_button.setEnabled(one is not None and one.resumable)
        self.weights_button.setEnabled(one is not None and has_weights(one))

    # ------------------------------------------------------------ comparison
    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        self.ensure_plots()
        self.poll()
        self.poll_timer.start()

    def hideEvent(self, event) -> None:  # noqa: N802
        super().hideEvent(event)
        self.poll_timer.stop()

    def ensure_plots(self):
        if self.plots is None:
            self.plots = self.plot_slot.plots()
            # The plots' own legends list the live run's curves too; the runs are named in
            # one legend above the three plots instead.
            self.plots.hide_legends()
            self._show_comparison(self.selected_runs())
        return self.plots

    def _show_comparison(self, runs: list[RunInfo]) -> None:
        labels = short_labels([r.name for r in runs])
        if self.plots is not None:
            self.plots.overlay([(label, r.rows) for label, r in zip(labels, runs)])
            self._show_legend(labels)
        if len(runs) == 1:
            keys = [(key, [setting(runs[0], key)]) for key in MAIN_SETTINGS]
            recorded = any(values[0] is not None for _key, values in keys)
            text = (f"Settings of {runs[0].name}" if recorded else
                    f"{runs[0].name} recorded no settings (no run.json)")
        elif runs:
            keys = run_history.settings_differences(runs)
            count = len(keys)
            text = (f"{count} setting differs" if count == 1 else
                    f"{count} settings differ" if count else
                    "No settings differ")
            text += " between the selected runs"
        else:
            keys, text = [], NOTHING_SELECTED
        self.settings_label.setText(text)
        self._fill_settings(labels, runs, keys)

    def _fill_settings(self, labels: list[str], runs: list[RunInfo],
                       keys: list[tuple[str, list[Any]]]) -> None:
        table = self.settings_table
        table.clear()
        table.setColumnCount(len(runs))
        table.setRowCount(len(keys))
        colors = self._run_colors(len(runs))
        for column, (label, info) in enumerate(zip(labels, runs)):
            header = QTableWidgetItem(label)
            header.setToolTip(info.name)
            if colors:
                header.setForeground(QColor(colors[column]))
            table.setHorizontalHeaderItem(column, header)
        for row, (key, values) in enumerate(keys):
            table.setVerticalHeaderItem(row, QTableWidgetItem(key))
            for column, value in enumerate(values):
                table.setItem(row, column, QTableWidgetItem(value_text(value)))
        table.resizeColumnsToContents()
        mode = QHeaderView.ResizeMode.Stretch if runs else QHeaderView.ResizeMode.Interactive
        table.horizontalHeader().setSectionResizeMode(mode)
        table.setVisible(bool(keys))

    def _show_legend(self, labels: list[str]) -> None:
        colors = self._run_colors(len(labels))
        entries = [f"<span style='color:{color}'>━━</span>&nbsp;{html.escape(label)}"
                   for color, label in zip(colors, labels)]
        muted = theme.colors().muted.name()
        self.legend.setText("&nbsp;&nbsp; ".join(entries) + (
            f"&nbsp;&nbsp;&nbsp;<span style='color:{muted}'>━ val&nbsp; ╍ train</span>"))
        self.legend.setVisible(bool(labels))

    def _run_colors(self, count: int) -> list[str]:
        """The plots' colour of each run, once the plots (and so pyqtgraph) exist."""
        if self.plots is None:
            return []
        from designer.panels.curves import RUN_COLORS

        return [RUN_COLORS[i % len(RUN_COLORS)] for i in range(count)]

    # --------------------------------------------------------------- actions
    def _emit_single(self, signal) -> None:
        runs = self.selected_runs()
        if len(runs) == 1:
            signal.emit(str(runs[0].path))

    def open_folders(self, rows: list[int] | None = None) -> None:
        runs = self.selected_runs() if rows is None else [self.runs[r] for r in rows]
        for info in runs:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(info.path)))

    def confirm_delete(self, names: list[str]) -> bool:
        listed = "\n".join(names[:10]) + (f"\n… and {len(names) - 10} more"
                                          if len(names) > 10 else "")
        what = "this run" if len(names) == 1 else f"these {len(names)} runs"
        answer = QMessageBox.question(
            self, "Delete Runs",
            f"Delete {what}, with their checkpoints and metrics?\n\n{listed}\n\n"
            f"This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    def delete_selected(self) -> None:
        runs = self.selected_runs()
        if not runs or not self.confirm_delete([r.name for r in runs]):
            return
        errors = []
        for info in runs:
            try:
                run_history.delete_run(info.path)
            except (ValueError, OSError) as exc:
                errors.append(str(exc))
        self.show_error("\n".join(errors))
        self.refresh()

    def show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.setVisible(bool(message))

    def _refresh_clicked(self) -> None:
        self.show_error("")
        self.refresh()


def status_color(status: str) -> QColor | None:
    colors = theme.colors()
    if status in ("failed", "killed"):
        return QColor(colors.problem)
    if status == "running":
        return QColor(colors.accent)
    return None
