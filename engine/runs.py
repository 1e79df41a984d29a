"""The run history: every run folder of a project, read without Qt or torch.

A run folder (docs/training.md, "Run folder") holds the trainer's run.json record, written by
engine.backend.run_record, beside metrics.csv and the checkpoints. Runs live in ``runs/``
beside the project file, whether the designer or the command line started them, so the
history is just those folders. A folder from before run.json, or whose trainer was killed
before writing one, is read from metrics.csv and its checkpoint names. Nothing here raises
on a damaged file: what cannot be read is skipped and said in ``RunInfo.message``.
"""

from __future__ import annotations

import csv
import datetime
import json
import math
import os
import re
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import atomic
from engine import settings as settings_schema

RECORD_FILE = "run.json"
RECORD_FORMAT = "netdraft-run"
RECORD_VERSION = 1
METRICS_FILE = "metrics.csv"
LAST, BEST, INTERRUPTED = "last.pt", "best.pt", "interrupted.pt"
CHECKPOINT_FILES = {"last": LAST, "best": BEST, "interrupted": INTERRUPTED}
RUN_FILES = (RECORD_FILE, METRICS_FILE, *CHECKPOINT_FILES.values())

STATUSES = ("running", "finished", "early_stopped", "interrupted", "failed", "killed",
            "unknown")
KILLED_MESSAGE = ("the trainer stopped without a word (killed or out of memory); resume "
                  "continues from the last checkpoint")
_STAMP = re.compile(r"-(\d{8}-\d{6})(?:-\d+)?$")


@dataclass
class RunInfo:
    """One run as the history shows it. ``rows`` are metrics.csv's, one per epoch (epoch
    as int, the other columns as float or None); ``checkpoints`` maps last, best and
    interrupted to the files that exist; ``sessions`` lists {started, ended, status} for
    the first run and each resume."""

    path: Path
    name: str
    started: float | None = None
    ended: float | None = None
    status: str = "unknown"
    message: str = ""
    project: str = ""
    project_file: str | None = None
    device: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    epochs_done: int = 0
    epochs: int | None = None
    monitor: str = ""
    best_value: float | None = None
    best_epoch: int | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)
    resumed: bool = False
    sessions: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: dict[str, Path] = field(default_factory=dict)

    @property
    def resumable(self) -> bool:
        """A checkpoint to continue from and no trainer using the folder (a finished run
        can go on with more epochs)."""
        return self.status != "running" and bool(
            {"last", "interrupted"} & self.checkpoints.keys())


# ---------------------------------------------------------------- run.json on disk
def write_record(run_dir: str | os.PathLike[str], record: dict[str, Any]) -> Path:
    """Write run.json atomically (engine.atomic): never half a record, never through a
    symbolic link."""
    text = json.dumps(record, indent=1, ensure_ascii=False, allow_nan=False)
    return atomic.write_text(Path(run_dir) / RECORD_FILE, text)


def read_record(run_dir: str | os.PathLike[str]) -> tuple[dict[str, Any] | None, str]:
    """run.json as a dict, or None and why not ("" when there is none). A symbolic link
    is not this run's record and is not followed."""
    path = Path(run_dir) / RECORD_FILE
    if path.is_symlink():
        return None, f"{RECORD_FILE} is a symbolic link and was not read"
    if path.exists() and not path.is_file():
        return None, f"{RECORD_FILE} is not a regular file and was not read"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, ""
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"{RECORD_FILE} cannot be read ({exc})"
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"{RECORD_FILE} is not valid JSON (line {exc.lineno}: {exc.msg})"
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
        return None, f"{RECORD_FILE} is not a Netdraft run record"
    return record, ""


# ------------------------------------------------------------- is the trainer alive?
def _proc_stat(pid: int) -> list[str] | None:
    """/proc/PID/stat's fields from the state on (field 3), or None without /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()  # the name in parentheses may hold spaces


def process_start_token(pid: int) -> str | None:
    """When process ``pid`` started (boot id and start time from /proc), so that a pid
    reused by another process after the trainer died is not taken for the trainer.
    None where /proc cannot tell (macOS, Windows, a process that is gone)."""
    fields = _proc_stat(pid)
    if fields is None or len(fields) < 20:
        return None
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = ""
    return f"{boot}/{fields[19]}"


def trainer_alive(pid: Any, host: Any, start_token: Any = None) -> bool | None:
    """Whether the trainer that wrote a record is still running: None when this machine
    cannot tell (another host; Windows, where os.kill would end the process)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or os.name == "nt":
        return None
    if host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        pass
    except OSError:
        return None
    fields = _proc_stat(pid)
    if fields:
        if fields[0] == "Z":  # a zombie has stopped; only its parent has not reaped it yet
            return False
        now = process_start_token(pid)
        if isinstance(start_token, str) and now is not None and now != start_token:
            return False  # the pid now belongs to another process
    return True


