"""The Feature Maps panel: what a block sees. For the block selected on the canvas and an
image (a sample of the data, a file picked or dropped on the window): its feature maps as a
grid (the lecture's "Feature Map / Convolved Feature"), a convolution's filters, Grad-CAM of
a class over the image, and the network's top-5 classes with probabilities — with a run's
weights, the project's stored weights, or the initial weights before any training.

Everything torch runs on a worker thread (engine/backend/inspection.py); the module built
for a choice of weights is kept until the network or the choice changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from designer import workers
from designer.document import Document
from designer.panels.data_views import SampleGrid
from designer.panels.lazy import image_paths
from engine import runs

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.webp);;All files (*)"
MAX_MAPS = 64
INITIAL = "initial"      # the weights a fresh build starts from (before training)
STORED = "stored"        # the project's stored weights where they fit


def tile(values: np.ndarray) -> np.ndarray:
    """A 2-D map stretched to 0–255 (its own minimum to maximum) as H×W×1 uint8."""
    low, high = float(values.min()), float(values.max())
    scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
    return (scaled * 255).astype(np.uint8)[..., None]


def overlay(image: np.ndarray, cam: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Grad-CAM's heat (0–1) over an H×W×C uint8 image, red where the class is seen."""
    base = image if image.shape[2] == 3 else np.repeat(image, 3, axis=2)
    heat = np.zeros_like(base, dtype=np.float32)
    heat[..., 0] = 255 * cam
    heat[..., 1] = 255 * np.clip(cam * 2 - 1, 0, 1) * 0.6
    mixed = base.astype(np.float32) * (1 - alpha * cam[..., None]) + heat * alpha * cam[..., None]
    return np.clip(mixed, 0, 255).astype(np.uint8)


