"""What a user reads: the palette's names and helps, the text on blocks, labels after undo,
message boxes, and the status bar and summary following edits."""

from __future__ import annotations

from designer_helpers import face, flush
from PySide6.QtGui import QFont, QFontMetrics


def _break_conv(window) -> None:
    """conv1's kernel no longer fits its input: everything after it has no shape."""
    from designer import commands

    doc = window.doc
    conv = doc.graph.by_name("conv1").id
    commands.execute(doc, commands.set_param(doc, conv, "padding", "valid"))
    commands.execute(doc, commands.set_param(doc, conv, "kernel_size", 29))
    flush(window)


def test_one_line_helps_are_a_first_sentence_or_title():
    from designer.palette import one_line

    assert one_line("Max pooling: keeps the largest value. More.", "MaxPool2D") == "Max pooling"
    assert one_line("Flatten: unrolls the maps into a vector.", "Flatten") == (
        "Unrolls the maps into a vector")
    assert one_line("Rearranges values, e.g. a vector into an image. More.", "Reshape") == (
        "Rearranges values, e.g. a vector into an image")
    assert one_line("Slides filters over the image; each gives a map.", "Conv2D") == (
        "Slides filters over the image")


def test_helps_elide_after_a_whole_word_and_keep_the_full_text_in_the_tooltip(window):
    from designer.palette import KIND_ROLE, elide_words

    metrics = QFontMetrics(QFont())
    text = "One filter per input channel (MobileNet's depthwise step)"
    short = elide_words(text, metrics, metrics.horizontalAdvance(text) - 10)
    assert short.endswith("…") and "(" not in short
    assert text.startswith(short[:-1].rstrip())
    assert elide_words(text, metrics, 10_000) == text
    conv = next(i for i in window.palette.kind_items() if i.data(0, KIND_ROLE) == "Conv2D")
    assert "each filter gives one feature map" in conv.toolTip(0)


def test_the_palette_is_wide_enough_for_every_category_name(window):
    window.restore_layout()
    window.show()
    flush(window)
    tree = window.palette.tree
    for k in range(tree.topLevelItemCount()):
        top = tree.topLevelItem(k)
        needed = QFontMetrics(top.font(0)).horizontalAdvance(top.text(0))
        rect = tree.visualItemRect(top)
        assert rect.right() - tree.iconSize().width() - needed >= 0, top.text(0)
        assert rect.right() <= tree.viewport().width(), top.text(0)


def test_a_block_states_its_problem_without_repeating_its_name(window):
    _break_conv(window)
    shown = face(window, "conv1")
    assert shown.status == "problem" and not shown.problem.startswith("Conv2D 'conv1'")
    assert "29" in shown.problem
    problems = window.problems.texts()
    assert any(t.startswith("Conv2D 'conv1'") for t in problems)  # the list names the block


def test_edge_labels_repaint_when_an_undo_rewires_the_network(window, monkeypatch):
    """Undoing a disconnection re-places every edge: a label whose shape came back must be
    repainted even where its curve did not move (a cached "?" stayed before)."""
    from designer import commands
    from designer.canvas.edges import EdgeItem

    doc = window.doc
    graph = doc.graph
    _break_conv(window)
    edge = next(e for e in graph.edges if graph.nodes[e.src].name == "pool1")
    assert window.scene.edges[edge].label() == "?"
    out = graph.by_name("out").id
    commands.execute(doc, commands.disconnect(doc, graph.inputs_of(out)))
    flush(window)
    repainted = []
    original = EdgeItem.update
    monkeypatch.setattr(EdgeItem, "update",
                        lambda self, *a: (repainted.append(self.edge), original(self, *a)))
    doc.undo_stack.setIndex(0)
    flush(window)
    assert window.scene.edges[edge].label() == "8×14×14"
    assert edge in repainted


def test_status_bar_and_summary_follow_edits(window):
    from designer import commands

    doc = window.doc
    fc = doc.graph.by_name("fc").id
    before = window.status_totals.text()
    assert "✓ valid" in before and f"{doc.totals['params']:,}" in before
    commands.execute(doc, commands.set_param(doc, doc.graph.by_name("conv1").id, "filters", 16))
    flush(window)
    params = doc.totals["params"]
    assert f"{params:,}" in window.status_totals.text() and params != int(
        before.split("<b>")[1].split("<")[0].replace(",", ""))
    assert f"Total params: {params:,}" in window.summary.footer.text()
    row = next(r for r in window.summary.model.rows if r.node_id == fc)
    assert row.params == 16 * 14 * 14 * 10 + 10
    _break_conv(window)
    assert "problem" in window.status_totals.text()
    assert "problem" in window.inspector.info.text() and "(s)" not in window.inspector.info.text()


def test_an_unreadable_file_is_explained_with_its_name_first(window, tmp_path):
    bad = tmp_path / "broken.netdraft"
    box = window.files._error_box("Cannot open the project", f"{bad}: nodes[0].id: expected text")
    assert "broken.netdraft" in box.text() and str(tmp_path) not in box.text()
    assert "nodes[0].id" in box.informativeText() and str(tmp_path) in box.informativeText()
    box.deleteLater()


def test_expanding_nested_groups_leaves_no_gap_after_them(window):
    """The room made for an expanded group is what shows in it: members hidden in collapsed
    subgroups do not count (ResNet-50's layer1 left a 1,476-pixel gap)."""
    from designer.canvas.items import LAYOUT_GAP

    window.files.open_template("resnet50")
    graph = window.doc.graph
    layer1, layer2 = graph.by_name("layer1").id, graph.by_name("layer2").id
    for name in ("layer1", "layer1_0", "layer1_0"):  # expand, expand inside, collapse
        window.editing.toggle_group(graph.by_name(name).id)
        frame = window.scene.frames[layer1].rect
        assert window.scene.blocks[layer2].y() - frame.bottom() == LAYOUT_GAP[1], name


def test_a_long_network_opens_on_its_first_blocks(window):
    """show_start centres on where the network starts, not on the middle of its extent."""
    from designer.document import Document
    from designer.files import with_layout
    from engine.graph import Graph
    from engine.project import Project

    g = Graph()
    prev = g.add_node("Input", "input", {"shape": [4, 8, 8]}).id
    for k in range(40):  # residual stages: the layout drifts sideways as it goes down
        conv = g.add_node("Conv2D", f"conv{k}", {"filters": 4, "padding": "same"}).id
        add = g.add_node("Add", f"add{k}").id
        g.connect(prev, conv)
        g.connect(conv, add)
        g.connect(prev, add)
        prev = add
    window.set_document(Document(with_layout(Project(graph=g, name="long"))))
    window.view.show_start()
    first = window.scene.blocks[g.by_name("input").id].sceneBoundingRect()
    shown = window.view.mapToScene(window.view.viewport().rect()).boundingRect()
    assert shown.contains(first)


def test_the_inspector_never_scrolls_sideways(window):
    """A horizontal bar that came and went made every edit lay the inspector out again and
    again (it doubled the time of an edit on a 1,000-block network)."""
    from designer.inspector import MIN_WIDTH

    window.scene.select_ids([window.doc.graph.by_name("conv1").id])
    flush(window)
    inspector = window.inspector
    assert not inspector.horizontalScrollBar().isVisible()
    assert inspector.width() >= MIN_WIDTH
    assert inspector.info_head.text().startswith("8 @ 3×3")
    assert "output: 8×28×28" in inspector.info.text()
