"""Transfer learning and shipping from the window, end to end: import torchvision's
ResNet-18 with a local weights file through File > Import, freeze up to layer3, replace the
head for the data's 10 classes, train one short epoch with the real trainer, export to ONNX
from File > Export and check the parity report against onnxruntime run here; then undo."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from designer import commands
from tests.designer.designer_helpers import face

pytestmark = pytest.mark.slow
TIMEOUT_MS = 240_000
SIZE = 64


@pytest.fixture
def resnet_weights(tmp_path):
    """A seeded, randomly initialised ResNet-18 state dict: what a download would hold."""
    from torchvision import models

    torch.manual_seed(0)
    path = tmp_path / "downloads" / "resnet18.pth"
    path.parent.mkdir()
    torch.save(models.resnet18(weights=None).state_dict(), path)
    return path


def tiny_folder(root, classes: int = 10, per_class: int = 6):
    """Class folders c0…c9 of small RGB pictures (a colour and a stripe per class)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in range(classes):
        folder = root / f"c{c}"
        folder.mkdir(parents=True)
        for k in range(per_class):
            image = rng.integers(0, 60, (SIZE, SIZE, 3), dtype=np.uint8)
            image[:, :, c % 3] += np.uint8(120 + 10 * c)
            image[(c * 6) % SIZE:(c * 6) % SIZE + 6] = 255
            Image.fromarray(image).save(folder / f"{k}.png")
    return root


def import_resnet(qtbot, window, weights, target, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    asked = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *a, **k: (asked.append(a) or str(target), ""))
    window.actions_by_name["import"].trigger()
    dialog = window.transfer.import_dialog
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.models.topLevelItemCount() > 0, timeout=60_000)
    dialog.search.setText("resnet1")
    shown = [dialog.models.topLevelItem(k).text(0)
             for k in range(dialog.models.topLevelItemCount())
             if not dialog.models.topLevelItem(k).isHidden()]
    assert "resnet18" in shown and "vgg16" not in shown
    dialog.select_network("resnet18")
    assert dialog.models.currentItem().text(1) == "11.69 M"  # torchvision's own count
    dialog.weights.edit.setText(str(weights))
    dialog.input_shape.setText("3, 64, 64")
    dialog.import_button.click()
    assert dialog.progress.isVisible()
    qtbot.waitUntil(lambda: dialog.saved_to is not None or dialog.error.isVisible(),
                    timeout=TIMEOUT_MS)
    assert not dialog.error.isVisible(), dialog.error.text()
    assert asked, "the import holds weights: it asks where to save the project"
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=10_000)
    return dialog


def scan_data(qtbot, window):
    panel = window.data_panel
    window.show_panel("data")
    qtbot.waitUntil(lambda: panel.job is None and not panel._timer.isActive()
                    and (panel.report is not None or bool(panel.error)), timeout=60_000)
    assert not panel.error, panel.error
    window.doc.flush()


def stored_tensors(doc) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(doc.path.parent / doc.project.weights["file"]))