# ------------------------------------------------------------------------- reading
def _number(text: str) -> float | None:
    """A cell as a float; empty, NaN and infinite cells as None (nothing to plot)."""
    if text.strip() == "":
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def read_metrics(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """metrics.csv's rows (epoch as int, numbers as float, empty cells as None) and notes
    on what had to be skipped."""
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    if path.exists() and not path.is_file():  # a FIFO or device would never end
        return rows, [f"{METRICS_FILE} is not a regular file and was not read"]
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            for row in reader:
                try:
                    parsed: dict[str, Any] = {"epoch": int(row["epoch"])}
                    for key, value in row.items():
                        if key != "epoch" and key is not None and value is not None:
                            parsed[key] = _number(value)
                except (KeyError, TypeError, ValueError):
                    notes.append(f"{METRICS_FILE} line {reader.line_num}: not a row of "
                                 f"numbers, skipped")
                    continue
                rows.append(parsed)
    except FileNotFoundError:
        pass
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        notes.append(f"{METRICS_FILE} cannot be read past row {len(rows)} ({exc})")
    return rows, notes


def looks_like_run(folder: Path) -> bool:
    return any((folder / name).is_file() or (folder / name).is_symlink()
               for name in RUN_FILES)


def _typed(record: dict[str, Any], key: str, types: tuple[type, ...],
           notes: list[str]) -> Any:
    """record[key] when it has one of ``types`` (a bool is not a number here), else None
    with a note."""
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        notes.append(f"{RECORD_FILE}: {key} is not a finite number, ignored")
        return None
    if isinstance(value, types) and (bool in types or not isinstance(value, bool)):
        return value
    wanted = " or ".join(t.__name__ for t in types)
    notes.append(f"{RECORD_FILE}: {key} is not {wanted}, ignored. Received: {value!r}")
    return None


def _stamp_time(name: str) -> float | None:
    match = _STAMP.search(name)
    if not match:
        return None
    try:
        return datetime.datetime.strptime(match.group(1), "%Y%m%d-%H%M%S").timestamp()
    except ValueError:
        return None


def _guess_started(folder: Path) -> float | None:
    """The time in a default folder name (NAME-YYYYmmdd-HHMMSS), else the oldest
    modification time of the folder and its run files."""
    stamped = _stamp_time(folder.name)
    if stamped is not None:
        return stamped
    times = []
    for path in (folder, *(folder / name for name in RUN_FILES)):
        try:
            times.append(path.stat().st_mtime)
        except OSError:
            pass
    return min(times) if times else None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _apply_record(info: RunInfo, record: dict[str, Any], notes: list[str]) -> None:
    number = (int, float)
    started, ended = (_typed(record, key, number, notes) for key in ("started", "ended"))
    info.started = float(started) if started is not None else None
    info.ended = float(ended) if ended is not None else None
    info.project = _typed(record, "project", (str,), notes) or ""
    info.project_file = _typed(record, "project_file", (str,), notes)
    info.device = _typed(record, "device", (str,), notes) or ""
    info.settings = _typed(record, "settings", (dict,), notes) or {}
    info.epochs_done = _typed(record, "epochs_done", (int,), notes) or 0
    info.epochs = _typed(record, "epochs", (int,), notes)
    info.monitor = _typed(record, "monitor", (str,), notes) or ""
    best = _typed(record, "best_value", number, notes)
    info.best_value = float(best) if best is not None else None
    info.best_epoch = _typed(record, "best_epoch", (int,), notes)
    sessions = _typed(record, "sessions", (list,), notes) or []
    info.sessions = [s for s in sessions if isinstance(s, dict)]
    info.resumed = bool(_typed(record, "resumed", (bool,), notes)) or len(info.sessions) > 1
    info.message = _typed(record, "message", (str,), notes) or ""
    status = _typed(record, "status", (str,), notes)
    if status not in STATUSES:
        if status is not None:
            notes.append(f"{RECORD_FILE}: unknown status {status!r}")
        status = "unknown"
    if status == "running" and trainer_alive(record.get("pid"), record.get("host"),
                                             record.get("process_start")) is False:
        status, info.message = "killed", KILLED_MESSAGE
    info.status = status
    if isinstance(record.get("version"), int) and record["version"] > RECORD_VERSION:
        notes.append(f"{RECORD_FILE} was written by a newer Netdraft (version "
                     f"{record['version']}); some of it may not show")


def read_run(run_dir: str | os.PathLike[str]) -> RunInfo:
    """Everything the history shows about one run folder; never raises on its files."""
    folder = Path(run_dir)
    info = RunInfo(path=folder, name=folder.name)
    info.checkpoints = {kind: folder / name for kind, name in CHECKPOINT_FILES.items()
                        if (folder / name).is_file()}
    info.rows, notes = read_metrics(folder / METRICS_FILE)
    record, why = read_record(folder)
    if why:
        notes.append(why)
    if record is not None:
        _apply_record(info, record, notes)
    else:
        info.epochs_done = info.rows[-1]["epoch"] if info.rows else 0
        interrupted = info.checkpoints.get("interrupted")
        last = info.checkpoints.get("last")
        if interrupted and (last is None or _mtime(interrupted) >= _mtime(last)):
            info.status = "interrupted"
    if info.started is None:
        info.started = _guess_started(folder)
    info.message = "; ".join(part for part in (info.message, *notes) if part)
    return info


def list_runs(runs_dir: str | os.PathLike[str]) -> list[RunInfo]:
    """Every run folder in ``runs_dir``, newest first; [] when there is none."""
    try:
        folders = [p for p in Path(runs_dir).iterdir() if p.is_dir() and looks_like_run(p)]
    except OSError:
        return []
    runs = [read_run(p) for p in folders]
    runs.sort(key=lambda r: (r.started or 0.0, r.name), reverse=True)
    return runs


# ------------------------------------------------------------------ naming, deleting
def runs_dir_for(project_file: str | os.PathLike[str]) -> Path:
    return Path(project_file).parent / "runs"


def safe_name(name: str) -> str:
    """Letters, digits, - and _ only (no dots or separators: never a path of its own)."""
    cleaned = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:60]
    return cleaned or "run"


