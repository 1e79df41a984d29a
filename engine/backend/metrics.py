"""Per-epoch metrics: loss, accuracy, top-5, per-class accuracy and the confusion matrix,
accumulated on the device (no sync per step) and written to the run folder: metrics.csv,
per_class.csv, confusion/epoch_NNN.csv and, when tensorboard is installed, TensorBoard
event files. Tracker follows the monitored metric's best for checkpoints and early
stopping."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from engine import atomic

CSV_COLUMNS = ("epoch", "train_loss", "train_accuracy", "train_top5", "val_loss",
               "val_accuracy", "val_top5", "lr", "seconds", "images_per_s")
PER_CLASS_COLUMNS = ("epoch", "class", "support", "correct", "accuracy")
CONFUSION_CORNER = "true \\ predicted"


class Meter:
    """Sums of loss, correct, top-5 correct and samples, and optionally a confusion matrix
    (rows: true class, columns: predicted)."""

    def __init__(self, classes: int, device: torch.device, confusion: bool = False) -> None:
        self.classes = classes
        self.topk = 5 if classes >= 5 else 0
        self.sums = torch.zeros(4, dtype=torch.float64, device=device)
        self.count = 0  # samples, kept on the host: no device work per step for it
        self.confusion = (torch.zeros(classes, classes, dtype=torch.int64, device=device)
                          if confusion else None)

    def update(self, loss: torch.Tensor, scores: torch.Tensor, y: torch.Tensor) -> None:
        n = y.shape[0]
        pred = scores.argmax(1)
        hits = pred == y
        if self.topk:
            top5 = (scores.topk(self.topk, dim=1).indices == y.unsqueeze(1)).any(1)
            stats = torch.stack((loss.detach().double() * n, hits.sum().double(),
                                 top5.sum().double()))
        else:
            correct = hits.sum().double()
            stats = torch.stack((loss.detach().double() * n, correct, correct))
        self.sums[:3] += stats
        self.count += n
        if self.confusion is not None:
            k = self.classes
            self.confusion += torch.bincount(y * k + pred, minlength=k * k).view(k, k)

    def state(self) -> list[torch.Tensor]:
        """The tensors to sum across ranks (the sample count rides in the last slot)."""
        self.sums[3] = float(self.count)
        return [self.sums] + ([self.confusion] if self.confusion is not None else [])

    def load(self, sums: torch.Tensor) -> None:
        self.sums.copy_(sums.to(self.sums.device))
        self.count = int(self.sums[3].item())

    def running_accuracy(self) -> float:
        return self.sums[1].item() / max(self.count, 1)

    def result(self, prefix: str) -> dict[str, Any]:
        loss_sum, correct, top5, summed = self.sums.tolist()
        count = max(summed, float(self.count), 1.0)  # summed: all ranks' samples, once reduced
        out: dict[str, Any] = {f"{prefix}_loss": loss_sum / count,
                               f"{prefix}_accuracy": correct / count}
        if self.topk:
            out[f"{prefix}_top5"] = top5 / count
        if self.confusion is not None:
            matrix = self.confusion.cpu()
            totals = matrix.sum(1).clamp(min=1)
            out["per_class_accuracy"] = (matrix.diagonal() / totals).tolist()
            out["confusion"] = matrix.tolist()
        return out


class Tracker:
    """The monitored value: best so far, and epochs since it last improved."""

    def __init__(self, monitor: str) -> None:
        self.monitor = monitor
        self.mode = "max" if monitor.endswith("accuracy") else "min"
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.bad_epochs = 0

    def key(self, metrics: dict[str, Any]) -> str:
        return self.monitor if metrics.get(self.monitor) is not None \
            else self.monitor.replace("val_", "train_")

    def update(self, epoch: int, metrics: dict[str, Any]) -> bool:
        value = metrics[self.key(metrics)]
        better = self.best is None or (value < self.best if self.mode == "min"
                                       else value > self.best)
        if better and math.isfinite(value):
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
            return True
        self.bad_epochs += 1
        return False

    def state(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    def load(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch = state["best"], state["best_epoch"]
        self.bad_epochs = state["bad_epochs"]


def finite(value: Any) -> Any:
    """JSON cannot hold NaN or infinity: they become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def _rows_up_to(path: Path, epoch: int, warn: Callable[[str], None]) -> list[dict[str, str]]:
    """The CSV rows of epochs 1 to ``epoch`` (none for a fresh run). A row whose epoch is
    not a number is dropped and named; a file that cannot be read further keeps the rows
    read so far. (The run folder's check has refused a FIFO in the file's place.)"""
    if not epoch or not path.exists():
        return []
    rows: list[dict[str, str]] = []
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            for row in reader:
                number = (row.get("epoch") or "").strip()
                if not number.isdigit():
                    warn(f"warning: {path} line {reader.line_num}: the epoch {number!r} is "
                         f"not a number; the row is dropped")
                    continue
                if int(number) <= epoch:
                    rows.append(row)
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        warn(f"warning: {path} cannot be read past row {len(rows)} ({exc}); the rows after "
             f"it are dropped")
    return rows


