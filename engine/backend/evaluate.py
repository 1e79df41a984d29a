"""Evaluate a trained network on labelled data, and predict the classes of image files.

Both read the weights of a run folder (its best.pt, else last.pt) or of one checkpoint and
load them strictly into the project's network, so what is measured is what was trained.
Samples reach the network as the trainer's validation feeds them: decoded and resized by
engine.backend.images, then augmentation.rescale (the one transform validation gets); the
Input's scale, mean and std run inside the module. The figures are the trainer's: the same
Loss (with the run's label smoothing, so ``loss`` equals the run's val_loss on its own
validation data), accuracy and top-5 counted as engine.backend.metrics.Meter counts them.

docs/evaluation.md describes the commands and their JSON; eval_cli.py is the command line.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine import settings as settings_schema
from engine.backend import images
from engine.backend.augment import AugmentConfig
from engine.backend.batching import FileDataset
from engine.backend.build import GraphModule, build_module
from engine.backend.data import (
    DataError,
    DataNotFound,
    Split,
    Target,
    check_decodable,
    open_data,
    target_of,
)
from engine.backend.optim import Loss, Scorer, output_loss
from engine.graph import Graph
from engine.project import Project
from engine.weights import load_into

MOST_CONFUSED = 10     # class pairs listed by Evaluation.most_confused()
EVAL_BATCH_SIZE = 256  # samples per forward pass when the settings name no batch size

Log = Callable[[str], None]


class WeightsError(ValueError):
    """Weights that cannot be used: unreadable, or not fitting the project's network. The
    command line exits 2 for it (an unreadable file, or the wrong file for FILE)."""


# ------------------------------------------------------------------- weights
@dataclass
class Weights:
    """A checkpoint's contents that evaluation needs. A bare state dict (saved from a built
    module) has no class names, settings or epoch."""

    path: Path
    model: dict[str, torch.Tensor]
    class_names: list[str] = field(default_factory=list)
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    epoch: int | None = None
    has_project: bool = False
    warnings: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return f"{self.path}" + (f" (epoch {self.epoch})" if self.epoch else "")


def read_weights(source: str | Path) -> Weights:
    """A run folder's best.pt (else last.pt, with a warning when best.pt is damaged) or a
    checkpoint file, read with torch.load(weights_only=True)."""
    from engine.importers.runs import CHECKPOINT_FORMAT, load_checkpoint
    from engine.importers.safe_load import ImportFailure, tensors_of

    try:
        path, state, warnings = load_checkpoint(source)
    except ImportFailure as exc:
        raise WeightsError(str(exc)) from None
    if isinstance(state, dict) and state.get("format") == CHECKPOINT_FORMAT:
        model = state.get("model")
        if not isinstance(model, dict) or not model:
            raise WeightsError(f"{path}: this checkpoint holds no model weights")
        epoch = state.get("epoch")
        return Weights(path, model, [str(n) for n in state.get("class_names") or []],
                       dict(state.get("settings") or {}),
                       int(epoch) if isinstance(epoch, int) else None,
                       isinstance(state.get("project"), str), warnings)
    try:
        return Weights(path, tensors_of(state, path), warnings=warnings)
    except ImportFailure as exc:
        raise WeightsError(str(exc)) from None


def mismatch(own: dict[str, torch.Tensor], stored: dict[str, torch.Tensor]) -> list[str]:
    """What keeps ``stored`` from loading strictly into a module whose state dict is
    ``own``: missing and unexpected keys, and shapes that differ.

    >>> mismatch({"fc.weight": torch.zeros(2, 3)}, {"fc.weight": torch.zeros(3, 3),
    ...                                              "fc2.bias": torch.zeros(1)})
    ['fc.weight is 3×3 in the checkpoint and 2×3 in the network', 'fc2.bias is not in the network']
    """
    lines = []
    for key, value in own.items():
        if key not in stored:
            lines.append(f"{key} is missing from the checkpoint")
        elif tuple(stored[key].shape) != tuple(value.shape):
            lines.append(f"{key} is {_shape(stored[key])} in the checkpoint and "
                         f"{_shape(value)} in the network")
    lines += [f"{key} is not in the network" for key in stored if key not in own]
    return lines


def _shape(t: torch.Tensor) -> str:
    return "×".join(map(str, t.shape)) or "a scalar"


# ------------------------------------------------------------------- network
@dataclass(frozen=True)
class ImageTarget(Target):
    """A graph's Target plus augmentation.rescale, which the trainer applies to every batch
    before the network (engine.backend.inspection.image_tensor applies it too)."""

    rescale: float = 1.0


@dataclass
class Network:
    """A project's network with trained (or stored, or fresh) weights, ready to run: the
    module in eval mode, what its data must look like, its class names (one per Output
    class) and the trainer's loss for its Output."""

    module: GraphModule
    graph: Graph
    target: ImageTarget
    class_names: list[str]
    loss: Loss
    settings: dict[str, dict[str, Any]]
    weights: Weights | None = None

    @property
    def classes(self) -> int:
        return self.target.classes

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """What the trainer's loss sees for a batch of raw samples (uint8 pixels or floats):
        logits for cross_entropy, the output otherwise."""
        if not torch.is_floating_point(x):
            x = x.float()
        if self.target.rescale != 1.0:
            x = x * self.target.rescale
        return Scorer(self.module, self.loss.use_logits)(x)

    def probabilities(self, scores: torch.Tensor) -> torch.Tensor:
        return probabilities(self.loss, scores)


