"""Per-epoch metrics: loss, accuracy, top-5, per-class accuracy and the confusion matrix,
accumulated on the device (no sync per step) and written to metrics.csv and, when
tensorboard is installed, TensorBoard event files."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import torch

CSV_COLUMNS = ("epoch", "train_loss", "train_accuracy", "train_top5", "val_loss",
               "val_accuracy", "val_top5", "lr", "seconds", "images_per_s")


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


def finite(value: Any) -> Any:
    """JSON cannot hold NaN or infinity: they become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


class MetricsLog:
    """RUN_DIR/metrics.csv, one row per epoch (rewritten up to the resumed epoch on
    --resume), plus TensorBoard scalars when the tensorboard package is installed."""

    def __init__(self, run_dir: Path, resume_epoch: int = 0) -> None:
        self.path = run_dir / "metrics.csv"
        rows = []
        if resume_epoch and self.path.exists():
            with self.path.open(newline="") as handle:
                rows = [r for r in csv.DictReader(handle) if int(r["epoch"]) <= resume_epoch]
        with self.path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, CSV_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        self.tensorboard = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tensorboard = SummaryWriter(str(run_dir / "tensorboard"),
                                             purge_step=resume_epoch + 1 if resume_epoch
                                             else None)
        except (ImportError, ModuleNotFoundError):
            pass

    def write(self, epoch: int, metrics: dict[str, Any]) -> None:
        row = {c: metrics.get(c, "") for c in CSV_COLUMNS}
        row["epoch"] = epoch
        for key, value in row.items():
            if isinstance(value, float):
                row[key] = f"{value:.6g}"
        with self.path.open("a", newline="") as handle:
            csv.DictWriter(handle, CSV_COLUMNS).writerow(row)
        if self.tensorboard is not None:
            for key in CSV_COLUMNS[1:]:
                value = metrics.get(key)
                if isinstance(value, int | float) and math.isfinite(value):
                    self.tensorboard.add_scalar(key.replace("_", "/", 1), value, epoch)
            self.tensorboard.flush()

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()
