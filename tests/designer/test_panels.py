"""The panels on the canvas, as a user meets them: the overview map and the share bars. (The
gallery, summary, palette, geometry and colour scheme: test_panel_dialogs.py.)"""

from __future__ import annotations

import pytest
from designer_helpers import flush
from PySide6.QtCore import QEvent, QObject, QRect, Qt
from PySide6.QtGui import QColor
from PySide6.QtTest import QTest


# ------------------------------------------------------------------ helpers
def _chain(n: int, name: str = "chain"):
    """A project of ``n`` blocks in one column: Input, Dense × (n - 2), Output."""
    from designer.files import with_layout
    from engine.graph import Graph
    from engine.project import Project

    g = Graph()
    prev = g.add_node("Input", "input", {"shape": [8]}).id
    for k in range(n - 2):
        node = g.add_node("Dense", f"fc{k}", {"units": 8}).id
        g.connect(prev, node)
        prev = node
    g.connect(prev, g.add_node("Output", "out", {"classes": 8}).id)
    return with_layout(Project(graph=g, name=name))


def _wide(branches: int = 6, depth: int = 5):
    """Input, ``branches`` side-by-side Dense chains of ``depth``, Concat, Output: a network
    about as wide as it is tall, so the overview map is large enough to measure."""
    from designer.files import with_layout
    from engine.graph import Graph
    from engine.project import Project

    g = Graph()
    first = g.add_node("Input", "input", {"shape": [8]}).id
    concat = g.add_node("Concat", "concat").id
    for b in range(branches):
        prev = first
        for k in range(depth):
            node = g.add_node("Dense", f"b{b}_{k}", {"units": 8}).id
            g.connect(prev, node)
            prev = node
        g.connect(prev, concat)
    g.connect(concat, g.add_node("Output", "out", {"classes": 10}).id)
    return with_layout(Project(graph=g, name="wide"))


def _open(window, project) -> None:
    from designer.document import Document

    window.set_document(Document(project))
    window.view.fit()


def _settle_minimap(window, qtbot) -> None:
    """Let the overview's pending rebuild (a 60 ms timer after any change) happen."""
    timer = window.view.minimap._timer
    qtbot.waitUntil(lambda: not timer.isActive(), timeout=3000)


def _visible_blocks(window) -> int:
    scene = window.scene
    return sum(i.isVisible() for t in (scene.blocks, scene.frames) for i in t.values())


def _painted_view_rect(minimap) -> QRect:
    """Where the overview paints the view's rectangle: the pixels in the accent colour (its
    outline; the blocks, border and the rectangle's translucent fill are other colours)."""
    from designer import theme

    accent = QColor(theme.colors().accent).rgb()
    image = minimap.grab().toImage()
    assert image.devicePixelRatio() == 1.0
    xs, ys = [], []
    for y in range(image.height()):
        for x in range(image.width()):
            if image.pixel(x, y) == accent:
                xs.append(x)
                ys.append(y)
    assert xs, "the overview shows no view rectangle"
    return QRect(min(xs), min(ys), max(xs) - min(xs) + 1, max(ys) - min(ys) + 1)


class _PaintCounter(QObject):
    def __init__(self, widget) -> None:
        super().__init__(widget)
        self.count = 0
        widget.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.Paint:
            self.count += 1
        return False


def _repaints(qtbot, minimap, change) -> QRect:
    """Make a change to the view; the overview must repaint by itself. Returns where it now
    paints the view's rectangle."""
    counter = _PaintCounter(minimap)
    qtbot.wait(10)
    counter.count = 0
    change()
    qtbot.waitUntil(lambda: counter.count > 0, timeout=2000)
    counter.deleteLater()
    return _painted_view_rect(minimap)


