"""The training side of the window (Data, Augmentation, Training, Run History) as docks whose
panels are built when first shown or first needed, so opening the designer pays for none
of their editors, plots or imports (tests/designer/test_startup.py).

"Shown" is the dock's visibilityChanged: a tabbed dock behind another gets show events
when the window opens, although nobody can see it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

if TYPE_CHECKING:
    from designer.main_window import MainWindow


class LazyPanel(QWidget):
    created = Signal(object)

    def __init__(self, factory: Callable[[QWidget], QWidget], parent: QWidget) -> None:
        super().__init__(parent)
        self.factory = factory
        self.panel: Any = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    def ensure(self) -> Any:
        if self.panel is None:
            self.panel = self.factory(self)
            self._layout.addWidget(self.panel)
            self.created.emit(self.panel)
        return self.panel


def _data(parent: QWidget):
    from designer.panels.data import DataPanel

    return DataPanel(parent)


def _augmentation(parent: QWidget):
    from designer.panels.augmentation import AugmentationPanel

    return AugmentationPanel(parent)


def _training(parent: QWidget):
    from designer.panels.training import TrainingPanel

    return TrainingPanel(parent)


def _runs(parent: QWidget):
    from designer.panels.runs import RunsPanel

    return RunsPanel(parent)


def _evaluation(parent: QWidget):
    from designer.panels.evaluation import EvaluationPanel

    return EvaluationPanel(parent)


def _features(parent: QWidget):
    from designer.panels.features import FeaturesPanel

    return FeaturesPanel(parent)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def image_paths(mime) -> list[str]:
    """Image files among what is dragged (for predictions; checked without reading them)."""
    return [u.toLocalFile() for u in mime.urls()
            if u.isLocalFile() and u.toLocalFile().lower().endswith(IMAGE_SUFFIXES)]


PANELS = (("data", "Data", _data), ("augmentation", "Augmentation", _augmentation),
          ("training", "Training", _training), ("runs", "Run History", _runs),
          ("evaluation", "Evaluation", _evaluation), ("features", "Feature Maps", _features))


class TrainingSide:
    """Builds the four docks and connects each panel to the document and to the others when
    it comes to life."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.lazy: dict[str, LazyPanel] = {}
        self.last_report: Any = None
        for name, _title, factory in PANELS:
            holder = LazyPanel(factory, window)
            holder.created.connect(lambda panel, n=name: self._created(n, panel))
            self.lazy[name] = holder

    def panel(self, name: str) -> Any:
        return self.lazy[name].ensure()

    def dock_visible(self, name: str, visible: bool) -> None:
        """A dock came to the front (or went behind another): build and wake its panel."""
        if not visible:
            return
        panel = self.panel(name)
        if hasattr(panel, "on_shown"):
            panel.on_shown()

    def existing(self, name: str) -> Any:
        return self.lazy[name].panel

    def set_document(self, doc) -> None:
        self.last_report = None
        for holder in self.lazy.values():
            if holder.panel is not None:
                holder.panel.set_document(doc)

    def _created(self, name: str, panel: Any) -> None:
        window = self.window
        if window.doc is not None:
            panel.set_document(window.doc)
        if name == "data":
            panel.scanned.connect(self._scanned)
        elif name == "augmentation":
            if self.last_report is not None:
                self._feed(panel, self.last_report)
            self.panel("data").request_scan()  # the preview needs samples
        elif name == "training":
            window.trainer.attach(panel)
            self.panel("data").request_scan()  # Input/Output checked before training
        elif name == "runs":
            panel.resume_requested.connect(lambda path: window.trainer.resume(path))
            panel.use_weights_requested.connect(lambda path: window.trainer.use_weights(path))
        elif name == "features":
            if self.last_report is not None:
                self._feed(panel, self.last_report)
            ids = window.scene.selected_ids()
            panel.select_block(ids[0] if len(ids) == 1 else None)
            window.scene.selection_ids_changed.connect(
                lambda ids: panel.select_block(ids[0] if len(ids) == 1 else None))
            window.trainer.run_ended.connect(lambda _p, _w: panel.refresh_weights())
            self.panel("data").request_scan()  # samples to look at
        elif name == "evaluation":
            window.trainer.run_ended.connect(
                lambda path, what: panel.run_finished(path)
                if what in ("finished", "early_stopped") else None)

    def _scanned(self, report: Any) -> None:
        self.last_report = report
        for name in ("augmentation", "features"):
            panel = self.existing(name)
            if panel is not None:
                self._feed(panel, report)

    @staticmethod
    def _feed(panel: Any, report: Any) -> None:
        import numpy as np

        images = [s.image for s in report.samples]
        if images:
            panel.set_samples(np.stack(images), [s.label for s in report.samples],
                              report.class_names)
