"""The panels and dialogs around the canvas, as a user meets them: the overview map, the share
bars, the template gallery, the summary table, the palette, the window's geometry and the
colour scheme that follows the system's."""

from __future__ import annotations

import pytest
from designer_helpers import flush
from PySide6.QtCore import QEvent, QObject, QRect, Qt
from PySide6.QtGui import QColor, QPalette
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
    assert minimap.isVisible()
    assert minimap.width() >= 120 and minimap.height() >= 80  # room to measure in

    # Zoomed to fit, the rectangle spans the whole network.
    whole = _painted_view_rect(minimap)
    assert whole.width() > 0.8 * minimap.width() or whole.height() > 0.8 * minimap.height()

    # Zoomed in, it shrinks by the zoom's factor around the same centre.
    zoomed = _repaints(qtbot, minimap, lambda: view.zoom_by(2.5))
    assert zoomed.width() < whole.width() and zoomed.height() < whole.height()
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


# ----------------------------------------------------------------- gallery
def _gallery_items(dialog) -> dict[str, object]:
    from designer.dialogs.gallery import NAME_ROLE

    items = {}
    for row in range(dialog.list.count()):
        item = dialog.list.item(row)
        items[item.data(NAME_ROLE)] = item
    return items


def test_the_gallery_lists_every_template_with_its_size_and_description(window):
    from designer.dialogs.gallery import ABOUT_ROLE, Gallery
    from engine import templates
    from engine.summary import human_count
    from engine.validate import analyze

    dialog = Gallery(window)
    try:
        items = _gallery_items(dialog)
        assert set(items) == {"", *templates.names()}  # "" is the empty network
        for name in templates.names():
            project = templates.open_template(name)
            params = analyze(project.graph).totals()["params"]
            item = items[name]
            assert item.text() == f"{name}\n{human_count(params)} parameters"
            assert f"{params:,} parameters" in item.data(ABOUT_ROLE)
            assert project.description and project.description in item.data(ABOUT_ROLE)
            assert item.toolTip() == project.description
            assert not item.icon().isNull()
            assert item.flags() & Qt.ItemFlag.ItemIsSelectable
        # The text below the list describes the current template.
        dialog.list.setCurrentItem(items["resnet18"])
        assert "ResNet-18" in dialog.about.text()
        assert f"{analyze(templates.open_template('resnet18').graph).totals()['params']:,}" in (
            dialog.about.text())
    finally:
        dialog.deleteLater()


def test_choosing_a_template_in_the_gallery_opens_it(window, qtbot, monkeypatch):
    from PySide6.QtWidgets import QDialog

    from designer.dialogs.gallery import Gallery
    from engine import templates

    seen = {}

    def exec_(dialog) -> int:
        """What a person does: look at the list, click AlexNet, then double-click it."""
        dialog.show()
        qtbot.waitExposed(dialog)
        item = _gallery_items(dialog)["alexnet"]
        dialog.list.scrollToItem(item)
        point = dialog.list.visualItemRect(item).center()
        QTest.mouseClick(dialog.list.viewport(), Qt.MouseButton.LeftButton,
                         Qt.KeyboardModifier.NoModifier, point)
        seen["current"] = dialog.list.currentItem() is item
        seen["about"] = dialog.about.text()
        _double_click(dialog.list.viewport(), point)
        seen["visible_after"] = dialog.isVisible()
        return dialog.result()

    monkeypatch.setattr(Gallery, "exec", exec_)
    window.files.new_from_gallery()
    assert seen["current"] and "AlexNet" in seen["about"]
    assert not seen["visible_after"]  # the double-click accepted the dialog
    expected = templates.open_template("alexnet")
    graph = window.doc.graph
    assert window.doc.project.name == expected.name
    assert {n.name for n in graph.nodes.values()} == {
        n.name for n in expected.graph.nodes.values()}
    assert window.doc.totals["params"] == 62378344
    assert set(window.scene.blocks) == set(graph.nodes)
    assert "alexnet" in window.windowTitle().lower()

    # Cancelling changes nothing.
    monkeypatch.setattr(Gallery, "exec", lambda dialog: QDialog.DialogCode.Rejected)
    doc = window.doc
    window.files.new_from_gallery()
    assert window.doc is doc


