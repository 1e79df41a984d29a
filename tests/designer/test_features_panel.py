"""The Feature Maps panel: a block's maps, a convolution's filters, Grad-CAM and the top
classes for a sample or a dropped image, before training and with a run's weights."""

from __future__ import annotations

import numpy as np
import pytest

from tests.designer.test_train_window import lenet_window, wait_ended  # noqa: F401

pytestmark = pytest.mark.slow


def inspected(qtbot, win, block: str | None):
    panel = win.features_panel
    win.show_panel("features")
    if block is not None:
        win.scene.select_ids([win.doc.graph.by_name(block).id])
    qtbot.waitUntil(lambda: bool(panel.samples), timeout=60_000)  # the data scan's samples
    panel.inspect()
    qtbot.waitUntil(lambda: panel.job is None and bool(panel.result or panel.error),
                    timeout=120_000)
    qtbot.wait(200)  # a selection change may have queued one more inspection
    qtbot.waitUntil(lambda: panel.job is None, timeout=120_000)
    return panel


def test_a_convolution_shows_its_maps_filters_and_grad_cam(qtbot, lenet_window):  # noqa: F811
    import torch

    from engine.backend import inspection
    from engine.backend.evaluate import load_network

    win = lenet_window
    panel = inspected(qtbot, win, "C1")
    assert not panel.error, panel.error
    r = panel.result
    assert r["map_count"] == 6 and r["map_shape"] == (6, 28, 28)
    assert r["filters"].shape == (6, 1, 5, 5)
    assert len(panel.maps.images) == 6 and panel.filters.isVisibleTo(panel)
    assert r["cam"].shape == (32, 32) and 0 <= r["cam"].min() and r["cam"].max() <= 1
    probs = [p for _, p in r["top"]]
    assert probs == sorted(probs, reverse=True) and len(probs) == 5
    # The same maps as the engine gives for that image with the initial weights.
    torch.manual_seed(0)
    net = load_network(win.doc.project, None, project_path=win.doc.path)
    x = inspection.image_tensor(panel.image, net.target)
    expected = inspection.activations(net.module, net.graph, win.doc.graph.by_name("C1").id, x)
    assert np.allclose(r["maps"], expected, atol=1e-5)
    assert "Top classes" in panel.predictions.text()


def test_a_dense_block_has_no_maps_and_says_so(qtbot, lenet_window):  # noqa: F811
    panel = inspected(qtbot, lenet_window, "F6")
    assert panel.result["maps"] is None
    assert "no maps to draw" in panel.maps.message
    assert not panel.filters.isVisibleTo(panel)


def test_trained_weights_change_what_the_block_sees(qtbot, lenet_window):  # noqa: F811
    win = lenet_window
    win.doc.project.training["epochs"] = 1
    assert win.trainer.train()
    wait_ended(qtbot, win)
    panel = inspected(qtbot, win, "C1")
    assert panel.weights_box.currentText().startswith("after training")
    trained = panel.result["filters"].copy()
    panel.weights_box.setCurrentIndex(panel.weights_box.findData("initial"))
    panel.inspect()
    qtbot.waitUntil(lambda: panel.job is None, timeout=120_000)
    initial = panel.result["filters"]
    assert not np.allclose(trained, initial)


def test_an_image_dropped_on_the_window_is_predicted(qtbot, lenet_window, tmp_path):  # noqa: F811
    from PIL import Image
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    from engine.backend.images import digits

    x, _ = digits(28, 28)
    path = tmp_path / "seven.png"
    Image.fromarray(x[7, 0].numpy()).save(path)
    win = lenet_window
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    win.dropEvent(event)
    panel = win.features_panel
    assert panel.image == str(path)
    panel.inspect()
    qtbot.waitUntil(lambda: panel.job is None and bool(panel.result or panel.error),
                    timeout=120_000)
    assert not panel.error
    assert len(panel.result["top"]) == 5
    assert panel.sample_box.currentText() == "seven.png"
