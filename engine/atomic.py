"""Atomic file writes (DESIGN.md rule 8): the new content goes to a temporary file in the
target's own folder, is flushed to disk, and is renamed over the target. A reader sees the
old file or the new one, never half of one; a process killed mid-write leaves the old file
and a stray ``.NAME.PID.HEX.tmp`` that remove_stray_temps cleans up. The temporary file is
created exclusively and without following a symbolic link, and a rename replaces a link
itself, so nothing is ever written through one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BINARY = getattr(os, "O_BINARY", 0)


def temp_path(path: Path) -> Path:
    """A fresh temporary name beside ``path`` (.NAME.PID.HEX.tmp), matched by TEMP_GLOB."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


TEMP_GLOB = ".*.tmp"


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str], mode: int = 0o666) -> Iterator[BinaryIO]:
    """A binary handle whose content replaces ``path`` when the block ends without an
    exception; on an exception the temporary file is removed and ``path`` is untouched.
    ``mode`` is filtered by the umask, as for open() (mkstemp's 0600 would hide a run's
    files from others who read the project's runs)."""
    path = Path(path)
    tmp = temp_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _BINARY, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    with replacing(path) as handle:
        handle.write(data)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def copy(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path:
    """Copy a regular file (not followed when it is a symbolic link) atomically."""
    fd = os.open(source, os.O_RDONLY | _NOFOLLOW | _BINARY)
    with os.fdopen(fd, "rb") as src, replacing(target) as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    return Path(target)


def remove_stray_temps(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files a killed writer left in ``folder`` (not in subfolders);
    call it only while no other writer uses the folder. Returns what was removed."""
    removed = []
    for path in Path(folder).glob(TEMP_GLOB):
        if path.is_symlink() or path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a folder cannot be opened on Windows."""
    if os.name == "nt":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
