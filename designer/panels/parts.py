"""Pieces the panels and dialogs share: the settings column at a panel's left, the slot where
curves appear (pyqtgraph imported only when the curves are first needed), and the thin busy
bar of work running on a worker thread."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QProgressBar, QScrollArea, QVBoxLayout, QWidget


def side_column(content: QWidget, parent: QWidget, min_width: int = 300,
                max_width: int = 380) -> QScrollArea:
    """A column that scrolls vertically only, for a panel's settings form."""
    scroll = QScrollArea(parent)
    scroll.setWidget(content)
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setMinimumWidth(min_width)
    scroll.setMaximumWidth(max_width)
    return scroll


def busy_bar(parent: QWidget) -> QProgressBar:
    """A thin, hidden, indeterminate bar: shown while a job runs."""
    bar = QProgressBar(parent)
    bar.setRange(0, 0)
    bar.setTextVisible(False)
    bar.setMaximumHeight(10)
    bar.hide()
    return bar


class PlotSlot(QWidget):
    """A placeholder sentence until ``plots()`` is first called, then the CurvePlots."""

    def __init__(self, placeholder: str, parent: QWidget) -> None:
        super().__init__(parent)
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        self.placeholder = QLabel(placeholder, self)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.layout_.addWidget(self.placeholder, 1)
        self.curves = None

    @property
    def made(self) -> bool:
        return self.curves is not None

    def plots(self):
        if self.curves is None:
            from designer.panels.curves import CurvePlots

            self.curves = CurvePlots(self)
            self.layout_.removeWidget(self.placeholder)
            self.placeholder.deleteLater()
            self.layout_.addWidget(self.curves, 1)
        return self.curves
