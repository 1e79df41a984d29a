"""The palette: every registered kind by category, in the lecture's words, with a search box.

It reads the registry each time it is built, so kinds added to engine/layers appear here
without any change (DESIGN.md rule 3).
"""

from __future__ import annotations

import re

from PySide6.QtCore import QMimeData, QModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics, QKeyEvent, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QLineEdit,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from designer import block_search, icons
from designer.canvas.items import category_color
from designer.canvas.view import KIND_MIME
from engine.layers import REGISTRY, LayerKind

KIND_ROLE = Qt.ItemDataRole.UserRole
HELP_ROLE = Qt.ItemDataRole.UserRole + 1


# A sentence ends at ". " (not after e.g. or i.e.) or at "; "; a help often opens with a
# short title before ": " ("Max pooling: keeps the largest value ...").
_STOP = re.compile(r"(?<!e\.g)(?<!i\.e)\. |; |: ")


def one_line(text: str, kind_id: str = "") -> str:
    """The help's first sentence or title, without the kind's own name ("Flatten: unrolls
    ..." gives "Unrolls ...") and without a final period."""
    head, sep, rest = text.partition(": ")
    if sep and rest and head.lower() == kind_id.lower():
        text = rest[0].upper() + rest[1:]
    match = _STOP.search(text)
    if match:
        text = text[:match.start()]
    return text.rstrip(" .")


def elide_words(text: str, metrics: QFontMetrics, width: int) -> str:
    """``text`` cut after a whole word (and before an unclosed bracket) with "…" when it is
    wider than ``width``."""
    if metrics.horizontalAdvance(text) <= width:
        return text
    words = text.split(" ")
    while len(words) > 1:
        words.pop()
        shown = " ".join(words)
        if shown.count("(") > shown.count(")"):
            shown = shown[:shown.rindex("(")]
        shown = shown.rstrip(" ,;:–-") + "…"
        if metrics.horizontalAdvance(shown) <= width:
            return shown
    return metrics.elidedText(text, Qt.TextElideMode.ElideRight, width)


def tooltip(kind: LayerKind) -> str:
    rows = "".join(f"<li><b>{p.name}</b> ({_default(p.default)}): {p.help}</li>"
                   for p in kind.params)
    return (f"<b>{kind.id}</b> — {kind.category}<br>{kind.help}"
            + (f"<ul style='margin-left:-20px'>{rows}</ul>" if rows else "")
            + "<i>Drag onto the canvas, double-click or press Enter to add.</i>")


def _default(value) -> str:
    return "none" if value is None else str(value)


class _Delegate(QStyledItemDelegate):
    """Kind entries show two lines: the kind and its one-line help. The style draws the
    background and the icon; the text is drawn here (without QStyle's enums, which cost
    PySide ~9 ms to create at start)."""

    GAP = 6  # between the icon and the text, as Fusion lays them out

    def initStyleOption(self, option: QStyleOptionViewItem,  # noqa: N802
                        index: QModelIndex) -> None:
        super().initStyleOption(option, index)
        if index.data(HELP_ROLE):
            option.text = ""

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802
        size = super().sizeHint(option, index)
        if index.data(KIND_ROLE):
            bold = QFont(option.font)
            bold.setBold(True)
            name = QFontMetrics(bold).horizontalAdvance(index.data(Qt.ItemDataRole.DisplayRole))
            size.setWidth(max(size.width(), option.decorationSize.width() + self.GAP + name + 4))
            size.setHeight(max(size.height(), option.fontMetrics.height() * 2 + 8))
        return size

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex) -> None:
        super().paint(painter, option, index)
        help_text = index.data(HELP_ROLE)
        if not help_text:
            return
        tree = self.parent()
        selected = tree.itemFromIndex(index).isSelected()
        offset = tree.iconSize().width() + self.GAP
        textrect = option.rect.adjusted(offset, 0, -3, 0)
        palette = option.palette
        painter.save()
        bold = QFont(option.font)
        bold.setBold(True)
        line = option.fontMetrics.height()
        top = textrect.y() + (textrect.height() - 2 * line) // 2
        painter.setFont(bold)
        painter.setPen(palette.highlightedText().color() if selected else palette.text().color())
        painter.drawText(QRect(textrect.x(), top, textrect.width(), line),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         index.data(Qt.ItemDataRole.DisplayRole))
        small = QFont(option.font)
        small.setPointSizeF(max(option.font.pointSizeF() * 0.88, 7.0))
        painter.setFont(small)
        muted = palette.highlightedText().color() if selected else palette.placeholderText(
        ).color()
        painter.setPen(muted)
        elided = elide_words(help_text, painter.fontMetrics(), textrect.width())
        painter.drawText(QRect(textrect.x(), top + line, textrect.width(), line),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, elided)
        painter.restore()


class _Tree(QTreeWidget):
    def mimeData(self, items: list[QTreeWidgetItem]) -> QMimeData:  # noqa: N802
        mime = QMimeData()
        kinds = [i.data(0, KIND_ROLE) for i in items if i.data(0, KIND_ROLE)]
        if kinds:
            mime.setData(KIND_MIME, kinds[0].encode("utf-8"))
            mime.setText(kinds[0])
        return mime

    def mimeTypes(self) -> list[str]:  # noqa: N802
        return [KIND_MIME]