def probabilities(loss: Loss, scores: torch.Tensor) -> torch.Tensor:
    """Per-class probabilities from what ``loss`` sees: softmax for cross_entropy, exp for
    nll (log-probabilities), sigmoid for bce (one per class, not summing to 1); for mse the
    Output's values (RBF distances negated), which are scores, not probabilities."""
    scores = scores.float()
    if loss.kind == "cross_entropy":
        return torch.softmax(scores, dim=1)
    if loss.kind == "nll":
        return scores.exp()
    if loss.kind == "bce":
        return scores if loss.sigmoid_output else torch.sigmoid(scores)
    return loss.predictions(scores)


def settings_of(project: Project, weights: Weights | None) -> dict[str, dict[str, Any]]:
    """The settings a run trained with (its checkpoint's), else the project's."""
    out = {}
    for section in settings_schema.SECTIONS:
        stored = weights.settings.get(section) if weights is not None else None
        out[section] = settings_schema.resolve(section, stored) if isinstance(stored, dict) \
            else project.settings(section)
    return out


def load_network(project: Project, weights: str | Path | Weights | None = None,
                 project_path: str | Path | None = None, file_label: str = "the project",
                 warn: Log | None = None) -> Network:
    """``project``'s network with the weights of a run folder or checkpoint (loaded
    strictly: WeightsError names every tensor that does not fit), or with the project's
    stored weights where they fit and initial weights elsewhere (``weights`` None)."""
    graph = project.graph
    target = target_of(graph)
    loaded = read_weights(weights) if isinstance(weights, str | Path) else weights
    with torch.random.fork_rng(devices=[]):  # fresh blocks start as train's do
        torch.manual_seed(int(project.settings("training")["seed"]))
        module = build_module(graph)
    if loaded is not None:
        problems = mismatch(module.state_dict(), loaded.model)
        if problems:
            more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
            hint = (f". `main.py import {loaded.path} -o trained.netdraft` writes the "
                    f"network it was trained with as a project" if loaded.has_project else "")
            raise WeightsError(f"the checkpoint's weights do not fit {file_label}'s network: "
                               f"{'; '.join(problems[:5])}{more}{hint}")
        module.load_state_dict(loaded.model, strict=True)
        for line in loaded.warnings:
            if warn is not None:
                warn(f"warning: {line}")
    elif project.weights:
        load_into(module, graph, project.weights, project_path, warn=warn)
    module.eval()
    settings = settings_of(project, loaded)
    rescale = float(AugmentConfig.from_settings(settings["augmentation"]).rescale)
    names = list(loaded.class_names if loaded is not None and loaded.class_names
                 else target.class_names)
    names += [str(i) for i in range(len(names), target.classes)]
    image_target = ImageTarget(**dataclasses.asdict(target), rescale=rescale)
    return Network(module, graph, image_target, names[:target.classes],
                   Loss(output_loss(graph), module, target.classes,
                        float(settings["training"]["label_smoothing"])),
                   settings, loaded)


