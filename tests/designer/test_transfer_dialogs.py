"""The Import and Export dialogs' other paths, and the Backbone's inspector: failures in the
CLI's words (weights of another architecture, an unsafe pickle, layers without a block, a
network with problems, a failed parity check naming its block), an ONNX file and an earlier
run as sources, and a Backbone whose cut, source and weights file change from the window."""

from __future__ import annotations

import json
import os
import pickle

import pytest
import torch

from designer.document import Document
from designer.files import with_layout
from engine import project as projects
from engine.graph import Graph
from engine.project import Project
from tests.designer.conftest import small_project
from tests.designer.designer_helpers import face

pytestmark = pytest.mark.slow
TIMEOUT_MS = 180_000


def open_import(qtbot, window):
    window.actions_by_name["import"].trigger()
    dialog = window.transfer.import_dialog
    qtbot.waitUntil(lambda: dialog.models.topLevelItemCount() > 0, timeout=60_000)
    return dialog


def run_import(qtbot, dialog, button=None) -> None:
    (button or dialog.import_button).click()
    qtbot.waitUntil(lambda: dialog.job is None, timeout=TIMEOUT_MS)


def no_save_dialog(monkeypatch, answer: str = ""):
    from PySide6.QtWidgets import QFileDialog

    asked = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *a, **k: (asked.append(a) or answer, ""))
    return asked


class Payload:
    def __init__(self, marker) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_import_failures_are_shown_in_the_clis_words(qtbot, window, tmp_path, monkeypatch):
    from torchvision import models

    asked = no_save_dialog(monkeypatch)
    before = window.doc
    dialog = open_import(qtbot, window)
    dialog.select_network("resnet18")
    dialog.input_shape.setText("3, 64, 64")
    # Weights of another architecture.
    other = tmp_path / "resnet34.pth"
    torch.save(models.resnet34(weights=None).state_dict(), other)
    dialog.weights.edit.setText(str(other))
    run_import(qtbot, dialog)
    assert dialog.error.isVisible()
    text = dialog.error.text()
    assert f"{other} does not hold torchvision's resnet18" in text
    assert "Is it another architecture?" in text
    # A pickle that would run code: refused, nothing runs.
    marker = tmp_path / "the-payload-ran"
    evil = tmp_path / "evil.pth"
    with open(evil, "wb") as handle:
        pickle.dump({"conv1.weight": torch.zeros(1), "x": Payload(marker)}, handle)
    dialog.weights.edit.setText(str(evil))
    run_import(qtbot, dialog)
    assert "refused" in dialog.error.text() and "system" in dialog.error.text()
    assert not marker.exists()
    # A bad input shape is refused before anything runs.
    dialog.weights.edit.setText("")
    dialog.input_shape.setText("3, 64")
    dialog.import_button.click()
    assert "three positive sizes" in dialog.error.text()
    assert window.doc is before and not asked


def test_layers_without_a_block_are_kept_as_one_backbone_after_saying_so(qtbot, window,
                                                                         monkeypatch):
    asked = no_save_dialog(monkeypatch)
    dialog = open_import(qtbot, window)
    # Swin's shifted-window attention has no blocks (ShuffleNet, once here, has them now).
    dialog.search.setText("swin")
    dialog.select_network("swin_t")
    dialog.input_shape.setText("3, 224, 224")
    run_import(qtbot, dialog)
    assert "holds layers Netdraft has no block for" in dialog.error.text()
    assert dialog.backbone_button.isVisible()
    run_import(qtbot, dialog, dialog.backbone_button)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=10_000)
    doc = window.doc
    assert [n.kind for n in doc.graph.leaves()] == ["Input", "Backbone", "Output"]
    assert doc.path is None and not asked  # no weights: a new, unsaved document
    assert "kept as one Backbone block" in window.statusBar().currentMessage()
    assert doc.analysis.ok


