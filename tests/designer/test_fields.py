"""The inspector's fields and the totals as a new user meets them: refusals with the reason,
errors that go when the value is reset, totals that do not pretend when there are problems."""

from __future__ import annotations

from designer_helpers import flush
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from designer import commands, steps


def _select(window, name: str) -> str:
    node_id = window.doc.graph.by_name(name).id
    window.scene.select_ids([node_id])
    return node_id


def test_a_number_followed_by_a_letter_is_refused_not_read_as_the_number(window, qtbot):
    conv = _select(window, "conv1")
    editor = window.inspector.editors["kernel_size"]
    window.activateWindow()
    editor.edit.setFocus()
    editor.edit.selectAll()
    qtbot.keyClicks(editor.edit, "5,x")
    flush(window)
    reason = window.inspector.reasons["kernel_size"]
    assert not reason.isHidden() and "'5,x'" in reason.text()
    # "5" applied as it was typed; "5,x" is not read as 5 again but refused.
    assert window.doc.graph.nodes[conv].params["kernel_size"] == 5


def test_a_number_out_of_range_is_refused_with_the_reason(window, qtbot):
    conv = _select(window, "conv1")
    editor = window.inspector.editors["filters"]
    editor.box.selectAll()
    qtbot.keyClicks(editor.box.lineEdit(), "0")
    reason = window.inspector.reasons["filters"]
    assert not reason.isHidden()
    assert reason.text().startswith("filters must be ≥ 1")
    assert window.doc.graph.nodes[conv].params["filters"] == 8
    # A value the schema accepts takes the refusal away.
    editor.box.selectAll()
    qtbot.keyClicks(editor.box.lineEdit(), "16")
    flush(window)
    assert reason.isHidden() and window.doc.graph.nodes[conv].params["filters"] == 16


def test_the_red_error_clears_when_the_value_is_reset(window, qtbot):
    conv = _select(window, "conv1")
    editor = window.inspector.editors["kernel_size"]
    reason = window.inspector.reasons["kernel_size"]
    editor.edit.selectAll()
    qtbot.keyClicks(editor.edit, "0")
    assert not reason.isHidden()
    # The value changes elsewhere (here: a command, as undo or another view would): the field
    # shows it and the refusal of what was typed before goes.
    commands.execute(window.doc, commands.set_param(window.doc, conv, "kernel_size", 5))
    flush(window)
    assert editor.edit.text() == "5" and reason.isHidden()
    # Leaving a field with a refused value puts the model's value back, without the error.
    editor.edit.setFocus()
    editor.edit.selectAll()
    qtbot.keyClicks(editor.edit, "x")
    assert not reason.isHidden()
    window.inspector.editors["filters"].box.setFocus()
    QTest.keyClick(editor.edit, Qt.Key.Key_Tab)
    editor.edit.editingFinished.emit()
    assert editor.edit.text() == "5" and reason.isHidden()


def test_the_problems_heading_is_filled_at_start(window):
    assert window.problems.heading.text() == "No problems: every shape fits."


def test_totals_with_problems_say_so_instead_of_a_partial_count(window):
    fc, conv = window.doc.graph.by_name("fc").id, window.doc.graph.by_name("conv1").id
    commands.execute(window.doc, commands.Command(window.doc, "kernel 40", [
        steps.SetParam(conv, "padding", "valid"), steps.SetParam(conv, "kernel_size", 40)]))
    flush(window)
    text = window.status_totals.text()
    count = len(window.doc.analysis.problems)
    assert count >= 1 and window.doc.analysis.results[fc].status == "unknown"
    assert f"— ({count} problem" in text
    assert "Total params: <b>0</b>" not in text
    window.actions_by_name["undo"].trigger()
    flush(window)
    assert f"{window.doc.totals['params']:,}" in window.status_totals.text()


def test_a_small_float_shows_as_itself_and_can_be_typed_in_scientific_notation(window, qtbot):
    """ConvNeXt's ε 1e-06 once showed as 0 (five decimals) and could not be typed."""
    doc = window.doc
    command = commands.add_block(doc, "LayerNorm2d", (400.0, 400.0), {"epsilon": 1e-6})
    assert commands.execute(doc, command)
    flush(window)
    norm = next(n.id for n in doc.graph.nodes.values() if n.kind == "LayerNorm2d")
    window.scene.select_ids([norm])
    flush(window)
    box = window.inspector.editors["epsilon"].box
    assert box.text() == "1e-06" and box.value() == 1e-6
    box.selectAll()
    qtbot.keyClicks(box.lineEdit(), "2.5e-7")
    box.editingFinished.emit()
    flush(window)
    assert doc.graph.nodes[norm].params["epsilon"] == 2.5e-7
