"""Train ▸ Profile Latency: the measured time per block fills the "Latency (measured)" share
bar, the block tooltips and the summary table's column, and goes stale after an edit."""

from __future__ import annotations

from PySide6.QtCore import Qt

from designer import commands, workers
from designer.canvas.faces import block_face
from designer.panels.summary import LATENCY


def latency_cell(window, node_id: str) -> str:
    model = window.summary.model
    return model.data(model.index(model.where[node_id], LATENCY), Qt.ItemDataRole.DisplayRole)


def test_profile_fills_the_bar_tooltip_and_table_then_goes_stale(qtbot, window):
    doc = window.doc
    assert latency_cell(window, "n2") == ""
    assert "latency" not in block_face(doc, "n2").tooltip
    window.actions_by_name["profile"].trigger()
    qtbot.waitUntil(lambda: doc.latency.measured, timeout=60_000)
    workers.wait_all()
    assert window.scene.bar_measure == "latency"
    assert window.actions_by_name["bar_latency"].isChecked()
    # Every block with MACs was measured; the bars split the measured total.
    assert {"n2", "n5"} <= set(doc.latency.ms)
    widths = {n: window.scene.blocks[n].bar_px for n in doc.latency.ms}
    assert any(widths.values())
    assert latency_cell(window, "n2").endswith(" ms")
    assert "latency (measured):" in block_face(doc, "n2").tooltip
    commands.execute(doc, commands.set_param(doc, "n5", "units", 20))
    assert doc.latency.stale
    assert latency_cell(window, "n2").endswith("(stale)")
    assert "stale: edited since" in block_face(doc, "n2").tooltip
    window.actions_by_name["bar_params"].trigger()
    assert window.scene.bar_measure == "params"
