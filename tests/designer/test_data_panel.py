"""The Data panel: choosing data is an undoable edit saved in the project; the scan shows
samples, counts and sizes off the GUI thread; the Input and Output are checked against the
data as problems on the blocks, with one-click fixes that undo as one step."""

from __future__ import annotations

import json

import pytest

from designer import commands
from engine import project as projects
from tests.designer.designer_helpers import face

SCAN_TIMEOUT_MS = 60_000


def scanned(qtbot, win):
    panel = win.data_panel
    win.show_panel("data")
    qtbot.waitUntil(lambda: panel.job is None and not panel._timer.isActive()
                    and (panel.report is not None or bool(panel.error)),
                    timeout=SCAN_TIMEOUT_MS)
    win.doc.flush()
    return panel


def test_choosing_data_is_an_undoable_edit_saved_in_the_project(qtbot, window, tmp_path):
    doc = window.doc
    panel = window.data_panel
    index = panel.source.findData("shapes")
    panel.source.setCurrentIndex(index)
    panel.source.activated.emit(index)
    assert doc.project.data["dataset"] == "shapes"
    assert "shapes" in doc.undo_stack.undoText()
    assert panel.generated.isVisibleTo(panel)  # samples and classes belong to shapes
    panel.generated.editors["classes"].box.setValue(3)
    assert doc.project.data["classes"] == 3
    path = tmp_path / "p.netdraft"
    window.files._write(path)
    saved = json.loads(path.read_text())
    assert saved["data"] == {"dataset": "shapes", "classes": 3}
    doc.undo_stack.undo()
    doc.undo_stack.undo()
    assert "dataset" not in doc.project.data
    assert panel.source.currentData() == "digits"


def test_a_dropped_folder_becomes_the_dataset_relative_to_the_project(qtbot, window,
                                                                     tmp_path):
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    path = tmp_path / "p.netdraft"
    window.files._write(path)
    (tmp_path / "pictures" / "cat").mkdir(parents=True)
    panel = window.data_panel
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path / "pictures"))])
    event = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    panel.dropEvent(event)
    assert window.doc.project.data["dataset"] == "pictures"
    assert panel.path_label.text() == "pictures"


def test_the_scan_shows_samples_counts_and_sizes(qtbot, window):
    panel = scanned(qtbot, window)
    report = panel.report
    assert report is not None, panel.error
    assert report.train_size + report.val_size == 1797
    assert sum(report.train_counts) == report.train_size
    assert panel.bars.names == [str(i) for i in range(10)]
    assert panel.bars.train == report.train_counts
    assert len(panel.grid.images) == len(report.samples) > 0
    assert "1,797" in panel.summary.text() or f"{report.train_size:,}" in panel.summary.text()
    # The window stayed responsive: the scan ran on a worker thread and reported.
    assert panel.progress.isHidden()


def test_input_that_does_not_fit_the_data_is_a_problem_with_an_undoable_fix(qtbot, window):
    doc = window.doc
    inp = doc.graph.by_name("input")
    doc.graph.set_param(inp.id, "shape", [3, 32, 32])
    doc.flush()
    panel = scanned(qtbot, window)
    assert face(window, "input").status == "problem"
    assert "1×28×28" in face(window, "input").problem
    assert "3×32×32" in face(window, "input").problem
    # The blocks after it are still analysed (the shape holds).
    assert face(window, "conv1").status == "ok"
    assert any("input" in t for t in window.problems.texts())
    labels = [b.text() for b in panel.fix_buttons]
    assert "Set the Input to 1×28×28" in labels
    panel.fix_buttons[labels.index("Set the Input to 1×28×28")].click()
    doc.flush()
    assert doc.graph.nodes[inp.id].params["shape"] == [1, 28, 28]
    assert face(window, "input").status == "ok"
    assert "✓" in panel.fit_label.text()
    doc.undo_stack.undo()
    doc.flush()
    assert doc.graph.nodes[inp.id].params["shape"] == [3, 32, 32]
    assert face(window, "input").status == "problem"


def test_keeping_the_input_lets_the_loader_resize(qtbot, window, tmp_path):
    doc = window.doc
    inp = doc.graph.by_name("input")
    doc.graph.set_param(inp.id, "shape", [1, 32, 32])
    doc.flush()
    panel = scanned(qtbot, window)
    keep = [b for b in panel.fix_buttons if b.text().startswith("Keep")]
    assert keep and "resizes" in keep[0].text()
    keep[0].click()
    doc.flush()
    assert face(window, "input").status == "ok"
    assert doc.project.ui["accept_data_shape"] == [1, 28, 28]
    path = tmp_path / "kept.netdraft"
    window.files._write(path)
    assert projects.load(path).ui["accept_data_shape"] == [1, 28, 28]
    doc.undo_stack.undo()
    doc.flush()
    assert face(window, "input").status == "problem"