def test_the_gallerys_empty_network_opens_an_empty_document(window, monkeypatch):
    from designer.dialogs.gallery import Gallery

    def exec_(dialog) -> int:
        dialog.list.setCurrentItem(_gallery_items(dialog)[""])
        dialog.accept()
        return dialog.result()

    monkeypatch.setattr(Gallery, "exec", exec_)
    window.files.new_from_gallery()
    assert window.doc.graph.nodes == {} and window.scene.blocks == {}


# --------------------------------------------------------------- summary
def test_clicking_a_summary_row_selects_that_block(window, qtbot):
    from designer.panels.summary import SummaryPanel

    graph = window.doc.graph
    table = window.summary.table
    assert isinstance(window.summary, SummaryPanel)
    rows = window.summary.model.rows
    for name in ("pool1", "fc"):
        node_id = graph.by_name(name).id
        row = next(i for i, r in enumerate(rows) if r.node_id == node_id)
        index = window.summary.model.index(row, 0)
        table.scrollTo(index)
        QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton,
                         Qt.KeyboardModifier.NoModifier, table.visualRect(index).center())
        assert window.scene.selected_ids() == [node_id], name
        assert window.scene.blocks[node_id].isSelected()
        assert window.inspector.ids == [node_id]
        assert table.selectionModel().isRowSelected(row)
    # And the other way: selecting a block on the canvas selects its row.
    conv = graph.by_name("conv1").id
    window.scene.select_ids([conv])
    row = next(i for i, r in enumerate(rows) if r.node_id == conv)
    assert table.selectionModel().isRowSelected(row)


def test_clicking_a_row_of_a_block_inside_a_collapsed_group_selects_the_group(window):
    window.files.open_template("resnet18")
    graph = window.doc.graph
    conv = next(n for n in graph.nodes.values()  # a block that a collapsed group hides
                if window.scene.owner.get(n.id, n.id) != n.id and not n.is_group)
    owner = window.scene.owner[conv.id]
    assert owner != conv.id and not window.scene.blocks[conv.id].isVisible()
    table = window.summary.table
    row = next(i for i, r in enumerate(window.summary.model.rows) if r.node_id == conv.id)
    index = window.summary.model.index(row, 0)
    table.scrollTo(index)
    QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, table.visualRect(index).center())
    assert window.scene.selected_ids() == [owner]
    assert window.inspector.ids == [conv.id]  # the inspector shows the block itself


# --------------------------------------------------------------- palette
def _double_click_palette(window, kind: str) -> None:
    tree = window.palette.tree
    item = next(i for i in window.palette.kind_items()
                if i.data(0, Qt.ItemDataRole.UserRole) == kind)
    tree.scrollToItem(item)
    _double_click(tree.viewport(), tree.visualItemRect(item).center())
    flush(window)


