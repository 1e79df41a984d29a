"""The graph model: every edit has an exact inverse, lint() finds broken invariants, and each
edit tells its subscribers what changed."""

from __future__ import annotations

import pytest

from engine import templates
from engine.graph import MISSING, Change, ChangeKind, Edge, Graph, GraphEditError


@pytest.fixture
def graph() -> Graph:
    """keras-mnist plus a group around its first stage: branches-free but realistic."""
    g = templates.open_template("keras-mnist").graph
    g.group([g.by_name(n).id for n in ("conv1_1", "max_pooling2d_1", "dropout_1")],
            name="stage1")
    assert g.lint() == []
    return g


def ids(g: Graph, *names: str) -> list[str]:
    return [g.by_name(n).id for n in names]


def check_inverse(g: Graph, edit, undo) -> None:
    before, snapshot = g.copy(), g.to_json()
    done = edit(g)
    assert g != before  # the edit did something
    assert g.lint() == []
    undo(g, done)
    assert g == before
    assert g.to_json() == snapshot  # the very same document, node order included
    assert g.lint() == []


def _readd(g, node, removed_edges):
    g.add_node(node)
    for edge in removed_edges:
        g.connect(edge)


INVERSES = {
    "add_node": (lambda g: g.add_node("Dense", name="extra", params={"units": 5}),
                 lambda g, node: g.remove_node(node.id)),
    "add_node_in_group": (lambda g: g.add_node("ReLU", parent=g.by_name("stage1").id),
                          lambda g, node: g.remove_node(node.id)),
    "remove_node": (lambda g: (g.node(g.by_name("dense_1").id),
                               g.remove_node(g.by_name("dense_1").id)),
                    lambda g, done: _readd(g, *done)),
    "connect": (lambda g: g.connect(g.by_name("dense_1").id, g.add_node("Add").id),
                lambda g, edge: (g.disconnect(edge), g.remove_node(edge.dst))),
    "disconnect": (lambda g: g.disconnect(g.inputs_of(g.by_name("dense_2").id)[0]),
                   lambda g, edge: g.connect(edge)),
    "set_param_existing": (lambda g: g.set_param(g.by_name("dense_1").id, "units", 99),
                           lambda g, old: g.set_param(g.by_name("dense_1").id, "units", old)),
    "set_param_new": (lambda g: g.set_param(g.by_name("dense_1").id, "bias", False),
                      lambda g, old: g.set_param(g.by_name("dense_1").id, "bias", old)),
    "set_param_unset": (lambda g: g.set_param(g.by_name("conv1_1").id, "padding", MISSING),
                        lambda g, old: g.set_param(g.by_name("conv1_1").id, "padding", old)),
    "rename": (lambda g: (g.by_name("dense_1").id, g.rename(g.by_name("dense_1").id, "fc")),
               lambda g, done: g.rename(*done)),
    "set_parent": (lambda g: (g.by_name("conv1_2").id,
                              g.set_parent(g.by_name("conv1_2").id, g.by_name("stage1").id)),
                   lambda g, done: g.set_parent(*done)),
    "leave_group": (lambda g: (g.by_name("dropout_1").id,
                               g.set_parent(g.by_name("dropout_1").id, None)),
                    lambda g, done: g.set_parent(*done)),
    "group": (lambda g: g.group(ids(g, "dense_1", "batch_normalization_1"), name="head"),
              lambda g, group: g.ungroup(group.id)),
    "group_a_group": (lambda g: g.group([g.by_name("stage1").id, g.by_name("conv1_2").id]),
                      lambda g, group: g.ungroup(group.id)),
    "ungroup": (lambda g: g.ungroup(g.by_name("stage1").id),
                lambda g, done: g.regroup(*done)),
}


@pytest.mark.parametrize("name", list(INVERSES))
def test_each_edit_and_its_inverse_restore_the_graph(graph, name):
    edit, undo = INVERSES[name]
    check_inverse(graph, edit, undo)


def test_undoing_remove_node_keeps_node_order_in_to_json(graph):
    edit, undo = INVERSES["remove_node"]
    before = graph.to_json()
    undo(graph, edit(graph))
    assert graph.to_json() == before


