"""One training run as a subprocess: `main.py train FILE --events jsonl --out RUN_DIR` (or
`--resume RUN_DIR`), read line by line (DESIGN.md rule 6).

stdout carries only the JSON events of docs/training.md; stderr is the trainer's log. A
crash, out-of-memory kill or SIGKILL ends the process, never the window: ``ended`` says how
(with the exit code), and the run folder keeps its last checkpoint for Resume.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, Signal

MAIN_SCRIPT = Path(__file__).resolve().parent.parent / "main.py"


class TrainingProcess(QObject):
    event = Signal(dict)       # one event of the protocol
    log_line = Signal(str)     # one line of the trainer's stderr
    ended = Signal(int, str)   # exit code (-1 when killed by a signal), what happened

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.process: QProcess | None = None
        self.run_dir: Path | None = None
        self.last_error: dict[str, Any] | None = None
        self.last_done: dict[str, Any] | None = None
        self._out = b""
        self._err = b""
        self.stop_requested = False

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning

    def command(self, project_file: Path, run_dir: Path, resume: bool,
                extra: list[str] | None = None) -> list[str]:
        args = [str(MAIN_SCRIPT), "train", str(project_file), "--events", "jsonl"]
        args += ["--resume", str(run_dir)] if resume else ["--out", str(run_dir)]
        return args + list(extra or [])

    def start(self, project_file: Path, run_dir: Path, resume: bool = False,
              extra: list[str] | None = None) -> None:
        if self.running:
            raise RuntimeError("a run is already going")
        self.run_dir = Path(run_dir)
        self.last_error = self.last_done = None
        self.stop_requested = False
        self._out = self._err = b""
        process = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        process.setProcessEnvironment(env)
        process.setWorkingDirectory(str(Path(project_file).resolve().parent))
        process.readyReadStandardOutput.connect(self._read_out)
        process.readyReadStandardError.connect(self._read_err)
        process.finished.connect(self._finished)
        process.errorOccurred.connect(self._error)
        self.process = process
        process.start(sys.executable, self.command(project_file, run_dir, resume, extra))

    def stop(self) -> None:
        """Ask the trainer to finish its step and keep interrupted.pt (SIGTERM, exit 143)."""
        if self.running:
            self.stop_requested = True
            self.process.terminate()

    def kill(self) -> None:
        if self.running:
            self.process.kill()

    def pid(self) -> int | None:
        return int(self.process.processId()) if self.running else None

    # ---------------------------------------------------------------- reading
    def _read_out(self) -> None:
        self._out += bytes(self.process.readAllStandardOutput())
        *lines, self._out = self._out.split(b"\n")
        for line in lines:
            self.feed(line)

    def feed(self, line: bytes | str) -> None:
        """One stdout line: an event, or (never expected) text that goes to the log."""
        text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
        text = text.strip()
        if not text:
            return
        try:
            record = json.loads(text)
        except json.JSONDecodeError:
            self.log_line.emit(text)
            return
        if not isinstance(record, dict) or "event" not in record:
            return
        if record["event"] == "error":
            self.last_error = record
        elif record["event"] == "done":
            self.last_done = record
        self.event.emit(record)

    def _read_err(self) -> None:
        self._err += bytes(self.process.readAllStandardError())
        *lines, self._err = self._err.split(b"\n")
        for line in lines:
            # A progress bar's carriage returns: keep the last state of the line.
            text = line.decode("utf-8", "replace").rsplit("\r", 1)[-1].rstrip()
            if text:
                self.log_line.emit(text)

    def _flush(self) -> None:
        if self.process is None:
            return
        self._read_out()
        if self._out.strip():
            self.feed(self._out)
        self._out = b""
        self._read_err()

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._flush()
        if status == QProcess.ExitStatus.CrashExit and not self.stop_requested:
            self.ended.emit(-1, "killed")
        elif self.last_error is not None:
            self.ended.emit(code, "failed")
        elif self.stop_requested or code in (130, 143):
            self.ended.emit(code, "interrupted")
        elif code == 0:
            self.ended.emit(code, (self.last_done or {}).get("status", "finished"))
        else:
            self.ended.emit(code, "crashed")

    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.log_line.emit(f"could not start {sys.executable}: {self.process.errorString()}")
            self.ended.emit(-1, "not started")

