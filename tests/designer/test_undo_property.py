"""Random sequences of edits through the undo stack: undoing all gives back the exact
original document, redoing all the final one, and the graph's invariants hold throughout."""

from __future__ import annotations

import copy
from typing import Any

from conftest import small_project
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from designer import clipboard, commands
from designer.document import Document
from engine.layers import REGISTRY

KINDS = sorted(k.id for k in REGISTRY if k.palette)


def canonical(doc: Document) -> dict[str, Any]:
    """The document as JSON; collapsed groups compared as a set."""
    data = copy.deepcopy(doc.project.to_json())
    data["ui"]["collapsed"] = sorted(data["ui"].get("collapsed", []))
    return data


def _pick(items: list, index: int):
    return items[index % len(items)] if items else None


def _value(param, seed: int):
    if param.type == "int":
        low = int(param.min) if param.min is not None else 0
        return low + seed % 7
    if param.type == "float":
        low = param.min if param.min is not None else 0.0
        return low + (seed % 5) * 0.1
    if param.type == "bool":
        return bool(seed % 2)
    if param.type == "choice":
        return param.choices[seed % len(param.choices)]
    if param.type in ("size", "padding"):
        return [1 + seed % 3, 1 + seed % 2] if seed % 2 else 1 + seed % 4
    if param.type == "ints":
        return [1 + seed % 3, 8, 8]
    return f"v{seed}"


def apply(doc: Document, op: tuple) -> None:
    """One user edit, built as the designer builds it."""
    name, a, b, seed = op
    graph = doc.graph
    ids = sorted(graph.nodes)
    leaves = sorted(n.id for n in graph.leaves())
    groups = sorted(n.id for n in graph.nodes.values() if n.is_group)
    cmd = None
    if name == "add":
        cmd = commands.add_block(doc, _pick(KINDS, a), (a * 10.0, b * 10.0))
    elif name == "delete" and ids:
        cmd = commands.delete(doc, [_pick(ids, a)])
    elif name == "connect" and len(leaves) > 1:
        cmd = commands.connect(doc, _pick(leaves, a), _pick(leaves, b))
    elif name == "disconnect" and graph.edges:
        cmd = commands.disconnect(doc, [_pick(graph.edges, a)])
    elif name == "param" and leaves:
        node = graph.nodes[_pick(leaves, a)]
        if node.kind in REGISTRY:
            param = _pick(list(REGISTRY.get(node.kind).schema), b)
            cmd = commands.set_param(doc, node.id, param.name, _value(param, seed))
    elif name == "rename" and ids:
        cmd = commands.rename(doc, _pick(ids, a), f"b{seed % 6}")
    elif name == "move" and ids:
        cmd = commands.move(doc, {_pick(ids, a): (b * 7.0, seed * 3.0)})
    elif name == "group" and ids:
        first = graph.nodes[_pick(ids, a)]
        same = [i for i in ids if graph.nodes[i].parent == first.parent]
        chosen = same[: 1 + b % 3]
        cmd = commands.group(doc, chosen, None, (210.0, 84.0))
    elif name == "ungroup" and groups:
        cmd = commands.ungroup(doc, _pick(groups, a))
    elif name == "collapse" and groups:
        gid = _pick(groups, a)
        cmd = commands.set_collapsed(doc, gid, not doc.is_collapsed(gid),
                                     {gid: (b * 5.0, seed * 1.0)})
    elif name == "paste" and ids:
        frag = clipboard.fragment(doc, [_pick(ids, a)])
        cmd, _ = clipboard.paste(doc, frag)
    elif name == "arrange":
        from engine.layout import arrange

        direction = "LR" if a % 2 else "TB"
        cmd = commands.arrange(doc, arrange(graph, doc.collapsed, direction=direction),
                               direction)
    if cmd is not None:
        commands.execute(doc, cmd)


OPS = st.tuples(
    st.sampled_from(["add", "delete", "connect", "disconnect", "param", "rename", "move",
                     "group", "ungroup", "collapse", "paste", "arrange"]),
    st.integers(0, 40), st.integers(0, 40), st.integers(0, 1000))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(OPS, min_size=1, max_size=20))
def test_undo_all_restores_the_original_and_redo_all_the_final(qapp, ops):
    doc = Document(small_project())
    doc.flush()
    original = canonical(doc)
    for op in ops:
        apply(doc, op)
        assert doc.graph.lint() == [], op
        doc.flush()  # the analysis follows every edit without raising
        assert doc.totals == doc.analysis.totals()  # kept per changed block
    final = canonical(doc)
    stack = doc.undo_stack
    steps = stack.index()
    while stack.canUndo():
        stack.undo()
        assert doc.graph.lint() == []
    assert canonical(doc) == original
    for _ in range(steps):
        stack.redo()
        assert doc.graph.lint() == []
    assert canonical(doc) == final
    doc.flush()
    fresh = Document(type(doc.project).from_json(doc.project.to_json()))
    fresh.flush()
    assert {i: r for i, r in doc.analysis.results.items()} == fresh.analysis.results
    doc.close()
    fresh.close()
