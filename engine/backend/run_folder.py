"""Guarding a run folder while a trainer writes to it (DESIGN.md rule 8).

Before a trainer writes anything it claims the folder: it refuses one that holds symbolic
links to files outside it or run files that are not regular files (a FIFO would hang a
reader), locks it (RUN_DIR/.lock, an OS lock that dies with the process, so a SIGKILL never
leaves a stale lock; the holder's pid is written inside for the refusal), refuses a new run
over an existing one unless asked (--overwrite), and removes the temporary files a killed
trainer left. Only rank 0 of a multi-process run claims the folder. torch-free. A new run's
folder is named here too (default_run_dir).
"""

from __future__ import annotations

import datetime
import os
import shutil
import stat
from pathlib import Path

from engine import atomic
from engine.runs import BEST, INTERRUPTED, LAST, METRICS_FILE, RECORD_FILE

LOCK_FILE = ".lock"
PER_CLASS_FILE = "per_class.csv"
SUBFOLDERS = ("confusion", "tensorboard")  # looked into one level deep, no further
CHECKPOINTS = (LAST, BEST, INTERRUPTED)
REGULAR_FILES = (RECORD_FILE, METRICS_FILE, PER_CLASS_FILE, *CHECKPOINTS)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]


def default_run_dir(name: str) -> Path:
    """runs/NAME-YYYYMMDD-HHMMSS, relative to the working directory: a new run's folder when
    none is given, the project's name made safe for a file name."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "run"
    return Path("runs") / f"{safe}-{stamp}"


class RunFolderError(Exception):
    """A run folder a trainer may not write to (links out of it, in use, holds another
    run): bad usage, exit 2, naming what is wrong and what to do."""


def _entries(folder: Path) -> list[Path]:
    """The folder's own entries and those of its confusion/ and tensorboard/ folders (not
    when those are links: the link itself is an entry of the folder)."""
    found = []
    for place in (folder, *(folder / name for name in SUBFOLDERS)):
        if place != folder and (place.is_symlink() or not place.is_dir()):
            continue
        try:
            found += [Path(entry.path) for entry in os.scandir(place)]
        except OSError:
            continue
    return found


def outside_links(folder: Path) -> list[Path]:
    """Symbolic links in the run folder whose targets lie outside it (dangling ones too)."""
    root = Path(os.path.realpath(folder))
    return [path for path in _entries(folder) if path.is_symlink()
            and not Path(os.path.realpath(path)).is_relative_to(root)]


def irregular_files(folder: Path) -> list[Path]:
    """Run files (run.json, metrics.csv, per_class.csv, the checkpoints) that exist but are
    not regular files: a FIFO, a device or a folder in their place."""
    found = []
    for name in REGULAR_FILES:
        path = folder / name
        try:
            mode = path.stat().st_mode
        except OSError:
            continue  # missing, or a dangling link (outside_links names it)
        if not stat.S_ISREG(mode):
            found.append(path)
    return found


def check(folder: Path) -> None:
    """Refuse a run folder a trainer must not write to or read from."""
    if not folder.is_dir():
        if folder.exists() or folder.is_symlink():
            raise RunFolderError(f"{folder}: not a folder; give --out a folder for the run")
        return
    problems = []
    links = outside_links(folder)
    if links:
        problems.append("symbolic links to files outside it (" + ", ".join(
            f"{p.relative_to(folder)} -> {os.readlink(p)}" for p in links) + ")")
    irregular = irregular_files(folder)
    if irregular:
        problems.append(", ".join(p.name for p in irregular) + ", not a regular file ("
                        "a FIFO, device or folder where a run file belongs)")
    if problems:
        raise RunFolderError(f"{folder}: holds " + " and ".join(problems) + "; a trainer "
                             "writes only its own files: remove them (copy a file in "
                             "instead of linking it) and run again")


def run_files(folder: Path) -> list[str]:
    """The names of the files that make the folder hold a run: run.json, metrics.csv and
    any checkpoint (*.pt)."""
    names = [n for n in (RECORD_FILE, METRICS_FILE)
             if (folder / n).exists() or (folder / n).is_symlink()]
    try:
        names += sorted(p.name for p in folder.glob("*.pt"))
    except OSError:
        pass
    return names


def check_new_run(folder: Path) -> None:
    """Refuse to start a new run over the one the folder already holds."""
    names = run_files(folder)
    if names:
        raise RunFolderError(f"{folder} already holds a run ({', '.join(names)}); use "
                             f"--overwrite to replace it with a new run, or --resume "
                             f"{folder} to continue it")


def clear_run(folder: Path) -> None:
    """Remove a previous run's checkpoints and TensorBoard files (a new run replaces it by
    --overwrite); run.json and the CSV files are rewritten by the new run."""
    for name in CHECKPOINTS:
        (folder / name).unlink(missing_ok=True)
    board = folder / "tensorboard"
    if board.is_symlink():
        board.unlink()
    elif board.is_dir():
        shutil.rmtree(board)


def remove_stray_temps(folder: Path) -> list[Path]:
    """The temporary files a killed trainer left in the folder and its confusion/."""
    removed = atomic.remove_stray_temps(folder)
    confusion = folder / "confusion"
    if confusion.is_dir() and not confusion.is_symlink():
        removed += atomic.remove_stray_temps(confusion)
    return removed


# --------------------------------------------------------------------------- the lock
class RunLock:
    """An exclusive lock on RUN_DIR/.lock held while the trainer lives: flock on POSIX,
    msvcrt.locking on Windows; both end with the process, however it ends."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self.fd: int | None = None

    def acquire(self) -> None:
        fd = _open_lock(self.path, os.O_RDWR | os.O_CREAT)
        try:
            locked = _try_lock(fd)
        except OSError as exc:
            os.close(fd)
            raise RunFolderError(f"{self.path}: the run folder cannot be locked "
                                 f"({exc.strerror or exc}); train into a folder on a local "
                                 f"disk (--out)") from None
        if not locked:
            pid = _read_pid(fd)
            os.close(fd)
            who = f"pid {pid}" if pid else "a process whose pid it has not written yet"
            raise RunFolderError(f"{self.folder} is in use by another trainer ({who}); "
                                 f"wait for it to end or stop it, or train into another "
                                 f"folder (--out)")
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the file ends the lock
            self.fd = None


