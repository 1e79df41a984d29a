"""File > Import: a torchvision network (with a weights file), an ONNX model or an earlier
training run becomes a new project (engine/importers/sources.py does the work, on a worker
thread, with a busy indicator).

A network with layers Netdraft has no block for is refused as the CLI refuses it; the dialog
then offers to keep it as one Backbone block. An import that holds weights is saved before
it opens (weights are only read from beside a saved project): the dialog asks where.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from designer import workers
from designer.panels.parts import busy_bar
from engine import project as projects
from engine import runs
from engine.summary import human_count

if TYPE_CHECKING:
    from designer.main_window import MainWindow

ERROR_STYLE = "color: #d12c2c;"
WEIGHTS_FILTER = "Weights (*.pth *.pt *.bin *.safetensors *.ckpt);;All files (*)"
TABS = ("torchvision", "onnx", "run")


def _shape(text: str) -> tuple[int, ...]:
    parts = [p for p in text.replace("×", ",").replace("x", ",").replace(" ", ",").split(",")
             if p]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"the input is three positive sizes C, H, W such as 3, 224, 224. "
                         f"Received: {text!r}")
    return shape


class FileRow(QWidget):
    """A path typed or chosen with Browse…"""

    def __init__(self, placeholder: str, browse, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit(self)
        self.edit.setPlaceholderText(placeholder)
        self.button = QPushButton("Browse…", self)
        self.button.clicked.connect(lambda: self._browse(browse))
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.button)

    def _browse(self, browse) -> None:
        path = browse(self.edit.text())
        if path:
            self.edit.setText(path)

    def text(self) -> str:
        return self.edit.text().strip()


class ImportDialog(QDialog):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.setWindowTitle("Import a network")
        self.setObjectName("import-dialog")
        self.job: workers.Job | None = None
        self.networks: list[Any] = []
        self.imported = None  # the last import, for tests and the save step
        self.saved_to: Path | None = None
        self.tabs = QTabWidget(self)
        self.tabs.addTab(self._torchvision_tab(), "torchvision")
        self.tabs.addTab(self._onnx_tab(), "ONNX file")
        self.tabs.addTab(self._run_tab(), "Earlier run")
        self.progress = busy_bar(self)
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.error = QLabel(self)
        self.error.setObjectName("import-error")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.hide()
        self.backbone_button = QPushButton("Keep It as One Backbone Block", self)
        self.backbone_button.setToolTip("Import the whole network as one Backbone block: it "
                                        "trains and exports, but its layers are not drawn")
        self.backbone_button.clicked.connect(lambda: self.start(keep_unknown=True))
        self.backbone_button.hide()
        self.buttons = QDialogButtonBox(self)
        self.import_button = self.buttons.addButton("Import",
                                                    QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.import_button.clicked.connect(lambda: self.start())
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.error)
        layout.addWidget(self.backbone_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.buttons)
        self.resize(640, 600)
        self._load_catalog()
        self._fill_runs()

    # ------------------------------------------------------------------ tabs
    def _torchvision_tab(self) -> QWidget:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        self.search = QLineEdit(page)
        self.search.setPlaceholderText("Search networks (e.g. resnet, mobilenet)")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._filter)
        self.models = QTreeWidget(page)
        self.models.setHeaderLabels(["Network", "Parameters", "Import tested"])
        self.models.setRootIsDecorated(False)
        self.models.setAlternatingRowColors(True)
        self.models.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.models.itemDoubleClicked.connect(lambda *_: self.start())
        form = QFormLayout()
        self.weights = FileRow("empty: every block starts fresh", self._browse_weights, page)
        self.weights.setToolTip("A state dict (torch.save(model.state_dict(), FILE)), a "
                                "checkpoint holding one, or a .safetensors file")
        self.input_shape = QLineEdit("3, 224, 224", page)
        self.input_shape.setToolTip("The input size C, H, W the network is imported for; "
                                    "the Input block gets ImageNet's preprocessing")
        self.collapse = QCheckBox("Keep the network as one Backbone block", page)
        self.collapse.setToolTip("One block instead of its layers; where to cut it is "
                                 "chosen in the inspector")
        form.addRow("Weights file", self.weights)
        form.addRow("Input (C, H, W)", self.input_shape)
        form.addRow("", self.collapse)
        layout.addWidget(self.search)
        layout.addWidget(self.models, 1)
        layout.addLayout(form)
        return page

    def _onnx_tab(self) -> QWidget:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        about = QLabel("Each ONNX node becomes a block and its initializers the blocks' "
                       "weights (docs/transfer-learning.md lists the operators).", page)
        about.setWordWrap(True)
        self.onnx_file = FileRow("model.onnx", self._browse_onnx, page)
        layout.addWidget(about)
        layout.addWidget(self.onnx_file)
        layout.addStretch(1)
        return page

    def _run_tab(self) -> QWidget:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        about = QLabel("The lecture's develop model approach: a network trained here "
                       "(its best checkpoint, else its last) with its trained weights, ready "
                       "for a new head.", page)
        about.setWordWrap(True)
        self.runs = QTreeWidget(page)
        self.runs.setHeaderLabels(["Run of this project", "Status", "Best"])
        self.runs.setRootIsDecorated(False)
        self.runs.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.runs.itemSelectionChanged.connect(self._run_picked)
        self.run_path = FileRow("a run folder or checkpoint of this or another project",
                                self._browse_run, page)
        layout.addWidget(about)
        layout.addWidget(self.runs, 1)
        layout.addWidget(QLabel("Or another run:", page))
        layout.addWidget(self.run_path)
        return page

    def _load_catalog(self) -> None:
        self.status.setText("Listing torchvision's networks…")

        def work(_job):
            from engine.importers.sources import catalog

            return catalog()

        self._catalog_job = workers.start(work, self._catalog_done, self._catalog_failed,
                                          parent=self)

    def _catalog_done(self, networks: list[Any]) -> None:
        self.networks = networks
        self.models.clear()
        for net in networks:
            item = QTreeWidgetItem([net.name, human_count(net.params) if net.params else "—",
                                    "✓" if net.tested else ""])
            item.setData(0, Qt.ItemDataRole.UserRole, net.name)
            item.setData(1, Qt.ItemDataRole.UserRole, net.params)
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            item.setToolTip(0, f"{net.name}: {net.params:,} parameters"
                            + ("; its import is tested against torchvision" if net.tested
                               else "; layers without a block are kept as a Backbone"))
            self.models.addTopLevelItem(item)
        self._filter(self.search.text())
        if self.models.currentItem() is None and self.models.topLevelItemCount():
            self.models.setCurrentItem(self.models.topLevelItem(0))
        self.status.setText(f"{len(networks)} networks from torchvision; the checked ones "
                            "are tested against torchvision itself.")

    def _catalog_failed(self, message: str) -> None:
        self.status.setText(f"torchvision's networks could not be listed: {message}")

    def _filter(self, text: str) -> None:
        words = text.lower().split()
        first = None
        for k in range(self.models.topLevelItemCount()):
            item = self.models.topLevelItem(k)
            shown = all(w in item.text(0).lower() for w in words)
            item.setHidden(not shown)
            if shown and first is None:
                first = item
        current = self.models.currentItem()
        if first is not None and (current is None or current.isHidden()):
            self.models.setCurrentItem(first)

    def select_network(self, name: str) -> None:
        """Pick a network by name (the search is cleared first)."""
        self.search.clear()
        for k in range(self.models.topLevelItemCount()):
            item = self.models.topLevelItem(k)
            if item.text(0) == name:
                self.models.setCurrentItem(item)
                return
        raise KeyError(name)

    def _fill_runs(self) -> None:
        doc = self.window.doc
        self.runs.clear()
        if doc is None or doc.path is None:
            self.runs.setHeaderLabels(["Runs of this project (save it and train first)",
                                       "Status", "Best"])
            return
        for info in runs.list_runs(runs.runs_dir_for(doc.path)):
            if not info.checkpoints:
                continue
            item = QTreeWidgetItem([info.name, info.status, runs.best_metric_text(info)])
            item.setData(0, Qt.ItemDataRole.UserRole, str(info.path))
            self.runs.addTopLevelItem(item)

    def _run_picked(self) -> None:
        items = self.runs.selectedItems()
        if items:
            self.run_path.edit.setText(items[0].data(0, Qt.ItemDataRole.UserRole))

    def _start_folder(self, text: str) -> str:
        if text:
            return str(Path(text).parent)
        doc = self.window.doc
        return str(doc.path.parent) if doc is not None and doc.path else ""

    def _browse_weights(self, text: str) -> str:
        path, _ = QFileDialog.getOpenFileName(self, "Weights file", self._start_folder(text),
                                              WEIGHTS_FILTER)
        return path

    def _browse_onnx(self, text: str) -> str:
        path, _ = QFileDialog.getOpenFileName(self, "ONNX model", self._start_folder(text),
                                              "ONNX models (*.onnx);;All files (*)")
        return path

    def _browse_run(self, text: str) -> str:
        return QFileDialog.getExistingDirectory(self, "Run folder", self._start_folder(text))

    # ---------------------------------------------------------------- import
    def request(self, keep_unknown: bool = False) -> dict[str, Any]:
        """What the chosen tab asks for, as engine.importers.sources.import_source's
        arguments. Raises ValueError with a sentence for the user."""
        tab = TABS[self.tabs.currentIndex()]
        if tab == "torchvision":
            item = self.models.currentItem()
            if item is None or item.isHidden():
                raise ValueError("choose a network in the list")
            return {"source": f"torchvision:{item.text(0)}",
                    "weights": self.weights.text() or None,
                    "input_shape": _shape(self.input_shape.text()),
                    "collapse": self.collapse.isChecked(), "keep_unknown": keep_unknown}
        path = (self.onnx_file if tab == "onnx" else self.run_path).text()
        if not path:
            raise ValueError("choose an ONNX file" if tab == "onnx" else
                             "choose a run in the list, or a run folder or checkpoint")
        return {"source": path, "keep_unknown": keep_unknown}

    def start(self, keep_unknown: bool = False) -> None:
        if self.busy:
            return
        try:
            spec = self.request(keep_unknown)
        except ValueError as exc:
            self.show_error(str(exc))
            return
        self.show_error("")
        self.backbone_button.hide()
        what = spec["source"].removeprefix("torchvision:")
        self._busy(f"Importing {what}… (reading the weights and tracing the network)")

        def work(_job):
            from engine.importers.sources import import_source

            return import_source(**spec)

        self.job = workers.start(work, self._imported, self._failed, parent=self)

    @property
    def busy(self) -> bool:
        return self.job is not None

    def _busy(self, text: str) -> None:
        self.progress.show()
        self.status.setText(text)
        self.import_button.setEnabled(False)
        self.tabs.setEnabled(False)

    def _idle(self, text: str = "") -> None:
        self.job = None
        self.progress.hide()
        self.status.setText(text)
        self.import_button.setEnabled(True)
        self.tabs.setEnabled(True)

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.setVisible(bool(message))

    def _failed(self, message: str) -> None:
        self._idle()
        from engine.importers.sources import unmapped

        self.show_error(message)
        if unmapped(message):
            self.status.setText("Netdraft can keep such a network as one Backbone block: "
                                "it trains and exports, but its layers are not drawn.")
            self.backbone_button.show()

    def _imported(self, imported) -> None:
        self.imported = imported
        self._idle()
        graph = imported.project.graph
        kept = {k for k in imported.tensors if k in graph.nodes}
        if not self.window.files.maybe_save():
            self.status.setText("Imported; the open project was kept. Import again to "
                                "replace it.")
            return
        if not kept:
            from designer.document import Document
            from designer.files import with_layout

            self.window.set_document(Document(with_layout(imported.project, tidy=True)))
            self.window.view.show_start()
            self._opened(imported)
            return
        path = self.ask_path(imported.project.name)
        if not path:
            self.status.setText("Not saved: an import with weights is saved beside its "
                                "weights before it opens. Press Import again to choose "
                                "where.")
            return
        self._busy(f"Saving {path.name} and its weights…")
        self.job = workers.start(lambda _job: _save(imported, path), self._saved,
                                 self._failed, parent=self)

    def ask_path(self, name: str) -> Path | None:
        doc = self.window.doc
        folder = doc.path.parent if doc is not None and doc.path else Path.home()
        path, _ = QFileDialog.getSaveFileName(
            self, "Save the imported project", str(folder / f"{name}{projects.EXTENSION}"),
            "Netdraft projects (*.netdraft);;All files (*)")
        if not path:
            return None
        if not path.endswith(projects.EXTENSION):
            path += projects.EXTENSION
        return Path(path)

    def _saved(self, path: Path) -> None:
        self._idle()
        self.saved_to = path
        if self.window.files.open_path(path, ask=False):
            self._opened(self.imported)

    def _opened(self, imported) -> None:
        notes = "; ".join(imported.notes)
        self.window.show_message(f"Imported {imported.project.name}"
                                 + (f": {notes}" if notes else ""))
        self.accept()

    def reject(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.job = None
        super().reject()


def _save(imported, path: Path) -> Path:
    """Write the project and its weights beside it (worker thread)."""
    from designer.files import with_layout
    from engine import weights

    project = with_layout(imported.project, tidy=True)
    kept = {k: v for k, v in imported.tensors.items() if k in project.graph.nodes}
    weights.save(project, path, kept, imported.source)
    projects.save(project, path)
    return path
