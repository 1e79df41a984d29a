"""The Run History panel as a user meets it, on run folders written by hand beside a saved
project: the list (newest first, status, best metric), a command-line run without run.json,
curves and settings of several runs side by side, deleting with confirmation, Resume and
Use These Weights, opening a folder, and the re-read when a run folder changes."""

from __future__ import annotations

import doctest
import os
import socket
import time

import pytest
from conftest import small_project
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QDesktopServices
from PySide6.QtTest import QTest

from designer import theme
from designer.document import Document
from designer.panels import runs as runs_panel
from designer.panels.runs import COLUMNS, NO_PATH, RunsPanel
from engine import project as project_io
from engine.runs import best_metric_text, process_start_token, read_run, write_record

HEADER = ("epoch,train_loss,train_accuracy,train_top5,val_loss,val_accuracy,val_top5,lr,"
          "seconds,images_per_s")
CURVES = 5  # per run: train and val loss, train and val accuracy, lr
DAY = 86400.0


def make_run(runs_dir, name, *, started, status="finished", epochs=3, done=None, lr=0.001,
             optimizer="adam", checkpoints=("last.pt", "best.pt"), record=True):
    """A run folder as the trainer leaves it: metrics.csv, empty checkpoints, run.json."""
    folder = runs_dir / name
    folder.mkdir(parents=True)
    done = epochs if done is None else done
    lines = [HEADER]
    for e in range(1, done + 1):
        acc = 0.5 + 0.1 * e
        lines.append(f"{e},{1.0 / e:.4f},{acc - 0.05:.4f},,{1.2 / e:.4f},{acc:.4f},,{lr},"
                     f"1.5,900")
    (folder / "metrics.csv").write_text("\n".join(lines) + "\n")
    for checkpoint in checkpoints:
        (folder / checkpoint).write_bytes(b"")
    if record:
        alive = {"pid": os.getpid(), "host": socket.gethostname(),
                 "process_start": process_start_token(os.getpid())}
        write_record(folder, {
            "format": "netdraft-run", "version": 1, "project": "small",
            "started": started, "ended": None if status == "running" else started + 60,
            "status": status, "device": "cpu", "epochs": epochs, "epochs_done": done,
            "settings": {"data": {"dataset": "digits"}, "augmentation": {"enabled": False},
                         "training": {"epochs": epochs, "lr": lr, "optimizer": optimizer,
                                      "batch_size": 64, "monitor": "val_accuracy"}},
            "monitor": "val_accuracy", "best_value": 0.5 + 0.1 * done if done else None,
            "best_epoch": done or None,
            "sessions": [{"started": started, "ended": None, "status": status}],
            **(alive if status == "running" else {}),
        })
    return folder


@pytest.fixture
def project_file(tmp_path):
    return project_io.save(small_project(), tmp_path / "small.netdraft")


@pytest.fixture
def runs_dir(tmp_path):
    return tmp_path / "runs"


@pytest.fixture
def panel(qtbot, project_file):
    widget = RunsPanel()
    qtbot.addWidget(widget)
    widget.set_document(Document(small_project(), project_file))
    widget.resize(1100, 380)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


@pytest.fixture
def three(runs_dir):
    """Three runs a day apart: finished (oldest), failed, running (newest)."""
    now = time.time()
    return [make_run(runs_dir, "small-a", started=now - 2 * DAY),
            make_run(runs_dir, "small-b", started=now - DAY, status="failed", done=2,
                     lr=0.01),
            make_run(runs_dir, "small-c", started=now, status="running", done=1, epochs=5)]


def column(panel, name):
    index = COLUMNS.index(name)
    return [panel.table.item(row, index).text() for row in range(panel.table.rowCount())]


def row_of(panel, name):
    return column(panel, "Run").index(name)


def select(panel, *names):
    panel.select_paths([info.path for info in panel.runs if info.name in names])


def settings_shown(panel):
    """{setting: [value per run]} as the side-by-side table shows them."""
    table = panel.settings_table
    return {table.verticalHeaderItem(r).text():
            [table.item(r, c).text() for c in range(table.columnCount())]
            for r in range(table.rowCount())}


# ------------------------------------------------------------------- the list
def test_doctests():
    assert doctest.testmod(runs_panel).failed == 0