def test_undoing_a_chain_of_edits_in_reverse_restores_the_graph(graph):
    before = graph.copy()
    undo_stack = []
    for name in ("add_node", "connect", "set_param_existing", "group", "disconnect", "rename"):
        edit, undo = INVERSES[name]
        undo_stack.append((undo, edit(graph)))
        assert graph.lint() == []
    for undo, done in reversed(undo_stack):
        undo(graph, done)
    assert graph == before


def test_set_param_stores_a_copy(graph):
    value = [3, 3]
    node_id = graph.by_name("conv1_2").id
    graph.set_param(node_id, "kernel_size", value)
    value.append(9)
    assert graph.node(node_id).params["kernel_size"] == [3, 3]


@pytest.mark.parametrize("edit, message", [
    (lambda g: g.add_node("Dense", node_id=g.by_name("dense_1").id), "already used"),
    (lambda g: g.connect(g.by_name("dense_1").id, g.by_name("dense_2").id, 0),
     "already fed by 'dropout_3'"),
    (lambda g: g.connect(g.by_name("dense_1").id, g.by_name("dense_1").id), "cannot feed itself"),
    (lambda g: g.connect(g.by_name("dense_1").id, g.by_name("stage1").id), "is a group"),
    (lambda g: g.rename(g.by_name("dense_1").id, "dense_2"), "already used"),
    (lambda g: g.rename(g.by_name("dense_1").id, "  "), "cannot be empty"),
    (lambda g: g.remove_node(g.by_name("stage1").id), "still has members"),
    (lambda g: g.set_parent(g.by_name("stage1").id, g.by_name("stage1").id), "contain itself"),
    (lambda g: g.set_parent(g.by_name("dense_1").id, g.by_name("dense_2").id), "not a group"),
    (lambda g: g.group([g.by_name("conv1_1").id, g.by_name("dense_1").id]), "different groups"),
    (lambda g: g.disconnect(Edge("n1", "n2", 5)), "no connection"),
    (lambda g: g.node("n999"), "no node with id 'n999'"),
])
def test_refused_edits_leave_the_graph_as_it_was(graph, edit, message):
    before = graph.copy()
    with pytest.raises(GraphEditError, match=message):
        edit(graph)
    assert graph == before
    assert graph.lint() == []


# -------------------------------------------------------------------- lint
def two_nodes() -> dict:
    return {"nodes": [{"id": "n1", "kind": "Input", "name": "in", "params": {}},
                      {"id": "n2", "kind": "Dense", "name": "fc", "params": {}},
                      {"id": "n3", "kind": "Add", "name": "add", "params": {}}],
            "edges": [{"src": "n1", "dst": "n2"}]}


@pytest.mark.parametrize("change, found", [
    (lambda d: d["edges"].append({"src": "n1", "dst": "n9"}), "dangles: no node 'n9'"),
    (lambda d: d["edges"].append({"src": "n7", "dst": "n3"}), "dangles: no node 'n7'"),
    (lambda d: d["edges"].append({"src": "n3", "dst": "n2", "dst_port": 0}),
     "input 0 of 'n2' has two edges"),
    (lambda d: d["nodes"][1].update(parent="n8"), "'fc' belongs to missing group 'n8'"),
    (lambda d: d["nodes"][1].update(parent="n3"), "'fc' belongs to 'n3', not a group"),
    (lambda d: d["nodes"].extend([
        {"id": "g1", "kind": "Group", "name": "a", "parent": "g2"},
        {"id": "g2", "kind": "Group", "name": "b", "parent": "g1"}]), "membership of 'a' loops"),
    (lambda d: d["nodes"].append({"id": "n4", "kind": "ReLU", "name": "fc"}),
     "the name 'fc' is used more than once"),
    (lambda d: (d["nodes"].append({"id": "g1", "kind": "Group", "name": "grp"}),
                d["edges"].append({"src": "n2", "dst": "g1"})), "ends on group 'g1'"),
])
def test_lint_names_each_broken_invariant(change, found):
    data = two_nodes()
    assert Graph.from_json(data).lint() == []
    change(data)
    issues = Graph.from_json(data).lint()
    assert any(found in str(issue) for issue in issues), issues


def test_lint_sees_a_corrupted_index():
    g = Graph.from_json(two_nodes())
    g._in["n2"].clear()  # as a buggy edit would leave it
    assert any("missing from the input index" in str(m) for m in g.lint())