def inspect_block(state: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """The worker's job: (re)build the module for the weights asked, then the block's maps,
    filters, Grad-CAM and the top-5. ``state`` keeps the built module between calls."""
    from engine.backend import inspection
    from engine.backend.evaluate import load_network

    key = request["weights_key"]
    if state.get("key") != key:
        project = request["project"]
        weights = request["weights"]
        with _initial_only(project, weights == INITIAL) as chosen:
            net = load_network(chosen, None if weights in (INITIAL, STORED) else weights,
                               project_path=request["project_path"], file_label=project.name)
        state.update(key=key, net=net)
    net = state["net"]
    source = request["image"]
    x = inspection.image_tensor(source, net.target)
    pixels = x / float(net.target.rescale or 1.0)
    shown = np.clip(pixels.numpy(), 0, 255).astype(np.uint8).transpose(1, 2, 0)
    probs = inspection.class_probabilities(net.module, net.graph, x)
    order = np.argsort(-probs)[:5]
    result: dict[str, Any] = {
        "image": np.ascontiguousarray(shown[..., :3]),
        "top": [(net.class_names[i], float(probs[i])) for i in order],
        "class_names": list(net.class_names), "maps": None, "filters": None, "cam": None,
        "block_error": ""}
    node_id = request["node_id"]
    if node_id is None:
        return result
    try:
        maps = inspection.activations(net.module, net.graph, node_id, x)
        result["maps"] = maps[:MAX_MAPS] if maps.ndim == 3 else None
        result["map_count"] = maps.shape[0] if maps.ndim == 3 else 0
        result["map_shape"] = tuple(maps.shape)
        if node_id in inspection.convolutions(net.module):
            result["filters"] = inspection.filters(net.module, node_id)[:MAX_MAPS]
        if maps.ndim == 3:
            cls = request["class_index"]
            cls = int(order[0]) if cls is None else cls
            result["cam"] = inspection.grad_cam(net.module, net.graph, node_id, x, cls)
            result["cam_class"] = net.class_names[cls]
    except ValueError as exc:
        result["block_error"] = str(exc)
    return result


class _initial_only:  # noqa: N801 - a context manager read as a phrase
    """A copy of the project without stored weights when the initial ones are asked for."""

    def __init__(self, project: Any, initial: bool) -> None:
        self.project, self.initial = project, initial

    def __enter__(self) -> Any:
        if not self.initial or not self.project.weights:
            return self.project
        from engine.project import Project

        copy = Project.from_json(self.project.to_json())
        copy.weights = {}
        return copy

    def __exit__(self, *exc: Any) -> None:
        return None


class FeaturesPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.doc: Document | None = None
        self.node_id: str | None = None
        self.image: Any = None          # a file path or an H×W×C uint8 array
        self.image_label = ""
        self.samples: list[tuple[np.ndarray, str]] = []
        self.result: dict[str, Any] | None = None
        self.error = ""
        self.job: workers.Job | None = None
        self._state: dict[str, Any] = {}  # the module kept between inspections
        self._pending = False
        self._stale = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(150)
        self._timer.timeout.connect(self.inspect)
        top = self._build_input_row()
        self.status = QLabel("Select a block on the canvas and an image.", self)
        self.status.setWordWrap(True)
        body = self._build_views()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.status)
        layout.addLayout(body, 1)

    def _build_input_row(self) -> QHBoxLayout:
        """The weights, the image (a sample or a file), the class Grad-CAM explains."""
        self.weights_box = QComboBox(self)
        self.weights_box.setMinimumWidth(240)
        self.weights_box.currentIndexChanged.connect(lambda _i: self.schedule())
        self.sample_box = QComboBox(self)
        self.sample_box.currentIndexChanged.connect(self._sample_chosen)
        self.file_button = QPushButton("Image…", self)
        self.file_button.setToolTip("Pick an image file (or drop one on the window)")
        self.file_button.clicked.connect(self.choose_image)
        self.class_box = QComboBox(self)
        self.class_box.setToolTip("The class Grad-CAM explains (default: the predicted one)")
        self.class_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.class_box.currentIndexChanged.connect(lambda _i: self.schedule())
        self.cam_check = QCheckBox("Grad-CAM", self)
        self.cam_check.setChecked(True)
        self.cam_check.toggled.connect(lambda _c: self._show())
        top = QHBoxLayout()
        for widget in (QLabel("Weights:", self), self.weights_box, QLabel("Image:", self),
                       self.sample_box, self.file_button, QLabel("Class:", self),
                       self.class_box, self.cam_check):
            top.addWidget(widget)
        top.addStretch(1)
        return top

    def _build_views(self) -> QHBoxLayout:
        """The image with the predictions, and the block's feature maps with its filters."""
        self.picture = SampleGrid(self)
        self.picture.setMinimumWidth(180)
        self.predictions = QLabel(self)
        self.predictions.setTextFormat(Qt.TextFormat.RichText)
        self.predictions.setAlignment(Qt.AlignmentFlag.AlignTop)
        left = QVBoxLayout()
        left.addWidget(self.picture, 3)
        left.addWidget(self.predictions, 2)
        self.maps = SampleGrid(self)
        self.maps.set_message("The selected block's feature maps appear here.")
        self.filters = SampleGrid(self)
        self.filters.set_message("")
        self.filters.hide()
        maps_box = QWidget(self)
        maps_layout = QVBoxLayout(maps_box)
        maps_layout.setContentsMargins(0, 0, 0, 0)
        self.maps_title = QLabel(self)
        self.filters_title = QLabel(self)
        maps_layout.addWidget(self.maps_title)
        maps_layout.addWidget(self.maps, 3)
        maps_layout.addWidget(self.filters_title)
        maps_layout.addWidget(self.filters, 2)
        body = QHBoxLayout()
        body.addLayout(left, 1)
        body.addWidget(maps_box, 3)
        return body

    # ----------------------------------------------------------- document
    def set_document(self, doc: Document) -> None:
        if self.doc is not None:
            self.doc.refreshed.disconnect(self._refreshed)
        self.doc = doc
        doc.refreshed.connect(self._refreshed)
        self._state.clear()
        self.result = None
        self.refresh_weights()
        self.schedule()

    def _refreshed(self, refresh) -> None:
        if refresh.results or refresh.nodes or refresh.structure or refresh.everything:
            self._state.clear()  # the network changed: build it again
            self.schedule()

    def on_shown(self) -> None:
        self.refresh_weights()
        self._stale = False
        self._timer.start()

    def refresh_weights(self) -> None:
        current = self.weights_box.currentData()
        self.weights_box.blockSignals(True)
        self.weights_box.clear()
        found = []
        if self.doc is not None and self.doc.path is not None:
            found = [r for r in runs.list_runs(runs.runs_dir_for(self.doc.path))
                     if r.checkpoints.get("best") or r.checkpoints.get("last")]
        for info in found:
            self.weights_box.addItem(f"after training: {info.name}", str(info.path))
        if self.doc is not None and self.doc.project.weights:
            self.weights_box.addItem("the project's stored weights", STORED)
        self.weights_box.addItem("before training (initial weights)", INITIAL)
        index = self.weights_box.findData(current)
        self.weights_box.setCurrentIndex(index if index >= 0 else 0)
        self.weights_box.blockSignals(False)

    def set_samples(self, images: np.ndarray, labels: list[int], names: list[str]) -> None:
        """Samples of the project's data (from the Data panel's scan) to choose from."""
        self.samples = [(np.asarray(img), names[lab] if lab < len(names) else str(lab))
                        for img, lab in zip(images, labels)]
        keep_file = isinstance(self.image, str)
        self.sample_box.blockSignals(True)
        self.sample_box.clear()
        for i, (_img, name) in enumerate(self.samples):
            self.sample_box.addItem(f"sample {i + 1} ({name})", i)
        if keep_file:
            self.sample_box.addItem(Path(self.image).name, -1)
            self.sample_box.setCurrentIndex(self.sample_box.count() - 1)
        self.sample_box.blockSignals(False)
        if not keep_file and self.samples:
            self._sample_chosen(0)

    def _sample_chosen(self, index: int) -> None:
        data = self.sample_box.itemData(index)
        if data is None or data < 0 or data >= len(self.samples):
            return
        self.image, self.image_label = self.samples[data][0], f"a {self.samples[data][1]}"
        self.schedule()

    def choose_image(self) -> None:
        start = str(self.doc.path.parent) if self.doc and self.doc.path else str(Path.home())
        chosen, _ = QFileDialog.getOpenFileName(self, "Choose an image", start, IMAGE_FILTER)
        if chosen:
            self.use_image(chosen)

    def use_image(self, path: str) -> None:
        self.image, self.image_label = str(path), Path(path).name
        self.sample_box.blockSignals(True)
        index = self.sample_box.findText(Path(path).name)
        if index < 0:
            self.sample_box.addItem(Path(path).name, -1)
            index = self.sample_box.count() - 1
        self.sample_box.setCurrentIndex(index)
        self.sample_box.blockSignals(False)
        self.schedule()

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if image_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = image_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.use_image(paths[0])

    def select_block(self, node_id: str | None) -> None:
        """The canvas selection changed: inspect that block (groups and None: none)."""
        if self.doc is not None and node_id is not None:
            node = self.doc.graph.nodes.get(node_id)
            if node is None or node.is_group:
                node_id = None
        if node_id != self.node_id:
            self.node_id = node_id
            self.schedule()

    # ------------------------------------------------------------ working
    def schedule(self) -> None:
        """Inspect soon, if anyone can see it; else when the panel is next shown."""
        if self.visibleRegion().isEmpty():
            self._stale = True
            return
        self._timer.start()

    def inspect(self) -> None:
        if self.doc is None or self.image is None:
            return
        if self.job is not None:
            self._pending = True
            return
        weights = self.weights_box.currentData() or INITIAL
        doc = self.doc
        class_index = self.class_box.currentData()
        # The module is rebuilt when the weights chosen or the network (any edit) change.
        request = {"project": doc.project, "project_path": doc.path, "weights": weights,
                   "weights_key": (weights, id(doc), doc.undo_stack.index()),
                   "image": self.image, "node_id": self.node_id,
                   "class_index": class_index if isinstance(class_index, int) else None}
        state = self._state
        self.status.setText("Working… (loading PyTorch the first time)"
                            if not state else "Working…")
        self.job = workers.start(lambda _job: inspect_block(state, request), self._done,
                                 self._failed, parent=self)

    def _finish_job(self) -> None:
        self.job = None
        if self._pending:
            self._pending = False
            self.schedule()

    def _done(self, result: dict[str, Any]) -> None:
        self.result, self.error = result, ""
        self._fill_classes(result["class_names"])
        self._show()
        self._finish_job()

    def _failed(self, message: str) -> None:
        self.result, self.error = None, message
        self.status.setText(f"<span style='color:#d12c2c'>{message}</span>")
        self._finish_job()

    def _fill_classes(self, names: list[str]) -> None:
        if [self.class_box.itemText(i) for i in range(1, self.class_box.count())] == names:
            return
        self.class_box.blockSignals(True)
        self.class_box.clear()
        self.class_box.addItem("predicted", None)
        for i, name in enumerate(names):
            self.class_box.addItem(name, i)
        self.class_box.blockSignals(False)

    def _show(self) -> None:
        r = self.result
        if r is None:
            return
        image = r["image"]
        if self.cam_check.isChecked() and r.get("cam") is not None:
            self.picture.set_samples([overlay(image, r["cam"])],
                                     [f"Grad-CAM: {r['cam_class']}"])
        else:
            self.picture.set_samples([image], [self.image_label])
        self.predictions.setText("<b>Top classes</b><br>" + "<br>".join(
            f"{name}: {p:.1%}" for name, p in r["top"]))
        node = self.doc.graph.nodes.get(self.node_id) if self.node_id else None
        if node is None:
            self.status.setText("Select a block on the canvas to see its feature maps.")
            self.maps.set_message("The selected block's feature maps appear here.")
            self.maps_title.setText("")
            self.filters.hide()
            self.filters_title.setText("")
            return
        if r["block_error"]:
            self.status.setText(f"<span style='color:#d12c2c'>{r['block_error']}</span>")
        else:
            self.status.setText(f"{node.kind} '{node.name}' on {self.image_label}, "
                                f"{self.weights_box.currentText()}")
        if r["maps"] is not None:
            count = r["map_count"]
            shown = len(r["maps"])
            self.maps_title.setText(f"Feature maps of '{node.name}': {count} of "
                                    f"{r['map_shape'][1]}×{r['map_shape'][2]}"
                                    + (f" (first {shown})" if shown < count else ""))
            self.maps.set_samples([tile(m) for m in r["maps"]],
                                  [str(i) for i in range(len(r["maps"]))])
        else:
            self.maps_title.setText("")
            self.maps.set_message(f"'{node.name}' gives "
                                  f"{'×'.join(map(str, r.get('map_shape', ())))}: no maps "
                                  "to draw; select a convolution or pooling block.")
        weights = r["filters"]
        if weights is not None:
            rgb = weights.shape[1] == 3
            tiles = [tile(np.moveaxis(w, 0, -1)) if rgb else tile(w[0]) for w in weights]
            if rgb:
                tiles = [t[..., 0] for t in tiles]
            self.filters_title.setText(f"Filters of '{node.name}': {weights.shape[0]} of "
                                       f"{weights.shape[1]}×{weights.shape[2]}×"
                                       f"{weights.shape[3]}"
                                       + ("" if rgb else " (first input channel)"))
            self.filters.set_samples(tiles, ["" for _ in tiles])
            self.filters.show()
        else:
            self.filters_title.setText("")
            self.filters.hide()