def test_an_onnx_file_and_an_earlier_run_import_with_their_weights(qtbot, window, tmp_path,
                                                                   monkeypatch):
    from engine.backend.build import build_module
    from engine.export.pipeline import Request, run

    project = small_project()
    run(project, None, Request(onnx=str(tmp_path / "small.onnx"), weights="none"))
    asked = no_save_dialog(monkeypatch, str(tmp_path / "from-onnx"))
    dialog = open_import(qtbot, window)
    dialog.tabs.setCurrentIndex(1)
    dialog.onnx_file.edit.setText(str(tmp_path / "small.onnx"))
    run_import(qtbot, dialog)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=10_000)
    assert asked and window.doc.path == tmp_path / "from-onnx.netdraft"
    assert face(window, "conv1").marks.weights == "imported"

    # A run of another project: a trainer's checkpoint with its project and weights.
    run_dir = tmp_path / "other" / "runs" / "small-1"
    run_dir.mkdir(parents=True)
    torch.manual_seed(3)
    module = build_module(project.graph)
    torch.save({"format": "netdraft-checkpoint", "project": json.dumps(project.to_json()),
                "model": module.state_dict(), "epoch": 2}, run_dir / "best.pt")
    asked = no_save_dialog(monkeypatch, str(tmp_path / "from-run.netdraft"))
    dialog = open_import(qtbot, window)
    dialog.tabs.setCurrentIndex(2)
    dialog.run_path.edit.setText(str(run_dir))
    run_import(qtbot, dialog)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=10_000)
    doc = window.doc
    assert doc.path == tmp_path / "from-run.netdraft"
    assert face(window, "conv1").marks.weights == "trained"
    assert "trained weights from" in window.statusBar().currentMessage()


def backbone_project(tmp_path) -> Document:
    """input 3×64×64 → Backbone (the palette's: resnet18 up to layer4, for 224×224) →
    gap → fc → out, saved."""
    from engine.layers.backbone import DEFAULTS

    graph = Graph()
    chain = [("Input", "input", {"shape": [3, 64, 64], "scale": 1 / 255}),
             ("Backbone", "backbone", dict(DEFAULTS)),
             ("GlobalAvgPool", "gap", {}),
             ("Dense", "fc", {"units": 10}),
             ("Output", "out", {"classes": 10})]
    previous = None
    for kind, name, params in chain:
        node = graph.add_node(kind, name=name, params=params)
        if previous is not None:
            graph.connect(previous, node.id)
        previous = node.id
    path = tmp_path / "bb.netdraft"
    projects.save(with_layout(Project(graph=graph, name="bb")), path)
    return Document(projects.load(path), path)


def backbone_box(qtbot, window):
    from designer.transfer_inspector import BackboneBox

    window.reveal(window.doc.graph.by_name("backbone").id)
    box = next(b for b in window.inspector.transfer_boxes if isinstance(b, BackboneBox))
    qtbot.waitUntil(lambda: box.cut.count() > 5, timeout=60_000)
    return box


def wait_box(qtbot, box) -> None:
    qtbot.waitUntil(lambda: box.job is None, timeout=TIMEOUT_MS)
    box.doc.flush()


