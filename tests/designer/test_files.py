"""Files and safety: save and reopen, failed loads, dropped files, unsaved-changes prompts,
persisted settings and crash recovery after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from designer_helpers import flush
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QFileDialog, QMessageBox

from designer import commands, settings_store
from designer.files import FileController
from engine import project as projects

ROOT = Path(__file__).resolve().parents[2]


def _edit_filters(win, value: int) -> None:
    doc = win.doc
    commands.execute(doc, commands.set_param(doc, doc.graph.by_name("conv1").id, "filters",
                                             value))
    flush(win)


def test_save_and_reopen_gives_the_same_document(window, tmp_path, monkeypatch):
    path = tmp_path / "net.netdraft"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))
    _edit_filters(window, 24)
    assert window.isWindowModified()
    window.actions_by_name["save"].trigger()  # no path yet: asks where (Save As)
    assert path.exists() and not window.isWindowModified()
    assert window.windowTitle() == "net.netdraft[*] — Netdraft"
    saved = projects.Project.from_json(window.doc.project.to_json())
    _edit_filters(window, 32)
    assert window.isWindowModified()
    assert window.files.open_path(path)
    assert window.doc.project == saved
    assert window.doc.graph.by_name("conv1").params["filters"] == 24
    assert not window.isWindowModified()
    assert settings_store.recent_files()[0] == str(path.resolve())
    assert [a.text() for a in window.recent_menu.actions()] == ["net.netdraft"]


def test_a_project_that_fails_to_load_leaves_the_document_untouched(window, tmp_path):
    bad = tmp_path / "broken.netdraft"
    bad.write_text('{"format": "netdraft", "version": 1, "graph": {"nodes": [{"id": 3}]}}')
    doc = window.doc
    _edit_filters(window, 12)
    assert not window.files.open_path(bad)
    assert window.doc is doc and doc.graph.by_name("conv1").params["filters"] == 12
    title, message = window.errors[-1]
    assert "broken.netdraft" in message and "nodes[0].id" in message


def test_a_dropped_project_file_opens(window, tmp_path):
    path = tmp_path / "dropped.netdraft"
    project = window.doc.project
    project.name = "dropped"
    projects.save(project, path)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.view.dropEvent(event)
    assert window.doc.path == path and window.windowTitle().startswith("dropped.netdraft")


def test_closing_with_unsaved_changes_asks_first(window, monkeypatch):
    _edit_filters(window, 16)
    asked = []

    def cancel(self):
        asked.append(True)
        return QMessageBox.StandardButton.Cancel

    monkeypatch.setattr(FileController, "ask_save_changes", cancel)
    assert not window.close() and window.isVisible() and asked
    monkeypatch.setattr(FileController, "ask_save_changes",
                        lambda self: QMessageBox.StandardButton.Discard)
    assert window.close()


def test_dock_layout_and_theme_persist(window, qtbot):
    from designer.main_window import MainWindow

    window.docks["problems"].hide()
    window.set_theme("dark")
    window.close()
    again = MainWindow()
    qtbot.addWidget(again)
    again.restore_layout()
    assert again.docks["problems"].isHidden() and not again.docks["palette"].isHidden()
    assert again.theme_choice == "dark"
    assert again.actions_by_name["theme_dark"].isChecked()
    again.set_theme("light")


def test_autosave_writes_a_recovery_file_and_a_clean_close_removes_it(window, qtbot):
    from designer import autosave

    _edit_filters(window, 20)
    file = window.files.autosaver.file
    qtbot.waitUntil(file.exists, timeout=3000)
    assert projects.load(file).graph.by_name("conv1").params["filters"] == 20
    window.close()
    assert not file.exists() and autosave.left_behind() == []


CRASHER = """
import sys
sys.path.insert(0, {root!r})
from PySide6.QtCore import QTimer
from designer import commands
from designer.app import build_window, make_app

app = make_app([])
window = build_window({path!r})
window.show()
doc = window.doc
commands.execute(doc, commands.set_param(doc, doc.graph.by_name("conv1").id, "filters", 40))

def ready():
    if window.files.autosaver.file.exists():
        print("READY", flush=True)
    else:
        QTimer.singleShot(20, ready)

QTimer.singleShot(0, ready)
app.exec()
"""


@pytest.mark.timeout(60)
def test_after_a_crash_the_next_start_offers_the_autosaved_work(window, tmp_path, monkeypatch):
    path = tmp_path / "work.netdraft"
    projects.save(window.doc.project, path)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", NETDRAFT_AUTOSAVE_MS="100")
    proc = subprocess.Popen([sys.executable, "-c", CRASHER.format(root=str(ROOT),
                                                                  path=str(path))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 45
        line = ""
        while time.monotonic() < deadline and "READY" not in line:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
        assert "READY" in line, proc.stderr.read()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    recovery = Path(os.environ["NETDRAFT_RECOVERY_DIR"]) / f"{proc.pid}.netdraft"
    assert recovery.exists()
    meta = json.loads(recovery.with_suffix(".json").read_text())
    assert meta["original"] == str(path)
    offered = []

    def yes(self, found):
        offered.append(found.original)
        return True

    monkeypatch.setattr(FileController, "ask_restore", yes)
    assert window.files.offer_recovery()
    assert offered == [str(path)]
    assert window.doc.graph.by_name("conv1").params["filters"] == 40
    assert window.doc.path == path and window.isWindowModified()
    assert not recovery.exists()
    assert not window.files.offer_recovery()  # offered once only
