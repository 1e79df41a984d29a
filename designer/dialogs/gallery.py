"""New from Template: each template's picture, description and parameter count."""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QIcon, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from designer import settings_store, theme
from designer.canvas.items import category_color
from engine import templates
from engine.graph import Graph, Node
from engine.project import Project, ProjectError
from engine.summary import human_count
from engine.validate import Analysis, analyze

THUMB = QSize(220, 160)
NAME_ROLE = Qt.ItemDataRole.UserRole
ABOUT_ROLE = Qt.ItemDataRole.UserRole + 1
Box = tuple[QPointF, float, float, Node]  # a unit's centre, width, height and node


def thumbnail(project: Project, size: QSize = THUMB) -> QPixmap:
    """A picture of the network: its top-level blocks in order (groups as one block),
    wrapped into columns, coloured by category, wider for more parameters."""
    graph = project.graph
    colors = theme.colors()
    pixmap = QPixmap(size)
    pixmap.fill(colors.background)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    analysis = analyze(graph)
    units = _top_units(graph, analysis.order)
    if not units:
        _draw_empty(painter, colors, size)
    else:
        _draw_blocks(painter, colors, graph, _block_boxes(graph, analysis, units, size))
    painter.end()
    return pixmap


def _top_units(graph: Graph, order: list[str]) -> list[str]:
    """The top-level blocks and groups, in the order of their first block."""
    units: list[str] = []
    for node_id in order:
        top = node_id
        while graph.nodes[top].parent is not None:
            top = graph.nodes[top].parent
        if top not in units:
            units.append(top)
    return units


def _draw_empty(painter: QPainter, colors: theme.CanvasColors, size: QSize) -> None:
    """An empty network: a dashed box with a plus."""
    painter.setPen(QPen(colors.muted, 2, Qt.PenStyle.DashLine))
    painter.drawRoundedRect(QRectF(size.width() / 2 - 30, size.height() / 2 - 20, 60, 40),
                            6, 6)
    painter.drawText(QRectF(0, 0, size.width(), size.height()),
                     Qt.AlignmentFlag.AlignCenter, "+")


def _block_boxes(graph: Graph, analysis: Analysis, units: list[str],
                 size: QSize) -> list[Box]:
    """(centre, width, height, node) of each unit: filled into up to three columns of about
    equal weight, wider for a larger share of the parameters."""
    total = max(analysis.totals()["params"], 1)
    # A group takes room for how many blocks it holds and shows its parts as stripes, so
    # ResNet-18, -50 and -152 (the same five stages) look as deep as they are.
    leaves = {u: (len([m for m in graph.members(u) if not m.is_group])
                  if graph.nodes[u].is_group else 1) for u in units}
    weight = {u: 1.0 + (math.log2(leaves[u]) if leaves[u] > 1 else 0.0) for u in units}
    columns = max(1, min(3, math.ceil(sum(weight.values()) / 12)))
    target = sum(weight.values()) / columns
    placed: list[tuple[str, int, float]] = []  # unit, column, its top in weights
    column, used = 0, 0.0
    for unit in units:
        if used + weight[unit] / 2 > target and used > 0 and column < columns - 1:
            column, used = column + 1, 0.0
        placed.append((unit, column, used))
        used += weight[unit]
    tallest = max(top + weight[unit] for unit, _c, top in placed)
    cell_w = (size.width() - 16) / columns
    scale = (size.height() - 16) / tallest
    centres = []
    for unit, column, top in placed:
        cell_h = weight[unit] * scale
        node = graph.nodes[unit]
        params = (analysis.group(unit).params if node.is_group
                  else analysis.results[unit].params)
        width = cell_w * (0.35 + 0.55 * min(1.0, (params / total) ** 0.35))
        centre = QPointF(8 + cell_w * (column + 0.5), 8 + top * scale + cell_h / 2)
        centres.append((centre, width, cell_h, node))
    return centres