def test_every_run_is_listed_newest_first_with_its_status_and_best(panel, three):
    panel.refresh()
    assert column(panel, "Run") == ["small-c", "small-b", "small-a"]
    assert column(panel, "Status") == ["running", "failed", "finished"]
    assert column(panel, "Epochs") == ["1/5", "2/3", "3/3"]
    assert column(panel, "Best") == [best_metric_text(read_run(f)) for f in three[::-1]]
    assert column(panel, "Best")[2] == "val_accuracy 80.0 % (epoch 3)"
    assert column(panel, "LR") == ["0.001", "0.01", "0.001"]
    assert column(panel, "Optimizer") == ["adam"] * 3
    assert column(panel, "Device") == ["cpu"] * 3
    status = COLUMNS.index("Status")
    colors = theme.colors()
    assert panel.table.item(0, status).foreground().color() == QColor(colors.accent)
    assert panel.table.item(1, status).foreground().color() == QColor(colors.problem)
    assert panel.table.item(2, status).foreground().color() != QColor(colors.problem)


def test_a_command_line_run_without_run_json_appears(panel, runs_dir, three):
    make_run(runs_dir, "small-20200101-120000", started=0, record=False, done=4, epochs=4)
    panel.refresh()
    row = row_of(panel, "small-20200101-120000")
    assert row == 3  # its name's time stamp makes it the oldest
    assert column(panel, "Epochs")[row] == "4"
    assert column(panel, "Started")[row] == "2020-01-01 12:00"
    # No record of the best: it is read from metrics.csv by the default monitor (val_loss).
    assert column(panel, "Best")[row] == "val_loss 0.3000 (epoch 4)"
    assert column(panel, "LR")[row] == "—"


def test_an_unsaved_project_says_where_runs_will_go(qtbot):
    widget = RunsPanel()
    qtbot.addWidget(widget)
    widget.set_document(Document(small_project()))
    assert widget.list_stack.currentWidget() is widget.empty_label
    assert widget.empty_label.text() == NO_PATH


def test_a_saved_project_without_runs_says_so(panel, runs_dir):
    assert panel.list_stack.currentWidget() is panel.empty_label
    assert str(runs_dir) in panel.empty_label.text()


# ------------------------------------------------------------ side by side
def test_two_runs_overlay_their_curves_and_show_what_differed(panel, three, qtbot):
    panel.refresh()
    with qtbot.waitSignal(panel.selection_changed):
        select(panel, "small-a", "small-b")
    assert [r.name for r in panel.selected_runs()] == ["small-b", "small-a"]
    assert len(panel.plots.overlays) == 2 * CURVES
    names = {item.name() for _plot, item in panel.plots.overlays}
    assert {"b val", "a val", "b train", "a train"} <= names
    # lr is the only setting of the two that differs (the epochs done are no setting).
    assert settings_shown(panel) == {"training.lr": ["0.01", "0.001"]}
    assert panel.settings_label.text().startswith("1 setting differs")
    assert [panel.settings_table.horizontalHeaderItem(c).text() for c in range(2)] == [
        "b", "a"]


def test_three_runs_list_every_differing_setting(panel, three):
    panel.refresh()
    select(panel, "small-a", "small-b", "small-c")
    assert len(panel.plots.overlays) == 3 * CURVES
    assert settings_shown(panel) == {"training.epochs": ["5", "3", "3"],
                                     "training.lr": ["0.001", "0.01", "0.001"]}
    assert panel.settings_label.text().startswith("2 settings differ")


def test_one_run_shows_its_main_settings(panel, three):
    panel.refresh()
    select(panel, "small-b")
    assert len(panel.plots.overlays) == CURVES
    shown = settings_shown(panel)
    assert shown["training.lr"] == ["0.01"]
    assert shown["training.optimizer"] == ["adam"]
    assert shown["data.dataset"] == ["digits"]
    assert panel.settings_label.text() == "Settings of small-b"
    select(panel)
    assert panel.plots.overlays == []
    assert panel.settings_table.rowCount() == 0


def test_the_selection_survives_a_refresh(panel, three, runs_dir):
    panel.refresh()
    select(panel, "small-a")
    make_run(runs_dir, "small-d", started=time.time() + 10)
    panel.refresh()
    assert column(panel, "Run")[0] == "small-d"
    assert [r.name for r in panel.selected_runs()] == ["small-a"]
    assert len(panel.plots.overlays) == CURVES


# ----------------------------------------------------------------- deleting
@pytest.mark.parametrize("confirmed", [True, False])
def test_delete_asks_first(panel, three, monkeypatch, confirmed):
    panel.refresh()
    asked = []
    monkeypatch.setattr(panel, "confirm_delete",
                        lambda names: asked.append(names) or confirmed)
    select(panel, "small-a", "small-b")
    QTest.mouseClick(panel.delete_button, Qt.MouseButton.LeftButton)
    assert asked == [["small-b", "small-a"]]
    assert three[0].exists() is not confirmed and three[1].exists() is not confirmed
    expected = ["small-c"] if confirmed else ["small-c", "small-b", "small-a"]
    assert column(panel, "Run") == expected
    assert not panel.error_label.isVisible()


