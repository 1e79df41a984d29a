"""The Keras-style summary table: one row per block, totals below; a click selects the block."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from designer.document import Document, Refresh
from designer.latency import MeasuredLatency
from engine.shapes import fmt_shape
from engine.summary import HIDDEN_KINDS, Row, Summary, human_bytes, human_count, summarize

HEADERS = ("Layer (type)", "Output shape", "Param #", "MACs", "Latency (measured)", "Group")
LATENCY = HEADERS.index("Latency (measured)")


class SummaryModel(QAbstractTableModel):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.rows: list[Row] = []
        self.where: dict[str, int] = {}  # node id -> row
        self.latency: MeasuredLatency | None = None

    def update_row(self, row: Row) -> None:
        i = self.where.get(row.node_id)
        if i is not None and self.rows[i] != row:
            self.rows[i] = row
            self.dataChanged.emit(self.index(i, 0), self.index(i, len(HEADERS) - 1))

    def set_rows(self, rows: list[Row]) -> None:
        if [r.node_id for r in rows] != [r.node_id for r in self.rows]:
            self.beginResetModel()
            self.rows = rows
            self.where = {r.node_id: i for i, r in enumerate(rows)}
            self.endResetModel()
            return
        old, self.rows = self.rows, rows
        for i, (a, b) in enumerate(zip(old, rows)):
            if a != b:
                self.dataChanged.emit(self.index(i, 0), self.index(i, len(HEADERS) - 1))

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        row = self.rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return f"{row.name} ({row.kind})"
            if column == 1:
                return row.output_shape if row.status == "ok" else row.status
            if column == 2:
                return f"{row.params:,}"
            if column == 3:
                return human_count(row.macs)
            if column == LATENCY:
                return self._latency(row.node_id)
            return row.group
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (2, 3, LATENCY):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and row.status != "ok":
            return QColor("#d12c2c") if row.status == "problem" else QColor("#b08a1e")
        if role == Qt.ItemDataRole.UserRole:
            return row.node_id
        if role == Qt.ItemDataRole.ToolTipRole and column == 3:
            return f"{row.macs:,} multiply-accumulates per image"
        if role == Qt.ItemDataRole.ToolTipRole and column == LATENCY and self.latency:
            return self.latency.text([row.node_id]) or None
        return None

    def _latency(self, node_id: str) -> str:
        if self.latency is None or node_id not in self.latency.ms:
            return ""
        mark = " (stale)" if self.latency.stale else ""
        return f"{self.latency.ms[node_id]:.3f} ms{mark}"

    def latency_changed(self) -> None:
        if self.rows:
            self.dataChanged.emit(self.index(0, LATENCY), self.index(len(self.rows) - 1,
                                                                      LATENCY))


def row_for(doc: Document, node_id: str) -> Row | None:
    """The summary row of one block, as engine.summary.summarize builds it."""
    node = doc.graph.nodes.get(node_id)
    result = doc.analysis.results.get(node_id)
    if node is None or result is None or node.kind in HIDDEN_KINDS:
        return None
    group = doc.graph.nodes[node.parent].name if node.parent else ""
    return Row(node_id, node.name, node.kind, group, fmt_shape(result.shape), result.params,
               result.trainable, result.non_trainable, result.macs, result.status)


def footer_text(summary: Summary) -> str:
    return (f"Total params: {summary.total_params:,}   ·   Trainable params: "
            f"{summary.trainable_params:,}   ·   Non-trainable params: "
            f"{summary.non_trainable_params:,}\nMACs per image: {summary.macs:,} "
            f"({human_count(summary.macs)})   ·   Activation memory per image: "
            f"{human_bytes(summary.activation_bytes)}   ·   Input: {summary.input_shape}")


class SummaryPanel(QWidget):
    node_activated = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc: Document | None = None
        self.model = SummaryModel(self)
        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        # Fixed widths: sizing columns to their contents reads every row on every change.
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        width = self.table.fontMetrics().horizontalAdvance
        # The header's own font may be bolder than the cells': its title must fit too.
        title_width = header.fontMetrics().horizontalAdvance
        for column, sample in enumerate(("", "1024×112×112", "99,999,999", "999.99 M",
                                         "99.999 ms (stale)", "layer4_2_downsample")):
            if column:
                header.resizeSection(column, max(width(sample), title_width(HEADERS[column]))
                                     + 24)
        self.footer = QLabel(self)
        self.footer.setTextFormat(Qt.TextFormat.PlainText)
        self.footer.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.table)
        layout.addWidget(self.footer)
        self.table.clicked.connect(self._clicked)
        self.table.activated.connect(self._clicked)

    def set_document(self, doc: Document) -> None:
        if self.doc is not None:
            self.doc.refreshed.disconnect(self.on_refresh)
            self.doc.latency.changed.disconnect(self.model.latency_changed)
        self.doc = doc
        self.model.latency = doc.latency
        doc.refreshed.connect(self.on_refresh)
        doc.latency.changed.connect(self.model.latency_changed)
        self.refresh()

    def on_refresh(self, refresh: Refresh) -> None:
        if refresh.structure or refresh.everything:
            self.refresh()
        elif refresh.results or refresh.nodes:
            # An edit that leaves the blocks and their order alone: only its rows change.
            for node_id in refresh.results | refresh.nodes:
                row = row_for(self.doc, node_id)
                if row is not None:
                    self.model.update_row(row)
            self._set_footer(footer_text(self._totals_summary()))

    def refresh(self) -> None:
        summary = summarize(self.doc.graph, self.doc.analysis)
        self.model.set_rows(list(summary.rows))
        self._set_footer(footer_text(summary))

    def _set_footer(self, text: str) -> None:
        if self.footer.text() != text:  # a label relayouts on every setText
            self.footer.setText(text)

    def _totals_summary(self) -> Summary:
        totals = self.doc.totals
        first = self.doc.analysis.order[:1]
        shape = "?"
        if first and self.doc.analysis.results[first[0]].shape:
            shape = fmt_shape(self.doc.analysis.results[first[0]].shape)
        return Summary((), totals["params"], totals["trainable"], totals["non_trainable"],
                       totals["macs"], totals["memory"], shape, ())

    def select_node(self, node_id: str | None) -> None:
        for i, row in enumerate(self.model.rows):
            if row.node_id == node_id:
                self.table.blockSignals(True)
                self.table.selectRow(i)
                self.table.blockSignals(False)
                return
        self.table.clearSelection()

    def _clicked(self, index: QModelIndex) -> None:
        node_id = index.data(Qt.ItemDataRole.UserRole)
        if node_id:
            self.node_activated.emit(node_id)
