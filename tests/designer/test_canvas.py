"""The canvas as a user meets it: drop blocks, connect, edit, see shapes change, undo."""

from __future__ import annotations

from designer_helpers import face, flush
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QDragMoveEvent, QDropEvent
from PySide6.QtTest import QTest


def _viewport_point(view, scene_point: QPointF):
    return view.mapFromScene(scene_point)


def _drop_kind(win, kind: str, scene_point: QPointF) -> None:
    """Drag an entry from the palette and drop it on the canvas."""
    palette = win.palette
    item = next(i for i in palette.kind_items() if i.data(0, Qt.ItemDataRole.UserRole) == kind)
    mime = palette.tree.mimeData([item])
    pos = _viewport_point(win.view, scene_point)
    event = QDropEvent(pos.toPointF(), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    win.view.dropEvent(event)
    flush(win)


def _drag(win, start: QPointF, end: QPointF, modifiers=Qt.KeyboardModifier.NoModifier):
    viewport = win.view.viewport()
    a, b = _viewport_point(win.view, start), _viewport_point(win.view, end)
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, modifiers, a)
    middle = (a + b) / 2
    QTest.mouseMove(viewport, middle)
    QTest.mouseMove(viewport, b)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, modifiers, b)
    flush(win)


def test_palette_lists_every_registered_kind_by_category(window):
    from engine.layers import REGISTRY

    shown = {i.data(0, Qt.ItemDataRole.UserRole) for i in window.palette.kind_items()}
    assert shown == {k.id for k in REGISTRY if k.palette}
    conv = next(i for i in window.palette.kind_items()
                if i.data(0, Qt.ItemDataRole.UserRole) == "Conv2D")
    assert conv.parent().text(0).startswith("Feature extraction")
    assert "filters" in conv.toolTip(0) and not conv.icon(0).isNull()


def test_search_then_enter_adds_the_match_after_the_selected_block(window, qtbot):
    window.scene.select_ids([window.doc.graph.by_name("fc").id])
    qtbot.keyClicks(window.palette.search, "dropout")
    hidden = [i for i in window.palette.kind_items() if i.isHidden()]
    assert hidden, "the search should filter the palette"
    QTest.keyClick(window.palette.search, Qt.Key.Key_Return)
    flush(window)
    new = window.doc.graph.by_name("dropout")
    assert window.doc.graph.predecessors(new.id) == [window.doc.graph.by_name("fc").id]
    assert window.scene.selected_ids() == [new.id]


def test_drop_from_palette_adds_a_block_where_it_lands(window):
    before = set(window.doc.graph.nodes)
    _drop_kind(window, "Conv2D", QPointF(900, 300))
    (new_id,) = set(window.doc.graph.nodes) - before
    item = window.scene.blocks[new_id]
    assert item.isVisible() and item.sceneBoundingRect().contains(QPointF(900, 300))
    assert face(window, window.doc.graph.nodes[new_id].name).status == "problem"  # no input yet
    window.actions_by_name["undo"].trigger()
    flush(window)
    assert set(window.doc.graph.nodes) == before and new_id not in window.scene.blocks


def test_drop_onto_an_edge_inserts_the_block_between(window):
    graph = window.doc.graph
    conv, pool = graph.by_name("conv1").id, graph.by_name("pool1").id
    edge_item = next(e for edge, e in window.scene.edges.items() if edge.src == conv)
    target = edge_item.curve.pointAtPercent(0.5)
    relu = next(i for i in window.palette.kind_items()
                if i.data(0, Qt.ItemDataRole.UserRole) == "ReLU")
    mime = window.palette.tree.mimeData([relu])  # the event does not own it: keep it alive
    hover = QDragMoveEvent(window.view.mapFromScene(target),
                           Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                           Qt.KeyboardModifier.NoModifier)
    window.view.dragMoveEvent(hover)
    assert edge_item.highlighted  # the connection the block would split is shown
    _drop_kind(window, "ReLU", target)
    relu = graph.by_name("relu")
    assert graph.predecessors(relu.id) == [conv] and graph.predecessors(pool) == [relu.id]
    assert window.undo_group.undoText() == "Insert relu between conv1 and pool1"
    assert face(window, "relu").shape == "8×28×28"