def test_lint_names_the_node_or_edge_and_field_at_fault():
    data = two_nodes()
    data["nodes"][1]["parent"] = "n3"
    data["edges"].append({"src": "n1", "dst": "n9"})
    node_issue, edge_issue = Graph.from_json(data).lint()
    assert (node_issue.node_id, node_issue.field) == ("n2", "parent")
    assert (edge_issue.edge, edge_issue.field) == (Edge("n1", "n9"), "dst")


def test_nodes_cannot_be_changed_behind_the_edit_methods(graph):
    """A write past the edit methods would be missed by undo and the views."""
    fc = graph.by_name("dense_2")
    before = graph.copy()
    with pytest.raises(TypeError):
        graph.nodes["n99"] = fc  # type: ignore[index]
    with pytest.raises(TypeError):
        del graph.nodes[fc.id]  # type: ignore[attr-defined]
    for method in ("pop", "clear", "update", "setdefault", "popitem"):
        assert not hasattr(graph.nodes, method), method
    assert graph == before and graph.lint() == []


def test_new_ids_skip_reserved_and_used_ones():
    g = Graph.from_json(two_nodes())
    g.reserve_ids(["n7", "x1", "n" + "9" * 5000])  # a foreign or absurd id is no number
    assert g.new_id() == "n8"
    g.remove_node("n3")
    assert g.add_node("ReLU").id == "n9"  # n3 was used: never again
    assert g.copy().new_id() == "n10"


def test_edits_refuse_what_lint_would_report(graph):
    fc, out = ids(graph, "dense_2", "output")
    with pytest.raises(GraphEditError, match="already used"):
        graph.add_node("ReLU", name="dense_2")
    with pytest.raises(GraphEditError, match="ports count from 0"):
        graph.connect(fc, out, dst_port=-1)
    assert graph.lint() == []


# ---------------------------------------------------------- notifications
@pytest.fixture
def heard(graph):
    changes: list[Change] = []
    graph.changed.subscribe(changes.append)
    return changes


def test_each_edit_notifies_what_changed(graph, heard):
    fc, out = ids(graph, "dense_2", "output")
    node = graph.add_node("ReLU", name="act")
    assert heard == [Change(ChangeKind.NODE_ADDED, node.id)]
    heard.clear()
    edge = graph.connect(fc, node.id)
    assert heard == [Change(ChangeKind.EDGE_ADDED, node.id, edge=edge)]
    heard.clear()
    graph.disconnect(edge)
    assert heard == [Change(ChangeKind.EDGE_REMOVED, node.id, edge=edge)]
    heard.clear()
    graph.set_param(fc, "units", 12)
    assert heard == [Change(ChangeKind.PARAM_CHANGED, fc, key="units")]
    heard.clear()
    graph.rename(fc, "logits")
    assert heard == [Change(ChangeKind.RENAMED, fc)]
    heard.clear()
    group = graph.group([fc, node.id], name="head")
    assert heard == [Change(ChangeKind.NODE_ADDED, group.id), Change(ChangeKind.PARENT_CHANGED, fc),
                     Change(ChangeKind.PARENT_CHANGED, node.id)]
    heard.clear()
    graph.ungroup(group.id)
    assert heard == [Change(ChangeKind.PARENT_CHANGED, fc), Change(ChangeKind.PARENT_CHANGED, node.id),
                     Change(ChangeKind.NODE_REMOVED, group.id)]
    heard.clear()
    into_out = graph.inputs_of(out)[0]
    graph.remove_node(fc)
    assert heard[-1] == Change(ChangeKind.NODE_REMOVED, fc)
    assert {c.edge for c in heard[:-1]} == {into_out, graph_edge_into(fc, heard)}
    assert all(c.what is ChangeKind.EDGE_REMOVED for c in heard[:-1])


def graph_edge_into(node_id, changes):
    return next(c.edge for c in changes if c.edge is not None and c.edge.dst == node_id)


def test_refused_edits_and_unsubscribed_handlers_hear_nothing(graph, heard):
    with pytest.raises(GraphEditError):
        graph.rename(graph.by_name("dense_1").id, "dense_2")
    assert heard == []
    graph.changed.unsubscribe(heard.append)
    graph.add_node("ReLU")
    assert heard == []