def lock_holder(folder: Path) -> int | None:
    """The pid of the trainer that holds the folder's lock (this process's own pid when it
    does); None when no trainer holds it."""
    path = Path(folder) / LOCK_FILE
    try:
        fd = _open_lock(path, os.O_RDWR)
    except (OSError, RunFolderError):
        return None
    try:
        if _try_lock(fd):
            return None
        return _read_pid(fd) or -1
    except OSError:
        return None
    finally:
        os.close(fd)


def _open_lock(path: Path, flags: int) -> int:
    if path.is_symlink():
        raise RunFolderError(f"{path}: a symbolic link; remove it (a trainer never writes "
                             f"through a link)")
    try:
        fd = os.open(path, flags | _NOFOLLOW, 0o666)
    except OSError as exc:
        raise RunFolderError(f"{path}: cannot be opened to lock the run folder "
                             f"({exc.strerror or exc})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise RunFolderError(f"{path}: not a regular file; remove it and run again")
    return fd


_WINDOWS_LOCK_OFFSET = 1 << 30  # msvcrt locks bytes: lock one far from the pid's


def _try_lock(fd: int) -> bool:
    """Take the lock without waiting: False when another process holds it."""
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
    import msvcrt

    os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
    try:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    finally:
        os.lseek(fd, 0, os.SEEK_SET)
    return True


def _read_pid(fd: int) -> int | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 32).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