def test_connect_by_dragging_from_an_output_port_to_an_input(window):
    _drop_kind(window, "Dense", QPointF(1100, 200))
    graph = window.doc.graph
    dense = graph.by_name("dense")
    fc = window.scene.blocks[graph.by_name("fc").id]
    target = window.scene.blocks[dense.id]
    _drag(window, fc.scene_port("out"), target.sceneBoundingRect().center())
    assert graph.predecessors(dense.id) == [graph.by_name("fc").id]
    assert window.actions_by_name["undo"].text() == "Undo Connect fc → dense"
    assert face(window, "dense").shape == "64"
    label = next(e for edge, e in window.scene.edges.items() if edge.dst == dense.id).label()
    assert label == "10"


def test_a_refused_connection_is_reported_not_raised(window):
    graph = window.doc.graph
    fc, out = window.scene.blocks[graph.by_name("fc").id], graph.by_name("out").id
    pool = window.scene.blocks[graph.by_name("pool1").id]
    _drag(window, pool.scene_port("out"), window.scene.blocks[out].sceneBoundingRect().center())
    assert "already fed by 'fc'" in window.statusBar().currentMessage()
    assert graph.predecessors(out) == [fc.node_id]


def test_editing_a_parameter_changes_shapes_downstream_at_once(window, qtbot):
    graph = window.doc.graph
    window.scene.select_ids([graph.by_name("conv1").id])
    editor = window.inspector.editors["filters"]
    editor.box.selectAll()
    qtbot.keyClicks(editor.box.lineEdit(), "40")
    flush(window)
    assert graph.by_name("conv1").params["filters"] == 40
    assert face(window, "conv1").detail.startswith("40 @ 3×3")
    assert face(window, "pool1").shape == "40×14×14"
    assert face(window, "fc").counts.startswith(f"{40 * 14 * 14 * 10 + 10:,} params")
    rows = {r.name: r for r in window.summary.model.rows}
    assert rows["pool1"].output_shape == "40×14×14"
    # Typing "40" is one undo step back to 8 filters.
    window.actions_by_name["undo"].trigger()
    flush(window)
    assert graph.by_name("conv1").params["filters"] == 8
    assert face(window, "pool1").shape == "8×14×14"


def test_an_invalid_value_is_refused_with_the_reason(window, qtbot):
    graph = window.doc.graph
    window.scene.select_ids([graph.by_name("conv1").id])
    editor = window.inspector.editors["kernel_size"]
    editor.edit.selectAll()
    qtbot.keyClicks(editor.edit, "0")
    reason = window.inspector.reasons["kernel_size"]
    assert not reason.isHidden() and "positive integer" in reason.text()
    assert graph.by_name("conv1").params["kernel_size"] == 3
    editor.edit.selectAll()
    qtbot.keyClicks(editor.edit, "5, 5")
    flush(window)
    assert graph.by_name("conv1").params["kernel_size"] == [5, 5] and reason.isHidden()


def test_a_mismatched_merge_shows_its_problem_on_the_block_and_in_the_list(window):
    from designer import commands

    doc = window.doc
    graph = doc.graph
    _drop_kind(window, "Add", QPointF(1100, 400))
    add = graph.by_name("add").id
    commands.execute(doc, commands.connect(doc, graph.by_name("conv1").id, add))
    commands.execute(doc, commands.connect(doc, graph.by_name("pool1").id, add))
    flush(window)
    shown = face(window, "add")
    assert shown.status == "problem"
    assert "8×28×28" in shown.problem and "8×14×14" in shown.problem and shown.hint
    assert "Problem" in shown.tooltip and shown.hint in shown.tooltip
    texts = window.problems.texts()
    assert any("add" in t and "8×14×14" in t for t in texts)
    row = next(i for i in range(window.problems.list.count())
               if "8×14×14" in window.problems.list.item(i).text())
    window.problems.list.itemClicked.emit(window.problems.list.item(row))
    assert window.scene.selected_ids() == [add]
    assert "⚠" in window.status_totals.text()


def test_undo_and_redo_name_the_step(window):
    graph = window.doc.graph
    window.scene.select_ids([graph.by_name("pool1").id])
    window.actions_by_name["delete"].trigger()
    flush(window)
    assert "pool1" not in {n.name for n in graph.nodes.values()}
    assert window.actions_by_name["undo"].text() == "Undo Delete pool1"
    window.actions_by_name["undo"].trigger()
    flush(window)
    assert graph.predecessors(graph.by_name("flatten").id) == [graph.by_name("pool1").id]
    assert window.actions_by_name["redo"].text() == "Redo Delete pool1"
    window.actions_by_name["redo"].trigger()
    flush(window)
    assert "pool1" not in {n.name for n in graph.nodes.values()}


