"""New from Template: each template's picture, description and parameter count."""

from __future__ import annotations

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

from designer import theme
from designer.canvas.items import BLOCK_H, BLOCK_W
from engine import templates
from engine.layout import arrange
from engine.project import Project, ProjectError
from engine.summary import human_count
from engine.validate import analyze

THUMB = QSize(220, 160)
NAME_ROLE = Qt.ItemDataRole.UserRole
ABOUT_ROLE = Qt.ItemDataRole.UserRole + 1


def thumbnail(project: Project, size: QSize = THUMB) -> QPixmap:
    """A picture of the network: its blocks (groups collapsed) laid out in layers."""
    graph = project.graph
    collapsed = [n.id for n in graph.nodes.values() if n.is_group and n.parent is None]
    positions = arrange(graph, collapsed, (BLOCK_W, BLOCK_H), "TB")
    shown = [n.id for n in graph.nodes.values()
             if n.parent is None and (not n.is_group or n.id in collapsed)]
    colors = theme.colors()
    pixmap = QPixmap(size)
    pixmap.fill(colors.background)
    if not shown:
        return pixmap
    xs = [positions[i][0] for i in shown]
    ys = [positions[i][1] for i in shown]
    width = max(xs) - min(xs) + BLOCK_W
    height = max(ys) - min(ys) + BLOCK_H
    scale = min((size.width() - 16) / width, (size.height() - 16) / height)
    ox = (size.width() - width * scale) / 2 - min(xs) * scale
    oy = (size.height() - height * scale) / 2 - min(ys) * scale
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    owner = {}
    for node in graph.nodes.values():
        top = node.id
        while graph.nodes[top].parent is not None:
            top = graph.nodes[top].parent
        owner[node.id] = top
    painter.setPen(QPen(colors.edge, 1))
    for edge in graph.edges:
        a, b = owner[edge.src], owner[edge.dst]
        if a != b and a in positions and b in positions:
            pa, pb = positions[a], positions[b]
            painter.drawLine(QPointF(ox + (pa[0] + BLOCK_W / 2) * scale,
                                     oy + (pa[1] + BLOCK_H) * scale),
                             QPointF(ox + (pb[0] + BLOCK_W / 2) * scale, oy + pb[1] * scale))
    for node_id in shown:
        x, y = positions[node_id]
        rect = QRectF(ox + x * scale, oy + y * scale, BLOCK_W * scale, BLOCK_H * scale)
        painter.setPen(QPen(colors.block_border, 1))
        painter.setBrush(colors.group if graph.nodes[node_id].is_group else colors.block)
        painter.drawRect(rect)
    painter.end()
    return pixmap


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
        self.resize(4 * (THUMB.width() + 24) + 40, 2 * (THUMB.height() + 64) + 150)

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
        self.list.setCurrentRow(min(2, self.list.count() - 1))

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
    return dialog.choice()

