"""Autosave to a recovery file a few seconds after each change; offered back after a crash.

Each running designer writes ``<pid>.netdraft`` (and ``<pid>.json`` with the project's name,
the file it belongs to and the time) in the recovery folder. A clean close removes them;
files whose process is gone are what a crash left behind, every one of them offered until
the user restores or discards it (designer/files.py). NETDRAFT_RECOVERY_DIR overrides the
folder, NETDRAFT_AUTOSAVE_MS the delay.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QStandardPaths, QTimer

from engine import project as projects

DEFAULT_DELAY_MS = 3000


def recovery_dir() -> Path:
    override = os.environ.get("NETDRAFT_RECOVERY_DIR")
    if override:
        return Path(override)
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericDataLocation)
    return Path(base or Path.home()) / "netdraft" / "recovery"


def delay_ms() -> int:
    try:
        return int(os.environ.get("NETDRAFT_AUTOSAVE_MS", DEFAULT_DELAY_MS))
    except ValueError:
        return DEFAULT_DELAY_MS


@dataclass(frozen=True)
class Recovery:
    file: Path
    original: str | None  # the project's own file, if it had one
    saved_at: float
    name: str = "Untitled"  # the project's name, as the window's title showed it

    def discard(self) -> None:
        self.file.unlink(missing_ok=True)
        self.file.with_suffix(".json").unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def left_behind() -> list[Recovery]:
    """Recovery files of designers that did not close cleanly, newest first. A copy whose
    ``.json`` is missing or damaged is still offered, named by what is left."""
    folder = recovery_dir()
    if not folder.is_dir():
        return []
    found = []
    for file in folder.glob("*.netdraft"):
        try:
            pid = int(file.stem)
        except ValueError:
            continue
        if _alive(pid):
            continue
        found.append(_describe(file))
    return sorted(found, key=lambda r: (-r.saved_at, r.file.name))


def _describe(file: Path) -> Recovery:
    try:
        meta = json.loads(file.with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = {}
    if not isinstance(meta, dict):
        meta = {}
    original = meta.get("original")
    original = original if isinstance(original, str) and original else None
    saved_at = meta.get("saved_at")
    if not isinstance(saved_at, (int, float)) or isinstance(saved_at, bool) or saved_at <= 0:
        try:
            saved_at = file.stat().st_mtime
        except OSError:
            saved_at = 0.0
    name = meta.get("name") or meta.get("title")
    if not isinstance(name, str) or not name:
        name = Path(original).stem if original else "Untitled"
    return Recovery(file, original, float(saved_at), name)


class Autosaver(QObject):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.doc = None
        self.folder = recovery_dir()
        self.file = self.folder / f"{os.getpid()}.netdraft"
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(delay_ms())
        self.timer.timeout.connect(self.save_now)

    def set_document(self, doc) -> None:
        if self.doc is not None:
            self.doc.undo_stack.indexChanged.disconnect(self.changed)
        self.doc = doc
        doc.undo_stack.indexChanged.connect(self.changed)
        self.changed()

    def changed(self, *_args) -> None:
        self.timer.start()

    def save_now(self) -> None:
        doc = self.doc
        if doc is None or not doc.modified:
            self.discard()
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            projects.save(doc.project, self.file)
            meta = {"original": str(doc.path) if doc.path else None, "saved_at": time.time(),
                    "title": doc.title, "name": doc.project.name or doc.title}
            _write_atomically(self.file.with_suffix(".json"), json.dumps(meta))
        except OSError:
            pass  # a recovery copy is best effort; the user's own saves report errors

    def discard(self) -> None:
        self.timer.stop()
        self.file.unlink(missing_ok=True)
        self.file.with_suffix(".json").unlink(missing_ok=True)


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
