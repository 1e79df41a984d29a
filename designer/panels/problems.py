"""The problems list: every Problem of the analysis with its fix-it hint; a click jumps to
the block, and the fixes the hint names (the Problem's structured fixes: "use padding 'same'
or a kernel ≤ 28", the data not fitting the Input or Output) are buttons under the list,
each applied as one undoable edit."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from designer import commands, icons
from designer.document import Document, Refresh

NODE_ROLE = Qt.ItemDataRole.UserRole
INDEX_ROLE = Qt.ItemDataRole.UserRole + 1


def fixes_for(doc: Document, problem) -> list:
    """The one-click fixes of a problem: its own, and those of the data check for its block."""
    fixes = list(problem.fixes)
    fixes += [f for f in doc.data_fit.fixes if f.node_id == problem.node_id and f not in fixes]
    return fixes


def fix_button(doc: Document, fix, parent: QWidget) -> QPushButton:
    button = QPushButton(fix.label, parent)
    button.setToolTip("Apply this fix (one undoable edit)")
    button.clicked.connect(lambda _c=False: commands.execute(doc, commands.apply_fix(doc, fix)))
    return button


class ProblemsPanel(QWidget):
    node_activated = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc: Document | None = None
        self.heading = QLabel(self)
        self.list = QListWidget(self)
        self.list.setWordWrap(True)
        self.list.setAlternatingRowColors(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.heading)
        layout.addWidget(self.list)
        self.fix_row = QHBoxLayout()
        layout.addLayout(self.fix_row)
        self.fix_buttons: list[QPushButton] = []
        self.list.itemClicked.connect(self._clicked)
        self.list.itemActivated.connect(self._clicked)
        self.list.currentItemChanged.connect(lambda *_: self._show_fixes())
        self._shown: list[tuple] = []
        self._problems: list = []

    def set_document(self, doc: Document) -> None:
        if self.doc is not None:
            self.doc.refreshed.disconnect(self.on_refresh)
        self.doc = doc
        doc.refreshed.connect(self.on_refresh)
        self.refresh()

    def on_refresh(self, refresh: Refresh) -> None:
        if refresh.results or refresh.nodes or refresh.structure or refresh.everything:
            self.refresh()

    def refresh(self) -> None:
        problems = self.doc.analysis.problems
        shown = [(p.node_id, p.message, p.hint, tuple(fixes_for(self.doc, p)))
                 for p in problems]
        if shown == self._shown and self.heading.text():
            return
        current = self.list.currentRow()
        self._shown = shown
        self._problems = list(problems)
        self.list.blockSignals(True)
        self.list.clear()
        warn = icons.icon("problem", QColor("#d12c2c"))
        for k, (node_id, message, hint, _fixes) in enumerate(shown):
            text = message + (f"\n→ {hint}" if hint else "")
            item = QListWidgetItem(warn, text)
            item.setData(NODE_ROLE, node_id)
            item.setData(INDEX_ROLE, k)
            item.setToolTip(text)
            self.list.addItem(item)
        if shown:  # a problem is current, so its fixes show without a click
            self.list.setCurrentRow(min(max(current, 0), len(shown) - 1))
        self.list.blockSignals(False)
        self._show_fixes()
        count = len(shown)
        self.heading.setText("No problems: every shape fits." if not count else
                             f"{count} problem{'s' if count != 1 else ''} — click one to "
                             "jump to its block")

    def _show_fixes(self) -> None:
        for button in self.fix_buttons:
            self.fix_row.removeWidget(button)
            button.deleteLater()
        self.fix_buttons = []
        item = self.list.currentItem()
        index = item.data(INDEX_ROLE) if item is not None else None
        if self.doc is None or index is None or index >= len(self._problems):
            return
        for fix in fixes_for(self.doc, self._problems[index]):
            button = fix_button(self.doc, fix, self)
            self.fix_row.addWidget(button)
            self.fix_buttons.append(button)

    def texts(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]

    def _clicked(self, item: QListWidgetItem) -> None:
        node_id = item.data(NODE_ROLE)
        if node_id:
            self.node_activated.emit(node_id)