def _rewrite(path: Path, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    """The whole table, written atomically (never appended through a link or cut short)."""
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic.write_text(path, text.getvalue())


def _text(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value


class MetricsLog:
    """The run folder's record of each epoch: metrics.csv (one row of scalars),
    per_class.csv (validation accuracy and support of each class), confusion/epoch_NNN.csv
    (the validation confusion matrix) and TensorBoard scalars when the tensorboard package
    is installed. On --resume each keeps the epochs up to the resumed one; a fresh run in
    the same folder starts them over. Each CSV file is kept in memory and rewritten
    atomically after every epoch."""

    def __init__(self, run_dir: Path, resume_epoch: int = 0,
                 class_names: list[str] | tuple[str, ...] = (),
                 warn: Callable[[str], None] = lambda text: None) -> None:
        self.path = run_dir / "metrics.csv"
        self.per_class_path = run_dir / "per_class.csv"
        self.confusion_dir = run_dir / "confusion"
        self.class_names = list(class_names)
        self.rows: list[dict[str, Any]] = _rows_up_to(self.path, resume_epoch, warn)
        _rewrite(self.path, CSV_COLUMNS, self.rows)
        # per_class.csv and confusion/ appear with the first validated epoch.
        self.per_class_rows: list[dict[str, Any]] = _rows_up_to(self.per_class_path,
                                                                resume_epoch, warn)
        if self.per_class_rows:
            _rewrite(self.per_class_path, PER_CLASS_COLUMNS, self.per_class_rows)
        else:
            self.per_class_path.unlink(missing_ok=True)
        if self.confusion_dir.is_dir():
            for old in self.confusion_dir.glob("epoch_*.csv"):
                number = old.stem.removeprefix("epoch_")
                if number.isdigit() and int(number) > resume_epoch:
                    old.unlink()
        self.tensorboard = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tensorboard = SummaryWriter(str(run_dir / "tensorboard"),
                                             purge_step=resume_epoch + 1 if resume_epoch
                                             else None)
        except (ImportError, ModuleNotFoundError):
            pass

    def class_name(self, index: int) -> str:
        """The data's name for a class; its number for Output classes the data lacks."""
        return self.class_names[index] if index < len(self.class_names) else str(index)

    def write(self, epoch: int, metrics: dict[str, Any]) -> None:
        row = {c: _text(metrics.get(c, "")) for c in CSV_COLUMNS}
        row["epoch"] = epoch
        self.rows.append(row)
        _rewrite(self.path, CSV_COLUMNS, self.rows)
        per_class = []
        if metrics.get("confusion") is not None:
            per_class = self._write_validation(epoch, metrics["confusion"])
        if self.tensorboard is not None:
            for key in CSV_COLUMNS[1:]:
                value = metrics.get(key)
                if isinstance(value, int | float) and math.isfinite(value):
                    self.tensorboard.add_scalar(key.replace("_", "/", 1), value, epoch)
            for entry in per_class:
                if entry["support"]:
                    self.tensorboard.add_scalar(f"val_class/{entry['class']}",
                                                entry["accuracy"], epoch)
            self.tensorboard.flush()

    def _write_validation(self, epoch: int,
                          confusion: list[list[int]]) -> list[dict[str, Any]]:
        """per_class.csv rows and confusion/epoch_NNN.csv for one validated epoch. A class
        without validation samples has an empty accuracy (0 of 0 is not 0%)."""
        names = [self.class_name(i) for i in range(len(confusion))]
        per_class = []
        for i, counts in enumerate(confusion):
            support, correct = sum(counts), counts[i]
            per_class.append({"epoch": epoch, "class": names[i], "support": support,
                              "correct": correct,
                              "accuracy": correct / support if support else ""})
        self.per_class_rows += [{k: _text(v) for k, v in entry.items()} for entry in per_class]
        _rewrite(self.per_class_path, PER_CLASS_COLUMNS, self.per_class_rows)
        self.confusion_dir.mkdir(exist_ok=True)
        text = io.StringIO(newline="")
        writer = csv.writer(text)
        writer.writerow([CONFUSION_CORNER, *names])
        writer.writerows([name, *counts] for name, counts in zip(names, confusion))
        atomic.write_text(self.confusion_dir / f"epoch_{epoch:03d}.csv", text.getvalue())
        return per_class

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()
