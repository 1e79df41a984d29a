"""The Augmentation panel as a user meets it: its form edits the project through the undo
stack, and its grid shows what the backend's ``preview`` does to a few samples, redrawn
shortly after every change (real torch, off the GUI thread)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import small_project

from designer import workers
from designer.document import Document
from designer.panels import augmentation
from designer.panels.augmentation import COPIES, LOADING, NO_DATA, AugmentationPanel
from engine import project as project_io

ROOT = Path(__file__).resolve().parents[2]
WAIT_MS = 15000  # the first preview imports torch (seconds on a busy machine)


@pytest.fixture(scope="module")
def digits():
    """Ten MNIST-like digits, one per class, as the Data panel gives them: N×H×W×1 uint8."""
    from engine.backend.images import digits as load

    x, y = load(28, 28)
    return x[:10].permute(0, 2, 3, 1).numpy().copy(), y[:10].numpy().copy()


@pytest.fixture
def panel(qtbot):
    widget = AugmentationPanel()
    qtbot.addWidget(widget)
    widget.set_document(Document(small_project()))
    widget.resize(1000, 380)
    widget.show()
    yield widget
    workers.wait_all()


def half_bright(n: int = 2) -> np.ndarray:
    """Images whose left half is bright: a mirror image is told apart at a glance."""
    x = np.zeros((n, 16, 16, 1), np.uint8)
    x[:, :, :8] = 200
    x[:, 3, 2] = 255  # and not symmetric top to bottom either
    return x


def configure(panel, **values) -> None:
    """Set augmentation values as the form would (each an undoable edit)."""
    from designer import commands

    for key, value in values.items():
        commands.execute(panel.doc, commands.set_setting(panel.doc, "augmentation", key, value))


def wait_redrawn(qtbot, panel, timeout: int = WAIT_MS) -> None:
    """Until the grid shows the current settings and seed."""
    qtbot.waitUntil(lambda: panel.tiles is not None and not panel.busy, timeout=timeout)


def copies_of(panel) -> tuple[np.ndarray, np.ndarray]:
    return panel.tiles[:, :1], panel.tiles[:, 1:]


# ------------------------------------------------------------------ the form
def test_a_form_edit_is_an_undoable_project_edit_saved_in_the_file(panel, tmp_path):
    doc = panel.doc
    editor = panel.form.editors["rotation_range"]
    editor.box.setValue(15.0)
    assert doc.project.augmentation["rotation_range"] == 15.0
    assert doc.undo_stack.undoText() == "Set augmentation.rotation_range to 15.0"
    path = project_io.save(doc.project, tmp_path / "aug.netdraft")
    assert project_io.load(path).augmentation["rotation_range"] == 15.0
    doc.undo_stack.undo()
    assert doc.settings("augmentation")["rotation_range"] == 0.0
    assert editor.box.value() == 0.0
    doc.undo_stack.redo()
    assert editor.box.value() == 15.0


def test_the_form_speaks_the_lectures_words_with_the_others_under_more(panel):
    from PySide6.QtWidgets import QFormLayout, QLabel

    form = panel.form.form
    labels = [form.itemAt(row, QFormLayout.ItemRole.LabelRole).widget().text()
              for row in range(form.rowCount())
              if form.itemAt(row, QFormLayout.ItemRole.LabelRole) is not None]
    assert labels[:8] == ["Augment training images", "rescale", "rotation_range (°)",
                          "width_shift_range", "height_shift_range", "shear_range (rad)",
                          "zoom_range", "horizontal_flip"]
    more, _ = form.getWidgetPosition(panel.form.editors["vertical_flip"])
    heading = form.itemAt(more - 1, QFormLayout.ItemRole.SpanningRole).widget()
    assert "More" in heading.findChild(QLabel).text()


# ------------------------------------------------------------------ the grid
def test_without_data_the_grid_says_where_to_choose_it(panel):
    assert panel.grid.message == NO_DATA
    assert panel.tiles is None and not panel.busy
    panel.set_samples(half_bright())
    panel.set_samples(None)
    assert panel.tiles is None and not panel.busy and not panel.grid.originals


def test_loading_is_shown_until_the_first_grid(panel, qtbot, digits, monkeypatch):
    monkeypatch.setattr(augmentation, "_backend_loaded", False)
    x, y = digits
    panel.set_samples(x, y, [str(d) for d in range(10)])
    assert panel.status.full == LOADING
    assert len(panel.grid.originals) == 4 and panel.grid.copies == []  # originals at once
    wait_redrawn(qtbot, panel)
    assert panel.status.full != LOADING
    assert panel.tiles.shape == (4, 1 + COPIES, 28, 28, 1)
    assert panel.grid.names == ["0", "1", "2", "3"]  # different classes first


def test_without_transforms_the_copies_equal_the_originals(panel, qtbot, digits):
    x, y = digits
    configure(panel, enabled=True)
    panel.set_samples(x, y)
    wait_redrawn(qtbot, panel)
    originals, copies = copies_of(panel)
    assert np.array_equal(originals[:, 0], x[:4])
    assert np.array_equal(copies, np.repeat(originals, COPIES, axis=1))
    assert "equal the originals" in panel.status.full


def test_horizontal_flip_mirrors_some_copies_and_leaves_the_others(panel, qtbot):
    panel.set_samples(half_bright(3), [0, 1, 2])
    configure(panel, enabled=True, horizontal_flip=True)
    wait_redrawn(qtbot, panel)
    originals, copies = copies_of(panel)
    mirrored = same = 0
    for row in range(3):
        for copy in copies[row]:
            if np.array_equal(copy, originals[row, 0][:, ::-1]):
                mirrored += 1
            else:
                assert np.array_equal(copy, originals[row, 0])
                same += 1
    assert mirrored and same  # 15 fair coin flips


def test_a_change_is_drawn_within_a_few_hundred_ms(panel, qtbot, digits):
    x, y = digits
    configure(panel, enabled=True)
    panel.set_samples(x, y)
    wait_redrawn(qtbot, panel)  # torch is loaded from here on
    before = panel.tiles.copy()
    started = time.perf_counter()
    panel.form.editors["rotation_range"].box.setValue(30.0)
    wait_redrawn(qtbot, panel, timeout=1000)
    elapsed = (time.perf_counter() - started) * 1000
    assert not np.array_equal(panel.tiles, before)
    assert 100 <= panel.last_redraw_ms <= elapsed  # debounced, then measured to the draw
    assert panel.last_redraw_ms < 600
    assert panel.status.full == f"redrawn in {panel.last_redraw_ms:.0f} ms"


def test_new_seed_draws_other_copies(panel, qtbot, digits):
    x, y = digits
    configure(panel, enabled=True, rotation_range=20.0, zoom_range=0.2)
    panel.set_samples(x, y)
    wait_redrawn(qtbot, panel)
    before = panel.tiles.copy()
    panel.new_seed.click()
    assert panel.seed_label.text() == "seed 1"
    wait_redrawn(qtbot, panel)
    assert np.array_equal(panel.tiles[:, 0], before[:, 0])
    assert not np.array_equal(panel.tiles[:, 1:], before[:, 1:])


def test_with_augmentation_off_the_status_says_the_trainer_uses_the_originals(panel, qtbot):
    panel.set_samples(half_bright(), [0, 1])
    configure(panel, rotation_range=40.0)
    wait_redrawn(qtbot, panel)
    assert "augmentation is off: the trainer will use the originals" in panel.status.full
    assert panel.status.text() == panel.status.full  # not elided in a bottom dock
    _, copies = copies_of(panel)
    assert not np.array_equal(copies[:, 0], panel.tiles[:, 0])  # what switching on does


def test_quick_edits_run_one_job_at_a_time_and_draw_only_the_last(panel, qtbot,
                                                                   monkeypatch):
    from engine.backend import augment

    running, most = [0], [0]
    lock = threading.Lock()
    real = augment.preview

    def slow_preview(settings, images, seed):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.3)
        try:
            return real(settings, images, seed)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(augment, "preview", slow_preview)
    drawn = []
    panel.redrawn.connect(lambda: drawn.append(panel.settings()["rotation_range"]))
    panel.set_samples(half_bright(), [0, 1])
    configure(panel, enabled=True, rotation_range=45.0)
    qtbot.waitUntil(lambda: panel._job is not None, timeout=2000)
    for degrees in (30.0, 20.0, 0.0):  # while that job runs
        configure(panel, rotation_range=degrees)
        qtbot.wait(150)
    configure(panel, horizontal_flip=True)
    wait_redrawn(qtbot, panel)
    assert most[0] == 1
    assert drawn == [0.0]  # no stale grid on the way
    originals, copies = copies_of(panel)
    for row in range(2):
        for copy in copies[row]:
            assert (np.array_equal(copy, originals[row, 0])
                    or np.array_equal(copy, originals[row, 0][:, ::-1]))


def test_a_failed_preview_is_a_red_line_not_a_dialog(panel, qtbot, monkeypatch):
    from engine.backend import augment

    def broken(settings, images, seed):
        raise ValueError("grid_sample needs 4-D input. Received: 5-D")

    monkeypatch.setattr(augment, "preview", broken)
    panel.set_samples(half_bright(), [0, 1])
    qtbot.waitUntil(lambda: panel.error is not None, timeout=WAIT_MS)
    assert panel.status.full == ("The preview failed: grid_sample needs 4-D input. "
                                   "Received: 5-D")
    assert "#d12c2c" in panel.status.styleSheet()


def test_rgb_samples_and_large_images_are_shown(panel, qtbot):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (3, 600, 400, 3), dtype=np.uint8)
    panel.set_samples(x, [2, 0, 1], ["cat", "dog", "bird"])
    wait_redrawn(qtbot, panel)
    assert panel.tiles.shape == (3, 1 + COPIES, 200, 134, 3)
    assert panel.grid.names == ["bird", "cat", "dog"]
    image = panel.grid.grab().toImage()
    assert image.width() > 0


def test_importing_the_panel_loads_no_torch():
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    code = "import designer.panels.augmentation, sys; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