def test_moving_blocks_is_one_undoable_step(window):
    graph = window.doc.graph
    conv = window.scene.blocks[graph.by_name("conv1").id]
    before = window.doc.position(conv.node_id)
    centre = conv.sceneBoundingRect().center()
    _drag(window, centre, centre + QPointF(300, 40))
    after = window.doc.position(conv.node_id)
    assert after == (before[0] + 300, before[1] + 40)
    assert conv.pos() == QPointF(*after)
    window.actions_by_name["undo"].trigger()
    flush(window)
    assert window.doc.position(conv.node_id) == before and conv.pos() == QPointF(*before)


def test_copy_paste_and_duplicate_use_fresh_ids_and_names(window):
    graph = window.doc.graph
    ids = [graph.by_name("conv1").id, graph.by_name("pool1").id]
    window.scene.select_ids(ids)
    window.actions_by_name["copy"].trigger()
    window.actions_by_name["paste"].trigger()
    flush(window)
    pasted = window.scene.selected_ids()
    assert len(pasted) == 2 and not set(pasted) & set(ids)
    names = sorted(graph.nodes[i].name for i in pasted)
    assert names == ["conv1_1", "pool1_1"]
    a, b = (graph.by_name(n).id for n in names)
    assert graph.predecessors(b) == [a]  # the connection inside the selection came along
    window.actions_by_name["duplicate"].trigger()
    flush(window)
    assert {"conv1_2", "pool1_2"} <= {n.name for n in graph.nodes.values()}
    assert graph.lint() == []
    window.actions_by_name["undo"].trigger()
    window.actions_by_name["undo"].trigger()
    flush(window)
    assert len(graph.nodes) == 6


def test_cut_removes_and_paste_brings_back(window):
    graph = window.doc.graph
    window.scene.select_ids([graph.by_name("flatten").id])
    window.actions_by_name["cut"].trigger()
    flush(window)
    assert window.actions_by_name["undo"].text() == "Undo Cut flatten"
    window.actions_by_name["paste"].trigger()
    flush(window)
    assert "flatten" in {n.name for n in graph.nodes.values()}


def test_group_collapse_expand_and_ungroup(window):
    graph, scene = window.doc.graph, window.scene
    conv, pool = graph.by_name("conv1").id, graph.by_name("pool1").id
    scene.select_ids([conv, pool])
    window.actions_by_name["group"].trigger()
    flush(window)
    group = graph.nodes[scene.selected_ids()[0]]
    assert group.is_group and {n.id for n in graph.children(group.id)} == {conv, pool}
    assert scene.blocks[group.id].isVisible() and not scene.blocks[conv].isVisible()
    shown = face(window, group.name)
    assert shown.detail == "1×28×28 → 8×14×14" and shown.kind == "group · 2 blocks"
    assert window.actions_by_name["undo"].text() == "Undo Group 2 blocks"
    window.editing.toggle_group(group.id)  # expand in place
    flush(window)
    frame = scene.frames[group.id]
    assert frame.isVisible() and scene.blocks[conv].isVisible()
    assert frame.rect.contains(scene.blocks[conv].sceneBoundingRect())
    below = scene.blocks[graph.by_name("flatten").id]
    assert not below.sceneBoundingRect().intersects(frame.rect)  # room was made
    window.editing.toggle_group(group.id)
    flush(window)
    assert scene.blocks[group.id].isVisible() and not frame.isVisible()
    scene.select_ids([group.id])
    window.actions_by_name["ungroup"].trigger()
    flush(window)
    assert group.id not in graph.nodes and graph.nodes[conv].parent is None
    assert scene.blocks[conv].isVisible()
    for _ in range(4):
        window.actions_by_name["undo"].trigger()
    flush(window)
    assert group.id not in graph.nodes and graph.lint() == []
    assert window.doc.collapsed == set()


def test_edges_show_the_shape_they_carry_and_problems_show_on_hover(window):
    graph = window.doc.graph
    labels = {graph.nodes[e.src].name: item.label() for e, item in window.scene.edges.items()}
    assert labels["conv1"] == "8×28×28" and labels["pool1"] == "8×14×14"
    assert labels["flatten"] == "1568"


def test_auto_arrange_is_one_step_and_leaves_no_overlap(window):
    from itertools import combinations

    window.actions_by_name["arrange_lr"].trigger()
    flush(window)
    boxes = [i.sceneBoundingRect().adjusted(6, 6, -6, -6) for i in window.scene.blocks.values()]
    assert not any(a.intersects(b) for a, b in combinations(boxes, 2))
    xs = [window.doc.position(window.doc.graph.by_name(n).id)[0]
          for n in ("input", "conv1", "pool1", "flatten", "fc", "out")]
    assert xs == sorted(xs) and window.doc.direction == "LR"
    assert window.actions_by_name["undo"].text() == "Undo Auto-arrange left to right"
    window.actions_by_name["undo"].trigger()
    flush(window)
    assert window.doc.direction == "TB"


