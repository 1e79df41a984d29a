"""The Netdraft designer: PySide6 views and undoable commands over the engine."""

from __future__ import annotations

import sys


def _keep_none_alive() -> None:
    """PySide6 6.12 is built for Pythons where None, True and False are immortal: its void
    methods return None (and some calls True or False, e.g. Signal.emit) without taking a
    reference. On Python 3.11 each call drops one of their references, and after a few
    thousand calls (one repaint of a large network) the interpreter aborts with
    "deallocating None". Give them more references than a session can drop."""
    if sys.version_info >= (3, 12):
        return
    import ctypes

    import PySide6

    if tuple(PySide6.__version_info__[:2]) >= (6, 12):
        for constant in (None, True, False):
            ctypes.c_ssize_t.from_address(id(constant)).value += 1 << 40


_keep_none_alive()
