"""Transfer learning in the window without torch: Freeze, Unfreeze, Freeze Up to Here,
learning-rate multipliers and Replace Head as single undoable commands, the canvas marks for
frozen blocks and stored weights, the message when an edit makes stored weights stale, and
random edit sequences mixing these with ordinary ones (undo-all restores the original)."""

from __future__ import annotations

import pytest
from conftest import small_project
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PySide6.QtCore import Qt
from test_undo_property import OPS, apply, canonical

from designer import commands, transfer_commands
from designer.document import Document
from designer.files import with_layout
from engine.graph import Graph, GraphEditError
from engine.layers import REGISTRY
from engine.project import Project
from tests.designer.designer_helpers import face


def features_project() -> Project:
    """input → [features: conv1 → relu1 → pool → conv2 → relu2] → gap → fc → output."""
    graph = Graph()
    group = graph.add_node("Group", name="features")
    chain = [("Input", "input", {"shape": [3, 16, 16]}, None),
             ("Conv2D", "conv1", {"filters": 8, "padding": "same"}, group.id),
             ("ReLU", "relu1", {}, group.id),
             ("MaxPool2D", "pool", {}, group.id),
             ("Conv2D", "conv2", {"filters": 16}, group.id),
             ("ReLU", "relu2", {}, group.id),
             ("GlobalAvgPool", "gap", {}, None),
             ("Dense", "fc", {"units": 4}, None),
             ("Output", "output", {"classes": 4}, None)]
    previous = None
    for kind, name, params, parent in chain:
        node = graph.add_node(kind, name=name, params=params, parent=parent)
        if previous is not None:
            graph.connect(previous, node.id)
        previous = node.id
    return with_layout(Project(graph=graph, name="features"))


def stored_section(doc: Document, source: str = "imported") -> dict:
    """A weights section that fits every block with weights as it is now (statuses come
    from shapes alone: no file is needed to mark blocks)."""
    blocks = {}
    for node_id in doc.analysis.order:
        result = doc.analysis.results[node_id]
        node = doc.graph.nodes[node_id]
        if not result.params:
            continue
        kind = REGISTRY.get(node.kind)
        shapes = kind.weights(list(result.input_shapes), kind.resolve(node.params))
        blocks[node_id] = {"source": source,
                           "shapes": {k: list(v) for k, v in shapes.items()}}
    return {"file": "stored.safetensors", "blocks": blocks}


def ids(doc: Document, *names: str) -> list[str]:
    return [doc.graph.by_name(n).id for n in names]


def lr(doc: Document, name: str):
    return doc.graph.by_name(name).params.get("lr_mult")


def test_freeze_and_unfreeze_are_single_undoable_steps(qtbot, window):
    doc = window.doc
    original = canonical(doc)
    window.scene.select_ids(ids(doc, "conv1", "fc", "pool1"))
    window.actions_by_name["freeze"].trigger()
    doc.flush()
    assert lr(doc, "conv1") == 0 and lr(doc, "fc") == 0
    assert lr(doc, "pool1") is None  # no weights: untouched
    assert doc.undo_stack.undoText() == "Freeze 2 blocks"
    assert doc.totals["trainable"] == 0
    assert doc.totals["non_trainable"] == doc.totals["params"] > 0
    marks = face(window, "conv1").marks
    assert marks.frozen == "all"
    assert "Frozen (lr_mult 0)" in face(window, "conv1").tooltip
    assert face(window, "pool1").marks.frozen == ""
    window.scene.select_ids(ids(doc, "conv1"))
    window.actions_by_name["unfreeze"].trigger()
    assert lr(doc, "conv1") is None and lr(doc, "fc") == 0
    assert doc.undo_stack.undoText() == "Unfreeze conv1"
    doc.undo_stack.undo()
    doc.undo_stack.undo()
    assert canonical(doc) == original


