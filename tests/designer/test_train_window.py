"""Training from the window, end to end with the real trainer subprocess: LeNet-5 on a few
hundred digits, Stop then Resume, a SIGKILL mid-run, unreadable files in a data folder."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest

from designer.document import Document
from engine import project as projects
from engine import runs, templates

pytestmark = pytest.mark.slow
RUN_TIMEOUT_MS = 180_000


def digits_npz(path, count: int = 300):
    from engine.backend.images import digits

    x, y = digits(28, 28)
    np.savez(path, x=x[:count, 0].numpy(), y=y[:count].numpy())
    return path


def lenet_project(tmp_path, dataset: str, epochs: int = 2, **training):
    project = templates.open_template("lenet-5")
    project.data = {"dataset": dataset, "val_fraction": 0.2}
    project.augmentation = {}
    project.training = {"epochs": epochs, "batch_size": 32, "threads": 1, **training}
    path = tmp_path / "lenet.netdraft"
    projects.save(project, path)
    return path


@pytest.fixture
def lenet_window(window, tmp_path, monkeypatch):
    from designer.train_control import TrainController

    monkeypatch.setattr(TrainController, "ask_save",
                        lambda self: __import__("PySide6.QtWidgets").QtWidgets.QMessageBox
                        .StandardButton.Save)
    digits_npz(tmp_path / "digits.npz")
    path = lenet_project(tmp_path, "digits.npz")
    window.set_document(Document(projects.load(path), path))
    return window


def wait_ended(qtbot, window, timeout: int = RUN_TIMEOUT_MS) -> None:
    qtbot.waitUntil(lambda: not window.trainer.running, timeout=timeout)
    qtbot.wait(50)


def test_train_from_the_window_streams_curves_and_lists_the_run(qtbot, lenet_window):
    win = lenet_window
    ended = []
    win.trainer.run_ended.connect(lambda path, what: ended.append((path, what)))
    win.actions_by_name["train"].trigger()
    assert win.trainer.running
    assert not win.actions_by_name["train"].isEnabled()
    wait_ended(qtbot, win)
    panel = win.training_panel
    assert ended and ended[0][1] == "finished", panel.error_label.text()
    run_dir = ended[0][0]
    assert os.path.dirname(run_dir) == str(win.doc.path.parent / "runs")
    plots = panel.plots
    assert [e["epoch"] for e in plots.epochs] == [1, 2]
    assert all(e["val_accuracy"] is not None for e in plots.epochs)
    assert plots.step_loss.size > 0
    assert "images" in panel.device_label.text() and "cpu" in panel.device_label.text()
    assert panel.progress.value() == 1000
    assert "Finished: 2 epoch(s)" in panel.status.text()
    # The history reads the folder: the run, its status and best metric.
    info = runs.read_run(run_dir)
    assert info.status == "finished" and info.epochs_done == 2
    history = win.runs_panel
    history.refresh()
    names = [r.name for r in history.runs]
    assert os.path.basename(run_dir) in names
    assert win.actions_by_name["train"].isEnabled()


def test_stop_keeps_a_checkpoint_and_resume_continues(qtbot, lenet_window, tmp_path):
    win = lenet_window
    doc = win.doc
    doc.project.training["epochs"] = 4
    projects.save(doc.project, doc.path)
    outcomes = []
    win.trainer.run_ended.connect(lambda path, what: outcomes.append((path, what)))
    assert win.trainer.train()
    panel = win.training_panel
    qtbot.waitUntil(lambda: len(panel.ensure_plots().epochs) >= 1, timeout=RUN_TIMEOUT_MS)
    win.actions_by_name["stop"].trigger()
    wait_ended(qtbot, win)
    run_dir, what = outcomes[-1]
    assert what == "interrupted"
    info = runs.read_run(run_dir)
    assert info.status == "interrupted" and info.resumable
    assert panel.resume_button.isEnabled()
    stopped_after = info.epochs_done
    assert stopped_after < 4
    panel.resume_button.click()
    assert win.trainer.running
    wait_ended(qtbot, win)
    assert outcomes[-1] == (run_dir, "finished")
    info = runs.read_run(run_dir)
    assert info.epochs_done == 4 and info.resumed
    # The curves kept the epochs before the stop and added the rest, each once.
    assert [e["epoch"] for e in panel.plots.epochs] == [1, 2, 3, 4]
    rows = [int(r["epoch"]) for r in info.rows]
    assert rows == [1, 2, 3, 4]


def test_a_killed_trainer_leaves_the_window_working_and_the_run_resumable(qtbot,
                                                                        lenet_window):
    win = lenet_window
    doc = win.doc
    doc.project.training["epochs"] = 3
    projects.save(doc.project, doc.path)
    assert win.trainer.train()
    panel = win.training_panel
    qtbot.waitUntil(lambda: panel.last_checkpoint is not None, timeout=RUN_TIMEOUT_MS)
    os.kill(win.trainer.process.pid(), signal.SIGKILL)
    wait_ended(qtbot, win)
    text = panel.error_label.text()
    assert panel.error_label.isVisible()
    assert "stopped without a message" in text and "Resume" in text
    run_dir = win.trainer.last_run
    info = runs.read_run(run_dir)
    assert info.status == "killed" and info.resumable
    # The window still edits: an undoable change goes through.
    from designer import commands

    fc = doc.graph.by_name("F6").id
    assert commands.execute(doc, commands.set_param(doc, fc, "units", 64))
    doc.undo_stack.undo()
    assert win.trainer.resume(run_dir)
    wait_ended(qtbot, win)
    assert runs.read_run(run_dir).status == "finished"
    assert runs.read_run(run_dir).epochs_done == 3


def test_a_failed_run_names_its_block_on_the_canvas(qtbot, lenet_window, tmp_path):
    """The trainer refuses data with more classes than the Output: the message appears on
    the panel and on the Output block."""
    from tests.designer.designer_helpers import face

    win = lenet_window
    doc = win.doc
    out = doc.graph.by_name("output")
    doc.graph.set_param(out.id, "classes", 10)
    # 12 classes in the data: the trainer's check_fit refuses it.
    x = np.random.default_rng(0).integers(0, 255, (60, 28, 28), dtype=np.uint8)
    np.savez(tmp_path / "twelve.npz", x=x, y=np.arange(60) % 12)
    doc.project.data["dataset"] = "twelve.npz"
    projects.save(doc.project, doc.path)
    assert win.trainer.train()
    wait_ended(qtbot, win)
    panel = win.training_panel
    assert "12 classes" in panel.error_label.text()
    doc.flush()
    assert face(win, "output").status == "problem"
    assert "Training failed" in face(win, "output").problem


def test_unreadable_images_in_a_folder_are_reported_and_training_goes_on(qtbot, window,
                                                                        tmp_path,
                                                                        monkeypatch):
    from PIL import Image

    from designer.train_control import TrainController
    from engine.backend.images import digits

    monkeypatch.setattr(TrainController, "ask_save",
                        lambda self: __import__("PySide6.QtWidgets").QtWidgets.QMessageBox
                        .StandardButton.Save)
    x, y = digits(28, 28)
    root = tmp_path / "folder"
    for i in range(120):
        label = int(y[i])
        (root / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(x[i, 0].numpy()).save(root / str(label) / f"{i}.png")
    (root / "3" / "broken.png").write_bytes(b"not a png at all")
    (root / "7" / "cut.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    path = lenet_project(tmp_path, "folder", epochs=1)
    window.set_document(Document(projects.load(path), path))
    data = window.data_panel
    window.show_panel("data")
    qtbot.waitUntil(lambda: data.report is not None or bool(data.error), timeout=60_000)
    assert not data.error
    listed = [data.unreadable.item(i).text() for i in range(data.unreadable.count())]
    assert len(listed) == 2
    assert any("broken.png" in t for t in listed) and any("cut.png" in t for t in listed)
    assert data.unreadable.isVisible()
    assert window.trainer.train()
    wait_ended(qtbot, window)
    run_dir = window.trainer.last_run
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "finished"
    assert record["data"]["skipped"] == 2
    assert "2 unreadable file(s) skipped" in window.training_panel.device_label.text()


def test_train_asks_to_save_first_and_never_trains_a_stale_file(qtbot, lenet_window,
                                                              monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from designer import commands
    from designer.train_control import TrainController

    win = lenet_window
    doc = win.doc
    commands.execute(doc, commands.set_setting(doc, "training", "epochs", 1))
    assert doc.modified
    monkeypatch.setattr(TrainController, "ask_save",
                        lambda self: QMessageBox.StandardButton.Cancel)
    assert not win.trainer.train()
    assert not win.trainer.running
    assert json.loads(doc.path.read_text())["training"]["epochs"] == 2  # not saved
    monkeypatch.setattr(TrainController, "ask_save",
                        lambda self: QMessageBox.StandardButton.Save)
    assert win.trainer.train()
    assert json.loads(doc.path.read_text())["training"]["epochs"] == 1
    assert not doc.modified
    wait_ended(qtbot, win)
    assert runs.read_run(win.trainer.last_run).epochs_done == 1


def test_a_network_with_problems_is_not_trained(qtbot, lenet_window):
    win = lenet_window
    doc = win.doc
    doc.graph.set_param(doc.graph.by_name("F6").id, "units", 0)
    doc.flush()
    assert not win.trainer.train()
    assert "problem" in win.training_panel.error_label.text()
    assert not win.trainer.running


def test_use_these_weights_makes_a_run_the_projects_weights(qtbot, lenet_window):
    """The run's checkpoint becomes NAME-RUN.safetensors beside the project, holding exactly
    the trained tensors; the weights section changes as one undoable step."""
    import torch
    from safetensors.torch import load_file

    win = lenet_window
    doc = win.doc
    doc.project.training["epochs"] = 1
    projects.save(doc.project, doc.path)
    assert win.trainer.train()
    wait_ended(qtbot, win)
    run_dir = win.trainer.last_run
    history = win.runs_panel
    history.refresh()
    history.select_paths([run_dir])
    assert history.weights_button.isEnabled()
    used = []
    win.trainer.weights_used.connect(used.append)
    history.weights_button.click()
    qtbot.waitUntil(lambda: bool(used), timeout=60_000)
    section = doc.project.weights
    assert section["file"] == f"lenet-{run_dir.name}.safetensors"
    stored = load_file(str(doc.path.parent / section["file"]))
    checkpoint = torch.load(run_dir / "best.pt", weights_only=True)["model"]
    conv = doc.graph.by_name("C1").id
    assert torch.equal(stored[f"{conv}.weight"], checkpoint["C1.weight"])
    assert {b["source"] for b in section["blocks"].values()} == {"trained"}
    assert "Use the weights" in doc.undo_stack.undoText()
    doc.undo_stack.undo()
    assert doc.project.weights == {}


def test_a_finished_run_resumes_only_towards_more_epochs(qtbot, lenet_window):
    win = lenet_window
    doc = win.doc
    doc.project.training["epochs"] = 1
    projects.save(doc.project, doc.path)
    assert win.trainer.train()
    wait_ended(qtbot, win)
    run_dir = win.trainer.last_run
    assert not win.trainer.resume(run_dir)
    assert "finished its 1 epochs" in win.training_panel.error_label.text()
    from designer import commands

    commands.execute(doc, commands.set_setting(doc, "training", "epochs", 2))
    assert win.trainer.resume(run_dir)
    wait_ended(qtbot, win)
    info = runs.read_run(run_dir)
    assert info.epochs_done == 2 and info.status == "finished"
    assert [int(r["epoch"]) for r in info.rows] == [1, 2]
