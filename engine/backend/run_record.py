"""run.json: the trainer's own record of a run, kept in the run folder for the run history.

RunRecordSink wraps the sink that tells the world (JSON lines or the console), passes every
event on unchanged, and keeps run.json up to date from the same events: written at
``start``, after each ``epoch``, at ``done`` and at ``error``, each time atomically
(engine.runs.write_record). The record is written before the event is passed on, so a
reader that sees ``done`` finds run.json already final. A trainer killed outright leaves
``status: running`` behind with its pid; engine.runs.read_run sees that the pid is gone and
shows the run as killed. docs/training.md ("Run folder") lists the fields.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

from engine.backend.distributed import from_environment
from engine.backend.events import Sink
from engine.backend.metrics import finite
from engine.backend.run_folder import lock_holder
from engine.runs import (
    RECORD_FORMAT,
    RECORD_VERSION,
    process_start_token,
    read_record,
    trainer_alive,
    write_record,
)

LAST_METRICS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")


class RunRecordSink(Sink):
    """Forwards events to ``inner`` and records the run in RUN_DIR/run.json.

    ``run_dir`` may be set before the run starts (the CLI sets it once the Trainer has
    chosen the folder): a failure before ``start`` is then recorded only where the folder
    already holds a record (a resume, or a new run over an old one), so a run whose folder
    was never made writes nothing. ``resuming`` continues the folder's record (its first
    start time and its list of sessions) instead of starting a new one. Only rank 0 of a
    multi-process run writes.
    """

    def __init__(self, inner: Sink, project_file: str | os.PathLike[str] | None = None,
                 run_dir: str | os.PathLike[str] | None = None, resuming: bool = False) -> None:
        self.inner = inner
        self.project_file = str(Path(project_file).resolve()) if project_file else None
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.resuming = resuming
        self.writes = from_environment().main
        self.record: dict[str, Any] | None = None
        self.session_started = time.time()
        self._write_failed = False

    @property
    def shows_notes(self) -> bool:  # type: ignore[override]
        return self.inner.shows_notes

    def message(self, text: str) -> None:
        self.inner.message(text)

    def emit(self, event: str, **fields: Any) -> None:
        if self.writes:
            self._record(event, finite(fields))
        self.inner.emit(event, **fields)

    # ----------------------------------------------------------------- the record
    def _record(self, event: str, fields: dict[str, Any]) -> None:
        now = round(time.time(), 3)
        if event == "start":
            self.run_dir = Path(fields["run_dir"])
            self.record = self._started(fields, now)
        elif event == "epoch" and self.record is not None:
            self._epoch_ended(fields)
        elif event == "done" and self.record is not None:
            self._done(fields, now)
        elif event == "error":
            if self.record is None:
                self.record = self._earlier_record(now)
            if self.record is None:
                return
            status = "interrupted" if fields.get("kind") == "interrupted" else "failed"
            self.record.update(status=status, message=fields.get("message", ""),
                               error_kind=fields.get("kind"), exit_code=fields.get("exit_code"),
                               ended=now)
            self.record["sessions"][-1].update(ended=now, status=status)
        else:
            return
        self.record["updated"] = now
        self._write()

    def _started(self, f: dict[str, Any], now: float) -> dict[str, Any]:
        earlier = read_record(self.run_dir)[0] if self.resuming else None
        earlier = earlier or {}
        sessions = _sessions(earlier)
        sessions.append({"started": now, "ended": None, "status": "running",
                         "start_epoch": f["start_epoch"]})
        settings = f.get("settings", {})
        seconds, started = earlier.get("seconds"), earlier.get("started")
        data = {k: v for k, v in f.get("data", {}).items() if k != "skipped_files"}
        return {
            "format": RECORD_FORMAT, "version": RECORD_VERSION,
            "project": f["project"], "project_file": self.project_file,
            "started": started if isinstance(started, (int, float)) else now,
            "pid": os.getpid(), "process_start": process_start_token(os.getpid()),
            "host": socket.gethostname(),
            "status": "running",
            "device": f["device"], "world_size": f["world_size"],
            "precision": f["precision"], "epochs": f["epochs"],
            "start_epoch": f["start_epoch"], "batch_size": f.get("batch_size"),
            "params": f["params"], "data": data, "class_names": f.get("class_names", []),
            "settings": settings,
            "resumed": self.resuming or f["start_epoch"] > 1,
            "epochs_done": f["start_epoch"] - 1,
            "monitor": earlier.get("monitor") or settings.get("training", {}).get("monitor"),
            "best_value": earlier.get("best_value"), "best_epoch": earlier.get("best_epoch"),
            "last_metrics": earlier.get("last_metrics", {}),
            "seconds": seconds if isinstance(seconds, (int, float)) else 0.0,
            "sessions": sessions,
        }

    def _epoch_ended(self, f: dict[str, Any]) -> None:
        record = self.record
        assert record is not None
        monitor = str(record.get("monitor") or "val_loss")
        if f.get(monitor) is None:  # no validation data: the trainer watches the train_ twin
            monitor = monitor.replace("val_", "train_")
        record["monitor"] = monitor
        record["epochs_done"] = f["epoch"]
        record["best_epoch"] = f.get("best_epoch")
        if f.get("improved"):
            record["best_value"] = f.get(monitor)
        record["last_metrics"] = {k: f.get(k) for k in LAST_METRICS}

    def _done(self, f: dict[str, Any], now: float) -> None:
        record = self.record
        assert record is not None
        record.update(status=f["status"], epochs_done=f["epochs_done"],
                      best_value=f.get("best_value"), best_epoch=f.get("best_epoch"),
                      seconds=record["seconds"] + f["seconds"], ended=now)
        record["sessions"][-1].update(ended=now, status=f["status"], seconds=f["seconds"])

    def _earlier_record(self, now: float) -> dict[str, Any] | None:
        """The folder's record, continued with this failed session; None where the folder
        holds none (nothing of this run was written yet) or another trainer holds the
        folder (its record is its own)."""
        if self.run_dir is None or not self.run_dir.is_dir():
            return None
        if lock_holder(self.run_dir) not in (None, os.getpid()):
            return None
        record = read_record(self.run_dir)[0]
        if record is None:
            return None
        record["sessions"] = _sessions(record)
        record["sessions"].append({"started": round(self.session_started, 3), "ended": now,
                                   "status": "failed"})
        return record

    def _write(self) -> None:
        assert self.run_dir is not None and self.record is not None
        try:
            write_record(self.run_dir, self.record)
        except (OSError, ValueError) as exc:
            # The record serves the history; losing it must not stop the training.
            if not self._write_failed:
                self.inner.message(f"note: {self.run_dir / 'run.json'} cannot be written "
                                   f"({exc}); training goes on without it")
            self._write_failed = True


def _sessions(record: dict[str, Any]) -> list[dict[str, Any]]:
    """An earlier record's sessions; the last one marked killed when that record still
    says running and its trainer is gone (it never got to say how it ended)."""
    sessions = record.get("sessions")
    sessions = [s for s in sessions if isinstance(s, dict)] if isinstance(sessions, list) else []
    if sessions and record.get("status") == "running" and not trainer_alive(
            record.get("pid"), record.get("host"), record.get("process_start")):
        sessions[-1]["status"] = "killed"
    return sessions