def test_import_freeze_new_head_train_and_export(qtbot, window, tmp_path, monkeypatch,
                                                 resnet_weights):
    from PySide6.QtWidgets import QDialog, QMessageBox

    from designer.dialogs.head_dialog import HeadDialog
    from designer.train_control import TrainController
    from engine.backend.build import build_module

    # ---------------------------------------------------------------- import
    target = tmp_path / "pets.netdraft"
    import_resnet(qtbot, window, resnet_weights, target, monkeypatch)
    doc = window.doc
    assert doc.path == target and not doc.modified
    assert (tmp_path / "pets.safetensors").is_file()
    graph = doc.graph
    assert graph.by_name("input").params["shape"] == [3, SIZE, SIZE]
    assert graph.by_name("fc").params["units"] == 1000
    assert face(window, "conv1").marks.weights == "imported"
    assert face(window, "layer1").marks.weights == "imported"  # a collapsed group
    original = torch.load(resnet_weights, weights_only=True)
    stored = stored_tensors(doc)
    conv1 = graph.by_name("conv1").id
    assert torch.equal(stored[f"{conv1}.weight"], original["conv1.weight"])

    # ------------------------------------------------ freeze up to layer3
    layer3 = graph.by_name("layer3").id
    window.scene.select_ids([layer3])
    window.actions_by_name["freeze_up_to"].trigger()
    doc.flush()
    frozen = {n.name for n in graph.leaves() if n.params.get("lr_mult") == 0}
    assert {"conv1", "bn1", "layer3_1_conv2", "layer3_0_downsample_0"} <= frozen
    assert not any(name.startswith(("layer4", "fc")) for name in frozen)
    assert face(window, "layer3").marks.frozen == "all"
    assert face(window, "layer4").marks.frozen == ""
    assert doc.undo_stack.undoText() == "Freeze up to layer3"
    # Trainable now: layer4 and fc, as torchvision counts their parameters.
    expected = sum(v.numel() for k, v in original.items()
                   if k.startswith(("layer4", "fc")) and not k.endswith(
                       ("running_mean", "running_var", "num_batches_tracked")))
    assert doc.totals["trainable"] == expected
    assert f"{expected:,} of {doc.totals['params']:,}" in \
        window.training_panel.trainable_label.text()

    # ---------------------------------------------- the data: 10 classes
    tiny_folder(tmp_path / "tiny")
    for key, value in (("dataset", "tiny"), ("val_fraction", 0.25)):
        commands.execute(doc, commands.set_setting(doc, "data", key, value))
    scan_data(qtbot, window)
    assert len(doc.data_facts.class_names) == 10

    # ----------------------------------------------------- replace the head
    monkeypatch.setattr(HeadDialog, "exec", lambda self: QDialog.DialogCode.Accepted)
    window.scene.select_ids([graph.by_name("fc").id])
    window.actions_by_name["replace_head"].trigger()
    doc.flush()
    assert doc.undo_stack.undoText() == "Replace the head (10 classes)"
    assert not any(n.name == "fc" for n in graph.nodes.values())
    head = graph.by_name("head_fc")
    assert head.kind == "Dense" and head.params["units"] == 10
    output = graph.by_name("output")
    assert output.params["classes"] == 10
    assert output.params["class_names"] == ",".join(f"c{k}" for k in range(10))
    assert face(window, "head_fc").marks.weights == "fresh"
    assert doc.analysis.ok, doc.analysis.problems
    assert graph.lint() == []

    # ------------------------------------------------- train one short epoch
    for key, value in (("epochs", 1), ("batch_size", 16), ("threads", 1), ("lr", 0.01)):
        commands.execute(doc, commands.set_setting(doc, "training", key, value))
    monkeypatch.setattr(TrainController, "ask_save",
                        lambda self: QMessageBox.StandardButton.Save)
    assert window.trainer.train()
    qtbot.waitUntil(lambda: not window.trainer.running, timeout=TIMEOUT_MS)
    run_dir = window.trainer.last_run
    assert (run_dir / "last.pt").is_file(), window.training_panel.error_label.text()
    trained = torch.load(run_dir / "last.pt", weights_only=True)["model"]
    seed = int(doc.settings("training")["seed"])
    torch.manual_seed(seed)
    module = build_module(graph)  # the trainer's fresh head: same seed, same order
    attr = module.attr_of
    imported = stored_tensors(doc)
    for node in graph.leaves():
        if node.params.get("lr_mult") != 0 or node.id not in attr:
            continue
        for key in getattr(module, attr[node.id]).state_dict():
            if key.endswith("num_batches_tracked"):
                continue
            assert torch.equal(trained[f"{attr[node.id]}.{key}"],
                               imported[f"{node.id}.{key}"]), (node.name, key)
    fresh_head = module.state_dict()[f"{attr[head.id]}.weight"]
    assert not torch.equal(trained[f"{attr[head.id]}.weight"], fresh_head)
    layer4_conv = graph.by_name("layer4_1_conv2")
    assert not torch.equal(trained[f"{attr[layer4_conv.id]}.weight"],
                           imported[f"{layer4_conv.id}.weight"])

    # ------------------------------------------------------ export to ONNX
    window.actions_by_name["export"].trigger()
    dialog = window.transfer.export_dialog
    assert dialog.weights.currentData() == str(run_dir)
    onnx_path = tmp_path / "out" / "pets.onnx"
    onnx_path.parent.mkdir()
    dialog.onnx_path.edit.setText(str(onnx_path))
    dialog.export_button.click()
    assert dialog.progress.isVisible()
    qtbot.waitUntil(lambda: dialog.job is None, timeout=TIMEOUT_MS)
    assert dialog.outcome is not None, dialog.failure
    report = dialog.outcome.parity
    assert report.passed and report.inputs == "generated" and report.batch == 2
    check_report_against_onnxruntime(doc, run_dir, onnx_path, report)
    text = dialog.report.toPlainText()
    assert f"{report.max_abs_diff:.2e}" in text and "Parity passed" in text
    assert "pets.onnx" in text and "1e-04" in text and "a batch of 2 generated inputs" in text
    dialog.close()

    # ------------------------------------------------------------ undo each
    stack = doc.undo_stack
    while stack.canUndo() and stack.undoText() != "Replace the head (10 classes)":
        stack.undo()
    stack.undo()
    doc.flush()
    assert graph.by_name("fc").params["units"] == 1000
    assert graph.by_name("output").params["classes"] == 1000
    assert not any(n.name == "head_fc" for n in graph.nodes.values())
    while stack.canUndo() and stack.undoText() != "Freeze up to layer3":
        stack.undo()
    stack.undo()
    doc.flush()
    assert not any(n.params.get("lr_mult") == 0 for n in graph.leaves())
    assert face(window, "layer3").marks.frozen == ""
    assert graph.lint() == []


def check_report_against_onnxruntime(doc, run_dir, onnx_path, report) -> None:
    """The report's max difference is what onnxruntime and PyTorch give here."""
    import onnxruntime as ort

    from engine.backend.build import build_module
    from engine.export import weights as export_weights
    from engine.export.parity import generated_inputs

    module = build_module(doc.graph).eval()
    export_weights.load(module, doc.project, doc.path, str(run_dir))
    x = generated_inputs((3, SIZE, SIZE), 2, pixels=True)
    with torch.no_grad():
        expected = module(x).numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    diff = float(np.max(np.abs(got - expected)))
    assert got.shape == (2, 10)
    assert diff == pytest.approx(report.max_abs_diff, rel=1e-3, abs=1e-7)
    assert report.max_abs_diff <= report.limit
    assert report.output_scale == pytest.approx(float(np.max(np.abs(expected))), rel=1e-5)