def test_unfreeze_leaves_a_fine_tuning_multiplier_alone(qtbot, window):
    doc = window.doc
    commands.execute(doc, transfer_commands.set_lr_mult(doc, ids(doc, "fc"), 0.1))
    assert lr(doc, "fc") == 0.1
    assert "learning rate × 0.1" in face(window, "fc").tooltip.lower()
    assert transfer_commands.unfreeze(doc, ids(doc, "fc")) is None
    assert transfer_commands.freeze(doc, ids(doc, "pool1")) is None  # nothing with weights


def test_freeze_up_to_freezes_what_comes_before_and_thaws_what_follows(qtbot, window):
    doc = Document(features_project())
    window.set_document(doc)
    original = canonical(doc)
    commands.execute(doc, transfer_commands.freeze(doc, ids(doc, "conv1", "conv2", "fc")))
    window.editing.toggle_group(doc.graph.by_name("features").id)  # expand it
    doc.flush()
    window.scene.select_ids(ids(doc, "conv1"))
    window.actions_by_name["freeze_up_to"].trigger()
    doc.flush()
    assert lr(doc, "conv1") == 0
    assert lr(doc, "conv2") == 1.0 and lr(doc, "fc") == 1.0  # trained again
    assert doc.undo_stack.undoText() == "Freeze up to conv1"
    group = doc.graph.by_name("features").id
    assert face(window, "features").marks.frozen == "some"
    assert "Partly frozen: 1 of 2" in face(window, "features").tooltip
    assert window.transfer.freeze_up_to(group)
    assert face(window, "features").marks.frozen == "all"
    assert lr(doc, "fc") == 1.0
    while doc.undo_stack.canUndo():
        doc.undo_stack.undo()
    # Expanding the group was a view change, not an undo step: the model is as it was.
    now = canonical(doc)
    assert {k: v for k, v in now.items() if k != "ui"} == {
        k: v for k, v in original.items() if k != "ui"}
    assert now["ui"]["collapsed"] == []


def test_replace_head_pops_the_classifier_and_adds_one_for_the_classes(qtbot, window):
    doc = window.doc
    original = canonical(doc)
    flatten = doc.position(doc.graph.by_name("flatten").id)
    assert window.transfer.replace_head(4, class_names=["a", "b", "c", "d"])
    doc.flush()
    graph = doc.graph
    assert doc.undo_stack.undoText() == "Replace the head (4 classes)"
    assert not any(n.name in ("fc", "out") for n in graph.nodes.values())
    head = graph.by_name("head_fc")
    assert head.params["units"] == 4 and graph.nodes[head.parent].name == "head"
    output = graph.by_name("output")
    assert output.params == {"classes": 4, "class_names": "a,b,c,d"}
    assert graph.predecessors(head.id) == ids(doc, "flatten")
    assert graph.predecessors(output.id) == [head.id]
    assert doc.analysis.ok and graph.lint() == []
    # Placed below the block they hang from, one layer apart.
    head_pos, out_pos = doc.position(head.id), doc.position(output.id)
    assert head_pos[0] == out_pos[0] == flatten[0] and flatten[1] < head_pos[1] < out_pos[1]
    final = canonical(doc)
    doc.undo_stack.undo()
    assert canonical(doc) == original
    doc.undo_stack.redo()
    assert canonical(doc) == final


def test_a_second_new_head_replaces_the_first(qtbot, window):
    doc = window.doc
    assert window.transfer.replace_head(4)
    assert window.transfer.replace_head(3, dropout=0.5)
    doc.flush()
    names = [doc.graph.nodes[i].name for i in doc.analysis.order]
    assert names[-3:] == ["head_dropout", "head_fc", "output"]
    assert doc.graph.by_name("head_fc").params["units"] == 3
    assert doc.analysis.ok


def test_new_blocks_never_reuse_an_id_the_stored_weights_name(qtbot, window):
    doc = window.doc
    section = stored_section(doc)
    # Blocks deleted earlier still named in the weights section (n7 … n20).
    for k in range(7, 21):
        section["blocks"][f"n{k}"] = {"source": "imported", "shapes": {"weight": [4, 1568]}}
    doc.set_weights(section)
    doc.flush()
    cmd = transfer_commands.replace_head(doc, 4)
    assert commands.execute(doc, cmd)
    new = [n for n in doc.graph.nodes if n not in ("n1", "n2", "n3", "n4")]
    assert new and not set(new) & set(section["blocks"])
    doc.flush()
    assert face(window, "head_fc").marks.weights == "fresh"


