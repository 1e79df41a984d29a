"""Reading a network: names that tell blocks apart inside groups, text readable at 100 %, a
canvas that gets the room, an overview map only when it helps, refusals said at the
cursor, and expanding a group as a view change."""

from __future__ import annotations

from designer_helpers import flush
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QToolTip


def _expand(window, name: str) -> str:
    group_id = window.doc.graph.by_name(name).id
    window.editing.toggle_group(group_id)
    flush(window)
    return group_id


def test_names_inside_a_group_drop_its_prefix_and_keep_the_end_that_differs(window):
    from designer.canvas.faces import block_face

    assert window.files.open_template("googlenet")
    group_id = _expand(window, "inception3a")
    graph, scene = window.doc.graph, window.scene
    members = [n for n in graph.children(group_id) if not n.is_group]
    titles = {n.id: scene.blocks[n.id].title_text() for n in members}
    assert len(set(titles.values())) == len(titles), "blocks side by side read alike"
    for node in members:
        face = block_face(window.doc, node.id)
        assert not face.title.startswith("inception3a")
        assert node.name.endswith(face.title)
        assert node.name in face.tooltip  # the full name on hover
        assert not titles[node.id].startswith("incepti")
    # A name too long for the block keeps both ends, not only its start.
    from designer.canvas.items import elide_name

    shown = elide_name("layer1_0_downsample_0_and_some_more_words", "title", 120)
    assert shown.endswith("words") and "…" in shown


def test_expanded_resnet_blocks_do_not_all_read_the_same(window):
    assert window.files.open_template("resnet50")
    _expand(window, "layer1")
    block = _expand(window, "layer1_0")
    scene = window.scene
    titles = [scene.blocks[n.id].title_text() for n in window.doc.graph.children(block)]
    assert len(set(titles)) == len(titles)
    assert not any(t.startswith("layer1_0") for t in titles)
    # A group whose own remainder is only a number keeps its whole name.
    from designer.canvas.faces import block_face

    assert block_face(window.doc, block).title == "layer1_0"


def test_block_text_is_at_least_the_applications_font_size(window):
    from designer.canvas.items import font

    normal = QApplication.font().pointSizeF()
    assert font("title").pointSizeF() >= normal
    assert font("shape").pointSizeF() >= normal


def test_the_canvas_is_the_largest_area_of_a_fresh_window(qtbot, monkeypatch):
    from designer.app import build_window, make_app

    make_app([])
    window = build_window(None)
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    qtbot.waitExposed(window)
    canvas = window.centralWidget()
    area = canvas.width() * canvas.height()
    for name, dock in window.docks.items():
        if dock.isVisible():
            assert dock.width() * dock.height() < area, name
    assert area > 0.35 * 1400 * 900


def test_the_overview_map_hides_while_the_whole_network_is_in_view(window, qtbot):
    assert window.files.open_template("vgg16")
    for group in [n.id for n in window.doc.graph.nodes.values() if n.is_group]:
        window.editing.toggle_group(group)
    flush(window)
    view, minimap = window.view, window.view.minimap
    view.zoom_by(1.0 / view.zoom())
    minimap.rebuild()
    assert minimap.wanted and minimap.isVisible()
    view.fit()
    assert view.mapToScene(view.viewport().rect()).boundingRect().contains(view.content_rect())
    assert not minimap.isVisible()
    view.zoom_in()
    view.zoom_in()
    assert minimap.isVisible()


def test_a_refused_connection_says_why_beside_the_port(window, qtbot):
    graph = window.doc.graph
    pool = window.scene.blocks[graph.by_name("pool1").id]
    out = window.scene.blocks[graph.by_name("out").id]
    viewport = window.view.viewport()
    a = window.view.mapFromScene(pool.scene_port("out"))
    b = window.view.mapFromScene(out.sceneBoundingRect().center())
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    QTest.mouseMove(viewport, (a + b) / 2)
    QTest.mouseMove(viewport, b)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)
    where, text = window.scene.last_refusal
    assert "already fed by 'fc'" in text
    assert (where - out.scene_port("in")).manhattanLength() < 1
    assert QToolTip.isVisible() and "already fed by 'fc'" in QToolTip.text()
    QToolTip.hideText()


def test_expanding_a_group_is_a_view_change_saved_with_the_project(window, tmp_path):
    from engine import project as projects

    assert window.files.open_template("resnet18")
    doc = window.doc
    path = tmp_path / "r.netdraft"
    assert window.files._write(path)
    steps_before = doc.undo_stack.count()
    group = _expand(window, "layer1")
    assert not doc.is_collapsed(group)
    assert doc.undo_stack.count() == steps_before and not doc.modified
    assert not window.isWindowModified()
    assert window.files.save()
    assert group not in projects.load(path).ui["collapsed"]
    _expand(window, "layer1")  # collapse again
    assert doc.is_collapsed(group) and not doc.modified
    assert window.scene.blocks[group].isVisible()

