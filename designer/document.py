"""One open project: the engine's Project, its live Analysis, its undo stack and the ui data.

The Document is where the designer meets the engine. It never copies the model: positions
and collapsed groups live in ``project.ui`` (the file keeps them there), everything else in
the Graph. It collects the engine's change notifications and, once per event-loop turn,
updates the analysis and emits one ``refreshed`` signal naming what changed, so that the
canvas and the panels repaint only that.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoStack

from designer.latency import MeasuredLatency
from engine import data_fit
from engine.graph import Change, ChangeKind, Edge, Graph
from engine.project import Project
from engine.validate import Analysis

Point = tuple[float, float]


@dataclass
class Refresh:
    """What one flush changed. ``results``: ids whose analysis changed; ``nodes``: ids whose
    name, parameters or group changed; ``positions``: ids that moved; ``structure``: blocks,
    edges, groups or collapsed groups changed, so visibility must be recomputed."""

    results: set[str] = field(default_factory=set)
    nodes: set[str] = field(default_factory=set)
    added: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)
    edges_added: set[Edge] = field(default_factory=set)
    edges_removed: set[Edge] = field(default_factory=set)
    positions: set[str] = field(default_factory=set)
    structure: bool = False
    everything: bool = False

    def __bool__(self) -> bool:
        return bool(self.results or self.nodes or self.added or self.removed
                    or self.edges_added or self.edges_removed or self.positions
                    or self.structure or self.everything)


# A setting absent from the project file (its default applies), as opposed to one set.
ABSENT = object()
SETTINGS_SECTIONS = ("data", "augmentation", "training")


class Document(QObject):
    refreshed = Signal(object)  # Refresh
    message = Signal(str)  # a refused edit, for the status bar
    settings_changed = Signal(str)  # a settings section: data, augmentation or training
    info_changed = Signal()  # the project's name or description

    def __init__(self, project: Project | None = None, path: str | Path | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.project = project if project is not None else Project()
        self.path: Path | None = Path(path) if path else None
        self.graph: Graph = self.project.graph
        self.project.ui.setdefault("positions", {})
        if "collapsed" not in self.project.ui:
            # Templates open with their groups collapsed (the ui key is absent there).
            self.project.ui["collapsed"] = sorted(n.id for n in self.graph.nodes.values()
                                                  if n.is_group)
        self.analysis = Analysis(self.graph, live=True)
        # What the last data scan found; the Input and Output are checked against it.
        self.data_facts: data_fit.DataFacts | None = None
        self.data_fit = data_fit.FitReport()
        # A failed training run's message, on the block it names, until the next run.
        self.run_problems: dict[str, Any] = {}
        # The network's totals, kept up to date per changed block once per flush.
        self._counts: dict[str, tuple[int, int, int, int]] = {}
        self.totals = {"trainable": 0, "non_trainable": 0, "macs": 0, "memory": 0,
                       "params": 0}
        self._count(self.graph.nodes)
        self.undo_stack = QUndoStack(self)
        self.latency = MeasuredLatency(self.undo_stack)  # the last profile, stale after edits
        self._pending = Refresh()  # views build themselves from the current state
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.flush)
        self.graph.changed.subscribe(self._on_change)

    def close(self) -> None:
        self.graph.changed.unsubscribe(self._on_change)
        self.analysis.close()
        self._timer.stop()
        self.undo_stack.clear()  # the commands go now, while the document is whole

    # ---------------------------------------------------------------- naming
    @property
    def title(self) -> str:
        return self.path.name if self.path else f"{self.project.name}"

    @property
    def modified(self) -> bool:
        return not self.undo_stack.isClean()

    def label(self, node_id: str) -> str:
        node = self.graph.nodes.get(node_id)
        return node.name if node else node_id

    # ------------------------------------------------------------- ui state
    @property
    def positions(self) -> dict[str, list[float]]:
        return self.project.ui["positions"]

    def position(self, node_id: str) -> Point | None:
        pos = self.positions.get(node_id)
        return (float(pos[0]), float(pos[1])) if pos is not None else None

    def set_positions(self, mapping: dict[str, Point | None]) -> dict[str, Point | None]:
        """Move blocks (None forgets a position); returns the previous positions."""
        old: dict[str, Point | None] = {}
        for node_id, pos in mapping.items():
            old[node_id] = self.position(node_id)
            if pos is None:
                self.positions.pop(node_id, None)
            else:
                self.positions[node_id] = [round(float(pos[0]), 2), round(float(pos[1]), 2)]
        self._pending.positions.update(mapping)
        self._schedule()
        return old

    @property
    def collapsed(self) -> set[str]:
        return set(self.project.ui.get("collapsed", []))

    def is_collapsed(self, group_id: str) -> bool:
        return group_id in self.project.ui.get("collapsed", [])

    def set_collapsed(self, group_id: str, flag: bool) -> bool:
        old = self.is_collapsed(group_id)
        current = self.collapsed
        if flag:
            current.add(group_id)
        else:
            current.discard(group_id)
        self.project.ui["collapsed"] = sorted(current)
        self._pending.structure = True
        self._pending.nodes.add(group_id)
        self._schedule()
        return old

    def change_view(self, group_id: str, collapsed: bool,
                    positions: dict[str, Point] | None = None) -> None:
        """Expand or collapse a group and move blocks to fit: a view change kept in the
        project's ui (saved with it) but outside the undo stack, so it neither marks the
        project modified nor adds an undo step."""
        self.set_collapsed(group_id, collapsed)
        if positions:
            self.set_positions(positions)

    @property
    def direction(self) -> str:
        """How blocks flow on the canvas: "TB" (top to bottom) or "LR"."""
        return "LR" if self.project.ui.get("direction") == "LR" else "TB"

    def set_ui(self, key: str, value: Any) -> None:
        """Set (None: remove) a ui value other than positions and collapsed groups."""
        if value is None:
            self.project.ui.pop(key, None)
        else:
            self.project.ui[key] = copy.deepcopy(value)
        self._pending.everything = True
        self._schedule()

    def visible_owner(self, node_id: str) -> str:
        """The node a block is drawn as: itself, or its outermost collapsed group."""
        collapsed = self.project.ui.get("collapsed", [])
        owner = node_id
        node = self.graph.nodes.get(node_id)
        while node is not None and node.parent is not None:
            if node.parent in collapsed:
                owner = node.parent
            node = self.graph.nodes.get(node.parent)
        return owner

    # ------------------------------------------------------------- settings
    def settings(self, section: str) -> dict[str, Any]:
        """A settings section with its defaults filled in."""
        return self.project.settings(section)

    def set_setting(self, section: str, key: str, value: Any) -> Any:
        """Set (ABSENT: remove) one setting; returns its previous value or ABSENT."""
        if section not in SETTINGS_SECTIONS:
            raise KeyError(section)
        values = getattr(self.project, section)
        old = values.get(key, ABSENT)
        if value is ABSENT:
            values.pop(key, None)
        else:
            values[key] = copy.deepcopy(value)
        self.settings_changed.emit(section)
        return old

    def set_weights(self, section: dict[str, Any]) -> dict[str, Any]:
        """Replace the project's weights section (which file, which blocks); returns the old."""
        old = self.project.weights
        self.project.weights = copy.deepcopy(section)
        # Every block's weights badge may change; a repaint, not a rebuild (which would
        # drop the canvas selection).
        self._pending.nodes |= set(self.graph.nodes)
        self._schedule()
        return old

    def set_info(self, key: str, value: str) -> str:
        """Set the project's "name" or "description"; returns the previous value."""
        if key not in ("name", "description"):
            raise KeyError(key)
        old = getattr(self.project, key)
        setattr(self.project, key, value)
        self.info_changed.emit()
        return old

    # ------------------------------------------------------------ data fit
    def set_data_facts(self, facts: data_fit.DataFacts | None) -> None:
        """The data's shape and classes (None: unknown) to check the Input and Output
        against; the problems appear with the next refresh like any other."""
        self.data_facts = facts
        self._schedule()  # the blocks whose problems change come back as changed results

    def set_run_problems(self, problems: dict[str, Any]) -> None:
        """Problems a training run reported on blocks (node id -> Problem); {} clears."""
        self.run_problems = dict(problems)
        self._schedule()

    def _check_data(self) -> None:
        report = data_fit.check(self.graph, self.data_facts,
                                self.project.ui.get(data_fit.ACCEPT_KEY))
        if report.problems != self.data_fit.problems or report.fixes != self.data_fit.fixes:
            self.data_fit = report
        live = {k: v for k, v in self.run_problems.items() if k in self.graph.nodes}
        self.analysis.set_external({**report.problems, **live})

    # ------------------------------------------------------------ following
    def _on_change(self, change: Change) -> None:
        pending = self._pending
        what = change.what
        if what is ChangeKind.NODE_ADDED:
            pending.added.add(change.node_id)
            pending.removed.discard(change.node_id)
            pending.structure = True
        elif what is ChangeKind.NODE_REMOVED:
            pending.removed.add(change.node_id)
            pending.added.discard(change.node_id)
            pending.structure = True
            self._forget_ui(change.node_id)
        elif what is ChangeKind.EDGE_ADDED:
            pending.edges_added.add(change.edge)
            pending.edges_removed.discard(change.edge)
            pending.structure = True
        elif what is ChangeKind.EDGE_REMOVED:
            pending.edges_removed.add(change.edge)
            pending.edges_added.discard(change.edge)
            pending.structure = True
        elif what is ChangeKind.PARENT_CHANGED:
            pending.nodes.add(change.node_id)
            pending.structure = True
        elif change.node_id is not None:
            pending.nodes.add(change.node_id)
        self._schedule()

    def _forget_ui(self, node_id: str) -> None:
        # Commands restore positions explicitly; a removed group must not stay collapsed.
        collapsed = self.project.ui.get("collapsed", [])
        if node_id in collapsed:
            self.project.ui["collapsed"] = [g for g in collapsed if g != node_id]

    def _schedule(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def _count(self, ids) -> None:
        totals = self.totals
        keys = ("trainable", "non_trainable", "macs", "memory")
        for node_id in ids:
            old = self._counts.pop(node_id, (0, 0, 0, 0))
            result = self.analysis.results.get(node_id)
            new = (0, 0, 0, 0) if result is None else (
                result.trainable, result.non_trainable, result.macs, result.memory)
            if result is not None:
                self._counts[node_id] = new
            for key, a, b in zip(keys, old, new):
                totals[key] += b - a
        totals["params"] = totals["trainable"] + totals["non_trainable"]

    def flush(self) -> Refresh:
        """Bring the analysis up to date and tell the views what changed (at most once per
        event-loop turn; tests may call it directly)."""
        self._timer.stop()
        pending, self._pending = self._pending, Refresh()
        self._check_data()
        pending.results = self.analysis.update()
        self._count(pending.results | pending.removed)
        if pending:
            self.refreshed.emit(pending)
        return pending