def test_a_backbone_kept_whole_refuses_a_new_head_in_words(qtbot, window):
    from engine.layers.backbone import DEFAULTS

    graph = Graph()
    source = graph.add_node("Input", name="input", params={"shape": [3, 224, 224]})
    params = {**DEFAULTS, "cut": "", "out_shape": [1000]}
    block = graph.add_node("Backbone", name="resnet18", params=params)
    out = graph.add_node("Output", name="output", params={"classes": 1000})
    graph.connect(source.id, block.id)
    graph.connect(block.id, out.id)
    doc = Document(with_layout(Project(graph=graph)))
    window.set_document(doc)
    with pytest.raises(GraphEditError, match="inside the Backbone 'resnet18'.*cut it"):
        transfer_commands.replace_head(doc, 10)
    assert not window.transfer.replace_head(10)
    assert "inside the Backbone" in window.statusBar().currentMessage()
    # Cut (its features, 512×7×7): the head goes after it.
    doc.graph.set_param(block.id, "out_shape", [512, 7, 7])
    doc.graph.set_param(block.id, "cut", "layer4")
    assert window.transfer.replace_head(10)
    doc.flush()
    names = [doc.graph.nodes[i].name for i in doc.analysis.order]
    assert names == ["input", "resnet18", "head_pool", "head_fc", "output"]


def test_stored_weights_are_marked_and_an_edit_that_breaks_them_says_so(qtbot, window):
    doc = window.doc
    doc.set_weights(stored_section(doc))
    doc.flush()
    assert face(window, "conv1").marks.weights == "imported"
    assert face(window, "pool1").marks.weights == ""
    said: list[str] = []
    doc.message.connect(said.append)
    conv1 = doc.graph.by_name("conv1").id
    commands.execute(doc, commands.set_param(doc, conv1, "filters", 16))
    doc.flush()
    marks = face(window, "conv1").marks
    assert marks.weights == "stale"
    assert "stored weight 8×1×3×3, needs 16×1×3×3" in marks.detail
    assert "re-initialised" in face(window, "conv1").tooltip
    assert face(window, "fc").marks.weights == "stale"  # its input grew too
    assert said and "2 blocks' stored weights no longer fit (conv1, fc)" in said[-1]
    assert "Undo brings them back" in said[-1]
    doc.undo_stack.undo()
    doc.flush()
    assert face(window, "conv1").marks.weights == "imported"
    assert face(window, "fc").marks.weights == "imported"
    commands.execute(doc, commands.set_param(doc, doc.graph.by_name("fc").id, "units", 12))
    doc.flush()
    assert said[-1].startswith("Dense 'fc': its imported weights no longer fit")


def test_trained_weights_on_a_group_and_the_inspector_box(qtbot, window):
    doc = Document(features_project())
    window.set_document(doc)
    doc.flush()
    doc.set_weights(stored_section(doc, "trained"))
    doc.flush()
    assert face(window, "features").marks.weights == "trained"
    conv1 = doc.graph.by_name("conv1").id
    window.reveal(conv1)
    boxes = window.inspector.transfer_boxes
    assert len(boxes) == 1
    box = boxes[0]
    assert "trained weights, stored in stored.safetensors" in box.weights.text()
    box.frozen.click()
    doc.flush()
    assert lr(doc, "conv1") == 0
    assert box.frozen.isChecked()
    box.frozen.click()
    assert lr(doc, "conv1") is None
    group = doc.graph.by_name("features").id
    window.reveal(group)
    box = window.inspector.transfer_boxes[0]
    box.lr.setValue(0.1)
    box.lr.editingFinished.emit()
    assert lr(doc, "conv1") == 0.1 and lr(doc, "conv2") == 0.1
    assert doc.undo_stack.undoText() == "Set features learning rate × 0.1"
    box.up_to.click()
    doc.flush()
    assert lr(doc, "conv1") == lr(doc, "conv2") == 0 and lr(doc, "fc") is None
    assert box.frozen.checkState() == Qt.CheckState.Checked
    assert box.lr.value() == 0


