"""The Data panel: the project's `data` settings (a built-in set, or a folder, IDX, CSV or
NPZ chosen or dropped), and what a scan of that data found: sample images with labels,
counts per class, sizes, unreadable files, warnings, and whether the Input and Output fit
(with one-click fixes, undoable like any edit).

The scan (engine/backend/data_scan.py) runs on a worker thread with progress; its facts
go to the Document, which checks the Input and Output against them on every edit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMenu,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from designer import commands, workers
from designer.document import Document, Refresh
from designer.panels.data_views import ClassBars, SampleGrid
from designer.panels.parts import side_column
from designer.panels.settings_form import SettingsForm
from engine import data_fit
from engine.layers import REGISTRY

BUILT_IN = {"digits": "digits: handwritten digits (1,797, 10 classes)",
            "shapes": "shapes: generated coloured shapes",
            "synthetic": "synthetic: random pixels (benchmarks)"}
FILES_ITEM = "a folder or file of my own…"
FILE_FILTER = "Datasets (*.csv *.npz *-ubyte *-ubyte.gz *.idx *.gz);;All files (*)"
RESCAN_MS = 300


def _input_of(doc: Document) -> tuple[tuple[int, ...], str, int | None]:
    """(shape, channel order, Output classes) the scan decodes for."""
    graph = doc.graph
    inputs = [n for n in graph.leaves() if n.kind == "Input"]
    outputs = [n for n in graph.leaves() if n.kind == "Output"]
    shape, order, classes = (1, 28, 28), "RGB", None
    if len(inputs) == 1:
        params = REGISTRY.get("Input").resolve(inputs[0].params)
        try:
            shape = tuple(int(d) for d in params["shape"]) or shape
        except (TypeError, ValueError):
            pass
        order = params["channel_order"] if params["channel_order"] in ("RGB", "BGR", "L") \
            else "RGB"
    if len(outputs) == 1:
        value = REGISTRY.get("Output").resolve(outputs[0].params)["classes"]
        classes = value if isinstance(value, int) and value > 0 else None
    return shape, order, classes


def resolve_spec(doc: Document, spec: str) -> str:
    """A dataset path as the trainer (run in the project's folder) will read it."""
    spec = spec.strip()
    if not spec or spec in BUILT_IN or doc.path is None:
        return spec
    path = Path(spec).expanduser()
    return str(path if path.is_absolute() else doc.path.resolve().parent / path)


def stored_spec(doc: Document, chosen: str) -> str:
    """A chosen path, relative to the project's folder when inside it (the project and its
    data move together)."""
    path = Path(chosen).resolve()
    if doc.path is not None:
        try:
            return str(path.relative_to(doc.path.resolve().parent))
        except ValueError:
            pass
    return str(path)


class DataPanel(QWidget):
    scanned = Signal(object)  # a DataReport

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.doc: Document | None = None
        self.report: Any = None
        self.error = ""
        self.job: workers.Job | None = None
        self.wanted = False  # a scan was asked for (the panel or a preview was shown)
        self._scanned_key: Any = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(RESCAN_MS)
        self._timer.timeout.connect(self.rescan)
        self._build_source_controls()
        scroll = self._lay_out_source_column()
        middle = self._build_scan_report()
        self.grid = SampleGrid(self)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(scroll)
        layout.addLayout(middle, 3)
        layout.addWidget(self.grid, 4)

    def _build_source_controls(self) -> None:
        """Where the data comes from (a built-in set, a folder or a file) and how it is split
        for validation."""
        self.source = QComboBox(self)
        for value, label in BUILT_IN.items():
            self.source.addItem(label, value)
        self.source.addItem(FILES_ITEM, "")
        self.source.activated.connect(self._source_chosen)
        self.path_label = QLabel(self)
        self.path_label.setWordWrap(True)
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.folder_button = QPushButton("Folder…", self)
        self.folder_button.setToolTip("A folder of class subfolders (or train/ and val/), "
                                      "or of MNIST IDX files")
        self.file_button = QPushButton("File…", self)
        self.file_button.setToolTip("A CSV of path,label rows, an .npz with x and y, or an "
                                    "MNIST IDX images file")
        self.folder_button.clicked.connect(lambda: self.choose(folder=True))
        self.file_button.clicked.connect(lambda: self.choose(folder=False))
        self.generated = SettingsForm("data", ("samples", "classes"), {}, self)
        self.split = SettingsForm("data", ("val_fraction", "seed", "cache", "workers"),
                                  {"val_fraction": "validation fraction",
                                   "seed": "split seed"}, self)
        self.val_label = QLabel(self)
        self.val_label.setWordWrap(True)
        self.val_button = QPushButton("Separate validation data", self)
        val_menu = QMenu(self.val_button)
        val_menu.addAction("Folder…", lambda: self.choose_validation(folder=True))
        val_menu.addAction("File…", lambda: self.choose_validation(folder=False))
        self.val_button.setMenu(val_menu)
        self.val_clear = QPushButton("Use the split", self)
        self.val_clear.clicked.connect(
            lambda: self._set({("data", "val_dataset"): ""}, "Validate on a split"))
        self.rescan_button = QPushButton("Rescan", self)
        self.rescan_button.clicked.connect(lambda: self.rescan(force=True))

    def _lay_out_source_column(self) -> QWidget:
        left = QWidget(self)
        column = QVBoxLayout(left)
        column.setContentsMargins(4, 4, 8, 4)
        column.addWidget(QLabel("<b>Source</b>", self))
        column.addWidget(self.source)
        row = QHBoxLayout()
        row.addWidget(self.folder_button)
        row.addWidget(self.file_button)
        row.addWidget(self.rescan_button)
        column.addLayout(row)
        column.addWidget(self.path_label)
        column.addWidget(self.generated)
        column.addWidget(QLabel("<b>Validation</b>", self))
        column.addWidget(self.split)
        column.addWidget(self.val_label)
        row = QHBoxLayout()
        row.addWidget(self.val_button)
        row.addWidget(self.val_clear)
        column.addLayout(row)
        column.addStretch(1)
        return side_column(left, self)

    def _build_scan_report(self) -> QVBoxLayout:
        """What the last scan found: a summary, how it fits the network (with fixes), the
        warnings, the unreadable files and the class counts."""
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 0)
        self.progress.hide()
        self.summary = QLabel("Drop a folder or a dataset file here, or choose one.", self)
        self.summary.setWordWrap(True)
        self.warnings = QLabel(self)
        self.warnings.setWordWrap(True)
        self.warnings.setStyleSheet("color: #b0610e")
        self.warnings.hide()
        self.unreadable = QListWidget(self)
        self.unreadable.setMaximumHeight(70)
        self.unreadable.hide()
        self.fit_label = QLabel(self)
        self.fit_label.setWordWrap(True)
        self.fix_row = QHBoxLayout()
        self.fix_buttons: list[QPushButton] = []
        self._fixes: list[data_fit.Fix] = []
        self.bars = ClassBars(self)
        middle = QVBoxLayout()
        middle.addWidget(self.progress)
        middle.addWidget(self.summary)
        middle.addWidget(self.fit_label)
        middle.addLayout(self.fix_row)
        middle.addWidget(self.warnings)
        middle.addWidget(self.unreadable)
        bars_scroll = QScrollArea(self)
        bars_scroll.setWidget(self.bars)
        bars_scroll.setWidgetResizable(True)
        bars_scroll.setFrameShape(QFrame.Shape.NoFrame)
        middle.addWidget(bars_scroll, 1)
        return middle

    # -------------------------------------------------------------- document
    def set_document(self, doc: Document) -> None:
        if self.doc is not None:
            self.doc.settings_changed.disconnect(self._settings_changed)
            self.doc.refreshed.disconnect(self._refreshed)
        self.doc = doc
        for form in (self.generated, self.split):
            form.set_document(doc)
        doc.settings_changed.connect(self._settings_changed)
        doc.refreshed.connect(self._refreshed)
        self.report, self.error, self._scanned_key = None, "", None
        self._show_settings()
        if self.wanted:
            self._timer.start()

    def _settings_changed(self, section: str) -> None:
        if section == "data":
            self._show_settings()
            if self.wanted:
                self._timer.start()

    def _refreshed(self, refresh: Refresh) -> None:
        self._show_fit()
        if self.wanted and self._key() != self._scanned_key:
            self._timer.start()  # the Input's shape or the Output's classes changed

    def _show_settings(self) -> None:
        values = self.doc.settings("data")
        spec = str(values["dataset"])
        index = self.source.findData(spec if spec in BUILT_IN else "")
        self.source.setCurrentIndex(index)
        self.path_label.setText("" if spec in BUILT_IN else (spec or "no data chosen"))
        self.generated.setVisible(spec in ("shapes", "synthetic"))
        val = str(values.get("val_dataset") or "")
        self.val_label.setText(f"Validation: {val}" if val else
                               "Validation: a stratified split of the training data")
        self.val_clear.setEnabled(bool(val))
        self.split.editors["val_fraction"].setEnabled(not val)

    # --------------------------------------------------------------- choosing
    def _set(self, values: dict[tuple[str, str], Any], text: str) -> None:
        current = self.doc.settings("data")
        if all(current.get(key) == value for (_s, key), value in values.items()):
            return
        commands.execute(self.doc, commands.set_settings(self.doc, text, values))

    def _source_chosen(self, index: int) -> None:
        value = self.source.itemData(index)
        if value:
            self._set({("data", "dataset"): value}, f"Use the {value} data")
        else:
            self.choose(folder=True)

    def choose(self, folder: bool) -> None:
        start = str(self.doc.path.parent) if self.doc.path else str(Path.home())
        if folder:
            chosen = QFileDialog.getExistingDirectory(self, "Choose a dataset folder", start)
        else:
            chosen, _ = QFileDialog.getOpenFileName(self, "Choose a dataset file", start,
                                                    FILE_FILTER)
        if chosen:
            self.use_path(chosen)
        else:
            self._show_settings()

    def choose_validation(self, folder: bool) -> None:
        start = str(self.doc.path.parent) if self.doc.path else str(Path.home())
        if folder:
            chosen = QFileDialog.getExistingDirectory(self, "Choose validation data", start)
        else:
            chosen, _ = QFileDialog.getOpenFileName(self, "Choose validation data", start,
                                                    FILE_FILTER)
        if chosen:
            self.use_validation_path(chosen)

    def use_validation_path(self, path: str) -> None:
        self._set({("data", "val_dataset"): stored_spec(self.doc, path)},
                  f"Validate on {Path(path).name}")

    def use_path(self, path: str) -> None:
        spec = stored_spec(self.doc, path)
        self._set({("data", "dataset"): spec}, f"Use the data in {Path(path).name}")

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.use_path(paths[0])

    # ---------------------------------------------------------------- scanning
    def request_scan(self) -> None:
        """The panel (or a panel that needs samples) is shown: scan from now on."""
        if not self.wanted:
            self.wanted = True
            self.rescan()

    def on_shown(self) -> None:
        self.request_scan()

    def _key(self) -> Any:
        values = self.doc.settings("data")
        return (repr(sorted(values.items())), _input_of(self.doc)[:2])

    def rescan(self, force: bool = False) -> None:
        if self.doc is None:
            return
        key = self._key()
        if key == self._scanned_key and not force:
            return
        if self.job is not None:
            self.job.cancel()
        self._scanned_key = key
        values = dict(self.doc.settings("data"))
        values["dataset"] = resolve_spec(self.doc, str(values["dataset"]))
        values["val_dataset"] = resolve_spec(self.doc, str(values.get("val_dataset") or ""))
        shape, order, classes = _input_of(self.doc)

        def work(job: workers.Job):
            from engine.backend import data_scan

            return data_scan.scan(values, shape, order, progress=job.report,
                                  cancelled=lambda: job.cancelled, output_classes=classes)

        self.progress.setRange(0, 0)
        self.progress.show()
        self.summary.setText(f"Reading {values['dataset'] or 'the data'}…")
        self.job = workers.start(work, self._scanned, self._failed, self._progress, self)

    def _progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"{done:,} / {total:,} files")

    def _scanned(self, report: Any) -> None:
        self.job = None
        self.progress.hide()
        self.report, self.error = report, ""
        self.doc.set_data_facts(data_fit.DataFacts(
            report.source if report.source in BUILT_IN else Path(report.source).name,
            report.native_shape, tuple(report.class_names), report.named_classes))
        self._show_report()
        self.scanned.emit(report)

    def _failed(self, message: str) -> None:
        self.job = None
        self.progress.hide()
        self.report, self.error = None, message
        self.doc.set_data_facts(None)
        self.summary.setText(f"<span style='color:#d12c2c'><b>The data cannot be read:</b> "
                             f"{message}</span>")
        self.grid.set_message("No samples: the data cannot be read.")
        self.bars.set_counts([], [], [])
        self.warnings.hide()
        self.unreadable.hide()

    def _show_report(self) -> None:
        r = self.report
        shape = "×".join(map(str, r.native_shape)) if r.native_shape else "not images"
        vary = " (sizes vary; the loader resizes)" if r.native_shapes_vary else ""
        self.summary.setText(
            f"<b>{r.description}</b><br>{r.train_size:,} training and {r.val_size:,} "
            f"validation images · {len(r.class_names)} classes · images {shape}{vary} · "
            f"scanned in {r.seconds:.1f} s")
        shown = r.warnings + r.notes
        self.warnings.setText("<br>".join(f"⚠ {w}" for w in r.warnings)
                              + ("<br>" if r.warnings and r.notes else "")
                              + "<br>".join(f"note: {n}" for n in r.notes))
        self.warnings.setVisible(bool(shown))
        self.unreadable.clear()
        for file, reason in r.unreadable:
            self.unreadable.addItem(f"{file}: {reason}")
        self.unreadable.setVisible(bool(r.unreadable))
        self.bars.set_counts(r.class_names, r.train_counts, r.val_counts)
        names = r.class_names
        self.grid.set_samples([s.image for s in r.samples],
                              [names[s.label] if s.label < len(names) else str(s.label)
                               for s in r.samples])
        self._show_fit()

    # ---------------------------------------------------------------- fitting
    def _show_fit(self) -> None:
        doc = self.doc
        if doc is None or self.report is None:
            self.fit_label.setText("")
            self._set_fixes([])
            return
        problems = doc.data_fit.problems
        if not problems:
            self.fit_label.setText("✓ The Input and Output fit this data.")
            self.fit_label.setStyleSheet("color: #2e7d32")
        else:
            self.fit_label.setText("<br>".join(f"⚠ {p}" for p in problems.values()))
            self.fit_label.setStyleSheet("color: #d12c2c")
        self._set_fixes(doc.data_fit.fixes)

    def _set_fixes(self, fixes: list) -> None:
        if fixes == self._fixes:
            return
        self._fixes = list(fixes)
        for button in self.fix_buttons:
            self.fix_row.removeWidget(button)
            button.deleteLater()
        self.fix_buttons = []
        for fix in fixes:
            button = QPushButton(fix.label, self)
            button.clicked.connect(lambda _c=False, f=fix: self.apply_fix(f))
            self.fix_row.addWidget(button)
            self.fix_buttons.append(button)

    def apply_fix(self, fix: data_fit.Fix) -> None:
        commands.execute(self.doc, commands.apply_fix(self.doc, fix))
