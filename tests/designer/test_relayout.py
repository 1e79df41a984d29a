"""The network is laid out again after edits that change its shape: no gaps, overlaps or
edges running over blocks; pasted copies beside their originals; the view stays put; blocks
glide; connections and their labels keep off group title bars. The expanded GoogLeNet and
ResNet-50 are drawn with no crossing (Graphviz dot's count on the same graphs)."""

from __future__ import annotations

import importlib.util
import shutil
from itertools import combinations
from pathlib import Path

import pytest
from designer_helpers import flush
from PySide6.QtCore import QPointF, QRectF

from designer.canvas.items import BLOCK_H, BLOCK_W

ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("layout_bench", ROOT / "benchmarks/layout.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _shown_rects(window) -> dict[str, QRectF]:
    return {i: item.sceneBoundingRect().adjusted(8, 8, -8, -8)  # the block, not its ports
            for i, item in window.scene.blocks.items() if item.isVisible()}


def _no_overlap(window) -> None:
    rects = _shown_rects(window)
    for (a, ra), (b, rb) in combinations(rects.items(), 2):
        assert not ra.intersects(rb), (window.doc.label(a), window.doc.label(b))


def _view(window) -> QRectF:
    view = window.view
    return view.mapToScene(view.viewport().rect()).boundingRect()


@pytest.mark.parametrize("name", ["googlenet", "resnet50"])
def test_expanded_templates_are_drawn_without_crossings(name):
    bench = _bench()
    graph = bench.expanded(name)
    positions, lines, _seconds = bench.ours(graph)
    assert bench.crossings(lines) == 0
    if shutil.which("dot"):  # the reference where it is installed (apt-get install graphviz)
        dot_positions, dot_lines, _ = bench.dot(graph)
        assert bench.crossings(lines) <= bench.crossings(dot_lines)
        assert bench.width(positions) <= bench.width(dot_positions)


def test_an_expanded_inception_module_has_straight_branches_and_a_centred_merge(window):
    assert window.files.open_template("googlenet")
    graph = window.doc.graph
    module = graph.by_name("inception3b").id
    window.editing.toggle_group(module)
    flush(window)
    _no_overlap(window)
    pos = window.doc.position
    for branch in ("branch1", "branch2", "branch3", "branch4"):
        xs = {pos(n.id)[0] for n in graph.children(module) if f"_{branch}_" in n.name}
        assert len(xs) == 1, f"{branch} drifts sideways: {xs}"
    members = [n.id for n in graph.children(module) if n.kind != "Concat"]
    concat = graph.by_name("inception3b_concat").id
    left = min(pos(i)[0] for i in members)
    right = max(pos(i)[0] for i in members) + BLOCK_W
    assert abs(pos(concat)[0] + BLOCK_W / 2 - (left + right) / 2) < 1
    # Nothing that is drawn runs over a block it does not join.
    scene = window.scene
    for edge, item in scene.edges.items():
        if not item.isVisible():
            continue
        ends = {scene.owner[edge.src], scene.owner[edge.dst]}
        for node_id, rect in _shown_rects(window).items():
            if node_id not in ends:
                samples = [item.curve.pointAtPercent(k / 40) for k in range(1, 40)]
                assert not any(rect.adjusted(4, 4, -4, -4).contains(p) for p in samples), (
                    window.doc.label(edge.src), window.doc.label(edge.dst),
                    window.doc.label(node_id))


def test_expanding_and_collapsing_leave_no_gap_or_overlap(window):
    assert window.files.open_template("resnet18")
    graph, pos = window.doc.graph, window.doc.position
    layer1, layer2 = graph.by_name("layer1").id, graph.by_name("layer2").id
    gap = pos(layer2)[1] - pos(layer1)[1]
    window.editing.toggle_group(layer1)
    flush(window)
    _no_overlap(window)
    frame = window.scene.frames[layer1].rect
    assert pos(layer2)[1] - frame.bottom() == pytest.approx(gap - BLOCK_H, abs=1)
    window.editing.toggle_group(layer1)
    flush(window)
    assert pos(layer2)[1] - pos(layer1)[1] == pytest.approx(gap, abs=1)


def test_grouping_closes_the_gap_in_one_undoable_step(window):
    graph, pos = window.doc.graph, window.doc.position
    conv, pool, flat = (graph.by_name(n).id for n in ("conv1", "pool1", "flatten"))
    before = {i: pos(i) for i in graph.nodes}
    step = pos(pool)[1] - pos(conv)[1]
    window.scene.select_ids([conv, pool])
    window.actions_by_name["group"].trigger()
    flush(window)
    group = graph.nodes[conv].parent
    assert pos(flat)[1] - pos(group)[1] == pytest.approx(step, abs=1)  # no gap left
    _no_overlap(window)
    window.actions_by_name["undo"].trigger()
    flush(window)
    assert {i: pos(i) for i in graph.nodes} == before


def test_ungrouping_lays_the_members_out_in_the_groups_place(window):
    assert window.files.open_template("resnet18")
    graph = window.doc.graph
    window.scene.select_ids([graph.by_name("layer2").id])
    window.actions_by_name["ungroup"].trigger()
    flush(window)
    _no_overlap(window)


def test_inserting_on_a_connection_makes_room(window):
    graph, pos = window.doc.graph, window.doc.position
    conv, pool, fc = (graph.by_name(n).id for n in ("conv1", "pool1", "fc"))
    before = {i: pos(i) for i in graph.nodes}
    edge = next(e for e in window.scene.edges if e.src == conv)
    middle = window.scene.edges[edge].curve.pointAtPercent(0.5)
    new = window.editing.drop_kind("ReLU", middle)
    flush(window)
    _no_overlap(window)
    assert pos(conv)[1] < pos(new)[1] < pos(pool)[1] and pos(pool)[1] < pos(fc)[1]
    window.actions_by_name["undo"].trigger()
    flush(window)
    assert {i: pos(i) for i in graph.nodes} == before


def test_a_second_branch_added_below_a_block_does_not_cover_the_first(window):
    window.scene.select_ids([window.doc.graph.by_name("conv1").id])
    window.editing.add_kind("Dropout")
    flush(window)
    _no_overlap(window)


def test_pasted_copies_go_beside_the_originals_not_on_them(window):
    graph = window.doc.graph
    ids = [graph.by_name(n).id for n in ("conv1", "pool1")]
    window.scene.select_ids(ids)
    window.actions_by_name["copy"].trigger()
    for _ in range(2):
        window.actions_by_name["paste"].trigger()
        flush(window)
        _no_overlap(window)
    window.scene.select_ids([graph.by_name("fc").id])
    window.actions_by_name["duplicate"].trigger()
    flush(window)
    _no_overlap(window)


def test_the_view_stays_put_after_a_drop_a_delete_and_a_group(window):
    assert window.files.open_template("vgg16")
    view = window.view
    view.zoom_by(1.0 / view.zoom())
    bar = view.verticalScrollBar()
    bar.setValue(bar.maximum())  # at the network's end, where deleting shrinks the scene
    order = window.doc.analysis.order
    shown = _view(window)
    window.scene.select_ids(order[-2:])
    window.actions_by_name["delete"].trigger()
    flush(window)
    assert _view(window) == shown
    window.editing.drop_kind("Conv2D", shown.center() + QPointF(260, 0))
    flush(window)
    assert _view(window) == shown
    window.scene.select_ids([window.doc.analysis.order[-1]])
    window.actions_by_name["group"].trigger()
    flush(window)
    assert _view(window) == shown


def test_blocks_glide_to_their_new_places(window, qtbot, monkeypatch):
    monkeypatch.setenv("NETDRAFT_ANIMATION_MS", "300")
    graph = window.doc.graph
    flat = window.scene.blocks[graph.by_name("flatten").id]
    start = flat.pos()
    window.scene.select_ids([graph.by_name("conv1").id, graph.by_name("pool1").id])
    window.actions_by_name["group"].trigger()
    flush(window)
    end = QPointF(*window.doc.position(graph.by_name("flatten").id))
    assert end != start and flat.pos() != end  # on its way
    qtbot.waitUntil(lambda: flat.pos() == end, timeout=2000)


def test_connections_and_labels_keep_off_group_title_bars(window):
    assert window.files.open_template("googlenet")
    module = window.doc.graph.by_name("inception4a").id
    window.editing.toggle_group(module)
    flush(window)
    scene = window.scene
    frame = scene.frames[module]
    head = frame.header_rect()
    entering = [item for edge, item in scene.edges.items() if item.isVisible()
                and item.curve.intersects(head)]
    assert entering, "edges into the module cross its title bar's line"
    for item in entering:
        point = next(item.curve.pointAtPercent(k / 200) for k in range(200)
                     if head.contains(item.curve.pointAtPercent(k / 200)))
        on_top = next(i for i in scene.items(point) if i.isVisible() and i is not frame.body)
        assert on_top is frame, "the title bar is drawn over the connection"
    for item in scene.edges.values():
        if item.isVisible():
            assert not any(item.label_rect.intersects(h) for h in scene.header_rects())
