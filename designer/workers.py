"""Work that must not freeze the window (torch imports, data scans, previews) runs here, on a
pool thread; its result, error and progress come back to the GUI thread as queued signals.

A Job is owned by whoever started it; dropping interest is ``cancel()``: the function sees
``job.cancelled`` and the late result is never delivered.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal

QUEUED = Qt.ConnectionType.QueuedConnection
# Jobs whose result has not been delivered: a job dropped by its owner must not be
# collected while its thread still signals through it.
_LIVE: set[Job] = set()


class Job(QObject):
    done = Signal(object)
    failed = Signal(str)
    progress = Signal(int, int)

    def __init__(self, fn: Callable[[Job], Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.fn = fn
        self.cancelled = False
        self.finished = False

    def cancel(self) -> None:
        self.cancelled = True

    def report(self, done: int, total: int) -> None:
        """Called from the worker thread; the GUI hears it through a queued signal."""
        if not self.cancelled:
            self.progress.emit(done, total)

    def _deliver(self, ok: bool, value: Any) -> None:
        self.finished = True
        _LIVE.discard(self)
        if self.cancelled:
            return
        (self.done if ok else self.failed).emit(value)


class _Runner(QRunnable):
    def __init__(self, job: Job, deliver: _Delivery) -> None:
        super().__init__()
        self.job, self.deliver = job, deliver
        self.setAutoDelete(True)

    def run(self) -> None:
        try:
            outcome = (True, self.job.fn(self.job))
        except Exception as exc:  # shown to the user as one line, never a traceback
            if os.environ.get("NETDRAFT_DEBUG"):
                traceback.print_exc()
            outcome = (False, describe(exc))
        try:
            self.deliver.result.emit(*outcome)
        except RuntimeError:  # the window went away while this ran: nobody to tell
            pass


class _Delivery(QObject):
    """Lives in the GUI thread, so its queued signal hands the result over there."""

    result = Signal(bool, object)


def describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return text if text else type(exc).__name__


def start(fn: Callable[[Job], Any], on_done: Callable[[Any], None],
          on_failed: Callable[[str], None] | None = None,
          on_progress: Callable[[int, int], None] | None = None,
          parent: QObject | None = None) -> Job:
    """Run ``fn(job)`` on a pool thread; the callbacks run on the GUI thread."""
    # Not a child of ``parent``: a job outlives a closed panel until its thread ends, and
    # then delivers nothing.
    job = Job(fn)
    if parent is not None:
        parent.destroyed.connect(job.cancel)
    delivery = _Delivery(job)
    delivery.result.connect(job._deliver, QUEUED)
    job.done.connect(on_done)
    if on_failed is not None:
        job.failed.connect(on_failed)
    if on_progress is not None:
        job.progress.connect(on_progress, QUEUED)
    _LIVE.add(job)
    QThreadPool.globalInstance().start(_Runner(job, delivery))
    return job


def wait_all(msecs: int = 30000) -> bool:
    """Tests and quitting: let running jobs finish."""
    return QThreadPool.globalInstance().waitForDone(msecs)
