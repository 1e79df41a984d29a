"""Measured latency per block in the window: the document's last profile (`main.py
profile`, engine.export.profile, run on a worker thread on a copy of the project), read by
the share bar's "Latency (measured)" choice, the block tooltips and the summary table.

Any edit after a profile makes it stale: the figures stay, marked so, until the next
profile.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from designer import workers


class MeasuredLatency(QObject):
    changed = Signal()  # a new profile, or the last one went stale

    def __init__(self, undo_stack: QUndoStack) -> None:
        super().__init__(undo_stack)
        self.ms: dict[str, float] = {}  # block id -> ms per run
        self.share: dict[str, float] = {}
        self.total_ms = 0.0
        self.batch = 0
        self.stale = False
        undo_stack.indexChanged.connect(self._edited)

    @property
    def measured(self) -> bool:
        return bool(self.ms)

    def set_profile(self, profile: Any) -> None:
        """An engine.export.profile.Profile of this document's network."""
        self.ms = {b.id: b.ms for b in profile.blocks}
        self.share = {b.id: b.share for b in profile.blocks}
        self.total_ms = profile.total_ms
        self.batch = profile.batch
        self.stale = False
        self.changed.emit()

    def _edited(self, _index: int) -> None:
        if self.ms and not self.stale:
            self.stale = True
            self.changed.emit()

    def micros(self, node_ids: list[str]) -> int:
        """The blocks' measured time in µs: the share bar's measure."""
        return round(1000 * sum(self.ms.get(n, 0.0) for n in node_ids))

    def total_micros(self) -> int:
        return round(1000 * sum(self.ms.values()))

    def text(self, node_ids: list[str]) -> str:
        """'0.412 ms (23.1 %) measured' for a block (or a group's blocks), '' when none was
        profiled."""
        if not self.ms or not any(n in self.ms for n in node_ids):
            return ""
        ms = sum(self.ms.get(n, 0.0) for n in node_ids)
        share = sum(self.share.get(n, 0.0) for n in node_ids)
        stale = ", stale: edited since" if self.stale else ""
        return f"{ms:.3f} ms ({100 * share:.1f} %, batch {self.batch}{stale})"


def latency_ids(doc: Any, node_id: str) -> list[str]:
    """The blocks a block or group's latency is the sum of."""
    node = doc.graph.nodes.get(node_id)
    if node is None:
        return []
    return [m.id for m in doc.graph.members(node_id)] if node.is_group else [node_id]


def profile_document(window: Any) -> workers.Job | None:
    """Profile the window's network (float32, batch 1, fresh weights: the time does not
    depend on their values) on a worker thread; the figures land in doc.latency."""
    from designer.dialogs.export_dialog import snapshot

    doc = window.doc
    if doc is None:
        return None
    project = snapshot(doc.project)
    window.statusBar().showMessage("Profiling the network in onnxruntime…")

    def work(_job):
        from engine.export.profile import profile

        return profile(project, doc.path, weights="none", batch=1)

    def done(result) -> None:
        if window.doc is doc:
            doc.latency.set_profile(result)
            window.scene.set_bar_measure("latency")
            window.actions_by_name["bar_latency"].setChecked(True)
            window.statusBar().showMessage(
                f"Profiled: {result.total_ms:.3f} ms per image (onnxruntime CPU)", 8000)

    def failed(message: str) -> None:
        window.statusBar().showMessage(f"Profiling failed: {message}", 8000)

    return workers.start(work, done, failed, parent=window)
