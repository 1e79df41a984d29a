"""Start the designer: `python main.py [FILE]`; without a file the window reopens the last
project, and a first start shows the welcome page."""

from __future__ import annotations

import atexit
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QPixmapCache
from PySide6.QtWidgets import QApplication

from designer import clipboard, settings_store, theme
from designer.document import Document
from designer.main_window import MainWindow
from engine import project as projects


def make_app(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance() or QApplication(
        theme.start_with_fusion([sys.argv[0], *(argv or [])]))
    app.setOrganizationName("Netdraft")
    app.setApplicationName("Netdraft")
    app.setApplicationDisplayName("Netdraft")
    theme.apply(app, settings_store.theme_choice())
    # Blocks are cached as pixmaps (DeviceCoordinateCache): room for a large network's.
    QPixmapCache.setCacheLimit(max(QPixmapCache.cacheLimit(), 96 * 1024))
    global _clipboard_hook
    if not _clipboard_hook:
        app.aboutToQuit.connect(clipboard.hand_over_at_exit)
        atexit.register(clipboard.hand_over_at_exit)
        _clipboard_hook = True
    return app


_clipboard_hook = False


def build_window(path: str | None = None) -> MainWindow:
    """The main window with a file; without one, the project open when the window last
    closed; else (a first start, or that file is gone) an empty network under the welcome
    page."""
    window = MainWindow()
    window.restore_layout()
    opened = False
    if path:
        opened = window.files.open_path(path, ask=False)
    last = settings_store.last_project()
    if not opened and not path and last and Path(last).is_file():
        opened = window.files.open_path(last, ask=False, quiet=True)
    if not opened:
        window.set_document(Document(projects.Project()))
        window.show_welcome()
    return window


def run_designer(argv: list[str]) -> int:
    files = [a for a in argv if not a.startswith("-")]
    app = make_app(argv)
    window = build_window(files[0] if files else None)
    window.show()
    QTimer.singleShot(0, window.view.show_start)
    QTimer.singleShot(200, window.files.offer_recovery)
    return app.exec()
