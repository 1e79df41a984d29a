"""Autosave to a recovery file a few seconds after each change; offered back after a crash.

Each running designer writes ``<pid>.netdraft`` (and ``<pid>.json`` naming the file it
belongs to) in the recovery folder. A clean close removes them; files whose process is gone
are what a crash left behind. NETDRAFT_RECOVERY_DIR overrides the folder,
NETDRAFT_AUTOSAVE_MS the delay.
"""

from __future__ import annotations

import json
import os
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
    """Recovery files of designers that did not close cleanly, newest first."""
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
        meta = {}
        try:
            meta = json.loads(file.with_suffix(".json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
        found.append(Recovery(file, meta.get("original"), float(meta.get("saved_at", 0))))
    return sorted(found, key=lambda r: -r.saved_at)


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
                    "title": doc.title}
            self.file.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")
        except OSError:
            pass  # a recovery copy is best effort; the user's own saves report errors

    def discard(self) -> None:
        self.timer.stop()
        self.file.unlink(missing_ok=True)
        self.file.with_suffix(".json").unlink(missing_ok=True)