def _draw_blocks(painter: QPainter, colors: theme.CanvasColors, graph: Graph,
                 centres: list[Box]) -> None:
    """The units joined in order, each a rounded box; a group striped by its parts."""
    painter.setPen(QPen(colors.edge, 1))
    for (a, *_), (b, *_) in zip(centres, centres[1:]):
        painter.drawLine(a, b)
    for centre, width, cell_h, node in centres:
        color = colors.group_frame if node.is_group else category_color(node.kind)
        rect = QRectF(centre.x() - width / 2, centre.y() - cell_h * 0.4, width,
                      max(cell_h * 0.8, 2.0))
        painter.setPen(QPen(color.darker(130), 1))
        painter.setBrush(color)
        painter.drawRoundedRect(rect, 2, 2)
        parts = len(graph.children(node.id)) if node.is_group else 0
        if parts > 1:
            painter.setPen(QPen(color.darker(160), 1))
            for k in range(1, parts):
                y = rect.top() + rect.height() * k / parts
                painter.drawLine(QPointF(rect.left() + 2, y), QPointF(rect.right() - 2, y))


class Gallery(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New from template")
        self.list = QListWidget(self)
        self.list.setViewMode(QListWidget.ViewMode.IconMode)
        self.list.setIconSize(THUMB)
        self.list.setGridSize(QSize(THUMB.width() + 24, THUMB.height() + 64))
        self.list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.list.setMovement(QListWidget.Movement.Static)
        self.list.setWordWrap(True)
        self.about = QLabel(self)
        self.about.setWordWrap(True)
        self.about.setMinimumHeight(48)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)
        layout.addWidget(self.about)
        layout.addWidget(buttons)
        self.list.currentItemChanged.connect(self._current)
        self.list.itemDoubleClicked.connect(lambda _i: self.accept())
        self._populate()
        # Every template in view without scrolling, when the screen has room: at most five
        # across, as many rows as that takes.
        grid = self.list.gridSize()
        count = self.list.count()
        columns = min(5, count)
        rows = -(-count // columns)
        size = QSize(columns * grid.width() + 48, rows * grid.height() + 130)
        screen = self.screen().availableGeometry() if self.screen() else None
        if screen is not None:
            size = size.boundedTo(QSize(int(screen.width() * 0.9), int(screen.height() * 0.9)))
        self.resize(size)

    def _populate(self) -> None:
        empty = QListWidgetItem(QIcon(thumbnail(Project())), "Empty network")
        empty.setData(NAME_ROLE, "")
        empty.setData(ABOUT_ROLE, "Start from nothing: drag an Input from the palette.")
        self.list.addItem(empty)
        for name in templates.names():
            try:
                project = templates.open_template(name)
            except ProjectError as err:
                item = QListWidgetItem(f"{name}\n(cannot be read)")
                item.setData(ABOUT_ROLE, str(err))
                item.setFlags(Qt.ItemFlag.NoItemFlags)
                self.list.addItem(item)
                continue
            params = analyze(project.graph).totals()["params"]
            item = QListWidgetItem(QIcon(thumbnail(project)),
                                   f"{name}\n{human_count(params)} parameters")
            item.setData(NAME_ROLE, name)
            item.setData(ABOUT_ROLE, f"<b>{name}</b> — {params:,} parameters<br>"
                                     f"{project.description}")
            item.setToolTip(project.description)
            self.list.addItem(item)
        # The template chosen last time, else LeNet-5's neighbourhood of the list.
        last = settings_store.last_template()
        rows = [i for i in range(self.list.count()) if self.list.item(i).data(NAME_ROLE) == last]
        self.list.setCurrentRow(rows[0] if last and rows else min(2, self.list.count() - 1))

    def _current(self, item: QListWidgetItem | None, _previous) -> None:
        self.about.setText(item.data(ABOUT_ROLE) if item else "")

    def choice(self) -> str | None:
        item = self.list.currentItem()
        return None if item is None else item.data(NAME_ROLE)


def choose_template(parent: QWidget | None = None) -> str | None:
    """The chosen template's name, "" for an empty network, None when cancelled."""
    dialog = Gallery(parent)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    choice = dialog.choice()
    if choice:
        settings_store.set_last_template(choice)
    return choice

