"""Designer fixtures: an isolated settings file and recovery folder, and a main window on a
small network built in code (no template needed)."""

from __future__ import annotations

import pytest

from designer.document import Document
from engine.graph import Graph
from engine.project import Project


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("NETDRAFT_SETTINGS", str(tmp_path / "settings.ini"))
    monkeypatch.setenv("NETDRAFT_RECOVERY_DIR", str(tmp_path / "recovery"))
    monkeypatch.setenv("NETDRAFT_AUTOSAVE_MS", "50")
    # Blocks take their new places at once (tests/designer/test_relayout.py checks the glide).
    monkeypatch.setenv("NETDRAFT_ANIMATION_MS", "0")


def small_graph() -> Graph:
    """Input 1×28×28 → conv1 (8 @ 3×3 same) → pool1 → flatten → fc (10) → out."""
    g = Graph()
    g.add_node("Input", "input", {"shape": [1, 28, 28]}, node_id="n1")
    g.add_node("Conv2D", "conv1", {"filters": 8, "kernel_size": 3, "padding": "same"},
               node_id="n2")
    g.add_node("MaxPool2D", "pool1", {"pool_size": 2}, node_id="n3")
    g.add_node("Flatten", "flatten", node_id="n4")
    g.add_node("Dense", "fc", {"units": 10}, node_id="n5")
    g.add_node("Output", "out", {"classes": 10}, node_id="n6")
    for a, b in (("n1", "n2"), ("n2", "n3"), ("n3", "n4"), ("n4", "n5"), ("n5", "n6")):
        g.connect(a, b)
    return g


def small_project() -> Project:
    from designer.files import with_layout

    return with_layout(Project(graph=small_graph(), name="small"))


@pytest.fixture
def window(qtbot, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from designer.app import make_app
    from designer.dialogs.recovery import RecoveryChoice
    from designer.files import FileController
    from designer.main_window import MainWindow

    make_app([])
    # Closing a modified window must not wait for a person to answer.
    monkeypatch.setattr(FileController, "ask_save_changes",
                        lambda self: QMessageBox.StandardButton.Discard)
    monkeypatch.setattr(FileController, "ask_restore", lambda self, found: RecoveryChoice())
    errors: list[tuple[str, str]] = []
    monkeypatch.setattr(FileController, "show_error",
                        lambda self, title, message: errors.append((title, message)))
    win = MainWindow()
    win.errors = errors
    qtbot.addWidget(win)
    win.set_document(Document(small_project()))
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    win.view.fit()
    return win