def test_zoom_and_fit(window):
    view = window.view
    zoom = view.zoom()
    window.actions_by_name["zoom_in"].trigger()
    assert view.zoom() > zoom
    window.actions_by_name["zoom_out"].trigger()
    window.actions_by_name["zoom_out"].trigger()
    assert view.zoom() < zoom
    window.actions_by_name["fit"].trigger()
    visible = view.mapToScene(view.viewport().rect()).boundingRect()
    assert visible.contains(view.content_rect())


def test_select_all_and_delete_with_backspace(window, qtbot):
    window.actions_by_name["select_all"].trigger()
    assert len(window.scene.selected_ids()) == 6
    window.view.setFocus()
    QTest.keyClick(window.view, Qt.Key.Key_Backspace)
    flush(window)
    assert not window.doc.graph.nodes and not window.scene.blocks
    window.actions_by_name["undo"].trigger()
    flush(window)
    assert len(window.doc.graph.nodes) == 6 and len(window.doc.graph.edges) == 5


def test_rubber_band_selects_and_shift_extends(window):
    scene, graph = window.scene, window.doc.graph
    conv = scene.blocks[graph.by_name("conv1").id].sceneBoundingRect()
    pool = scene.blocks[graph.by_name("pool1").id].sceneBoundingRect()
    fc = scene.blocks[graph.by_name("fc").id].sceneBoundingRect()
    empty = QPointF(conv.left() - 60, conv.top() - 20)
    _drag(window, empty, QPointF(pool.right() + 60, pool.center().y()))
    assert set(scene.selected_ids()) == {graph.by_name("conv1").id, graph.by_name("pool1").id}
    # Shift-click adds a block; Shift-click again removes it.
    _drag(window, fc.center(), fc.center(), Qt.KeyboardModifier.ShiftModifier)
    assert graph.by_name("fc").id in scene.selected_ids() and len(scene.selected_ids()) == 3
    _drag(window, fc.center(), fc.center(), Qt.KeyboardModifier.ShiftModifier)
    assert len(scene.selected_ids()) == 2


def test_ctrl_wheel_zooms_and_middle_or_space_drag_pans(window):
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QWheelEvent

    view, viewport = window.view, window.view.viewport()
    zoom = view.zoom()
    centre = QPointF(viewport.rect().center())
    wheel = QWheelEvent(centre, view.mapToGlobal(centre), QPoint(), QPoint(0, 240),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.ControlModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    view.wheelEvent(wheel)
    assert view.zoom() > zoom * 1.2
    bar = view.verticalScrollBar()
    bar.setValue((bar.minimum() + bar.maximum()) // 2)
    before = bar.value()
    a = viewport.rect().center()
    QTest.mousePress(viewport, Qt.MouseButton.MiddleButton, Qt.KeyboardModifier.NoModifier, a)
    QTest.mouseMove(viewport, a + QPoint(0, 60))
    QTest.mouseRelease(viewport, Qt.MouseButton.MiddleButton, Qt.KeyboardModifier.NoModifier,
                       a + QPoint(0, 60))
    assert bar.value() == before - 60
    view.setFocus()
    QTest.keyPress(view, Qt.Key.Key_Space)
    _drag(window, view.mapToScene(a), view.mapToScene(a + QPoint(0, -30)))
    QTest.keyRelease(view, Qt.Key.Key_Space)
    assert bar.value() == before - 30
    assert window.doc.undo_stack.count() == 0  # panning is not an edit



def test_inspector_shows_an_imported_backbone_record_read_only(window):
    from PySide6.QtWidgets import QLabel

    from engine.layers import REGISTRY

    node = window.doc.graph.add_node("Backbone", "bb", {"graph": "x" * 5000})
    flush(window)
    window.scene.select_ids([node.id])
    flush(window)
    recorded = {p.name for p in REGISTRY.get("Backbone").schema if not p.editable}
    assert "graph" in recorded and not recorded & set(window.inspector.editors)
    assert "lr_mult" in window.inspector.editors  # freezing stays editable
    shown = [w.text() for w in window.inspector.findChildren(QLabel)]
    assert any(t.endswith("(5,000 characters)") and len(t) < 80 for t in shown)
