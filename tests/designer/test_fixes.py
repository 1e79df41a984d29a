"""A hint's fixes are buttons: "use padding 'same' or a kernel ≤ 28" offers both, each one
undoable edit, in the Problems panel and the inspector."""

from __future__ import annotations

from designer_helpers import flush

from designer import commands, steps
from engine.graph import Graph
from engine.validate import analyze


def _too_big_kernel(window) -> str:
    conv = window.doc.graph.by_name("conv1").id
    commands.execute(window.doc, commands.Command(window.doc, "break conv1", [
        steps.SetParam(conv, "padding", "valid"), steps.SetParam(conv, "kernel_size", 30)]))
    flush(window)
    return conv


def test_the_engine_names_each_fix_of_a_hint_as_parameter_edits():
    g = Graph()
    inp = g.add_node("Input", "in", {"shape": [1, 28, 28]}).id
    conv = g.add_node("Conv2D", "c", {"kernel_size": 30}).id
    g.connect(inp, conv)
    problem = analyze(g).results[conv].problem
    assert problem.hint == "use padding 'same' or a kernel ≤ 28"
    assert [(f.label, [(e.node_id, e.key, e.value) for e in f.edits]) for f in problem.fixes] == [
        ("Use padding 'same'", [(conv, "padding", "same")]),
        ("Use a 28×28 kernel", [(conv, "kernel_size", 28)])]
    pool = g.add_node("MaxPool2D", "p", {"pool_size": 3, "padding": 2}).id
    g.connect(inp, pool)
    labels = [f.label for f in analyze(g).results[pool].problem.fixes]
    assert labels == ["Use padding 1", "Use padding 'same'"]
    big = g.add_node("MaxPool2D", "big", {"pool_size": 40}).id
    g.connect(inp, big)
    fixes = analyze(g).results[big].problem.fixes
    assert fixes[1].label == "Use a 28×28 pool" and fixes[1].edits[0].key == "pool_size"


def test_each_fix_the_hint_names_is_a_button_in_problems_applied_as_one_edit(window):
    conv = _too_big_kernel(window)
    problems = window.problems
    assert problems.list.currentItem() is not None  # the fixes show without a click
    labels = [b.text() for b in problems.fix_buttons]
    assert labels == ["Use padding 'same'", "Use a 28×28 kernel"]
    steps_before = window.doc.undo_stack.count()
    problems.fix_buttons[1].click()
    flush(window)
    assert window.doc.graph.nodes[conv].params["kernel_size"] == 28
    assert window.doc.analysis.results[conv].ok  # (its 1×1 output is the pool's problem now)
    assert window.doc.undo_stack.count() == steps_before + 1
    window.actions_by_name["undo"].trigger()
    flush(window)
    assert window.doc.graph.nodes[conv].params["kernel_size"] == 30
    problems.fix_buttons[0].click()
    flush(window)
    assert window.doc.graph.nodes[conv].params["padding"] == "same"
    assert not window.doc.analysis.problems and not problems.fix_buttons


def test_the_inspector_offers_the_same_fixes_under_the_problem(window):
    conv = _too_big_kernel(window)
    window.scene.select_ids([conv])
    inspector = window.inspector
    assert [b.text() for b in inspector.fix_buttons] == ["Use padding 'same'", "Use a 28×28 kernel"]
    assert not inspector.fix_box.isHidden()
    inspector.fix_buttons[0].click()
    flush(window)
    assert window.doc.graph.nodes[conv].params["padding"] == "same"
    assert inspector.fix_box.isHidden()