def test_a_refused_delete_is_said_in_words(panel, three, monkeypatch):
    panel.refresh()
    monkeypatch.setattr(panel, "confirm_delete", lambda names: True)
    select(panel, "small-c", "small-a")
    panel.delete_button.click()
    assert three[2].exists() and not three[0].exists()
    assert panel.error_label.isVisible()
    assert "still running" in panel.error_label.text()
    assert "small-c" in panel.error_label.text()
    assert column(panel, "Run") == ["small-c", "small-b"]


# ------------------------------------------------------ resume and weights
def test_resume_and_use_weights_emit_the_run_folder(panel, three, qtbot):
    panel.refresh()
    select(panel, "small-b")
    assert panel.resume_button.isEnabled() and panel.weights_button.isEnabled()
    with qtbot.waitSignal(panel.resume_requested) as resumed:
        panel.resume_button.click()
    assert resumed.args == [str(three[1])]
    with qtbot.waitSignal(panel.use_weights_requested) as used:
        panel.weights_button.click()
    assert used.args == [str(three[1])]


def test_resume_and_weights_need_one_run_with_checkpoints(panel, three, runs_dir):
    make_run(runs_dir, "small-bare", started=time.time() - 5 * DAY, checkpoints=(),
             status="failed", done=0)
    make_run(runs_dir, "small-best", started=time.time() - 6 * DAY,
             checkpoints=("best.pt",))
    panel.refresh()
    select(panel, "small-bare")
    assert not panel.resume_button.isEnabled()
    assert not panel.weights_button.isEnabled()
    assert panel.open_button.isEnabled() and panel.delete_button.isEnabled()
    select(panel, "small-best")  # best.pt holds weights but no state to continue from
    assert panel.weights_button.isEnabled() and not panel.resume_button.isEnabled()
    select(panel, "small-c")  # its trainer still runs
    assert not panel.resume_button.isEnabled() and panel.weights_button.isEnabled()
    select(panel, "small-a", "small-b")
    assert not panel.resume_button.isEnabled() and not panel.weights_button.isEnabled()
    select(panel)
    assert not any(b.isEnabled() for b in (panel.open_button, panel.delete_button))


# --------------------------------------------------------------- the folder
def test_double_click_and_open_folder_show_the_run_folder(panel, three, monkeypatch):
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    panel.refresh()
    rect = panel.table.visualItemRect(panel.table.item(row_of(panel, "small-b"), 0))
    # A view acts on a double click only on the item the press before it went to.
    QTest.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    QTest.mouseDClick(panel.table.viewport(), Qt.MouseButton.LeftButton,
                      pos=rect.center())
    assert [url.toLocalFile() for url in opened] == [str(three[1])]
    select(panel, "small-a")
    panel.open_button.click()
    assert opened[-1].toLocalFile() == str(three[0])


# ---------------------------------------------------------------- re-reading
def test_it_rereads_only_when_a_run_folder_changed(panel, runs_dir, qtbot):
    folder = make_run(runs_dir, "small-a", started=time.time() - DAY)
    panel.refresh()
    assert panel.poll_timer.isActive()
    assert panel.poll() is False
    make_run(runs_dir, "small-new", started=time.time())
    assert panel.poll() is True
    assert column(panel, "Run") == ["small-new", "small-a"]
    assert panel.poll() is False
    # The trainer appends an epoch to metrics.csv in place.
    with (folder / "metrics.csv").open("a") as handle:
        handle.write("4,0.2,0.9,,0.25,0.92,,0.001,1.5,900\n")
    later = time.time() + 5
    os.utime(folder / "metrics.csv", (later, later))
    assert panel.poll() is True
    select(panel, "small-a")
    val_loss = next(item for _plot, item in panel.plots.overlays if item.name() == "small-a val"
                    and _plot is panel.plots.loss_plot)
    assert list(val_loss.getData()[0]) == [1, 2, 3, 4]
    panel.hide()
    assert not panel.poll_timer.isActive()


def test_a_running_run_is_reread_each_time(panel, three):
    panel.refresh()
    assert panel.poll() is True  # its trainer may have died since


def test_the_newest_run_is_shown_when_nothing_is_selected(panel, three, runs_dir):
    """Opening the history (or a new run appearing) shows the newest run's curves rather
    than empty plots; a selection the user made is kept."""
    panel.refresh()
    assert [r.name for r in panel.selected_runs()] == ["small-c"]
    select(panel, "small-a")
    make_run(runs_dir, "small-d", started=time.time() + 10)
    panel.refresh()
    assert [r.name for r in panel.selected_runs()] == ["small-a"]