# ------------------------------------------------------------ overview map
def test_the_overview_map_shows_only_for_a_large_network_and_follows_edits(window, qtbot):
    from designer.canvas.minimap import SHOW_ABOVE

    minimap = window.view.minimap
    _settle_minimap(window, qtbot)
    assert _visible_blocks(window) == 6 and not minimap.isVisible()

    _open(window, _chain(SHOW_ABOVE - 1))
    _settle_minimap(window, qtbot)
    assert _visible_blocks(window) == SHOW_ABOVE - 1 and not minimap.isVisible()

    # Two more blocks from the palette: now the network is large, the overview appears in
    # the view's bottom-right corner.
    window.scene.select_ids([window.doc.graph.by_name("out").id])
    window.editing.add_kind("Dropout")
    window.editing.add_kind("Dropout")
    _settle_minimap(window, qtbot)
    assert _visible_blocks(window) == SHOW_ABOVE + 1
    assert minimap.isVisible()
    corner = window.view.viewport().geometry()
    assert corner.contains(minimap.geometry())
    assert corner.right() - minimap.geometry().right() < 40
    assert corner.bottom() - minimap.geometry().bottom() < 40

    # Turned off from the View menu it stays hidden; on again it comes back.
    window.actions_by_name["minimap"].trigger()
    assert not minimap.isVisible()
    window.actions_by_name["minimap"].trigger()
    assert minimap.isVisible()

    # Undoing the additions makes the network small again.
    window.actions_by_name["undo"].trigger()
    window.actions_by_name["undo"].trigger()
    flush(window)
    _settle_minimap(window, qtbot)
    assert _visible_blocks(window) == SHOW_ABOVE - 1 and not minimap.isVisible()


def test_expanding_a_templates_groups_brings_the_overview_map(window, qtbot):
    """Blocks inside a collapsed group do not count: VGG-16 opens with its stages collapsed
    (small enough), and expanding them shows every convolution."""
    from designer.canvas.minimap import SHOW_ABOVE

    assert window.files.open_template("vgg16")
    minimap = window.view.minimap
    _settle_minimap(window, qtbot)
    assert _visible_blocks(window) < SHOW_ABOVE and not minimap.isVisible()
    groups = [n.id for n in window.doc.graph.nodes.values() if n.is_group]
    assert groups
    for group_id in groups:
        window.editing.toggle_group(group_id)
    flush(window)
    _settle_minimap(window, qtbot)
    assert _visible_blocks(window) > SHOW_ABOVE and minimap.isVisible()
    for group_id in groups:
        window.editing.toggle_group(group_id)
    flush(window)
    _settle_minimap(window, qtbot)
    assert _visible_blocks(window) < SHOW_ABOVE and not minimap.isVisible()


def test_the_overview_rectangle_follows_zoom_and_scroll(window, qtbot):
    from designer.canvas.view import ZOOM_STEP

    view = window.view
    minimap = view.minimap
    _open(window, _wide())
    _settle_minimap(window, qtbot)
    # Zoomed to fit, the whole network is in view: the map would only repeat it.
    assert minimap.wanted and not minimap.isVisible()

    # Zoomed in, it shows, its rectangle smaller than the map around the same centre.
    zoomed = _repaints(qtbot, minimap, lambda: view.zoom_by(2.5))
    assert minimap.isVisible()
    assert minimap.width() >= 120 and minimap.height() >= 80  # room to measure in
    assert zoomed.width() < minimap.width() and zoomed.height() < minimap.height()
    viewport = view.viewport().rect()
    # The rectangle has the viewport's proportions: the map keeps the aspect ratio.
    assert zoomed.width() / zoomed.height() == pytest.approx(
        viewport.width() / viewport.height(), rel=0.12)
    inside = QRect(0, 0, minimap.width(), minimap.height()).adjusted(2, 2, -2, -2)
    assert inside.contains(zoomed), "zoom further in for an unclipped rectangle"

    before = zoomed
    smaller = _repaints(qtbot, minimap, view.zoom_in)
    assert smaller.width() == pytest.approx(before.width() / ZOOM_STEP, abs=2)
    assert smaller.center().x() == pytest.approx(before.center().x(), abs=2)
    assert smaller.center().y() == pytest.approx(before.center().y(), abs=2)

    # Scrolling down by a third of the viewport moves it down by a third of its height;
    # scrolling right moves it right.
    bar = view.verticalScrollBar()
    step = viewport.height() // 3
    assert bar.value() + step <= bar.maximum()
    lower = _repaints(qtbot, minimap, lambda: bar.setValue(bar.value() + step))
    assert lower.top() - smaller.top() == pytest.approx(smaller.height() / 3, abs=2)
    assert lower.left() == pytest.approx(smaller.left(), abs=1)
    hbar = view.horizontalScrollBar()
    hstep = viewport.width() // 3
    assert hbar.value() + hstep <= hbar.maximum()
    right = _repaints(qtbot, minimap, lambda: hbar.setValue(hbar.value() + hstep))
    assert right.left() - lower.left() == pytest.approx(lower.width() / 3, abs=2)
    assert right.top() == pytest.approx(lower.top(), abs=1)


