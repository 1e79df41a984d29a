"""ConsoleSink, what `main.py train` shows on stderr: a progress bar with images/s and ETA
on a terminal, one line per epoch on anything else (a log file, a pipe)."""

from __future__ import annotations

import io
import re

import pytest

from engine.backend.events import ConsoleSink, Sink
from engine.backend.train import Trainer
from tests.backend.conftest import tiny_project

CLEAR = "\r\033[K"  # back to the start of the line and erase it


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Record(Sink):
    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []

    def emit(self, event, **fields):
        self.events.append((event, fields))

    def message(self, text):
        pass


def screen(text: str) -> tuple[list[str], str]:
    """The finished lines a terminal shows for ``text``, and the line still being drawn."""
    lines, current = [], ""
    for chunk in re.split(r"(\r\033\[K|\n)", text):
        if chunk == CLEAR:
            current = ""
        elif chunk == "\n":
            lines.append(current)
            current = ""
        else:
            current += chunk
    return lines, current


def replay(events, stream) -> str:
    sink = ConsoleSink(stream)
    for event, fields in events:
        sink.emit(event, **fields)
    return stream.getvalue()


@pytest.fixture(scope="module")
def run_events(tmp_path_factory):
    """The events of a real two-epoch run, in the order the trainer emits them."""
    sink = Record()
    Trainer(tiny_project(epochs=2), run_dir=tmp_path_factory.mktemp("run"), sink=sink).run()
    return sink.events


def _start(**extra):
    return ("start", {"project": "tiny", "run_dir": "runs/tiny", "device": "cpu",
                      "precision": "fp32", "params": 1234, "notes": [],
                      "data": {"train": 1347, "val": 450, "classes": 10}, **extra})


def _step(step, steps=4, eta=75.0):
    return ("step", {"epoch": 1, "epochs": 2, "step": step, "steps": steps, "loss": 0.5,
                     "accuracy": 0.8, "lr": 0.01, "images_per_s": 1234.6, "eta_s": eta})


EPOCH = ("epoch", {"epoch": 1, "epochs": 2, "train_loss": 0.5, "train_accuracy": 0.8,
                   "val_loss": 0.25, "val_accuracy": 0.9, "images_per_s": 1000.0,
                   "seconds": 1.25, "skipped": 0})


def test_terminal_bar_shows_epoch_progress_speed_and_eta():
    out = replay([_start(notes=["fp16 is off: float16 mixed precision needs a GPU"]),
                  _step(1), _step(2)], Terminal())
    lines, bar = screen(out)
    assert lines == ["training tiny on cpu (fp32): 1,347 training and 450 validation images, "
                     "10 classes, 1,234 parameters",
                     "note: fp16 is off: float16 mixed precision needs a GPU",
                     "run folder: runs/tiny"]
    assert bar == f"epoch 1/2 {'█' * 15}{'·' * 15} 2/4 loss 0.5000 1,235 img/s ETA 01:15"
    assert out.count(CLEAR) == 2  # each step redraws the same line
    hours = replay([_start(), _step(1, eta=3725)], Terminal())
    assert screen(hours)[1].endswith("ETA 1:02:05")


def test_terminal_epoch_line_replaces_the_bar():
    out = replay([_start(), _step(4), EPOCH], Terminal())
    lines, bar = screen(out)
    assert bar == ""
    assert lines[-1] == ("epoch 1/2: loss 0.5000 accuracy 80.00% | val loss 0.2500 "
                         "val accuracy 90.00% | 1,000 img/s, 1.2 s")


def test_a_real_run_on_a_terminal_ends_as_the_plain_log(run_events):
    on_terminal = replay(run_events, Terminal())
    plain = replay(run_events, io.StringIO())
    bars = [frame for frame in on_terminal.split(CLEAR) if frame.startswith("epoch ")
            and "img/s" in frame and "ETA" in frame]
    assert {frame[:9] for frame in bars} == {"epoch 1/2", "epoch 2/2"}
    # Once the bar is erased for good, the terminal shows exactly the plain log.
    lines, bar = screen(on_terminal)
    assert bar == "" and lines == plain.splitlines()


def test_plain_stream_gets_one_line_per_epoch_and_no_control_characters(run_events):
    plain = replay(run_events, io.StringIO())
    assert "\r" not in plain and "\033" not in plain and "█" not in plain
    lines = plain.splitlines()
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert [line[:10] for line in epochs] == ["epoch 1/2:", "epoch 2/2:"]
    assert all("val accuracy" in line and "img/s" in line for line in epochs)
    best = [e for e, f in run_events if e == "checkpoint" and f["best"]]
    assert sum(line.startswith("best so far: ") for line in lines) == len(best)
    done = next(f for e, f in run_events if e == "done")
    assert lines[-1].startswith("finished: 2 epoch(s) in ")
    assert f"best val_loss {done['best_value']:.4f} (epoch {done['best_epoch']})" in lines[-1]


def test_error_erases_the_bar_so_the_command_lines_message_starts_clean():
    error = ("error", {"kind": "run", "message": "the loss became nan", "exit_code": 1})
    out = replay([_start(), _step(2), error], Terminal())
    lines, bar = screen(out + "error: the loss became nan\n")
    assert lines[-1] == "error: the loss became nan" and bar == ""
    # The sink never prints the error itself (the command line does, once).
    assert "nan" not in replay([_start(), error], Terminal())
    assert "nan" not in replay([_start(), _step(2), error], io.StringIO())


def test_done_before_any_epoch_has_no_best_and_accuracy_is_a_percentage():
    def done(**fields):
        return replay([("done", {"status": "interrupted", "run_dir": "runs/tiny",
                                 "epochs_done": 0, "seconds": 0.42, **fields})],
                      io.StringIO())

    assert done(monitor="val_loss", best_value=None, best_epoch=None) == (
        "interrupted: 0 epoch(s) in 0.4 s; checkpoints in runs/tiny\n")
    assert "best val_accuracy 93.75% (epoch 3)" in done(monitor="val_accuracy",
                                                        best_value=0.9375, best_epoch=3)


def test_a_message_during_the_bar_gets_its_own_line():
    stream = Terminal()
    sink = ConsoleSink(stream)
    event, fields = _step(1)
    sink.emit(event, **fields)
    sink.message("stopping after this step; writing a checkpoint")
    lines, bar = screen(stream.getvalue())
    assert lines == ["stopping after this step; writing a checkpoint"] and bar == ""
