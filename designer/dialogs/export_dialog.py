"""File > Export: ONNX (opset, dynamic or fixed batch, float16, parity on generated inputs or
the data's validation images), PyTorch code (with or without the training script) and
safetensors, from a run's, the project's or fresh weights.

engine.export.pipeline.run does the work on a worker thread (torch is imported there); the
parity report it returns is shown with the files written. Failures read as `main.py export`
words them, naming the block.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QSpinBox,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from designer import workers
from designer.dialogs.import_dialog import FileRow
from designer.panels.parts import busy_bar
from engine import runs
from engine.export import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET, NATIVE_OPSET
from engine.project import Project

if TYPE_CHECKING:
    from designer.main_window import MainWindow

FRESH = "none"  # engine.export.weights.FRESH: the pipeline's word for fresh weights
PASSED, FAILED = "#2e9d57", "#d12c2c"


def weight_choices(doc) -> list[tuple[str, str | None]]:
    """(label, Request.weights) for each weights an export can hold: the runs of the project
    with a checkpoint (newest first), the project's stored weights, fresh ones."""
    out: list[tuple[str, str | None]] = []
    if doc.path is not None:
        for info in runs.list_runs(runs.runs_dir_for(doc.path)):
            if info.checkpoints:
                out.append((f"Run {info.name} ({info.status}, "
                            f"{runs.best_metric_text(info)})", str(info.path)))
    blocks = {k: v for k, v in ((doc.project.weights or {}).get("blocks") or {}).items()
              if k in doc.graph.nodes}
    if blocks:
        sources = sorted({b.get("source", "imported") for b in blocks.values()})
        out.append((f"The project's weights ({len(blocks)} blocks, "
                    f"{' and '.join(sources)})", None))
    out.append(("Fresh weights (the initializers, seed 0)", FRESH))
    return out