def test_output_classes_and_names_come_from_the_data_in_one_step(qtbot, window):
    doc = window.doc
    commands.execute(doc, commands.set_settings(doc, "Use shapes", {
        ("data", "dataset"): "shapes", ("data", "classes"): 3,
        ("data", "samples"): 60}))
    inp = doc.graph.by_name("input")
    doc.graph.set_param(inp.id, "shape", [3, 64, 64])
    doc.flush()
    panel = scanned(qtbot, window)
    assert face(window, "out").status == "problem"
    assert "3" in face(window, "out").problem
    fix = [b for b in panel.fix_buttons if "Output" in b.text()][0]
    depth = doc.undo_stack.count()
    fix.click()
    doc.flush()
    out = doc.graph.by_name("out")
    assert out.params["classes"] == 3
    assert out.params["class_names"] == "circle, square, triangle"
    assert doc.graph.by_name("fc").params["units"] == 3
    assert doc.analysis.ok
    assert doc.undo_stack.count() == depth + 1
    doc.undo_stack.undo()
    doc.flush()
    assert doc.graph.by_name("out").params["classes"] == 10
    assert doc.graph.by_name("fc").params["units"] == 10


def test_unreadable_data_is_a_message_not_a_traceback(qtbot, window, tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 truncated")
    window.files._write(tmp_path / "p.netdraft")
    commands.execute(window.doc, commands.set_setting(window.doc, "data", "dataset",
                                                      "bad.npz"))
    panel = scanned(qtbot, window)
    assert panel.report is None
    assert "bad.npz" in panel.error
    assert "cannot be read" in panel.summary.text()
    assert window.doc.data_facts is None


@pytest.mark.parametrize("section,key,value", [("training", "lr", 0.01),
                                               ("training", "optimizer", "sgd"),
                                               ("training", "epochs", 3)])
def test_training_settings_edit_through_undo(qtbot, window, section, key, value):
    doc = window.doc
    panel = window.training_panel
    editor = panel.form.editors[key]
    if key == "optimizer":
        editor.box.setCurrentIndex(editor.box.findData(value))
    else:
        editor.box.setValue(value)
    assert doc.project.training[key] == value
    doc.undo_stack.undo()
    assert key not in doc.project.training
    assert editor.box.value() if key != "optimizer" else True
    doc.undo_stack.redo()
    assert doc.project.training[key] == value


def test_memory_estimate_follows_the_batch_size(qtbot, window):
    panel = window.training_panel
    panel.form.editors["batch_size"].box.setValue(8)
    small = panel.memory_label.text()
    panel.form.editors["batch_size"].box.setValue(512)
    large = panel.memory_label.text()
    assert "batch 8" in small and "batch 512" in large
    assert small != large
    assert f"{window.doc.totals['trainable']:,}" in panel.trainable_label.text()




def test_the_problems_panel_offers_the_same_fixes(qtbot, window):
    doc = window.doc
    inp = doc.graph.by_name("input")
    doc.graph.set_param(inp.id, "shape", [3, 28, 28])
    doc.flush()
    scanned(qtbot, window)
    problems = window.problems
    rows = [i for i in range(problems.list.count())
            if "Input 'input'" in problems.list.item(i).text()]
    assert rows
    problems.list.setCurrentRow(rows[0])
    labels = [b.text() for b in problems.fix_buttons]
    assert labels == ["Set the Input to 1×28×28", "Keep 3×28×28: the loader converts the images"]
    problems.fix_buttons[0].click()
    doc.flush()
    assert doc.graph.nodes[inp.id].params["shape"] == [1, 28, 28]
    assert not any("Input 'input'" in t for t in problems.texts())


def test_a_separate_validation_source_replaces_the_split(qtbot, window, tmp_path):
    import numpy as np

    from engine.backend.images import digits

    x, y = digits(28, 28)
    np.savez(tmp_path / "val.npz", x=x[:50, 0].numpy(), y=y[:50].numpy())
    window.files._write(tmp_path / "p.netdraft")
    panel = scanned(qtbot, window)
    panel.use_validation_path(str(tmp_path / "val.npz"))
    doc = window.doc
    assert doc.project.data["val_dataset"] == "val.npz"
    assert not panel.split.editors["val_fraction"].isEnabled()
    assert "val.npz" in panel.val_label.text()
    panel = scanned(qtbot, window)
    assert panel.report.val_size == 50 and panel.report.train_size == 1797
    panel.val_clear.click()
    assert doc.project.data["val_dataset"] == ""
    doc.undo_stack.undo()
    assert doc.project.data["val_dataset"] == "val.npz"


def test_the_canvas_selection_survives_a_data_scan(qtbot, window):
    """The scan's facts change problems on two blocks: a repaint, not a rebuild that would
    drop what the user selected."""
    conv = window.doc.graph.by_name("conv1").id
    window.scene.select_ids([conv])
    scanned(qtbot, window)
    qtbot.wait(50)
    assert window.scene.selected_ids() == [conv]
