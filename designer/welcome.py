"""The welcome page a first start shows in the canvas's place: start a network (empty, from a
template, an import), reopen a recent file, and the keyboard shortcuts that make building
fast. Built from PySide6 widgets and the engine's template list only: it is on the way to the
first painted window, so it imports nothing heavy (tests/designer/test_startup.py)."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCommandLinkButton,
    QFrame,
    QGridLayout,
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from designer import settings_store
from engine import templates

if TYPE_CHECKING:
    from PySide6.QtGui import QAction

    from designer.main_window import MainWindow

# The shortcuts a new user builds with, in the order they need them; the full list is in
# Help > Keyboard Shortcuts.
ESSENTIAL = ("new", "add_block", "open", "save", "undo", "redo", "delete", "duplicate",
             "group", "toggle_group", "arrange_tb", "fit", "train", "shortcuts")


def shortcut_rows(actions: dict[str, QAction],
                  names: tuple[str, ...] | None = None) -> list[tuple[str, str]]:
    """(what, keys) for each action with a shortcut, in the menus' words."""
    from PySide6.QtGui import QKeySequence

    rows = []
    for name in names or tuple(actions):
        action = actions.get(name)
        if action is None or not action.shortcuts():
            continue
        keys = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText)
                         for k in action.shortcuts())
        text = action.text().replace("&", "").rstrip("…")
        if name in ("undo", "redo"):
            text = name.capitalize()  # their text names the step ("Undo Move conv1")
        rows.append((text, keys))
    return rows


def shortcuts_html(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><td style='padding-right:18px'>{escape(text)}</td>"
                   f"<td><b>{escape(keys)}</b></td></tr>" for text, keys in rows)
    return f"<table cellspacing='2'>{body}</table>"


class WelcomePage(QScrollArea):
    """Start here: each button opens what it says and the canvas takes the page's place."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.setObjectName("welcome")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.template_buttons: dict[str, QCommandLinkButton] = {}
        self.recent_buttons: list[QCommandLinkButton] = []
        self.buttons: dict[str, QCommandLinkButton] = {}
        self.rebuild()

    def rebuild(self) -> None:
        self.template_buttons, self.recent_buttons, self.buttons = {}, [], {}
        page = QWidget()
        outer = QVBoxLayout(page)
        outer.setContentsMargins(40, 28, 40, 28)
        title = QLabel("<h1>Welcome to Netdraft</h1><p>Draw a convolutional network, see "
                       "every shape and parameter count as you build it, then train and "
                       "export it. Start from a template, or type blocks one after another: "
                       "<b>Ctrl+N</b>, then <b>input</b> ⏎ <b>conv 32 relu</b> ⏎ "
                       "<b>maxpool</b> ⏎ …</p>")
        title.setWordWrap(True)
        outer.addWidget(title)
        grid = QGridLayout()
        grid.setHorizontalSpacing(36)
        grid.setVerticalSpacing(6)
        outer.addLayout(grid)
        outer.addStretch(1)

        start = self._column(grid, (0, 0), "Start")
        a = self.window.actions_by_name
        for name, text, about in (
                ("new", "New empty network", "Add blocks from the palette or by typing"),
                ("gallery", "From a template…", "The gallery with a picture of each"),
                ("open", "Open a project…", "A .netdraft file"),
                ("import", "Import a model…", "A torchvision network, an ONNX file or an "
                                              "earlier run")):
            button = self._button(start, text, about)
            button.clicked.connect(a[name].trigger)
            self.buttons[name] = button
        recent = self._column(grid, (0, 1), "Recent projects")
        files = settings_store.recent_files()
        for path in files[:6]:
            button = self._button(recent, Path(path).name, str(Path(path).parent))
            button.setToolTip(path)
            button.clicked.connect(lambda _c=False, p=path: self.window.files.open_path(p))
            self.recent_buttons.append(button)
        if not files:
            none = QLabel("No recent projects yet: what you save is listed here.")
            none.setWordWrap(True)
            none.setStyleSheet("color: palette(placeholder-text);")
            recent.addWidget(none)
        recent.addStretch(1)
        keys = self._column(grid, (1, 1), "Keyboard shortcuts")
        table = QLabel(shortcuts_html(shortcut_rows(a, ESSENTIAL)))
        table.setTextFormat(Qt.TextFormat.RichText)
        keys.addWidget(table)
        keys.addStretch(1)
        lecture = self._column(grid, (1, 0), "The lecture's networks")
        for name in templates.names():
            about = templates.description(name)
            first = about.split(". ")[0].rstrip(".")
            button = self._button(lecture, name, first)
            button.setToolTip(about)
            button.clicked.connect(lambda _c=False, n=name: self.window.files.open_template(n))
            self.template_buttons[name] = button
        lecture.addStretch(1)
        self.setWidget(page)

    @staticmethod
    def _column(grid: QGridLayout, cell: tuple[int, int], heading: str) -> QVBoxLayout:
        box = QVBoxLayout()
        box.setSpacing(2)
        label = QLabel(f"<h3>{escape(heading)}</h3>")
        box.addWidget(label)
        grid.addLayout(box, *cell, Qt.AlignmentFlag.AlignTop)
        return box

    @staticmethod
    def _button(box: QVBoxLayout, text: str, about: str) -> QCommandLinkButton:
        button = QCommandLinkButton(text, about)
        button.setMinimumWidth(200)
        box.addWidget(button)
        return button


def show_shortcuts(window: MainWindow) -> None:
    """Help > Keyboard Shortcuts: every action with its keys, and how to type blocks."""
    from PySide6.QtWidgets import QDialog, QDialogButtonBox

    dialog = QDialog(window)
    dialog.setWindowTitle("Keyboard shortcuts")
    layout = QVBoxLayout(dialog)
    intro = QLabel("<b>Typing blocks</b>: Ctrl+K (or File ▸ New) puts the keyboard in the "
                   "palette's search; type a block and its parameters and press Enter — "
                   "<i>input 1x28x28</i>, <i>conv 32 3x3 relu</i>, <i>maxpool</i>, "
                   "<i>dense 10 softmax</i>, <i>conv stride=2 same</i>. Each goes after the "
                   "one before, connected; Up/Down pick another match, Escape clears.")
    intro.setWordWrap(True)
    layout.addWidget(intro)
    table = QLabel(shortcuts_html(shortcut_rows(window.actions_by_name)))
    table.setObjectName("shortcuts")
    table.setTextFormat(Qt.TextFormat.RichText)
    scroll = QScrollArea(dialog)
    scroll.setWidget(table)
    scroll.setWidgetResizable(True)
    layout.addWidget(scroll)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.reject)
    layout.addWidget(buttons)
    dialog.resize(560, 620)
    window.shortcuts_dialog = dialog
    dialog.open()