def _double_click(widget, point) -> None:
    """A person's double-click: press, release, then the second press (QTest's mouseDClick
    alone sends only the last, which item views ignore without the press before)."""
    QTest.mouseClick(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
    QTest.mouseDClick(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)


def test_double_clicking_a_palette_entry_adds_it_after_the_selected_block(window):
    from designer.canvas.items import BLOCK_H
    from designer.editing import ROW_GAP

    graph = window.doc.graph
    fc = graph.by_name("fc").id
    window.scene.select_ids([fc])
    before = set(graph.nodes)
    _double_click_palette(window, "Dropout")
    (new,) = set(graph.nodes) - before
    assert graph.nodes[new].kind == "Dropout"
    assert graph.predecessors(new) == [fc]
    x, y = window.doc.position(fc)
    assert window.doc.position(new) == (x, y + BLOCK_H + ROW_GAP)
    assert window.scene.blocks[new].isVisible()
    assert window.scene.selected_ids() == [new]
    assert "Dropout" in window.actions_by_name["undo"].text()


def test_double_clicking_a_palette_entry_with_nothing_selected_adds_it_in_view(window):
    from designer.canvas.items import BLOCK_H, BLOCK_W

    graph = window.doc.graph
    window.scene.clearSelection()
    before = set(graph.nodes)
    # Where the view's middle is when asked (growing the scene may shift the view after).
    centre = window.view.mapToScene(window.view.viewport().rect().center())
    _double_click_palette(window, "Conv2D")
    (new,) = set(graph.nodes) - before
    assert graph.nodes[new].kind == "Conv2D" and graph.predecessors(new) == []
    x, y = window.doc.position(new)
    assert abs(x + BLOCK_W / 2 - centre.x()) <= 1 and abs(y + BLOCK_H / 2 - centre.y()) <= 1
    shown = window.view.mapToScene(window.view.viewport().rect()).boundingRect()
    assert shown.contains(window.scene.blocks[new].sceneBoundingRect())
    assert window.scene.selected_ids() == [new]
    # A category heading adds nothing.
    heading = window.palette.tree.topLevelItem(0)
    tree = window.palette.tree
    _double_click(tree.viewport(), tree.visualItemRect(heading).center())
    flush(window)
    assert len(graph.nodes) == len(before) + 1


# ---------------------------------------------------------- window layout
def test_window_size_and_position_persist(window, qtbot):
    from designer.main_window import MainWindow

    window.showNormal()
    window.resize(760, 520)
    window.move(23, 31)
    qtbot.waitUntil(lambda: window.size().width() == 760 and window.pos().x() == 23)
    placed = window.geometry()  # the client area: the frame around it is the platform's
    assert window.close()
    again = MainWindow()
    qtbot.addWidget(again)
    assert again.size().width() != 760  # a new window's own default
    again.restore_layout()
    assert (again.size().width(), again.size().height()) == (760, 520)
    again.show()
    qtbot.waitExposed(again)
    assert again.geometry() == placed


# ----------------------------------------------------------- colour scheme
class _Hints:
    """Stands in for QStyleHints where the theme asks which scheme the system uses (the
    offscreen platform has none and ignores setColorScheme)."""

    scheme = Qt.ColorScheme.Light

    def colorScheme(self):  # noqa: N802
        return self.scheme


@pytest.fixture
def system_scheme(monkeypatch):
    """Set the system's colour scheme and announce it as the platform would."""
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from designer import theme

    hints = _Hints()

    class _App:
        @staticmethod
        def styleHints():  # noqa: N802
            return hints

    monkeypatch.setattr(theme, "QGuiApplication", _App)

    def change(scheme) -> None:
        hints.scheme = scheme
        QGuiApplication.styleHints().colorSchemeChanged.emit(scheme)

    yield change
    # Leave the application as the other tests expect it: light.
    theme.apply(QApplication.instance(), "light")


def _window_colour() -> str:
    from PySide6.QtWidgets import QApplication

    return QApplication.instance().palette().color(QPalette.ColorRole.Window).name()


def test_the_system_theme_follows_the_platforms_colour_scheme(window, system_scheme):
    from designer import settings_store, theme

    window.actions_by_name["theme_system"].trigger()
    assert window.theme_choice == "system" and settings_store.theme_choice() == "system"
    light = _window_colour()
    assert theme.colors() is theme.LIGHT

    system_scheme(Qt.ColorScheme.Dark)
    assert theme.colors() is theme.DARK
    dark = _window_colour()
    assert dark != light and QColor(dark).lightness() < 80
    assert window.view.minimap._timer.isActive()  # the overview redraws in the new colours

    system_scheme(Qt.ColorScheme.Light)
    assert theme.colors() is theme.LIGHT and _window_colour() == light
    assert settings_store.theme_choice() == "system"  # following is not choosing

    # A theme chosen by hand stays whatever the system does.
    window.actions_by_name["theme_light"].trigger()
    system_scheme(Qt.ColorScheme.Dark)
    assert theme.colors() is theme.LIGHT and _window_colour() == light
    assert settings_store.theme_choice() == "light"


def test_a_deleted_window_stops_following_the_colour_scheme(window, qtbot, system_scheme):
    """The style hints outlive every window: a scheme change after a window was deleted
    raised RuntimeError from the deleted window's handler (it was a lambda)."""
    from designer import theme
    from designer.main_window import MainWindow

    other = MainWindow()
    with qtbot.waitSignal(other.destroyed, timeout=3000):
        other.deleteLater()
    del other
    assert window.theme_choice == "system"
    system_scheme(Qt.ColorScheme.Dark)  # pytest-qt fails the test on an exception in a slot
    assert theme.colors() is theme.DARK
    system_scheme(Qt.ColorScheme.Light)
    assert theme.colors() is theme.LIGHT
