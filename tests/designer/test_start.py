"""State and files as a new user meets them: a welcome page on the first start, the last
project reopened after that, Save As in a sensible folder, the project's name following its
file, name and description edited in the inspector, and a gallery that tells templates
apart and remembers the last choice."""

from __future__ import annotations

from pathlib import Path

from designer_helpers import flush
from PySide6.QtCore import QStandardPaths
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog, QLabel

from designer import settings_store


def _build(qtbot, path=None):
    from designer.app import build_window, make_app

    make_app([])
    window = build_window(path)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def test_a_first_start_shows_the_welcome_page(qtbot):
    window = _build(qtbot)
    welcome = window.welcome
    assert welcome is not None and window.central.currentWidget() is welcome
    assert set(welcome.template_buttons) >= {"keras-mnist", "lenet-5", "googlenet", "resnet50"}
    assert {"new", "gallery", "open", "import"} <= set(welcome.buttons)
    text = " ".join(w.text() for w in welcome.findChildren(QLabel))
    assert "Ctrl+K" in text and "Keyboard shortcuts" in text
    assert "No recent projects yet" in text
    # A template's button opens it; the canvas takes the page's place.
    welcome.template_buttons["lenet-5"].click()
    assert window.central.currentWidget() is window.view
    assert window.doc.graph.by_name("C1") is not None


def test_the_window_reopens_the_last_project(qtbot, tmp_path):
    first = _build(qtbot)
    first.files.open_template("keras-mnist")
    path = tmp_path / "mine.netdraft"
    assert first.files._write(path)
    first.close()
    assert settings_store.last_project() == str(path.resolve())
    again = _build(qtbot)
    assert again.doc.path == path.resolve() or again.doc.path == path
    assert again.central.currentWidget() is again.view
    # Its welcome page lists the file among the recent ones.
    again.show_welcome()
    assert [b.text() for b in again.welcome.recent_buttons] == ["mine.netdraft"]
    again.welcome.recent_buttons[0].click()
    assert again.central.currentWidget() is again.view


def test_a_vanished_last_project_falls_back_to_the_welcome_page(qtbot, tmp_path):
    settings_store.set_last_project(str(tmp_path / "gone.netdraft"))
    window = _build(qtbot)
    assert window.central.currentWidget() is window.welcome


def test_help_lists_the_keyboard_shortcuts(window):
    window.actions_by_name["shortcuts"].trigger()
    dialog = window.shortcuts_dialog
    assert dialog.isVisible()
    text = dialog.findChild(QLabel, "shortcuts").text()
    for words in ("Add Block", "Ctrl+K", "Undo", "Group", "Ctrl+G", "Fit to Window"):
        assert words in text
    dialog.close()


def test_save_as_starts_in_the_documents_folder_then_the_last_used_one(window, monkeypatch,
                                                                       tmp_path):
    starts: list[str] = []
    target = tmp_path / "work" / "mnist.netdraft"
    target.parent.mkdir()

    def fake(parent, caption, start, filt):
        starts.append(start)
        return str(target), filt

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(fake))
    window.files.new_empty()
    assert window.files.save_as()
    documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    assert Path(starts[0]).parent == Path(documents or Path.home())
    assert Path(starts[0]).parent != Path.cwd()
    # The project had no name of its own: it takes the file's.
    assert window.doc.project.name == "mnist"
    window.files.new_empty()
    window.files.save_as()
    assert Path(starts[1]).parent == target.parent


def test_a_name_that_was_set_stays_when_saved_under_another_file(window, tmp_path):
    from designer import commands

    commands.execute(window.doc, commands.set_info(window.doc, "name", "My LeNet"))
    assert window.files._write(tmp_path / "other.netdraft")
    assert window.doc.project.name == "My LeNet"


def test_name_and_description_are_edited_in_the_inspector_with_nothing_selected(window, qtbot):
    window.scene.select_ids([])
    inspector = window.inspector
    assert inspector.project_name.text() == "small"
    inspector.project_name.setFocus()
    inspector.project_name.selectAll()
    qtbot.keyClicks(inspector.project_name, "digits net")
    inspector.project_name.editingFinished.emit()
    inspector.project_about.setPlainText("A first CNN")
    flush(window)
    project = window.doc.project
    assert (project.name, project.description) == ("digits net", "A first CNN")
    assert window.doc.modified and "digits net" in window.windowTitle()
    window.actions_by_name["undo"].trigger()
    window.actions_by_name["undo"].trigger()
    assert (project.name, project.description) == ("small", "")
    assert inspector.project_name.text() == "small"
    assert inspector.project_about.toPlainText() == ""


def test_the_gallery_draws_each_template_and_preselects_the_last_choice(window, monkeypatch):
    from designer.dialogs import gallery
    from engine import templates

    pictures = {n: gallery.thumbnail(templates.open_template(n)).toImage()
                for n in ("resnet18", "resnet50", "resnet152")}
    assert pictures["resnet18"] != pictures["resnet50"] != pictures["resnet152"]
    assert pictures["resnet18"] != pictures["resnet152"]

    def accept(dialog):
        dialog.list.setCurrentRow(next(i for i in range(dialog.list.count())
                                       if dialog.list.item(i).data(gallery.NAME_ROLE)
                                       == "googlenet"))
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(gallery.Gallery, "exec", accept)
    assert gallery.choose_template(window) == "googlenet"
    dialog = gallery.Gallery(window)
    assert dialog.choice() == "googlenet"
    dialog.deleteLater()
    QApplication.processEvents()
