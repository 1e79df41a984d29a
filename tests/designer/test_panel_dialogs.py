"""The dialogs and settings around the canvas, as a user meets them: the template gallery,
the summary table, the palette, the window's geometry and the colour scheme that follows
the system's. (The overview map and the share bars: test_panels.py.)"""

from __future__ import annotations

import pytest
from designer_helpers import flush
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtTest import QTest


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
    from designer.canvas.items import BLOCK_H, BLOCK_W
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
    # One layer below fc; 'out' already stands there, so the new branch goes beside it.
    assert window.doc.position(new)[1] == y + BLOCK_H + ROW_GAP
    out = window.doc.position(graph.by_name("out").id)
    assert abs(window.doc.position(new)[0] - out[0]) >= BLOCK_W
    assert window.doc.position(fc) == (x, y)
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
