"""The run folder's per-epoch files: per_class.csv, confusion/epoch_NNN.csv, the TensorBoard
per-class scalars, and top-5 only where the Output has 5 classes or more."""

from __future__ import annotations

import csv

import pytest
import torch

from engine.backend.events import Sink
from engine.backend.metrics import CONFUSION_CORNER, MetricsLog
from engine.backend.train import Trainer
from tests.backend.conftest import tiny_project
from tests.backend.test_train import _tensorboard_scalars


class Record(Sink):
    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []

    def emit(self, event, **fields):
        self.events.append((event, fields))

    def message(self, text):
        pass

    def of(self, name: str) -> list[dict]:
        return [fields for event, fields in self.events if event == name]


def _rows(path):
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _matrix(path) -> tuple[list[str], list[str], list[list[int]]]:
    with path.open(newline="") as handle:
        header, *rows = list(csv.reader(handle))
    assert header[0] == CONFUSION_CORNER
    return header[1:], [r[0] for r in rows], [[int(v) for v in r[1:]] for r in rows]


def test_per_class_and_confusion_files_hold_each_epochs_validation(tmp_path):
    sink = Record()
    Trainer(tiny_project(epochs=2), run_dir=tmp_path, sink=sink).run()
    start, epochs = sink.of("start")[0], sink.of("epoch")
    names, val_count = start["class_names"], start["data"]["val"]
    assert names == torch.load(tmp_path / "last.pt", weights_only=True)["class_names"]
    rows = _rows(tmp_path / "per_class.csv")
    assert list(rows[0]) == ["epoch", "class", "support", "correct", "accuracy"]
    assert len(rows) == 2 * len(names)
    scalars = _tensorboard_scalars(tmp_path / "tensorboard")
    for number, event in enumerate(epochs, 1):
        mine = [r for r in rows if r["epoch"] == str(number)]
        assert [r["class"] for r in mine] == names
        assert [float(r["accuracy"]) for r in mine] == pytest.approx(
            event["per_class_accuracy"], rel=1e-5)
        confusion = event["confusion"]
        assert [int(r["support"]) for r in mine] == [sum(row) for row in confusion]
        assert [int(r["correct"]) for r in mine] == [row[i] for i, row in enumerate(confusion)]
        assert sum(int(r["support"]) for r in mine) == val_count
        predicted, true, matrix = _matrix(tmp_path / "confusion" / f"epoch_{number:03d}.csv")
        assert predicted == true == names and matrix == confusion
        for i, name in enumerate(names):
            steps, values = scalars[f"val_class/{name}"]
            assert values[number - 1] == pytest.approx(event["per_class_accuracy"][i],
                                                       rel=1e-5)
    # The checkpoint's metrics are the last epoch's, as in the files.
    saved = torch.load(tmp_path / "last.pt", weights_only=True)["metrics"]
    assert _matrix(tmp_path / "confusion" / "epoch_002.csv")[2] == saved["confusion"]
    assert sorted(p.name for p in (tmp_path / "confusion").iterdir()) == [
        "epoch_001.csv", "epoch_002.csv"]


def _epoch_metrics(confusion):
    return {"train_loss": 1.0, "train_accuracy": 0.5, "confusion": confusion}


def test_resume_keeps_the_epochs_up_to_the_resumed_one(tmp_path):
    names = ["cat", "dog", "bird"]
    log = MetricsLog(tmp_path, class_names=names)
    for epoch in (1, 2, 3):
        # "bird" has no validation samples: its accuracy is empty, not 0%.
        log.write(epoch, _epoch_metrics([[epoch, 1, 0], [2, 3, 0], [0, 0, 0]]))
    log.close()
    rows = _rows(tmp_path / "per_class.csv")
    assert rows[:3] == [
        {"epoch": "1", "class": "cat", "support": "2", "correct": "1", "accuracy": "0.5"},
        {"epoch": "1", "class": "dog", "support": "5", "correct": "3", "accuracy": "0.6"},
        {"epoch": "1", "class": "bird", "support": "0", "correct": "0", "accuracy": ""}]
    assert _matrix(tmp_path / "confusion" / "epoch_003.csv") == (
        names, names, [[3, 1, 0], [2, 3, 0], [0, 0, 0]])

    MetricsLog(tmp_path, resume_epoch=1, class_names=names).close()
    assert {r["epoch"] for r in _rows(tmp_path / "per_class.csv")} == {"1"}
    assert [p.name for p in (tmp_path / "confusion").iterdir()] == ["epoch_001.csv"]
    assert [r["epoch"] for r in _rows(tmp_path / "metrics.csv")] == ["1"]

    MetricsLog(tmp_path, class_names=names).close()  # a fresh run in the same folder
    assert not (tmp_path / "per_class.csv").exists()
    assert not list((tmp_path / "confusion").iterdir())


def test_classes_the_data_does_not_name_are_numbered(tmp_path):
    MetricsLog(tmp_path, class_names=["a"]).write(1, _epoch_metrics([[1, 0], [0, 1]]))
    assert [r["class"] for r in _rows(tmp_path / "per_class.csv")] == ["a", "1"]


@pytest.mark.parametrize("dataset,classes,top5", [("shapes", 4, False), ("digits", 10, True)])
def test_top5_only_with_five_classes_or_more(tmp_path, dataset, classes, top5):
    project = tiny_project(dataset, epochs=1, classes=classes)
    project.data["samples"] = 200
    sink = Record()
    Trainer(project, run_dir=tmp_path, sink=sink).run()
    epoch = sink.of("epoch")[0]
    row = _rows(tmp_path / "metrics.csv")[0]
    for key in ("train_top5", "val_top5"):
        assert (key in epoch) == top5
        assert (row[key] != "") == top5
        if top5:
            assert float(row[key]) == pytest.approx(epoch[key], rel=1e-5)
            assert epoch[key] >= epoch[key.replace("top5", "accuracy")]
