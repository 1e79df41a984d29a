"""The inspector's transfer-learning parts: for a block or group with weights, whether it is
frozen, its learning-rate multiplier, Freeze Up to Here and where its weights come from; for
a Backbone, its source, where it is cut and its weights file, each change applied as one
undoable command once its shapes are computed off the GUI thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from designer import commands, transfer_commands, workers
from designer.canvas.marks import WORDS, block_marks, has_weights
from designer.document import Document
from engine.graph import GraphEditError
from engine.layers.backbone import backbone

STALE_STYLE = "color: #b7780a;"
MIXED = -1.0  # the group spin box's "mixed" value (its special text)


class CompactSpinBox(QDoubleSpinBox):
    """0.1 rather than 0.100."""

    def textFromValue(self, value: float) -> str:  # noqa: N802 (Qt's name)
        return f"{value:.{self.decimals()}f}".rstrip("0").rstrip(".") or "0"


def wants_box(doc: Document, node_id: str) -> bool:
    node = doc.graph.nodes[node_id]
    if node.is_group:
        return any(has_weights(doc, m.id) for m in doc.graph.members(node_id))
    return has_weights(doc, node_id)


class TrainingBox(QWidget):
    """Frozen, learning-rate multiplier (groups; a block has its lr_mult row above), Freeze
    Up to Here, and the weights' status."""

    def __init__(self, doc: Document, node_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc, self.node_id = doc, node_id
        self.is_group = doc.graph.nodes[node_id].is_group
        self.frozen = QCheckBox("Frozen (its weights do not train)", self)
        self.frozen.setObjectName("frozen")
        self.frozen.setToolTip("lr_mult 0: no gradient, and BatchNorm statistics stay as "
                               "they are (the lecture's trainable = False)")
        self.frozen.clicked.connect(self._toggle)
        self.lr = CompactSpinBox(self)
        self.lr.setObjectName("group_lr_mult")
        self.lr.setRange(MIXED, 100.0)
        self.lr.setDecimals(3)
        self.lr.setSingleStep(0.1)
        self.lr.setSpecialValueText("mixed")
        self.lr.setToolTip("Learning-rate multiplier for every block with weights in the "
                           "group (0 freezes, 0.1 fine-tunes gently)")
        self.lr.editingFinished.connect(self._set_group_lr)
        self.up_to = QPushButton("Freeze Up to Here", self)
        self.up_to.setToolTip("Freeze this and every block before it; the blocks after it "
                              "train")
        self.up_to.clicked.connect(self._freeze_up_to)
        self.weights = QLabel(self)
        self.weights.setObjectName("weights-status")
        self.weights.setWordWrap(True)
        self.weights.setTextFormat(Qt.TextFormat.PlainText)
        title = QLabel("Transfer learning", self)
        font = title.font()
        font.setBold(True)
        title.setFont(font)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(title)
        layout.addWidget(self.frozen)
        if self.is_group:
            row = QFormLayout()
            row.addRow("learning rate ×", self.lr)
            layout.addLayout(row)
        else:
            self.lr.hide()
        layout.addWidget(self.up_to, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.weights)
        self.refresh()

    def refresh(self) -> None:
        if self.node_id not in self.doc.graph.nodes:
            return
        marks = block_marks(self.doc, self.node_id)
        self.frozen.setTristate(marks.frozen == "some")
        state = {"all": Qt.CheckState.Checked, "some": Qt.CheckState.PartiallyChecked}.get(
            marks.frozen, Qt.CheckState.Unchecked)
        if self.frozen.checkState() != state:
            self.frozen.setCheckState(state)
        if self.is_group:
            self.frozen.setText(f"Frozen: {marks.frozen_blocks} of {marks.blocks} blocks "
                                "with weights")
            ids = transfer_commands.weighted(self.doc, [self.node_id])
            rates = {float(self.doc.graph.nodes[i].params.get("lr_mult", 1.0)) for i in ids}
            value = rates.pop() if len(rates) == 1 else MIXED
            if not self.lr.hasFocus() and self.lr.value() != value:
                self.lr.blockSignals(True)
                self.lr.setValue(value)
                self.lr.blockSignals(False)
        text, style = "", ""
        if marks.weights:
            text = f"Weights: {WORDS[marks.weights]}"
            if marks.detail:
                text += f" ({marks.detail})"
            file = (self.doc.project.weights or {}).get("file")
            if marks.weights in ("imported", "trained") and file:
                text += f", stored in {file}"
            if marks.weights == "stale":
                text += ". It starts from its initializer when trained; Undo brings the " \
                        "stored weights back."
                style = STALE_STYLE
        self.weights.setText(text)
        self.weights.setStyleSheet(style)
        self.weights.setVisible(bool(text))

    def _toggle(self) -> None:
        freeze = block_marks(self.doc, self.node_id).frozen != "all"
        make = transfer_commands.freeze if freeze else transfer_commands.unfreeze
        cmd = make(self.doc, [self.node_id])
        if cmd is not None:
            commands.execute(self.doc, cmd)
        self.refresh()

    def _set_group_lr(self) -> None:
        value = self.lr.value()
        if value == MIXED:
            return
        cmd = transfer_commands.set_lr_mult(self.doc, [self.node_id], value)
        if cmd is not None:
            commands.execute(self.doc, cmd)

    def _freeze_up_to(self) -> None:
        try:
            cmd = transfer_commands.freeze_up_to(self.doc, self.node_id)
        except GraphEditError as exc:
            self.doc.message.emit(str(exc))
            return
        if cmd.steps:
            commands.execute(self.doc, cmd)


WHOLE = "(the whole network)"
NETWORKS: list[str] = []  # torchvision's networks, listed once
CUTS: dict[tuple[str, str], list[str]] = {}  # (source, options) -> where it can be cut


def apply_backbone(doc: Document, node_id: str, result, weights_file: str | None) -> str:
    """Apply a computed Backbone change as one command; returns what to say."""
    params, section, origin = result
    if node_id not in doc.graph.nodes:
        return ""
    node = doc.graph.nodes[node_id]
    name = node.name
    if weights_file:
        text = f"Load the weights of {name} from {Path(weights_file).name}"
    elif params["source"] != node.params.get("source"):
        text = f"Make {name} {params['source'].removeprefix('torchvision:')}"
    else:
        text = f"Cut {name} at {params['cut'] or 'its end'}"
    cmd = transfer_commands.set_backbone(doc, node_id, params, section, text)
    if cmd is not None:
        commands.execute(doc, cmd)
    shape = "×".join(str(v) for v in params["out_shape"])
    said = (f"Output {shape}; {params['trainable']:,} parameters"
            + (f"; {origin}" if origin else ""))
    doc.message.emit(f"{name}: {said}")
    return said


@dataclass(frozen=True)
class BackboneChange:
    """A Backbone edit as the worker computes it, everything read from the document first."""

    node_id: str
    old_source: str
    source: str                      # "torchvision:NAME"
    cut: str
    options: str
    in_shape: tuple[int, ...]
    section: dict[str, Any]          # a copy of the project's weights section
    path: Path | None                # the project file, beside which weights are stored
    has_stored: bool                 # the section holds weights of this block
    weights_file: str | None


def compute_backbone(change: BackboneChange) -> tuple[dict[str, Any], dict[str, Any] | None,
                                                       str]:
    """On a worker: the block's new parameters, the weights section to store (None: as it
    is) and where its weights came from ("" unless a file was read)."""
    from engine.importers import backbone_edit as edit
    from engine.importers.safe_load import ImportFailure

    if change.weights_file:
        params, tensors, origin = edit.from_file(change.source, change.cut, change.in_shape,
                                                 change.weights_file, change.options)
        return params, edit.store_block(change.section, change.path, change.node_id, tensors,
                                        "imported"), origin
    try:
        params = edit.describe(change.source, change.cut, change.in_shape, change.options)
    except ImportFailure:
        if not (change.source != change.old_source and change.cut):
            raise
        # The new network has no layer of that name: keep it whole.
        params = edit.describe(change.source, "", change.in_shape, change.options)
    return params, _trimmed_section(change, params["cut"]), ""


def _trimmed_section(change: BackboneChange, cut: str) -> dict[str, Any] | None:
    """The weights section with the block's stored tensors cut down to what a new cut of the
    same network keeps; None when there is nothing to store anew."""
    from engine.importers import backbone_edit as edit

    if not change.has_stored or change.source != change.old_source or change.path is None:
        return None
    stored = edit.stored_blocks(change.section, change.path).get(change.node_id, {})
    kept = edit.kept_tensors(stored, change.source, cut, change.options)
    if kept is None or set(kept) == set(stored):
        return None
    source_word = change.section["blocks"][change.node_id].get("source", "imported")
    return edit.store_block(change.section, change.path, change.node_id, kept, source_word)


class BackboneBox(QWidget):
    """A Backbone's source, cut and weights file: each change is computed on a worker (the
    network built on the meta device) and applied as one undoable command; the block's
    output shape follows."""

    def __init__(self, doc: Document, node_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc, self.node_id = doc, node_id
        self.job: workers.Job | None = None
        self._list_job: workers.Job | None = None
        params = doc.graph.nodes[node_id].params
        title = QLabel(backbone.id, self)
        font = title.font()
        font.setBold(True)
        title.setFont(font)
        self.source = QComboBox(self)
        self.source.setObjectName("backbone_source")
        self.source.setEditable(True)
        self.source.setToolTip("A torchvision network (its name as torchvision.models has "
                               "it)")
        self.cut = QComboBox(self)
        self.cut.setObjectName("backbone_cut")
        self.cut.setToolTip("The last layer kept: everything after it (the old classifier) "
                            "is left out, as Keras's include_top=False")
        self.weights_button = QPushButton("Weights File…", self)
        self.weights_button.setToolTip("A state dict, a checkpoint holding one, or a "
                                       ".safetensors file of this network")
        self.weights_button.clicked.connect(self._choose_weights)
        self.status = QLabel(self)
        self.status.setObjectName("backbone-status")
        self.status.setWordWrap(True)
        form = QFormLayout()
        form.addRow("source", self.source)
        form.addRow("cut at", self.cut)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(title)
        layout.addLayout(form)
        row = QHBoxLayout()
        row.addWidget(self.weights_button)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addWidget(self.status)
        self.torchvision = str(params.get("source", "")).startswith("torchvision:")
        self._show_current()
        if not self.torchvision:
            for widget in (self.source, self.cut, self.weights_button):
                widget.setEnabled(False)
            self.status.setText("Imported from an ONNX file: import it again (File > "
                                "Import…) to change its source or cut.")
            return
        self.source.activated.connect(lambda _i: self.apply(source=self.source.currentText()))
        self.source.lineEdit().editingFinished.connect(self._typed_source)
        self.cut.activated.connect(lambda _i: self.apply(cut=self.cut.currentData()))
        self._list(self.current_source())

    # ------------------------------------------------------------- showing
    def current_source(self) -> str:
        return str(self.doc.graph.nodes[self.node_id].params.get("source", ""))

    def current_cut(self) -> str:
        return str(self.doc.graph.nodes[self.node_id].params.get("cut", ""))

    def _show_current(self) -> None:
        name = self.current_source().removeprefix("torchvision:")
        if self.source.findText(name) < 0:
            self.source.addItem(name)
        self.source.setCurrentText(name)
        cut = self.current_cut()
        if self.cut.findData(cut) < 0:
            self.cut.addItem(cut or WHOLE, cut)
        self.cut.setCurrentIndex(self.cut.findData(cut))

    def refresh(self) -> None:
        if self.node_id in self.doc.graph.nodes and self.job is None:
            if self.current_source().removeprefix("torchvision:") != \
                    self.source.currentText():
                self._list(self.current_source())
            self._show_current()

    def _list(self, source: str) -> None:
        """torchvision's networks and where this one can be cut: computed once (a worker
        imports torchvision), kept for the next Backbone shown."""
        options = str(self.doc.graph.nodes[self.node_id].params.get("options", ""))
        key = (source, options)
        if NETWORKS and key in CUTS:
            self._fill_lists(NETWORKS, CUTS[key])
            return

        def work(_job):
            from engine.importers.backbone_edit import cut_points
            from engine.importers.sources import catalog

            return [n.name for n in catalog()], cut_points(source, options)

        def done(result) -> None:
            names, points = result
            NETWORKS[:] = names
            CUTS[key] = points
            if isValid(self):
                self._fill_lists(names, points)

        def failed(message: str) -> None:
            if isValid(self):
                self.status.setText(message)

        self._list_job = workers.start(work, done, failed, parent=self)

    def _fill_lists(self, names: list[str], points: list[str]) -> None:
        current = self.source.currentText()
        self.source.blockSignals(True)
        self.source.clear()
        self.source.addItems(names)
        self.source.setCurrentText(current)
        self.source.blockSignals(False)
        self.cut.blockSignals(True)
        self.cut.clear()
        self.cut.addItem(WHOLE, "")
        for point in points:
            self.cut.addItem(point, point)
        self.cut.blockSignals(False)
        self._show_current()

    def _typed_source(self) -> None:
        text = self.source.currentText().strip()
        if text and f"torchvision:{text}" != self.current_source():
            self.apply(source=text)

    # ------------------------------------------------------------- changing
    def _input_shape(self) -> tuple[int, ...]:
        """The shape the block receives now (it is re-described for it), else the one it was
        imported for."""
        result = self.doc.analysis.results.get(self.node_id)
        if result is not None and result.input_shapes and len(result.input_shapes[0]) == 3:
            return tuple(result.input_shapes[0])
        return tuple(self.doc.graph.nodes[self.node_id].params.get("in_shape", ()))

    def apply(self, source: str | None = None, cut: str | None = None,
              weights_file: str | None = None) -> None:
        """Compute the block for a new source, cut or weights file, then apply it."""
        if self.job is not None:
            return
        if weights_file and self.doc.path is None:
            self.status.setText("Save the project first: its weights are stored beside it.")
            return
        change = self._change(source, cut, weights_file)
        what = change.source.removeprefix("torchvision:")
        self.status.setStyleSheet("")
        self.status.setText(f"Computing {what}" + (f" up to {change.cut}" if change.cut else "")
                            + "…")
        self.setEnabled(False)
        self._start(change)

    def _change(self, source: str | None, cut: str | None,
                weights_file: str | None) -> BackboneChange:
        """What the worker needs, read from the document now: the new source and cut (those
        not given stay), and the stored weights a new cut may have to trim."""
        node = self.doc.graph.nodes[self.node_id]
        old_source = self.current_source()
        new_source = f"torchvision:{source.removeprefix('torchvision:')}" if source \
            else old_source
        section = dict(self.doc.project.weights or {})
        return BackboneChange(
            node_id=self.node_id, old_source=old_source, source=new_source,
            cut=self.current_cut() if cut is None else cut,
            options="" if new_source != old_source else str(node.params.get("options", "")),
            in_shape=self._input_shape(), section=section, path=self.doc.path,
            has_stored=self.node_id in (section.get("blocks") or {}),
            weights_file=weights_file)

    def _start(self, change: BackboneChange) -> None:
        """compute_backbone on a worker; the result is applied to the document even if this
        box is gone by then."""
        doc = self.doc

        def done(result) -> None:
            # The inspector may have been rebuilt meanwhile: the edit is the document's.
            said = apply_backbone(doc, change.node_id, result, change.weights_file)
            if isValid(self):
                self.job = None
                self.setEnabled(True)
                self.status.setText(said)

        def failed(message: str) -> None:
            if isValid(self):
                self.job = None
                self.setEnabled(True)
                self.status.setText(message)
                self.status.setStyleSheet("color: #d12c2c;")
                self._show_current()
            else:
                doc.message.emit(message)

        # The document owns the job: closing it drops the result, a new selection does not.
        self.job = workers.start(lambda _job: compute_backbone(change), done, failed,
                                 parent=doc)

    def _choose_weights(self) -> None:
        folder = str(self.doc.path.parent) if self.doc.path else ""
        path, _ = QFileDialog.getOpenFileName(
            self, f"Weights of {self.source.currentText()}", folder,
            "Weights (*.pth *.pt *.bin *.safetensors *.ckpt);;All files (*)")
        if path:
            self.apply(weights_file=path)
