"""The Evaluation panel: a run's network on its validation data (engine/backend/evaluate.py,
what `main.py evaluate` prints): accuracy, loss and top-5; the confusion matrix as a heat
map (click a cell: the images behind it); precision, recall and F1 per class; the most
confused pairs; and the misclassified images with their true and predicted classes and
confidence, sortable by confidence.

The evaluation runs on a worker thread (torch, the data, the network); the panel shows
its result, or the error in the command's words.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from designer import workers
from designer.document import Document
from designer.panels.evaluation_views import ConfusionMap, Gallery
from engine import runs

GALLERY_LIMIT = 300  # thumbnails decoded for the misclassified gallery
SORTS = (("confidence, highest first", True), ("confidence, lowest first", False))


def evaluate_run(project: Any, project_path: Path | None, run_dir: Path,
                 limit: int = GALLERY_LIMIT) -> dict[str, Any]:
    """Evaluate a run's checkpoint on its validation data: evaluate's JSON, plus H×W×C uint8
    thumbnails of the first ``limit`` misclassified samples by their index. Imports torch."""
    import numpy as np

    from engine.backend.evaluate import (
        evaluate,
        evaluation_data,
        load_network,
        read_image,
    )

    net = load_network(project, run_dir, project_path=project_path,
                       file_label=project.name)
    for key in ("dataset", "val_dataset"):  # the trainer ran in the project's folder
        net.settings["data"][key] = _resolved(project_path, net.settings["data"].get(key))
    result = evaluate(net)
    report = result.to_json()
    wrong = report["misclassified"][:limit]
    thumbs: dict[int, Any] = {}
    if wrong and result.files is None:
        split = evaluation_data(net, None)[0]
        for entry in wrong:
            thumbs[entry["index"]] = split.x[entry["index"]].numpy().transpose(1, 2, 0)
    else:
        for entry in wrong:
            try:
                pixels = read_image(entry["file"], net.target)
            except (OSError, ValueError):
                continue
            thumbs[entry["index"]] = np.asarray(pixels).transpose(1, 2, 0)
    for index, pixels in thumbs.items():
        if pixels.dtype != np.uint8:  # float arrays from an .npz: stretched for display
            low, high = float(pixels.min()), float(pixels.max())
            pixels = ((pixels - low) / (high - low or 1.0) * 255).astype(np.uint8)
        thumbs[index] = np.ascontiguousarray(pixels[..., :3])
    report["thumbnails"] = thumbs
    return report


def _resolved(project_path: Path | None, spec: Any) -> Any:
    if not isinstance(spec, str) or not spec or project_path is None:
        return spec
    path = Path(spec).expanduser()
    if spec in ("digits", "shapes", "synthetic") or path.is_absolute():
        return spec
    return str(Path(project_path).resolve().parent / path)


def _percent(value: Any) -> str:
    return "—" if value is None else f"{value:.1%}"


class EvaluationPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc: Document | None = None
        self.result: dict[str, Any] | None = None
        self.error = ""
        self.job: workers.Job | None = None
        self.cell: tuple[int, int] | None = None
        self.shown_entries: list[dict[str, Any]] = []
        top = self._build_run_row()
        middle = self._build_class_report()
        right = self._build_gallery()
        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.addWidget(self.confusion)
        split.addWidget(middle)
        split.addWidget(right)
        split.setSizes([330, 330, 500])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(split, 1)
        self._show_gallery()

    def _build_run_row(self) -> QHBoxLayout:
        """Which run to evaluate, the button, and the headline result."""
        self.run_box = QComboBox(self)
        self.run_box.setMinimumWidth(260)
        self.evaluate_button = QPushButton("Evaluate", self)
        self.evaluate_button.setToolTip("Run the selected run's best checkpoint over its "
                                        "validation data")
        self.evaluate_button.clicked.connect(self.evaluate_selected)
        self.busy = QProgressBar(self)
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(120)
        self.busy.hide()
        self.headline = QLabel("Choose a run and press Evaluate.", self)
        self.headline.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(QLabel("Run:", self))
        top.addWidget(self.run_box)
        top.addWidget(self.evaluate_button)
        top.addWidget(self.busy)
        top.addWidget(self.headline, 1)
        return top

    def _build_class_report(self) -> QWidget:
        """The confusion map (the splitter's first pane) and the middle pane: the per-class
        scores and the most confused pairs."""
        self.confusion = ConfusionMap(self)
        self.confusion.cell_clicked.connect(self.show_cell)
        self.table = QTableWidget(0, 5, self)
        self.table.setHorizontalHeaderLabels(["class", "precision", "recall", "F1", "support"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.pairs = QListWidget(self)
        self.pairs.setMaximumHeight(90)
        self.pairs.itemClicked.connect(self._pair_clicked)
        middle = QWidget(self)
        middle_layout = QVBoxLayout(middle)
        middle_layout.setContentsMargins(0, 0, 0, 0)
        middle_layout.addWidget(self.table, 1)
        middle_layout.addWidget(QLabel("Most confused (true → predicted):", self))
        middle_layout.addWidget(self.pairs)
        return middle

    def _build_gallery(self) -> QWidget:
        """The validation images, filtered by a confusion cell and sorted."""
        self.sort_box = QComboBox(self)
        for label, _descending in SORTS:
            self.sort_box.addItem(label)
        self.sort_box.currentIndexChanged.connect(lambda _i: self._show_gallery())
        self.filter_label = QLabel(self)
        self.clear_filter = QPushButton("Show all", self)
        self.clear_filter.clicked.connect(lambda: self.show_cell(None, None))
        self.gallery = Gallery(self)
        gallery_scroll = QScrollArea(self)
        gallery_scroll.setWidget(self.gallery)
        gallery_scroll.setWidgetResizable(True)
        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        bar.addWidget(self.filter_label, 1)
        bar.addWidget(self.clear_filter)
        bar.addWidget(self.sort_box)
        right_layout.addLayout(bar)
        right_layout.addWidget(gallery_scroll, 1)
        return right

    # -------------------------------------------------------------- runs
    def set_document(self, doc: Document) -> None:
        self.doc = doc
        self.result, self.error = None, ""
        self.refresh_runs()
        self._show_result()

    def refresh_runs(self, select: str | Path | None = None) -> None:
        current = select or self.run_box.currentData()
        self.run_box.blockSignals(True)
        self.run_box.clear()
        found = []
        if self.doc is not None and self.doc.path is not None:
            found = [r for r in runs.list_runs(runs.runs_dir_for(self.doc.path))
                     if r.checkpoints.get("best") or r.checkpoints.get("last")]
        for info in found:
            self.run_box.addItem(f"{info.name} · {info.status.replace('_', ' ')} · "
                                 f"{runs.best_metric_text(info)}", str(info.path))
        index = self.run_box.findData(str(current)) if current else -1
        self.run_box.setCurrentIndex(index if index >= 0 else 0)
        self.run_box.blockSignals(False)
        self.evaluate_button.setEnabled(bool(found) and self.job is None)
        if not found:
            self.headline.setText("No trained run yet: train in the Training panel, then "
                                  "evaluate it here." if self.doc and self.doc.path else
                                  "Save the project and train it to evaluate its runs.")

    def on_shown(self) -> None:
        self.refresh_runs()

    def run_finished(self, run_dir: str) -> None:
        """A run ended: select it, and evaluate it when the panel is in view."""
        self.refresh_runs(select=run_dir)
        if not self.visibleRegion().isEmpty():
            self.evaluate_selected()

    # ---------------------------------------------------------- evaluating
    def evaluate_selected(self) -> None:
        path = self.run_box.currentData()
        if not path or self.doc is None or self.job is not None:
            return
        project, project_path = self.doc.project, self.doc.path
        run_dir = Path(path)
        self.busy.show()
        self.evaluate_button.setEnabled(False)
        self.headline.setText(f"Evaluating {run_dir.name} on its validation data…")
        self.job = workers.start(lambda _job: evaluate_run(project, project_path, run_dir),
                                 self._done, self._failed, parent=self)

    def _done(self, result: dict[str, Any]) -> None:
        self.job = None
        self.busy.hide()
        self.evaluate_button.setEnabled(True)
        self.result, self.error = result, ""
        self.cell = None
        self._show_result()

    def _failed(self, message: str) -> None:
        self.job = None
        self.busy.hide()
        self.evaluate_button.setEnabled(True)
        self.result, self.error = None, message
        self.headline.setText(f"<span style='color:#d12c2c'><b>Evaluation failed:</b> "
                              f"{message}</span>")

    # ------------------------------------------------------------ showing
    def _show_result(self) -> None:
        r = self.result
        if r is None:
            self.confusion.set_matrix([], [])
            self.table.setRowCount(0)
            self.pairs.clear()
            self._show_gallery()
            return
        top5 = f" · top-5 {_percent(r['top5'])}" if r.get("top5") is not None else ""
        loss = f" · loss {r['loss']:.4f}" if r.get("loss") is not None else ""
        epoch = f" (epoch {r['epoch']})" if r.get("epoch") else ""
        self.headline.setText(
            f"<b>accuracy {_percent(r['accuracy'])}</b>{top5}{loss} on {r['samples']:,} "
            f"{r['part']} images of {r['data']}{epoch} · {len(r['misclassified']):,} "
            "misclassified")
        names = r["class_names"]
        self.confusion.set_matrix(r["confusion"], names)
        self.table.setRowCount(len(r["per_class"]))
        for row, entry in enumerate(r["per_class"]):
            cells = [entry["name"], f"{entry['precision']:.3f}", f"{entry['recall']:.3f}",
                     f"{entry['f1']:.3f}", f"{entry['support']:,}"]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)
        self.table.resizeColumnsToContents()
        self.pairs.clear()
        for pair in r["most_confused"]:
            self.pairs.addItem(f"{pair['true_name']} → {pair['predicted_name']}: "
                               f"{pair['count']}")
            self.pairs.item(self.pairs.count() - 1).setData(
                Qt.ItemDataRole.UserRole, (pair["true"], pair["predicted"]))
        self._show_gallery()

    def _pair_clicked(self, item) -> None:
        true, predicted = item.data(Qt.ItemDataRole.UserRole)
        self.confusion.selected = (true, predicted)
        self.confusion.update()
        self.show_cell(true, predicted)

    def show_cell(self, true: int | None, predicted: int | None) -> None:
        """Show the samples of one confusion cell (None: every misclassified sample)."""
        self.cell = None if true is None else (true, predicted)
        if true is None:
            self.confusion.selected = None
            self.confusion.update()
        self._show_gallery()

    def _show_gallery(self) -> None:
        r = self.result
        if r is None:
            self.shown_entries = []
            self.filter_label.setText("")
            self.clear_filter.hide()
            self.gallery.set_items([], [], "The misclassified validation images appear here.")
            return
        thumbs = r.get("thumbnails", {})
        if self.cell is None:
            entries = list(r["misclassified"])
            what = f"{len(entries):,} misclassified"
        else:
            t, p = self.cell
            names = r["class_names"]
            if t == p:
                count = r["confusion"][t][p]
                entries = []
                what = (f"{count:,} images of {names[t]} classified correctly (only mistakes "
                        "are listed)")
            else:
                entries = [e for e in r["misclassified"]
                           if e["true"] == t and e["predicted"] == p]
                what = f"{len(entries):,} of {names[t]} predicted as {names[p]}"
        descending = SORTS[self.sort_box.currentIndex()][1]
        entries.sort(key=lambda e: e["confidence"], reverse=descending)
        self.shown_entries = entries
        self.clear_filter.setVisible(self.cell is not None)
        shown = [e for e in entries if e["index"] in thumbs]
        more = len(entries) - len(shown)
        self.filter_label.setText(what + (f" ({more:,} without a picture)" if more else ""))
        self.gallery.set_items(
            [thumbs[e["index"]] for e in shown],
            [f"{e['true_name']} → {e['predicted_name']}\n{e['confidence']:.0%}"
             for e in shown],
            "No misclassified images here." if not entries else "")
