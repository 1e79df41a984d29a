"""Live block telemetry on the canvas: the trainer's telemetry events put each block's
statistics on it, mark vanishing and exploding gradients, and follow the canvas."""

from __future__ import annotations

import json

import pytest

from designer.canvas.telemetry import strip_text


def event(win, **flags):
    doc = win.doc
    blocks = {}
    for name in ("conv1", "fc"):
        node = doc.graph.by_name(name)
        blocks[node.id] = {"name": name, "mean": 0.12, "std": 0.5, "dead": 0.25,
                           "grad_norm": 3e-3, "flag": flags.get(name)}
    return {"event": "telemetry", "epoch": 1, "step": 10, "blocks": blocks}


def test_telemetry_events_mark_the_blocks(qtbot, window):
    process = window.trainer.process
    process.feed(json.dumps(event(window, fc="vanishing")))
    overlay = window.telemetry
    conv, fc = (window.doc.graph.by_name(n).id for n in ("conv1", "fc"))
    assert set(overlay.strips) == {conv, fc}
    assert overlay.strips[conv].parentItem() is window.scene.blocks[conv]
    assert overlay.flagged() == [fc]
    assert "vanishing" in overlay.strips[fc].toolTip()
    assert strip_text(overlay.strips[conv].stats) == "μ 0.12  σ 0.50  dead 25%  ∇ 3e-03"
    # Hidden from the View menu, and back.
    window.actions_by_name["telemetry"].trigger()
    assert not overlay.strips
    window.actions_by_name["telemetry"].trigger()
    assert set(overlay.strips) == {conv, fc}


def test_a_rebuilt_canvas_gets_its_strips_back_with_the_next_event(qtbot, window):
    process = window.trainer.process
    process.feed(json.dumps(event(window)))
    window.scene.rebuild()
    process.feed(json.dumps(event(window)))
    conv = window.doc.graph.by_name("conv1").id
    assert window.telemetry.strips[conv].parentItem() is window.scene.blocks[conv]


@pytest.mark.slow
def test_a_run_with_telemetry_streams_it_onto_the_canvas(qtbot, window, tmp_path,
                                                         monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from designer.document import Document
    from designer.train_control import TrainController
    from engine import project as projects
    from tests.designer.test_train_window import digits_npz, lenet_project, wait_ended

    monkeypatch.setattr(TrainController, "ask_save",
                        lambda self: QMessageBox.StandardButton.Save)
    digits_npz(tmp_path / "digits.npz")
    path = lenet_project(tmp_path, "digits.npz", epochs=1, telemetry_every=2)
    window.set_document(Document(projects.load(path), path))
    assert window.trainer.train()
    wait_ended(qtbot, window)
    strips = window.telemetry.strips
    names = {window.doc.graph.nodes[i].name for i in strips}
    assert {"C1", "C3", "F6"} <= names
    c1 = next(s for s in strips.values() if s.stats["name"] == "C1")
    assert c1.stats["grad_norm"] > 0