class ExportDialog(QDialog):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.doc = window.doc
        self.setWindowTitle("Export")
        self.setObjectName("export-dialog")
        self.job: workers.Job | None = None
        self.outcome = None
        self.blamed = ""  # after a failed parity check: the block outputs first differ at
        self.failure = ""
        folder = self.doc.path.parent if self.doc.path else Path.home()
        stem = self.doc.path.stem if self.doc.path else self.doc.project.name
        base = folder / stem
        self._build_weights()
        self._build_onnx(base)
        self._build_python(base)
        self._build_safetensors(base)
        self._build_report()
        self._build_buttons()
        self._lay_out()

    def _build_weights(self) -> None:
        self.weights = QComboBox(self)
        for label, value in weight_choices(self.doc):
            self.weights.addItem(label, value)
        self.weights.setToolTip("Which weights the files hold: a training run's best "
                                "checkpoint (else its last), the project's stored weights, "
                                "or fresh ones")

    def _build_onnx(self, base: Path) -> None:
        self.onnx = QGroupBox("ONNX, for deployment", self)
        self.onnx.setCheckable(True)
        self.onnx_path = FileRow("model.onnx", lambda t: self._save_as(t, "ONNX (*.onnx)"))
        self.onnx_path.edit.setText(f"{base}.onnx")
        self.opset = QSpinBox(self)
        self.opset.setRange(MIN_OPSET, MAX_OPSET)
        self.opset.setValue(DEFAULT_OPSET)
        self.opset.setMaximumWidth(90)
        self.opset.setToolTip(f"{NATIVE_OPSET} and newer are written directly; older ones "
                              "go through onnx's version converter")
        batch_row = self._build_batch_row()
        self.fp16 = QCheckBox("float16 weights and arithmetic (half the size)", self)
        parity_row = self._build_parity_row()
        self.tolerance = QLineEdit(self)
        self.tolerance.setMaximumWidth(200)
        self.tolerance.setPlaceholderText("1e-4 (1e-2 with float16)")
        self.tolerance.setToolTip("The largest difference allowed between onnxruntime and "
                                  "PyTorch, relative once outputs exceed 1")
        form = QFormLayout(self.onnx)
        form.addRow("File", self.onnx_path)
        form.addRow("Opset", self.opset)
        form.addRow("Batch", batch_row)
        form.addRow("", self.fp16)
        form.addRow("Parity check on", parity_row)
        form.addRow("Tolerance", self.tolerance)

    def _build_batch_row(self) -> QHBoxLayout:
        """Dynamic batch, or fixed with its size (enabled only when fixed is chosen)."""
        self.dynamic = QRadioButton("dynamic", self)
        self.fixed = QRadioButton("fixed:", self)
        self.dynamic.setChecked(True)
        self.batch = QSpinBox(self)
        self.batch.setRange(1, 4096)
        self.batch.setValue(1)
        self.batch.setEnabled(False)
        self.fixed.toggled.connect(self.batch.setEnabled)
        self._batch_group = QButtonGroup(self)
        self._batch_group.addButton(self.dynamic)
        self._batch_group.addButton(self.fixed)
        batch_row = QHBoxLayout()
        for widget in (self.dynamic, self.fixed, self.batch):
            batch_row.addWidget(widget)
        batch_row.addStretch(1)
        return batch_row

    def _build_parity_row(self) -> QHBoxLayout:
        """What the parity check feeds: generated inputs or the data's validation images."""
        self.generated = QRadioButton("generated inputs", self)
        self.real = QRadioButton("the data's validation images", self)
        self.generated.setChecked(True)
        self.real.setToolTip("The first validation images of the project's dataset (the "
                             "Data panel's), as the trainer feeds them")
        self._parity_group = QButtonGroup(self)
        self._parity_group.addButton(self.generated)
        self._parity_group.addButton(self.real)
        parity_row = QHBoxLayout()
        parity_row.addWidget(self.generated)
        parity_row.addWidget(self.real)
        parity_row.addStretch(1)
        return parity_row

    def _build_python(self, base: Path) -> None:
        self.python = QGroupBox("PyTorch code", self)
        self.python.setCheckable(True)
        self.python.setChecked(False)
        self.python_path = FileRow("model.py", lambda t: self._save_as(t, "Python (*.py)"))
        self.python_path.edit.setText(f"{base}.py")
        self.with_training = QCheckBox("with the training script (data, augmentation, "
                                       "optimizer, schedule, frozen blocks)", self)
        form = QFormLayout(self.python)
        form.addRow("File", self.python_path)
        form.addRow("", self.with_training)

    def _build_safetensors(self, base: Path) -> None:
        self.safetensors = QGroupBox("safetensors (the weights alone)", self)
        self.safetensors.setCheckable(True)
        self.safetensors.setChecked(False)
        self.safetensors_path = FileRow("model.safetensors", lambda t: self._save_as(
            t, "safetensors (*.safetensors)"))
        self.safetensors_path.edit.setText(f"{base}.safetensors")
        form = QFormLayout(self.safetensors)
        form.addRow("File", self.safetensors_path)

    def _build_report(self) -> None:
        """The busy bar, the status line and the report of what was written (shown after)."""
        self.progress = busy_bar(self)
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.report = QTextBrowser(self)
        self.report.setObjectName("export-report")
        self.report.setOpenLinks(False)
        self.report.anchorClicked.connect(QDesktopServices.openUrl)
        self.report.hide()

    def _build_buttons(self) -> None:
        self.buttons = QDialogButtonBox(self)
        self.export_button = self.buttons.addButton("Export",
                                                    QDialogButtonBox.ButtonRole.ActionRole)
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.start)
        self.folder_button = self.buttons.addButton("Open Folder",
                                                    QDialogButtonBox.ButtonRole.ActionRole)
        self.folder_button.clicked.connect(self._open_folder)
        self.folder_button.hide()
        self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.buttons.rejected.connect(self.reject)

    def _lay_out(self) -> None:
        top = QFormLayout()
        top.addRow("Weights", self.weights)
        self.settings = QWidget(self)
        column = QVBoxLayout(self.settings)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(top)
        for box in (self.onnx, self.python, self.safetensors):
            column.addWidget(box)
        layout = QVBoxLayout(self)
        layout.addWidget(self.settings)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.report, 1)
        layout.addWidget(self.buttons)
        self.resize(680, 820)

    def _save_as(self, text: str, kinds: str) -> str:
        path, _ = QFileDialog.getSaveFileName(self, "Export to", text, kinds)
        return path

    # ---------------------------------------------------------------- export
    def request(self) -> dict[str, Any]:
        """The pipeline's Request (as its arguments: the pipeline imports torch, which the
        GUI thread never waits for) for what is chosen; ValueError when nothing is."""
        onnx = self.onnx_path.text() if self.onnx.isChecked() else None
        python = self.python_path.text() if self.python.isChecked() else None
        safetensors = self.safetensors_path.text() if self.safetensors.isChecked() else None
        if not (onnx or python or safetensors):
            raise ValueError("choose at least one of ONNX, PyTorch code and safetensors, "
                             "with a file name")
        tolerance = None
        if onnx and self.tolerance.text().strip():
            try:
                tolerance = float(self.tolerance.text())
            except ValueError:
                tolerance = -1.0
            if not tolerance > 0:
                raise ValueError(f"the tolerance is a positive number such as 1e-4. "
                                 f"Received: {self.tolerance.text()!r}")
        return {"onnx": onnx, "python": python, "safetensors": safetensors,
                "weights": self.weights.currentData(), "opset": self.opset.value(),
                "batch": "dynamic" if self.dynamic.isChecked() else self.batch.value(),
                "fp16": self.fp16.isChecked(), "with_training": self.with_training.isChecked(),
                "check_data": "" if self.real.isChecked() else None,
                "tolerance": tolerance}

    def start(self) -> None:
        if self.job is not None:
            return
        try:
            request = self.request()
        except ValueError as exc:
            self._show_failure(str(exc))
            return
        project = snapshot(self.doc.project)
        path = self.doc.path
        self.outcome, self.failure = None, ""
        self.report.hide()
        self.folder_button.hide()
        self.progress.show()
        self.status.setText("Exporting… (building the network, writing the files"
                            + (", checking the ONNX model against PyTorch"
                               if request["onnx"] else "") + ")")
        self.settings.setEnabled(False)
        self.export_button.setEnabled(False)

        def work(_job):
            from engine.export.divergence import locate
            from engine.export.pipeline import Request, run

            full = Request(**request)
            outcome = run(project, path, full)
            blamed = ""
            if outcome.parity is not None and not outcome.parity.passed:
                try:
                    blamed = locate(project, path, full, outcome.parity)
                except Exception as exc:  # naming the block is a help, never a new failure
                    outcome.warnings.append(f"the block where outputs start to differ "
                                            f"could not be found: {workers.describe(exc)}")
            return outcome, blamed

        self.job = workers.start(work, self._done, self._failed, parent=self)

    def _finish(self) -> None:
        self.job = None
        self.progress.hide()
        self.settings.setEnabled(True)
        self.export_button.setEnabled(True)

    def _done(self, result) -> None:
        self._finish()
        outcome, self.blamed = result
        self.outcome = outcome
        parity = outcome.parity
        if parity is not None and not parity.passed:
            self.status.setText("The ONNX file was written, but it does not compute what "
                                "the network computes: see the report.")
        else:
            self.status.setText(f"Exported {len(outcome.written)} file(s).")
        self.report.setHtml(report_html(outcome, self.blamed))
        self.report.show()
        self.folder_button.setVisible(bool(outcome.written))
        self.window.show_message(self.status.text())

    def _failed(self, message: str) -> None:
        self._finish()
        self._show_failure(message)

    def _show_failure(self, message: str) -> None:
        self.failure = message
        self.status.setText("")
        self.report.setHtml(f"<p style='color:{FAILED}'><b>Export failed:</b> "
                            f"{_esc(message).replace(chr(10), '<br>')}</p>")
        self.report.show()

    def _open_folder(self) -> None:
        if self.outcome and self.outcome.written:
            folder = Path(self.outcome.written[0]["path"]).resolve().parent
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def reject(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.job = None
        super().reject()


def snapshot(project: Project) -> Project:
    """A copy the worker thread owns (edits in the window go on meanwhile); not validated
    again, so a network with problems reaches the pipeline, which names them."""
    data = project.to_json()
    return Project(graph=project.graph.copy(), name=data["name"],
                   description=data["description"], ui=data["ui"], data=data["data"],
                   augmentation=data["augmentation"], training=data["training"],
                   weights=data["weights"])


# ------------------------------------------------------------------- report
def _esc(text: Any) -> str:
    return html.escape(str(text))


def _size(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 1e5 else f"{count / 1e3:.1f} kB"


def written_line(item: dict[str, Any]) -> str:
    """One file, in the words `main.py export` prints."""
    path = Path(item["path"])
    link = f"<a href='{QUrl.fromLocalFile(str(path.resolve())).toString()}'>{_esc(path.name)}</a>"
    if item["kind"] == "onnx":
        batch = "dynamic batch" if item["batch"] == "dynamic" else f"batch {item['batch']}"
        detail = (f"ONNX opset {item['opset']}, {batch}"
                  + (", float16" if item["fp16"] else "")
                  + f", {_size(item['bytes'])}, input '{item['input']}', output "
                  f"'{item['output']}', {item['exporter']} exporter, "
                  f"{item['seconds']:.1f} s")
    elif item["kind"] == "python":
        detail = f"{item['lines']} lines of PyTorch"
        if item["with_training"]:
            detail += (" with a training script that starts from "
                       + (Path(item["starts_from"]).name if item["starts_from"]
                          else "the model's initializers"))
    else:
        detail = f"{item['tensors']} tensors, safetensors"
    return f"{link} — {_esc(detail)}<br><span style='color:gray'>{_esc(path.parent)}</span>"


TIMINGS = (("export_s", "export"), ("check_s", "check"), ("torch_s", "PyTorch"),
           ("session_s", "onnxruntime session"), ("onnxruntime_s", "onnxruntime run"))


def report_html(outcome, blamed: str = "") -> str:
    parts = []
    parity = outcome.parity
    if parity is not None:
        color = PASSED if parity.passed else FAILED
        verdict = "✓ Parity passed" if parity.passed else "✗ Parity FAILED"
        inputs = (f"a batch of {parity.batch} generated inputs" if parity.inputs == "generated"
                  else f"{parity.batch} {parity.inputs}")
        limit = f"{parity.tolerance:.0e}"
        if parity.output_scale > 1:
            limit += (f" × outputs up to {parity.output_scale:.3g} = "
                      f"{parity.limit:.2e}")
        timings = " · ".join(f"{words} {parity.timings[key]:.2f} s" for key, words in TIMINGS
                             if key in parity.timings)
        rows = [("max |ONNX − PyTorch|", f"{parity.max_abs_diff:.2e}"),
                ("tolerance", limit),
                ("inputs", inputs),
                ("runtime", ", ".join(parity.providers)),
                ("timings", timings)]
        parts.append(f"<h3 style='color:{color}'>{verdict}</h3>")
        parts.append("<table cellspacing='0' cellpadding='3'>" + "".join(
            f"<tr><td style='color:gray'>{_esc(k)}</td><td><b>{_esc(v)}</b></td></tr>"
            for k, v in rows) + "</table>")
        if not parity.passed:
            where = (f" The outputs first differ beyond the tolerance at {_esc(blamed)}."
                     if blamed else "")
            parts.append(f"<p style='color:{FAILED}'>{_esc(parity.summary())}.{where} The "
                         "file was written for inspection.</p>")
    parts.append("<h4>Written</h4><ul>" + "".join(
        f"<li>{written_line(item)}</li>" for item in outcome.written) + "</ul>")
    parts.append(f"<p><span style='color:gray'>weights:</span> {_esc(outcome.weights)}</p>")
    if outcome.warnings:
        parts.append("<h4>Warnings</h4><ul>" + "".join(
            f"<li>{_esc(w)}</li>" for w in outcome.warnings) + "</ul>")
    return "".join(parts)