def test_menus_and_keys(window):
    a = window.actions_by_name
    assert a["import"].shortcut().toString() == "Ctrl+I"
    assert a["export"].shortcut().toString() == "Ctrl+Shift+E"
    file_menu = window.menuBar().actions()[0].menu()
    texts = [x.text() for x in file_menu.actions()]
    assert "&Import…" in texts and "&Export…" in texts
    train_menu = next(m.menu() for m in window.menuBar().actions() if m.text() == "&Train")
    texts = [x.text() for x in train_menu.actions()]
    for text in ("&Freeze", "U&nfreeze", "Freeze &Up to Here", "Replace &Head…"):
        assert text in texts


TRANSFER_OPS = st.tuples(st.sampled_from(["freeze", "unfreeze", "up_to", "lr", "head"]),
                         st.integers(0, 40), st.integers(1, 12))


def apply_transfer(doc: Document, op: tuple) -> None:
    name, a, b = op
    nodes = sorted(doc.graph.nodes)
    if not nodes:
        return
    node_id = nodes[a % len(nodes)]
    try:
        if name == "freeze":
            cmd = transfer_commands.freeze(doc, [node_id])
        elif name == "unfreeze":
            cmd = transfer_commands.unfreeze(doc, [node_id])
        elif name == "up_to":
            cmd = transfer_commands.freeze_up_to(doc, node_id)
        elif name == "lr":
            cmd = transfer_commands.set_lr_mult(doc, [node_id], b / 10)
        else:
            cmd = transfer_commands.replace_head(doc, b, dropout=0.5 if a % 2 else 0.0)
    except GraphEditError:
        return
    if cmd is not None:
        commands.execute(doc, cmd)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(st.one_of(OPS.map(lambda op: ("edit", op)),
                          TRANSFER_OPS.map(lambda op: ("transfer", op))),
                min_size=1, max_size=14))
def test_transfer_edits_undo_exactly_among_other_edits(qapp, ops):
    doc = Document(small_project())
    doc.flush()
    original = canonical(doc)
    for which, op in ops:
        (apply if which == "edit" else apply_transfer)(doc, op)
        assert doc.graph.lint() == [], op
        doc.flush()
        assert doc.totals == doc.analysis.totals()
    final = canonical(doc)
    stack = doc.undo_stack
    count = stack.index()
    while stack.canUndo():
        stack.undo()
        assert doc.graph.lint() == []
    assert canonical(doc) == original
    for _ in range(count):
        stack.redo()
    assert canonical(doc) == final
    doc.close()


def test_the_head_dialog_takes_the_datas_classes_and_shows_what_changes(qtbot, window):
    from designer.dialogs.head_dialog import HeadDialog
    from engine.data_fit import DataFacts

    doc = window.doc
    dialog = HeadDialog(doc, window)
    qtbot.addWidget(dialog)
    assert dialog.classes.value() == 10  # the Output's, before any scan
    assert dialog.plan.text() == "Removes: fc, out\nAdds: head_fc (Dense), output (Output)"
    assert dialog.class_names() is None
    doc.set_data_facts(DataFacts("pets", (1, 28, 28), ("cat", "dog", "bird")))
    dialog = HeadDialog(doc, window)
    qtbot.addWidget(dialog)
    assert dialog.classes.value() == 3 and dialog.class_names() == ["cat", "dog", "bird"]
    dialog.dropout.setValue(0.3)
    assert "head_dropout (Dropout)" in dialog.plan.text()
    dialog.classes.setValue(4)
    assert dialog.class_names() is None  # the names are the data's three
    assert dialog.ok.isEnabled()
