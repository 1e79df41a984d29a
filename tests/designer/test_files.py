"""Files and safety: save and reopen, failed loads, dropped files, unsaved-changes prompts,
persisted settings and crash recovery after SIGKILL (one window, and two killed at once)."""

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
from PySide6.QtWidgets import QFileDialog, QLabel, QMessageBox

from designer import commands, settings_store
from designer.dialogs.recovery import RecoveryChoice
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
commands.execute(doc, commands.set_param(doc, doc.graph.by_name("conv1").id, "filters",
                                         {filters}))

def ready():
    if window.files.autosaver.file.exists():
        print("READY", flush=True)
    else:
        QTimer.singleShot(20, ready)

QTimer.singleShot(0, ready)
app.exec()
"""


def _kill_designers(jobs: dict[Path, int]) -> dict[Path, int]:
    """Start a designer per project file, edit conv1's filters to the value given, wait for
    its recovery copy, then SIGKILL it (all at once, as a crash of the session would).
    Returns each project's dead designer's pid."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", NETDRAFT_AUTOSAVE_MS="100")
    procs = {path: subprocess.Popen(
        [sys.executable, "-c", CRASHER.format(root=str(ROOT), path=str(path), filters=filters)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for path, filters in jobs.items()}
    try:
        deadline = time.monotonic() + 45
        for proc in procs.values():
            line = ""
            while time.monotonic() < deadline and "READY" not in line:
                line = proc.stdout.readline()
                if not line and proc.poll() is not None:
                    break
            assert "READY" in line, proc.stderr.read()
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGKILL)
        for proc in procs.values():
            proc.wait(10)
            proc.stdout.close()
            proc.stderr.close()
    return {path: proc.pid for path, proc in procs.items()}


def _restore_first(offered: list):
    def ask(self, found):
        offered.append(list(found))
        return RecoveryChoice(restore=found[0])
    return ask


@pytest.mark.timeout(60)
def test_after_a_crash_the_next_start_offers_the_autosaved_work(window, tmp_path, monkeypatch):
    path = tmp_path / "work.netdraft"
    projects.save(window.doc.project, path)
    pid = _kill_designers({path: 40})[path]
    recovery = Path(os.environ["NETDRAFT_RECOVERY_DIR"]) / f"{pid}.netdraft"
    assert recovery.exists()
    meta = json.loads(recovery.with_suffix(".json").read_text())
    assert meta["original"] == str(path)
    offered: list = []
    monkeypatch.setattr(FileController, "ask_restore", _restore_first(offered))
    assert window.files.offer_recovery()
    assert [r.original for r in offered[0]] == [str(path)]
    assert window.doc.graph.by_name("conv1").params["filters"] == 40
    assert window.doc.path == path and window.isWindowModified()
    assert not recovery.exists()
    # The restored work already has this window's own recovery copy.
    assert projects.load(window.files.autosaver.file).graph.by_name("conv1").params[
        "filters"] == 40
    assert not window.files.offer_recovery()  # offered once only


@pytest.mark.timeout(90)
def test_two_killed_windows_are_both_offered_and_nothing_is_deleted_unseen(
        window, tmp_path, monkeypatch):
    a, b = tmp_path / "alpha.netdraft", tmp_path / "beta.netdraft"
    for path in (a, b):
        project = window.doc.project
        project.name = path.stem
        projects.save(project, path)
    pids = _kill_designers({a: 24, b: 48})
    folder = Path(os.environ["NETDRAFT_RECOVERY_DIR"])
    copy_a, copy_b = (folder / f"{pids[p]}.netdraft" for p in (a, b))
    assert copy_a.exists() and copy_b.exists()

    # Later: both stay.
    seen: list = []

    def later(self, found):
        seen.append(list(found))
        return RecoveryChoice()

    monkeypatch.setattr(FileController, "ask_restore", later)
    assert not window.files.offer_recovery()
    assert copy_a.exists() and copy_b.exists()
    offered = seen[0]
    assert sorted((r.name, r.original) for r in offered) == [("alpha", str(a)),
                                                              ("beta", str(b))]
    assert all(time.time() - 120 < r.saved_at <= time.time() for r in offered)

    # Restore A: A opens here and its copy goes; B's copy stays on disk.
    def restore_a(self, found):
        seen.append(list(found))
        return RecoveryChoice(restore=next(r for r in found if r.name == "alpha"))

    monkeypatch.setattr(FileController, "ask_restore", restore_a)
    assert window.files.offer_recovery()
    assert len(seen[1]) == 2
    assert window.doc.path == a and window.doc.graph.by_name("conv1").params["filters"] == 24
    assert not copy_a.exists() and copy_b.exists()

    # The next start offers B alone; discarding it removes it.
    def discard_all(self, found):
        seen.append(list(found))
        return RecoveryChoice(discard=list(found))

    monkeypatch.setattr(FileController, "ask_restore", discard_all)
    assert not window.files.offer_recovery()
    assert [(r.name, r.file) for r in seen[2]] == [("beta", copy_b)]
    assert not copy_b.exists() and not copy_b.with_suffix(".json").exists()
    assert window.doc.path == a  # discarding changed nothing in the window
    assert not window.files.offer_recovery() and len(seen) == 3


def test_a_copy_that_cannot_be_restored_stays_offered(window, monkeypatch):
    from designer import autosave

    folder = autosave.recovery_dir()
    folder.mkdir(parents=True)
    broken = folder / f"{_dead_pid()}.netdraft"
    broken.write_text("{not json")
    broken.with_suffix(".json").write_text('["not", "a", "dict"]')
    offered: list = []
    monkeypatch.setattr(FileController, "ask_restore", _restore_first(offered))
    doc = window.doc
    assert not window.files.offer_recovery()
    assert window.doc is doc and window.errors[-1][0] == "Cannot restore"
    recovery = offered[0][0]
    assert recovery.name == "Untitled" and recovery.original is None
    assert recovery.saved_at == broken.stat().st_mtime
    assert broken.exists()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _recovery(folder: Path, name: str, original: str | None, saved_at: float):
    from designer import autosave

    return autosave.Recovery(folder / f"{name}.netdraft", original, saved_at, name)


def test_the_recovery_dialog_lists_every_copy_with_its_name_file_and_time(qtbot, tmp_path):
    from designer.dialogs.recovery import RecoveryDialog

    when = time.mktime((2024, 3, 5, 14, 7, 0, 0, 0, -1))
    a = _recovery(tmp_path, "alpha", str(tmp_path / "alpha.netdraft"), when)
    b = _recovery(tmp_path, "beta", None, when - 60)
    dialog = RecoveryDialog([a, b])
    qtbot.addWidget(dialog)
    texts = [label.text() for label in dialog.findChildren(QLabel)]
    row_a = next(t for t in texts if "alpha" in t)
    assert "<b>alpha</b>" in row_a and str(tmp_path / "alpha.netdraft") in row_a
    assert "14:07 on 05 Mar 2024" in row_a
    row_b = next(t for t in texts if "beta" in t)
    assert "never saved" in row_b and "14:06" in row_b
    dialog.show()
    dialog.buttons[b][1].click()  # Discard B: the dialog stays for A
    assert dialog.isVisible() and dialog.rows[b].isHidden() and not dialog.rows[a].isHidden()
    dialog.buttons[a][0].click()  # Restore A
    assert not dialog.isVisible()
    assert dialog.choice == RecoveryChoice(restore=a, discard=[b])


def test_later_keeps_every_copy(qtbot, tmp_path):
    from designer.dialogs.recovery import RecoveryDialog

    a = _recovery(tmp_path, "alpha", None, time.time())
    dialog = RecoveryDialog([a])
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.later.click()
    assert not dialog.isVisible() and dialog.choice == RecoveryChoice()


def test_a_project_written_by_new_opens_with_its_blocks_apart(window, tmp_path):
    """`main.py new --template` writes the template's compact grid; opened in the window
    its blocks must not overlap."""
    import subprocess
    import sys
    from pathlib import Path

    from designer.files import overlapping

    root = Path(__file__).resolve().parents[2]
    path = tmp_path / "lenet.netdraft"
    subprocess.run([sys.executable, str(root / "main.py"), "new", "--template", "lenet-5",
                    "-o", str(path)], check=True, capture_output=True, timeout=120)
    assert window.files.open_path(path, ask=False)
    doc = window.doc
    assert not overlapping(doc.graph, doc.positions, list(doc.collapsed))
    assert not doc.modified