def test_the_backbone_changes_cut_source_and_weights_from_the_inspector(qtbot, window,
                                                                       tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog
    from torchvision import models

    doc = backbone_project(tmp_path)
    window.set_document(doc)
    assert face(window, "backbone").status == "problem"  # imported for 224×224
    box = backbone_box(qtbot, window)
    assert box.cut.currentData() == "layer4" and box.source.currentText() == "resnet18"
    assert box.cut.findData("layer3.1") >= 0
    # Cut earlier: re-described for the input it receives; the shape follows.
    box.cut.setCurrentIndex(box.cut.findData("layer3"))
    box.cut.activated.emit(box.cut.currentIndex())
    wait_box(qtbot, box)
    node = doc.graph.by_name("backbone")
    assert node.params["cut"] == "layer3" and node.params["in_shape"] == [3, 64, 64]
    assert face(window, "backbone").shape == "256×4×4"
    assert face(window, "backbone").status == "ok"
    assert doc.undo_stack.undoText() == "Cut backbone at layer3"
    assert "Output 256×4×4" in box.status.text()
    # Weights from a file: stored beside the project, marked imported.
    torch.manual_seed(1)
    weights = tmp_path / "r18.pth"
    state = models.resnet18(weights=None).state_dict()
    torch.save(state, weights)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(weights), ""))
    box = backbone_box(qtbot, window)
    box.weights_button.click()
    wait_box(qtbot, box)
    section = doc.project.weights
    assert face(window, "backbone").marks.weights == "imported"
    from safetensors.torch import load_file

    stored = load_file(str(tmp_path / section["file"]))
    key = f"{node.id}.layer3.0.conv1.weight"
    assert torch.equal(stored[key], state["layer3.0.conv1.weight"])
    assert not any(".layer4." in k for k in stored)
    first_file = section["file"]
    # Cut earlier again: the stored tensors it keeps are written to a new file.
    box = backbone_box(qtbot, window)
    box.cut.setCurrentIndex(box.cut.findData("layer2"))
    box.cut.activated.emit(box.cut.currentIndex())
    wait_box(qtbot, box)
    assert face(window, "backbone").shape == "128×8×8"
    assert face(window, "backbone").marks.weights == "imported"
    assert doc.project.weights["file"] != first_file
    doc.undo_stack.undo()
    doc.flush()
    assert doc.project.weights["file"] == first_file
    assert (tmp_path / first_file).is_file()
    assert face(window, "backbone").shape == "256×4×4"
    # Another network: its weights no longer fit, and the window says so.
    said: list[str] = []
    doc.message.connect(said.append)
    box = backbone_box(qtbot, window)
    box.source.setCurrentText("resnet34")
    box.source.activated.emit(0)
    box.apply(source="resnet34")
    wait_box(qtbot, box)
    assert node.params["source"] == "torchvision:resnet34"
    assert face(window, "backbone").marks.weights == "stale"
    assert said and "no longer fit" in said[-1]


def test_export_failures_name_the_block(qtbot, window, tmp_path):
    doc = window.doc
    doc.graph.set_param(doc.graph.by_name("fc").id, "units", 0)
    doc.flush()
    window.actions_by_name["export"].trigger()
    dialog = window.transfer.export_dialog
    dialog.onnx_path.edit.setText(str(tmp_path / "bad.onnx"))
    dialog.export_button.click()
    qtbot.waitUntil(lambda: dialog.job is None, timeout=TIMEOUT_MS)
    assert dialog.outcome is None
    assert "fix them before exporting" in dialog.failure and "'fc'" in dialog.failure
    assert "Export failed" in dialog.report.toPlainText()
    dialog.close()
    doc.undo_stack.clear()
    doc.graph.set_param(doc.graph.by_name("fc").id, "units", 10)
    doc.flush()
    # A tolerance nothing meets: the report names where the outputs first differ.
    window.actions_by_name["export"].trigger()
    dialog = window.transfer.export_dialog
    assert dialog.weights.currentData() == "none"  # nothing trained or stored
    dialog.onnx_path.edit.setText(str(tmp_path / "tight.onnx"))
    dialog.tolerance.setText("1e-12")
    dialog.python.setChecked(True)
    dialog.python_path.edit.setText(str(tmp_path / "small.py"))
    dialog.with_training.setChecked(True)
    dialog.export_button.click()
    qtbot.waitUntil(lambda: dialog.job is None, timeout=TIMEOUT_MS)
    outcome = dialog.outcome
    assert outcome is not None, dialog.failure
    assert not outcome.parity.passed
    assert dialog.blamed.startswith(("Dense 'fc'", "Conv2D 'conv1'"))
    text = dialog.report.toPlainText()
    assert "Parity FAILED" in text and "first differ beyond the tolerance at" in text
    assert "small.py" in text and "training script" in text
    assert (tmp_path / "small.py").is_file() and (tmp_path / "tight.onnx").is_file()
