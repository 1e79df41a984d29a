"""The Evaluation panel on a real LeNet-5 run: its figures are the run's own, the
confusion matrix and the misclassified gallery agree, and a cell shows its samples."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.designer.test_train_window import lenet_window, wait_ended  # noqa: F401

pytestmark = pytest.mark.slow


def evaluated(qtbot, win):
    panel = win.evaluation_panel
    win.show_panel("evaluation")
    panel.refresh_runs()
    panel.evaluate_selected()
    qtbot.waitUntil(lambda: panel.job is None, timeout=120_000)
    return panel


def test_evaluating_a_run_gives_its_own_validation_figures(qtbot, lenet_window):  # noqa: F811
    win = lenet_window
    assert win.trainer.train()
    wait_ended(qtbot, win)
    run_dir = win.trainer.last_run
    panel = evaluated(qtbot, win)
    assert not panel.error, panel.error
    r = panel.result
    # best.pt is the epoch that was best: its validation accuracy is in metrics.csv.
    best = json.loads((run_dir / "run.json").read_text())
    rows = {int(float(row.split(",")[0])): row.split(",")
            for row in (run_dir / "metrics.csv").read_text().splitlines()[1:]}
    header = (run_dir / "metrics.csv").read_text().splitlines()[0].split(",")
    epoch_row = rows[best["best_epoch"]]
    assert r["accuracy"] == pytest.approx(float(epoch_row[header.index("val_accuracy")]),
                                          abs=1e-6)
    matrix = np.array(r["confusion"])
    assert matrix.sum() == r["samples"] == 60  # 20 % of 300 digits
    assert len(r["misclassified"]) == matrix.sum() - np.trace(matrix)
    assert f"{r['accuracy']:.1%}" in panel.headline.text()
    assert panel.table.rowCount() == 10
    # The gallery holds every misclassified image (digits are in memory: all have pictures).
    assert len(panel.gallery.images) == len(r["misclassified"])
    confidences = [e["confidence"] for e in panel.shown_entries]
    assert confidences == sorted(confidences, reverse=True)
    panel.sort_box.setCurrentIndex(1)
    assert [e["confidence"] for e in panel.shown_entries] == sorted(confidences)
    if r["most_confused"]:
        pair = r["most_confused"][0]
        panel.show_cell(pair["true"], pair["predicted"])
        assert len(panel.shown_entries) == pair["count"]
        assert all(e["true"] == pair["true"] and e["predicted"] == pair["predicted"]
                   for e in panel.shown_entries)
        panel.clear_filter.click()
        assert len(panel.shown_entries) == len(r["misclassified"])


def test_a_checkpoint_that_does_not_fit_is_said_in_words(qtbot, lenet_window):  # noqa: F811
    from designer import commands

    win = lenet_window
    doc = win.doc
    doc.project.training["epochs"] = 1
    assert win.trainer.train()
    wait_ended(qtbot, win)
    f6 = doc.graph.by_name("F6").id
    commands.execute(doc, commands.set_param(doc, f6, "units", 40))
    panel = evaluated(qtbot, win)
    assert panel.result is None
    assert "do not fit" in panel.error and "F6" in panel.error
    assert "Evaluation failed" in panel.headline.text()
