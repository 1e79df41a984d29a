"""Restore unsaved work: every recovery copy that crashed or killed designers left behind, one
row each with its project's name, file and time, and Restore / Discard on the row. Nothing is
deleted here; the dialog only says what the user chose (designer/files.py acts on it)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from html import escape

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from designer.autosave import Recovery


@dataclass
class RecoveryChoice:
    """The copy to restore in this window (None: none) and the copies to delete. Every other
    copy stays on disk and is offered again at the next start."""

    restore: Recovery | None = None
    discard: list[Recovery] = field(default_factory=list)


def describe(recovery: Recovery) -> str:
    """The row's text (rich text): bold name, the project's file or "never saved", the time."""
    if recovery.original:
        where = escape(recovery.original)
    else:
        where = "never saved to a file"
    when = (time.strftime("autosaved at %H:%M on %d %b %Y", time.localtime(recovery.saved_at))
            if recovery.saved_at else "autosaved at an unknown time")
    return (f"<b>{escape(recovery.name)}</b><br><span style='color:gray'>{where}</span><br>"
            f"{when}")


class RecoveryDialog(QDialog):
    def __init__(self, found: list[Recovery], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Restore unsaved work?")
        self.choice = RecoveryChoice()
        self.rows: dict[Recovery, QWidget] = {}
        self.buttons: dict[Recovery, tuple[QPushButton, QPushButton]] = {}  # restore, discard
        layout = QVBoxLayout(self)
        copies = "a copy" if len(found) == 1 else f"{len(found)} copies"
        intro = QLabel(
            "<b>Netdraft did not close properly last time.</b><br>"
            f"It kept {copies} of unsaved work. Restore opens one in this window; "
            "any others stay and are offered again the next time Netdraft starts. "
            "Later keeps them all.")
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(intro)
        body = QWidget()
        rows = QVBoxLayout(body)
        rows.setContentsMargins(0, 0, 0, 0)
        for recovery in found:
            rows.addWidget(self._row(recovery))
        rows.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        scroll.setMinimumWidth(560)
        scroll.setMinimumHeight(min(len(found), 4) * 78)
        layout.addWidget(scroll)
        buttons = QDialogButtonBox()
        self.later = buttons.addButton("Later", QDialogButtonBox.ButtonRole.RejectRole)
        self.later.setToolTip("Keep every copy; the next start offers them again")
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _row(self, recovery: Recovery) -> QWidget:
        row = QFrame()
        row.setFrameShape(QFrame.Shape.StyledPanel)
        line = QHBoxLayout(row)
        label = QLabel(describe(recovery))
        label.setTextFormat(Qt.TextFormat.RichText)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        line.addWidget(label, 1)
        restore = QPushButton("Restore")
        restore.setToolTip("Open this copy in this window")
        restore.clicked.connect(lambda: self.restore(recovery))
        discard = QPushButton("Discard")
        discard.setToolTip("Delete this copy")
        discard.clicked.connect(lambda: self.discard(recovery))
        line.addWidget(restore)
        line.addWidget(discard)
        self.rows[recovery] = row
        self.buttons[recovery] = (restore, discard)
        return row

    def restore(self, recovery: Recovery) -> None:
        self.choice.restore = recovery
        self.accept()

    def discard(self, recovery: Recovery) -> None:
        self.choice.discard.append(recovery)
        self.rows[recovery].hide()
        if all(row.isHidden() for row in self.rows.values()):
            self.accept()


def choose(found: list[Recovery], parent: QWidget | None = None) -> RecoveryChoice:
    """Ask which copies to restore or discard; closing the dialog keeps what is left."""
    dialog = RecoveryDialog(found, parent)
    dialog.exec()
    return dialog.choice
