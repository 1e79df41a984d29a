"""Opening the files a user names (projects, datasets) safely: only regular files, and
never more bytes than a stated limit, so `/dev/zero`, a FIFO or a folder given by mistake is
a message instead of a hang or a process that eats the machine's memory. No torch here."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from engine.memory import size_text


class FileRefused(ValueError):
    """A file that is not read: not a regular file, or larger than the limit for its role.
    The message names the file, what it is, and the limit."""


def _kind(mode: int) -> str:
    for test, words in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                        (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                        (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return words
    return "not a regular file"


def open_regular(path: str | os.PathLike[str], what: str) -> int:
    """A read-only descriptor of ``path`` once it is known to be a regular file (links are
    followed). The file is opened without blocking, so a FIFO is refused instead of waiting
    for a writer. Raises FileNotFoundError/OSError as os.open does, FileRefused for the rest.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise FileRefused(f"{path}: {_kind(mode)}, not a file; {what} is a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_regular(path: str | os.PathLike[str], what: str) -> None:
    """Refuse anything but a regular file, before a library opens it by name."""
    os.close(open_regular(path, what))


def read_capped(path: str | os.PathLike[str], limit: int, what: str) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; FileRefused names the limit.
    The limit holds even when the file grows while it is read."""
    fd = open_regular(path, what)
    with os.fdopen(fd, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > limit:
            raise FileRefused(_too_large(path, size, limit, what))
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise FileRefused(_too_large(path, len(data), limit, what, "or more"))
    return data


def _too_large(path: str | os.PathLike[str], size: int, limit: int, what: str,
               more: str = "") -> str:
    return (f"{Path(path)}: {size_text(size)}{f' {more}' if more else ''} is more than "
            f"Netdraft reads as {what} (the limit is {size_text(limit)}); is it the right file?")