# ------------------------------------------------------------------ metrics
def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, classes: int) -> np.ndarray:
    """Rows: true class, columns: predicted.

    >>> confusion_matrix(np.array([0, 1, 1]), np.array([0, 0, 1]), 2).tolist()
    [[1, 0], [1, 1]]
    """
    flat = np.asarray(y_true, np.int64) * classes + np.asarray(y_pred, np.int64)
    return np.bincount(flat, minlength=classes * classes).reshape(classes, classes)


def per_class(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """precision, recall, f1 and support of each class from a confusion matrix; 0 where a
    ratio is 0/0, as scikit-learn's zero_division=0 gives.

    >>> {k: v.tolist() for k, v in per_class(np.array([[1, 0], [1, 1]])).items()}
    {'precision': [0.5, 1.0], 'recall': [1.0, 0.5], 'f1': [0.6666666666666666, 0.6666666666666666], 'support': [1, 2]}
    """
    tp = np.diag(matrix).astype(np.float64)
    predicted, support = matrix.sum(0), matrix.sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        denominator = predicted + support  # 2·tp + false positives + false negatives
        f1 = np.where(denominator > 0, 2 * tp / denominator, 0.0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


@dataclass
class Evaluation:
    """One evaluation: every sample's true and predicted class, its confidence (the
    predicted class's probability) and whether the true class is in its top 5, and the
    figures derived from them. ``index`` is a sample's position in the data evaluated (the
    validation split as engine.backend.data.open_data gives it, or all of --data), ``files``
    its file where the data came from files."""

    weights: str
    epoch: int | None
    source: str
    part: str                  # "validation" or "all"
    class_names: list[str]     # one per Output class
    loss_kind: str
    y_true: np.ndarray
    y_pred: np.ndarray
    confidence: np.ndarray
    top5_hit: np.ndarray | None  # None with fewer than 5 classes
    loss: float | None           # None when no sample could be read
    files: list[str] | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def samples(self) -> int:
        return len(self.y_true)

    @property
    def classes(self) -> int:
        return len(self.class_names)

    @property
    def accuracy(self) -> float:
        return float((self.y_true == self.y_pred).mean()) if self.samples else math.nan

    @property
    def top5(self) -> float | None:
        if self.top5_hit is None:
            return None
        return float(self.top5_hit.mean()) if self.samples else math.nan

    def confusion(self) -> np.ndarray:
        return confusion_matrix(self.y_true, self.y_pred, self.classes)

    def per_class(self) -> list[dict[str, Any]]:
        stats = per_class(self.confusion())
        return [{"class": i, "name": self.class_names[i],
                 **{k: (int(v[i]) if k == "support" else float(v[i])) for k, v in stats.items()}}
                for i in range(self.classes)]

    def averages(self) -> dict[str, dict[str, float]]:
        """Macro (plain mean) and weighted (by support) precision, recall and F1 over the
        classes that occur in the data or the predictions, as scikit-learn's defaults."""
        matrix = self.confusion()
        stats = per_class(matrix)
        seen = (matrix.sum(0) + matrix.sum(1)) > 0
        out = {}
        for name, weight in (("macro", seen.astype(np.float64)),
                             ("weighted", stats["support"] * seen)):
            total = weight.sum()
            out[name] = {k: float((stats[k] * weight).sum() / total) if total else 0.0
                         for k in ("precision", "recall", "f1")}
        return out

    def most_confused(self, count: int = MOST_CONFUSED) -> list[dict[str, Any]]:
        """The off-diagonal cells with the most samples, largest first."""
        matrix = self.confusion().copy()
        np.fill_diagonal(matrix, 0)
        cells = [(int(matrix[t, p]), int(t), int(p)) for t, p in zip(*np.nonzero(matrix))]
        cells.sort(key=lambda c: (-c[0], c[1], c[2]))
        return [{"true": t, "true_name": self.class_names[t], "predicted": p,
                 "predicted_name": self.class_names[p], "count": n}
                for n, t, p in cells[:count]]

    def misclassified(self) -> list[dict[str, Any]]:
        """Every wrongly predicted sample, in the data's order."""
        out = []
        for i in np.flatnonzero(self.y_true != self.y_pred):
            t, p = int(self.y_true[i]), int(self.y_pred[i])
            entry: dict[str, Any] = {"index": int(i)}
            if self.files is not None:
                entry["file"] = self.files[i]
            entry.update(true=t, true_name=self.class_names[t], predicted=p,
                         predicted_name=self.class_names[p],
                         confidence=float(self.confidence[i]))
            out.append(entry)
        return out

    def to_json(self) -> dict[str, Any]:
        return {"weights": self.weights, "epoch": self.epoch, "data": self.source,
                "part": self.part, "samples": self.samples, "classes": self.classes,
                "class_names": list(self.class_names), "loss_kind": self.loss_kind,
                "accuracy": self.accuracy, "top5": self.top5, "loss": self.loss,
                "per_class": self.per_class(), "averages": self.averages(),
                "confusion": self.confusion().tolist(),
                "most_confused": self.most_confused(),
                "misclassified": self.misclassified(),
                "skipped": len(self.skipped),
                "skipped_files": [{"file": f, "reason": r} for f, r in self.skipped[:20]],
                "notes": list(self.notes)}


# ----------------------------------------------------------------- evaluate
def evaluation_data(net: Network, spec: str | None,
                    log: Log = lambda m: None) -> tuple[Split, str, str, list[tuple[str, str]]]:
    """The samples to evaluate, labelled with the network's class numbers: the validation
    data the run used (its checkpoint's data settings, else the project's), or all of
    ``spec`` (its own validation part when it has one: train/ and val/ folders, an .npz's
    x_test, MNIST's t10k files). Returns (split, source, part, skipped files)."""
    data_settings = dict(net.settings["data"])
    if spec:
        data_settings.update(dataset=spec, val_dataset="", val_fraction=0.0)
    bundle = open_data(data_settings, net.target, log)
    if spec:
        split, part = (bundle.val, "validation") if bundle.val is not None \
            else (bundle.train, "all")
    else:
        if bundle.val is None:
            raise DataNotFound(f"{bundle.source}: the settings give no validation data "
                               f"(data.val_fraction is 0 and no data.val_dataset): give "
                               f"--data SPEC to evaluate on")
        split, part = bundle.val, "validation"
    split = _relabel(split, bundle.class_names if bundle.named_classes else None, net,
                     bundle.source)
    return split, bundle.source, part, list(bundle.skipped)


def _relabel(split: Split, names: list[str] | None, net: Network, source: str) -> Split:
    """Data's class numbers follow its own names (folders sorted, CSV labels): map them to
    the numbers the network was trained with, by name."""
    trained = net.weights.class_names if net.weights is not None else []
    if names is not None and trained and names != trained[:len(names)]:
        index = {n: i for i, n in enumerate(trained)}
        unknown = [n for n in names if n not in index]
        if unknown:
            raise DataError(f"{source}: classes {', '.join(unknown[:5])} are not among the "
                            f"{len(trained)} the network was trained on "
                            f"({', '.join(trained[:10])})")
        table = torch.tensor([index[n] for n in names], dtype=torch.int64)
        split = Split(table[split.y], x=split.x, paths=split.paths)
    top = int(split.y.max()) + 1 if len(split) else 0
    if top > net.classes:
        raise DataError(f"{source}: the data has {top} classes but the Output "
                        f"'{net.target.output_name}' has {net.classes}")
    return split


class _Numbered(torch.utils.data.Dataset):
    """FileDataset's samples with their positions, so a skipped file leaves no gap."""

    def __init__(self, files: FileDataset) -> None:
        self.files = files

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        return (i, *self.files[i])


def _collate(items):
    good = [(i, x, y) for i, x, y, _ in items if x is not None]
    bad = [err for *_, err in items if err is not None]
    if not good:
        return [], None, None, bad
    return ([i for i, _, _ in good], torch.stack([x for _, x, _ in good]),
            torch.stack([y for _, _, y in good]), bad)


def samples(split: Split, target: Target, batch_size: int, workers: int = 0,
            ) -> Iterator[tuple[list[int], torch.Tensor | None, torch.Tensor | None, list]]:
    """(positions, x, y, skipped files) per batch, in order; x is None for a batch whose
    files were all unreadable."""
    if split.x is not None:
        for start in range(0, len(split), batch_size):
            stop = min(start + batch_size, len(split))
            yield list(range(start, stop)), split.x[start:stop], split.y[start:stop], []
        return
    loader = torch.utils.data.DataLoader(
        _Numbered(FileDataset(split, target)), batch_size=batch_size, shuffle=False,
        num_workers=workers or min(8, os.cpu_count() or 1), collate_fn=_collate)
    yield from loader


def evaluate(net: Network, spec: str | None = None, device: str | torch.device = "cpu",
             batch_size: int | None = None, log: Log = lambda m: None) -> Evaluation:
    """Run ``net`` over its validation data (or ``spec``'s samples) and keep each
    sample's true class, prediction, confidence and top-5 hit."""
    split, source, part, skipped = evaluation_data(net, spec, log)
    device = torch.device(device)
    net.module.to(device)
    size = int(batch_size or net.settings["training"].get("batch_size") or EVAL_BATCH_SIZE)
    topk = 5 if net.classes >= 5 else 0
    positions, truths, preds, confidences, hits = [], [], [], [], []
    loss_sum, seen = 0.0, 0
    with torch.no_grad():
        for index, x, y, bad in samples(split, net.target, size,
                                        int(net.settings["data"]["workers"])):
            skipped += bad
            if x is None:
                continue
            x, y = x.to(device), y.to(device)
            scores = net.scores(x).float()
            loss_sum += float(net.loss(scores, y)) * len(y)
            seen += len(y)
            ranked = net.loss.predictions(scores)
            pred = ranked.argmax(1)
            probs = net.probabilities(scores)
            confidences.append(probs.gather(1, pred[:, None])[:, 0].cpu())
            if topk:
                hits.append((ranked.topk(topk, dim=1).indices == y[:, None]).any(1).cpu())
            positions += index
            truths.append(y.cpu())
            preds.append(pred.cpu())
    net.module.to("cpu")

    def joined(parts: list[torch.Tensor], dtype) -> np.ndarray:
        return torch.cat(parts).numpy() if parts else np.zeros(0, dtype)

    files = [split.paths[i] for i in positions] if split.paths is not None else None
    weights = net.weights
    notes = []
    if skipped:
        notes.append(f"skipped {len(skipped)} unreadable image(s), e.g. {skipped[0][0]}: "
                     f"{skipped[0][1]}")
    return Evaluation(
        str(weights.path) if weights else "", weights.epoch if weights else None, source,
        part, list(net.class_names), net.loss.kind, joined(truths, np.int64),
        joined(preds, np.int64), joined(confidences, np.float32),
        joined(hits, bool) if topk else None, loss_sum / seen if seen else None, files,
        skipped, notes)


# ------------------------------------------------------------------- predict
@dataclass
class Prediction:
    image: str
    top: list[tuple[int, float]]  # (class, probability), most likely first


def read_image(path: str | Path, target: Target) -> torch.Tensor:
    """One image file as the trainer decodes it: C×H×W uint8 at the Input's size.
    DataNotFound (exit 2) when it cannot be read, DataError when the Input takes no images."""
    check_decodable(target, path)
    c, h, w = target.shape
    try:
        pixels = images.decode_image(path, c, h, w, target.order)
    except (OSError, ValueError, SyntaxError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataNotFound(f"{path}: cannot be read as an image "
                           f"({str(exc) or type(exc).__name__})") from None
    return torch.from_numpy(pixels if pixels.flags.writeable else pixels.copy())


def predict(net: Network, paths: list[str], top: int = 5,
            device: str | torch.device = "cpu", batch_size: int = 64) -> list[Prediction]:
    """The ``top`` most likely classes of each image file, with their probabilities
    (Network.probabilities). Every file is decoded before the network runs: an unreadable
    one stops the command before any result."""
    x_all = torch.stack([read_image(p, net.target) for p in paths]) if paths else None
    k = max(1, min(top, net.classes))
    device = torch.device(device)
    net.module.to(device)
    out = []
    with torch.no_grad():
        for start in range(0, len(paths), batch_size):
            x = x_all[start:start + batch_size].to(device)
            scores = net.scores(x).float()
            probs = net.probabilities(scores)
            order = net.loss.predictions(scores).topk(k, dim=1).indices
            chosen = probs.gather(1, order)
            for j in range(len(x)):
                out.append(Prediction(str(paths[start + j]),
                                      list(zip(order[j].tolist(), chosen[j].tolist()))))
    net.module.to("cpu")
    return out