class Palette(QWidget):
    add_requested = Signal(str, object)  # kind id, parameters typed in the search (a dict)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Add a block: conv 32 relu ⏎")
        self.search.setToolTip("Type a block's name and press Enter to add it after the "
                               "selected block. Parameters may follow the name: "
                               "'conv 32 3x3 relu', 'dense 10 softmax', 'input 3x32x32', "
                               "'dropout 0.5', 'conv stride=2 same'.")
        self.search.setClearButtonEnabled(True)
        # What Enter will do, or why nothing matches (an empty list says nothing by itself).
        self.answer = QLabel(self)
        self.answer.setWordWrap(True)
        self.answer.setStyleSheet("color: palette(placeholder-text);")
        self.answer.hide()
        self.query = block_search.Query("")
        self.tree = _Tree(self)
        self.tree.setHeaderHidden(True)
        self.tree.setIconSize(QSize(22, 22))
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.tree.setItemDelegate(_Delegate(self.tree))
        self.tree.setUniformRowHeights(False)
        self.tree.setIndentation(10)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.search)
        layout.addWidget(self.answer)
        layout.addWidget(self.tree)
        self.search.textChanged.connect(self.filter)
        self.search.returnPressed.connect(self._add_first)
        self.tree.itemDoubleClicked.connect(self._double_clicked)
        self.search.installEventFilter(self)
        self.populate()

    def preferred_width(self) -> int:
        """Wide enough for every category's and every kind's name; the helps elide."""
        tree = self.tree
        margins = self.layout().contentsMargins()
        return (tree.sizeHintForColumn(0) + 2 * tree.frameWidth() + margins.left()
                + margins.right() + tree.verticalScrollBar().sizeHint().width() + 6)

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(self.preferred_width(), super().sizeHint().height())

    def populate(self) -> None:
        self.tree.clear()
        for category, kinds in REGISTRY.by_category().items():
            if not kinds:
                continue
            top = QTreeWidgetItem([category])
            top.setFlags(Qt.ItemFlag.ItemIsEnabled)
            top.setIcon(0, icons.icon(category, category_color(kinds[0].id)))
            font = top.font(0)
            font.setBold(True)
            top.setFont(0, font)
            self.tree.addTopLevelItem(top)
            for kind in kinds:
                item = QTreeWidgetItem([kind.id])
                item.setData(0, KIND_ROLE, kind.id)
                item.setData(0, HELP_ROLE, one_line(kind.help, kind.id))
                item.setToolTip(0, tooltip(kind))
                item.setIcon(0, icons.icon(category, category_color(kind.id)))
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                              | Qt.ItemFlag.ItemIsDragEnabled)
                top.addChild(item)
        self.tree.expandAll()

    def kind_items(self) -> list[QTreeWidgetItem]:
        out = []
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            out.extend(top.child(j) for j in range(top.childCount()))
        return out

    def filter(self, text: str) -> None:
        """Show the kinds the search names and highlight the best one (the block's own
        name before a mention in another's help: "flatten" is Flatten, not GlobalAvgPool)."""
        self.query = query = block_search.parse(text)
        matches = set(query.kinds) if text.strip() else None
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            any_shown = False
            for j in range(top.childCount()):
                item = top.child(j)
                shown = matches is None or item.data(0, KIND_ROLE) in matches
                item.setHidden(not shown)
                any_shown = any_shown or shown
            top.setHidden(not any_shown)
        answer = query.describe()
        self.answer.setText(answer)
        self.answer.setVisible(bool(answer))
        best = self.item_for(query.best) if query.best else None
        if best is not None:
            self.tree.setCurrentItem(best)
            self.tree.scrollToItem(best)
        elif not text.strip():
            self.tree.setCurrentItem(None)

    def item_for(self, kind_id: str) -> QTreeWidgetItem | None:
        return next((i for i in self.kind_items() if i.data(0, KIND_ROLE) == kind_id), None)

    def first_match(self) -> QTreeWidgetItem | None:
        for item in self.kind_items():
            if not item.isHidden() and not item.parent().isHidden():
                return item
        return None

    def _add_first(self) -> None:
        """Enter: add the highlighted kind with the parameters typed after its name, then
        clear the box (keeping the focus) for the next block of a chain."""
        if self.query.errors:
            return  # the line under the box says what cannot be read
        current = self.tree.currentItem()
        if current is None or current.isHidden() or not current.data(0, KIND_ROLE):
            current = self.first_match()
        if current is None:
            return
        kind = current.data(0, KIND_ROLE)
        params = dict(self.query.params) if kind == self.query.best else {}
        self.search.clear()
        self.add_requested.emit(kind, params)
        self.search.setFocus()

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    def _double_clicked(self, item: QTreeWidgetItem, column: int) -> None:
        kind = item.data(0, KIND_ROLE)
        if kind:
            self.add_requested.emit(kind, {})

    def eventFilter(self, obj, event) -> bool:  # noqa: N802
        # Up/Down in the search box walk the matches; Escape clears it.
        if obj is self.search and isinstance(event, QKeyEvent) and event.type() == (
                QKeyEvent.Type.KeyPress) and event.key() == Qt.Key.Key_Escape and (
                self.search.text()):
            self.search.clear()
            return True
        if obj is self.search and isinstance(event, QKeyEvent) and event.type() == (
                QKeyEvent.Type.KeyPress) and event.key() in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            visible = [i for i in self.kind_items() if not i.isHidden()]
            if visible:
                current = self.tree.currentItem()
                k = visible.index(current) if current in visible else -1
                k = k + (1 if event.key() == Qt.Key.Key_Down else -1)
                self.tree.setCurrentItem(visible[max(0, min(k, len(visible) - 1))])
            return True
        return super().eventFilter(obj, event)