def new_run_dir(project_file: str | os.PathLike[str], project_name: str,
                now: datetime.datetime | None = None) -> Path:
    """runs/NAME-YYYYmmdd-HHMMSS beside the project file, with -2, -3, ... when that name
    is taken. The folder is not created: the trainer creates it."""
    stamp = (now or datetime.datetime.now()).strftime("%Y%m%d-%H%M%S")
    base = runs_dir_for(project_file) / f"{safe_name(project_name)}-{stamp}"
    candidate, number = base, 1
    while candidate.exists() or candidate.is_symlink():
        number += 1
        candidate = base.with_name(f"{base.name}-{number}")
    return candidate


def delete_run(run_dir: str | os.PathLike[str]) -> None:
    """Remove a run folder; ValueError (naming the folder and why) when it is not one or
    its trainer may still be running. Links inside are removed as links, never followed."""
    folder = Path(run_dir)
    if folder.is_symlink():
        raise ValueError(f"{folder}: a symbolic link, not a run folder; nothing deleted "
                         f"(remove the link itself if you mean to)")
    if not folder.is_dir():
        raise ValueError(f"{folder}: no such folder; nothing deleted")
    if not looks_like_run(folder):
        raise ValueError(f"{folder}: not a run folder (it holds no {', '.join(RUN_FILES)}); "
                         f"nothing deleted")
    if any(folder.glob("*.netdraft")):
        raise ValueError(f"{folder}: holds a project file (.netdraft), so it is more than "
                         f"a run folder; nothing deleted")
    info = read_run(folder)
    if info.status == "running":
        record, _ = read_record(folder)
        who = f"pid {record.get('pid')} on {record.get('host')}" if record else "a trainer"
        raise ValueError(f"{folder}: its trainer ({who}) is still running; stop the run "
                         f"first; nothing deleted")
    # rmtree removes symbolic links inside the folder without following them (and refuses
    # a link as its root, checked above).
    shutil.rmtree(folder)


# ------------------------------------------------------------------------ comparing
def settings_differences(runs: list[RunInfo]) -> list[tuple[str, list[Any]]]:
    """The "section.key" settings whose values differ between runs, in the schemas' order
    (keys the schemas do not know last), each with its value per run. Missing keys take
    their defaults, so an explicit default equals an omitted one. A run without recorded
    settings (older runs) shows None and does not by itself make a difference."""
    differences: list[tuple[str, list[Any]]] = []
    for section in settings_schema.SECTIONS:
        resolved: list[dict[str, Any] | None] = []
        for run in runs:
            values = run.settings.get(section) if isinstance(run.settings, dict) else None
            resolved.append(settings_schema.resolve(section, values)
                            if isinstance(values, dict) else None)
        known = [p.name for p in settings_schema.SECTIONS[section]]
        extra = sorted({k for values in resolved if values for k in values} - set(known))
        for key in known + extra:
            per_run = [values.get(key) if values is not None else None for values in resolved]
            seen = [v for v, values in zip(per_run, resolved) if values is not None]
            if any(v != seen[0] for v in seen[1:]):
                differences.append((f"{section}.{key}", per_run))
    return differences


def best_metric_text(info: RunInfo) -> str:
    """E.g. "val_accuracy 98.1 % (epoch 7)", "val_loss 0.0612 (epoch 7)", "—" when none."""
    value = info.best_value
    if value is None:
        return "—"
    monitor = info.monitor or "best"
    shown = f"{value * 100:.1f} %" if monitor.endswith("accuracy") else f"{value:.4f}"
    epoch = f" (epoch {info.best_epoch})" if info.best_epoch is not None else ""
    return f"{monitor} {shown}{epoch}"