def test_clicking_the_overview_map_moves_the_view_there(window, qtbot):
    view = window.view
    minimap = view.minimap
    _open(window, _wide())
    view.zoom_by(2.5)
    _settle_minimap(window, qtbot)
    target = window.scene.blocks[window.doc.graph.by_name("b5_4").id]
    first = window.scene.blocks[window.doc.graph.by_name("b0_0").id]
    view.centerOn(first)
    shown = view.mapToScene(view.viewport().rect()).boundingRect()
    assert not shown.intersects(target.sceneBoundingRect())
    # Click where the target block is drawn on the map.
    point = minimap._to_map(target.sceneBoundingRect()).center().toPoint()
    QTest.mouseClick(minimap, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
    shown = view.mapToScene(view.viewport().rect()).boundingRect()
    assert shown.contains(target.sceneBoundingRect().center())


# -------------------------------------------------------------- share bars
def _bar_track() -> float:
    from designer.canvas.items import BLOCK_W, PAD

    return BLOCK_W - 2 * PAD


def _expected_bars(window, measure: str) -> dict[str, int]:
    """Each block's bar in pixels from the engine's own analysis of the network."""
    from engine.validate import analyze

    analysis = analyze(window.doc.graph)
    total = analysis.totals()[measure]
    assert total > 0
    return {node_id: round(getattr(r, measure) / total * _bar_track())
            for node_id, r in analysis.results.items()}


def _bars(window) -> dict[str, int]:
    return {node_id: item.bar_px for node_id, item in window.scene.blocks.items()}


def test_share_bars_show_each_blocks_share_of_params_then_of_macs(window):
    from designer import commands

    graph = window.doc.graph
    conv, fc = graph.by_name("conv1").id, graph.by_name("fc").id
    assert window.actions_by_name["bar_params"].isChecked()
    params = _expected_bars(window, "params")
    assert _bars(window) == params
    assert params[fc] > 0.9 * _bar_track() and params[conv] <= 2  # fc holds nearly all

    window.actions_by_name["bar_macs"].trigger()
    assert window.actions_by_name["bar_macs"].isChecked()
    assert not window.actions_by_name["bar_params"].isChecked()
    macs = _expected_bars(window, "macs")
    assert macs != params
    assert _bars(window) == macs
    assert macs[conv] > macs[fc]  # the convolution does most of the work

    # An edit keeps the bars on the chosen measure: fc now does most of the work.
    commands.execute(window.doc, commands.set_param(window.doc, fc, "units", 100))
    flush(window)
    after = _expected_bars(window, "macs")
    assert after[fc] > after[conv]
    assert _bars(window) == after

    window.actions_by_name["bar_params"].trigger()
    assert _bars(window) == _expected_bars(window, "params")


def test_the_share_bar_is_painted_as_wide_as_its_share(window):
    """What the block draws: a bar of the accent blue over the grey track."""
    from designer import theme
    from designer.canvas.items import BLOCK_H, PAD

    graph = window.doc.graph
    fc = graph.by_name("fc").id
    window.actions_by_name["bar_macs"].trigger()
    item = window.scene.blocks[fc]
    bar = QColor(theme.colors().bar).rgb()

    def painted() -> int:
        from PySide6.QtGui import QImage, QPainter
        from PySide6.QtWidgets import QStyleOptionGraphicsItem

        rect = item.boundingRect().toAlignedRect()
        image = QImage(rect.size(), QImage.Format.Format_ARGB32)
        image.fill(0)
        painter = QPainter(image)
        painter.translate(-rect.x(), -rect.y())
        item.paint(painter, QStyleOptionGraphicsItem(), None)
        painter.end()
        y = round(BLOCK_H - PAD + 1) - rect.y()
        return sum(image.pixel(x, y) == bar for x in range(image.width()))

    assert painted() == pytest.approx(item.bar_px, abs=1) and item.bar_px > 10
    window.actions_by_name["bar_params"].trigger()
    assert painted() == pytest.approx(item.bar_px, abs=1)
    assert item.bar_px == _expected_bars(window, "params")[fc]
