"""Validation: each problem kind says what, where and with which numbers; downstream blocks are
'unknown'; live analysis recomputes only what an edit changes and agrees with a fresh one."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.graph import MISSING, Graph, GraphEditError
from engine.layers import REGISTRY
from engine.validate import Analysis, analyze


def chain(*layers, shape=(1, 28, 28), output=None):
    """Input → layers... (→ Output); layers are (kind, params). Returns (graph, ids)."""
    g = Graph()
    ids = [g.add_node("Input", name="input", params={"shape": list(shape)}).id]
    for kind, params in layers:
        ids.append(g.add_node(kind, params=params).id)
        g.connect(ids[-2], ids[-1])
    if output is not None:
        ids.append(g.add_node("Output", name="output", params={"classes": output}).id)
        g.connect(ids[-2], ids[-1])
    return g, ids


def the_problem(analysis, node_id=None):
    problems = [p for p in analysis.problems if p.node_id == node_id or node_id is None]
    assert len(problems) == 1, analysis.problems
    return problems[0]


HEAD = [("Flatten", {}), ("Dense", {"units": 10})]


def test_a_sound_network_has_no_problems():
    g, ids = chain(("Conv2D", {"filters": 4}), *HEAD, output=10)
    analysis = analyze(g)
    assert analysis.ok and analysis.problems == []
    assert analysis.results[ids[1]].shape == (4, 26, 26)
    assert analysis.results[ids[1]].params == 4 * 9 + 4


def test_a_cycle_is_reported_on_the_blocks_that_loop():
    g, ids = chain(("Conv2D", {"filters": 1, "padding": "same"}), ("Add", {}), ("ReLU", {}),
                   *HEAD, output=10)
    g.connect(ids[3], ids[2])  # relu feeds back into add's second input
    analysis = analyze(g)
    cyclic = {p.node_id for p in analysis.problems if p.code == "cycle"}
    assert cyclic == {ids[2], ids[3]}
    assert "Add 'add' is part of a cycle" in [p.message for p in analysis.problems]
    assert all(analysis.results[i].status == "unknown" for i in ids[4:])


def test_an_unconnected_input_is_reported():
    g, ids = chain(*HEAD, output=10)
    g.disconnect(g.inputs_of(ids[2])[0])
    problem = the_problem(analyze(g))
    assert (problem.node_id, problem.code) == (ids[2], "unconnected")
    assert problem.message == "Dense 'dense' has no input"
    assert problem.hint


def test_a_merge_with_one_input_is_unconnected():
    g, ids = chain(("Add", {}), *HEAD, output=10)
    problem = the_problem(analyze(g))
    assert problem.code == "unconnected"
    assert "merges two or more inputs but receives 1" in problem.message


def test_missing_input_and_output_blocks():
    g = Graph()
    g.add_node("Dense", params={"units": 3})
    codes = {p.code: p for p in analyze(g).problems}
    assert "The network has no Input block" in codes["no_input"].message
    assert "The network has no Output block" in codes["no_output"].message
    g, _ = chain(*HEAD)
    assert [p.code for p in analyze(g).problems] == ["no_output"]


def test_an_input_fed_by_a_block_is_reported():
    g, ids = chain(*HEAD, output=10)
    g.connect(g.add_node("Input", name="source").id, ids[0])
    assert "takes no input but receives 1" in the_problem(analyze(g), ids[0]).message


def test_add_of_different_shapes_names_both_shapes():
    g, ids = chain(("Conv2D", {"filters": 8, "padding": "same"}))
    other = g.add_node("Conv2D", name="wide", params={"filters": 16, "padding": "same"}).id
    add = g.add_node("Add").id
    g.connect(ids[0], other)
    g.connect(ids[1], add)
    g.connect(other, add)
    problem = the_problem(analyze(g), add)
    assert problem.code == "merge"
    assert "8×28×28" in problem.message and "16×28×28" in problem.message
    assert "16" in problem.hint


@pytest.mark.parametrize("layers, at, numbers", [
    ([("MaxPool2D", {"pool_size": 2})] * 6, 4, ["1×1", "2"]),  # 28,14,7,3,1, then a 1×1 map
    ([("Conv2D", {"filters": 2, "kernel_size": 5})] * 7, 6, ["4×4", "5"]),  # 24,20,...,4
])
def test_a_size_shrinking_to_nothing_is_reported_where_it_happens(layers, at, numbers):
    g, ids = chain(*layers, *HEAD, output=10)
    analysis = analyze(g)
    problem = the_problem(analysis)
    assert problem.node_id == ids[at + 1]
    assert problem.code in ("shape", "size")
    assert all(n in problem.message for n in numbers), problem.message
    assert "padding" in problem.hint or "smaller" in problem.hint
    assert all(analysis.results[i].status == "unknown" for i in ids[at + 2:])


def test_a_rule_returning_a_zero_size_is_a_size_problem(monkeypatch):
    broken = dataclasses.replace(REGISTRY.get("ReLU"), shape=lambda i, p: (i[0][0], 0, 3))
    monkeypatch.setitem(REGISTRY._kinds, "ReLU", broken)
    g, ids = chain(("ReLU", {}), *HEAD, output=10)
    problem = the_problem(analyze(g))
    assert (problem.node_id, problem.code) == (ids[1], "size")
    assert "output size reaches 1×0×3" in problem.message


def test_a_rule_that_crashes_becomes_a_problem_not_an_exception(monkeypatch):
    broken = dataclasses.replace(REGISTRY.get("ReLU"), shape=lambda i, p: 1 / 0)
    monkeypatch.setitem(REGISTRY._kinds, "ReLU", broken)
    g, ids = chain(("ReLU", {}), *HEAD, output=10)
    assert "cannot be analysed: division by zero" in the_problem(analyze(g)).message


@pytest.mark.parametrize("params, found", [
    ({"stride": 0}, ["stride", "positive integer", "Received: 0"]),
    ({"padding": "full"}, ["padding", "'valid', 'same'", "Received: 'full'"]),
    ({"filters": 2.5}, ["filters", "integer", "Received: 2.5"]),
    ({"strides": 2}, ["unknown parameter 'strides'"]),
])
def test_a_parameter_outside_its_schema_is_reported(params, found):
    g, ids = chain(("Conv2D", {"filters": 4, **params}), *HEAD, output=10)
    analysis = analyze(g)
    problem = the_problem(analysis)
    assert (problem.node_id, problem.code) == (ids[1], "param")
    assert problem.message.startswith("Conv2D 'conv2d': ")
    assert all(f in problem.message for f in found), problem.message


def test_every_parameter_outside_its_schema_is_reported_not_only_the_first():
    g, ids = chain(("Dropout", {"rate": 1.5, "bogus": 1}), *HEAD, output=10)
    problem = the_problem(analyze(g))
    assert (problem.node_id, problem.code) == (ids[1], "param")
    assert problem.message == ("Dropout 'dropout': rate: expected a number ≤ 0.99. "
                               "Received: 1.5; unknown parameter 'bogus'")
    assert problem.hint == ("set rate within its allowed values; "
                            "remove 'bogus' (Dropout takes rate; every block also takes lr_mult)")


def test_two_values_out_of_range_are_both_named():
    g, _ = chain(("Conv2D", {"filters": 0, "stride": 0}), *HEAD, output=10)
    problem = the_problem(analyze(g))
    assert "filters: expected an integer ≥ 1. Received: 0" in problem.message
    assert "stride: expected a positive integer" in problem.message
    assert problem.hint == "set filters and stride within their allowed values"


@pytest.mark.parametrize("kind, params, hint", [
    ("Conv2D", {"filters": 4, "strides": 2}, "remove 'strides' (did you mean 'stride'? Conv2D "
     "takes filters, kernel_size, stride, padding, dilation, groups, bias, activation, "
     "initializer; every block also takes lr_mult)"),
    ("Flatten", {"bogus": 1, "lr_mul": 0}, "remove 'bogus', 'lr_mul' (did you mean 'lr_mult' "
     "for 'lr_mul'? Flatten takes only lr_mult, as every block does)"),
])
def test_an_unknown_parameter_is_to_be_removed_and_the_accepted_ones_named(kind, params, hint):
    g, _ = chain((kind, params), *HEAD, output=10)
    problem = the_problem(analyze(g))
    assert problem.hint == hint
    assert "allowed values" not in problem.hint


def test_a_block_on_a_cycle_still_reports_its_parameters():
    g, ids = chain(("Conv2D", {"filters": 1, "padding": "same"}), ("Add", {}),
                   ("Dropout", {"rate": 2.0}), *HEAD, output=10)
    g.connect(ids[3], ids[2])
    analysis = analyze(g)
    problem = the_problem(analysis, ids[3])
    assert problem.code == "cycle"
    assert problem.message == ("Dropout 'dropout' is part of a cycle; rate: expected a number "
                               "≤ 0.99. Received: 2.0")
    assert problem.hint.startswith("remove one of the connections that loop back to it; ")
    assert the_problem(analysis, ids[2]).message == "Add 'add' is part of a cycle"


def test_live_analysis_follows_parameters_fixed_one_at_a_time():
    g, ids = chain(("Dropout", {"rate": 1.5, "bogus": 1}), *HEAD, output=10)
    live = Analysis(g, live=True)
    g.set_param(ids[1], "rate", 0.5)
    live.update()
    assert the_problem(live).message == "Dropout 'dropout': unknown parameter 'bogus'"
    g.set_param(ids[1], "bogus", MISSING)
    live.update()
    assert live.ok and live.problems == []
    add = g.add_node("Add").id  # input → add ⇄ dropout: a cycle, then a bad rate on it
    g.disconnect(g.inputs_of(ids[1])[0])
    g.connect(ids[0], add)
    g.connect(add, ids[1])
    g.connect(ids[1], add)
    live.update()
    assert the_problem(live, ids[1]).code == "cycle"
    g.set_param(ids[1], "rate", 7)
    live.update()
    assert "rate: expected a number ≤ 0.99. Received: 7" in the_problem(live, ids[1]).message
    assert live.problems == analyze(g.copy()).problems


def test_an_unknown_kind_is_reported_with_the_known_ones():
    g, ids = chain(("Conv3D", {}), *HEAD, output=10)
    problem = the_problem(analyze(g))
    assert problem.code == "unknown_kind" and "'Conv3D'" in problem.message
    assert "Conv2D" in problem.hint


def test_downstream_blocks_are_unknown_not_new_problems():
    g, ids = chain(("Conv2D", {"stride": 0}), ("Conv2D", {}), ("MaxPool2D", {}), *HEAD,
                   output=10)
    analysis = analyze(g)
    assert [p.node_id for p in analysis.problems] == [ids[1]]
    assert [analysis.results[i].status for i in ids] == ["ok", "problem"] + ["unknown"] * 5
    assert all(analysis.results[i].problem is None for i in ids[2:])
    assert not analysis.ok


# -------------------------------------------------------------- incremental
@pytest.fixture
def spy(monkeypatch):
    computed: list[str] = []
    original = Analysis._compute

    def counting(self, node):
        computed.append(node.id)
        return original(self, node)

    monkeypatch.setattr(Analysis, "_compute", counting)
    return computed


def long_chain(n=200):
    return chain(*[("Dense", {"units": 16})] * (n - 2), shape=(16,), output=16)


def test_one_edit_recomputes_only_what_changes(spy):
    g, ids = long_chain()
    live = Analysis(g, live=True)
    assert len(spy) == 200
    spy.clear()
    g.set_param(ids[100], "units", 32)  # its output and the next block's weights change
    assert live.update() == {ids[100], ids[101]}
    assert spy == [ids[100], ids[101], ids[102]]  # 102 is recomputed, found equal: stop
    assert live.results[ids[101]].params == 32 * 16 + 16
    spy.clear()
    g.set_param(ids[150], "activation", "relu")  # changes no number
    assert live.update() == set()
    assert spy == [ids[150]]
    spy.clear()
    g.set_param(ids[0], "shape", [8])
    assert live.update() == {ids[0], ids[1]}
    assert spy == ids[:3]
    spy.clear()
    g.set_param(ids[198], "units", 10)  # now the Output disagrees
    assert live.update() == {ids[198], ids[199]}
    assert [p.node_id for p in live.problems] == [ids[199]]
    assert live.results == analyze(g.copy()).results
    live.close()
    spy.clear()
    g.set_param(ids[5], "units", 3)
    assert live.update() == set() and spy == []  # closed: it no longer follows the graph


def test_structural_edits_are_followed(spy):
    g, ids = long_chain(20)
    live = Analysis(g, live=True)
    edge = g.inputs_of(ids[10])[0]
    g.disconnect(edge)
    live.update()
    assert live.results[ids[10]].status == "problem"
    assert {live.results[i].status for i in ids[11:]} == {"unknown"}
    g.connect(edge)
    live.update()
    assert live.ok
    g.remove_node(ids[5])
    live.update()
    assert ids[5] not in live.results
    assert live.results == analyze(g.copy()).results


def test_whole_graph_problems_follow_renames_and_removals():
    g, ids = chain(*HEAD, output=10)
    live = Analysis(g, live=True)
    extra = g.add_node("Output", name="second")
    live.update()
    assert "2 Output blocks ('output', 'second')" in str(live.problems)
    g.rename(extra.id, "scores")
    live.update()
    assert "2 Output blocks ('output', 'scores')" in str(live.problems)
    g.remove_node(extra.id)
    live.update()
    assert live.problems == [] and live.ok


KINDS = ["Conv2D", "MaxPool2D", "ReLU", "Add", "Concat", "Flatten", "Dense", "BatchNorm",
         "GlobalAvgPool", "Output", "Input", "Conv9D"]
VALUES = {
    "filters": st.integers(1, 6), "kernel_size": st.integers(1, 5),
    "stride": st.integers(0, 3), "padding": st.sampled_from(["same", "valid", 1, -1]),
    "units": st.integers(1, 12), "classes": st.integers(1, 12), "pool_size": st.integers(1, 3),
    "shape": st.sampled_from([[3, 12, 12], [12], [3, 4, 4], [0]]), "bogus": st.just(1),
}

edits = st.lists(st.tuples(
    st.sampled_from(["add", "connect", "disconnect", "set", "unset", "remove", "group",
                     "rename"]),
    st.integers(0, 10**6), st.integers(0, 10**6), st.sampled_from(KINDS),
    st.sampled_from(sorted(VALUES)), st.data()), min_size=1, max_size=25)


def apply(g: Graph, op, a, b, kind, key, data) -> None:
    nodes = sorted(n.id for n in g.leaves())
    pick = (lambda i: nodes[i % len(nodes)]) if nodes else None
    try:
        if op == "add" or not nodes:
            g.add_node(kind)
        elif op == "connect":
            g.connect(pick(a), pick(b), data.draw(st.integers(0, 2)) if b % 2 else None)
        elif op == "disconnect" and g.edges:
            g.disconnect(g.edges[a % len(g.edges)])
        elif op == "set":
            g.set_param(pick(a), key, data.draw(VALUES[key]))
        elif op == "unset":
            g.set_param(pick(a), key, MISSING)
        elif op == "remove":
            g.remove_node(pick(a))
        elif op == "group":
            g.group([pick(a)])
        elif op == "rename":
            g.rename(pick(a), f"{kind.lower()}_{b % 7}")
    except GraphEditError:
        pass  # a refused edit changes nothing: still a valid step


@settings(max_examples=150, deadline=None)
@given(edits)
def test_live_analysis_equals_a_fresh_one_after_any_edits(steps):
    g, _ = chain(("Conv2D", {"filters": 4}), ("MaxPool2D", {}), *HEAD, shape=(3, 12, 12),
                 output=10)
    live = Analysis(g, live=True)
    for step in steps:
        apply(g, *step)
        live.update()
        fresh = analyze(g.copy())
        assert live.results == fresh.results
        assert live.problems == fresh.problems
        assert live.order == fresh.order
        assert live.totals() == fresh.totals()


def test_a_frozen_block_counts_its_weights_as_non_trainable():

    graph = Graph()
    source = graph.add_node("Input", "in", {"shape": [16]})
    dense = graph.add_node("Dense", "fc", {"units": 4})
    out = graph.add_node("Output", "out", {"classes": 4})
    graph.connect(source.id, dense.id)
    graph.connect(dense.id, out.id)
    analysis = Analysis(graph, live=True)
    assert analysis.results[dense.id].trainable == 68
    graph.set_param(dense.id, "lr_mult", 0.0)
    analysis.update()
    result = analysis.results[dense.id]
    assert (result.trainable, result.non_trainable) == (0, 68)
