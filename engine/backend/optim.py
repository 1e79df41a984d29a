"""The optimizer, the learning-rate schedule and the loss the Output block asks for."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.backend.build import GraphModule
from engine.backend.runtime import RunError
from engine.graph import Graph
from engine.layers import REGISTRY, HeadRole


def make_optimizer(groups: list[dict], cfg: dict[str, Any]) -> torch.optim.Optimizer:
    """Each parameter group starts at lr × its block's lr_mult."""
    lr = float(cfg["lr"])
    for group in groups:
        group["lr"] = lr * group["lr_mult"]
    if not groups:
        raise RunError("every block is frozen (lr_mult 0): nothing would train; give at "
                       "least one block an lr_mult above 0")
    name, wd = cfg["optimizer"], float(cfg["weight_decay"])
    if name == "sgd":
        if cfg["nesterov"] and not cfg["momentum"]:
            raise RunError("Nesterov momentum needs momentum > 0. Received: momentum 0")
        return torch.optim.SGD(groups, lr=lr, momentum=float(cfg["momentum"]),
                               nesterov=bool(cfg["nesterov"]), weight_decay=wd)
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, weight_decay=wd)
    if name == "rmsprop":
        return torch.optim.RMSprop(groups, lr=lr, momentum=float(cfg["momentum"]),
                                   weight_decay=wd)
    raise RunError(f"unknown optimizer {name!r}; use sgd, adam, adamw or rmsprop")


class Schedule:
    """One of none, step, cosine, one_cycle (stepped per batch) or plateau (stepped with
    the monitored value), behind one interface."""

    def __init__(self, optimizer: torch.optim.Optimizer, cfg: dict[str, Any], epochs: int,
                 steps_per_epoch: int, monitor_mode: str) -> None:
        self.kind = cfg["schedule"]
        self.per_batch = self.kind == "one_cycle"
        s = torch.optim.lr_scheduler
        if self.kind == "step":
            self.impl = s.StepLR(optimizer, step_size=int(cfg["step_size"]),
                                 gamma=float(cfg["gamma"]))
        elif self.kind == "cosine":
            self.impl = s.CosineAnnealingLR(optimizer, T_max=max(1, epochs))
        elif self.kind == "one_cycle":
            self.total = max(1, epochs * steps_per_epoch)
            self.impl = s.OneCycleLR(optimizer, max_lr=[g["lr"] for g in optimizer.param_groups],
                                     total_steps=self.total)
        elif self.kind == "plateau":
            self.impl = s.ReduceLROnPlateau(optimizer, mode=monitor_mode,
                                            factor=float(cfg["gamma"]),
                                            patience=int(cfg["patience"]))
        else:
            self.impl = None

    def after_batch(self) -> None:
        if self.per_batch and self.impl.last_epoch + 1 < self.total:
            self.impl.step()

    def after_epoch(self, monitored: float) -> None:
        if self.kind == "plateau":
            self.impl.step(monitored)
        elif self.impl is not None and not self.per_batch:
            self.impl.step()

    def state_dict(self) -> dict:
        return self.impl.state_dict() if self.impl is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if self.impl is not None and state:
            self.impl.load_state_dict(state)


class Scorer(nn.Module):
    """What the loss sees: the network's logits or its output, per the Output's loss.
    A module of its own so DistributedDataParallel and torch.compile can wrap it."""

    def __init__(self, model: GraphModule, use_logits: bool) -> None:
        super().__init__()
        self.model = model
        self.use_logits = use_logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.logits(x) if self.use_logits else self.model(x)


class Loss:
    """The Output block's loss: cross_entropy on logits, nll on the output as
    log-probabilities (both with label smoothing), bce on one-hot targets, mse on one-hot
    targets (neither smooths: a label_smoothing above 0 is refused)."""

    def __init__(self, kind: str, model: GraphModule, classes: int,
                 label_smoothing: float = 0.0) -> None:
        if label_smoothing and kind not in ("cross_entropy", "nll"):
            raise RunError(f"label smoothing applies to the cross_entropy and nll losses, not "
                           f"to the Output's {kind}; set training.label_smoothing to 0. "
                           f"Received: label_smoothing {label_smoothing:g}")
        self.kind = kind
        self.classes = classes
        self.label_smoothing = label_smoothing
        self.sigmoid_output = kind == "bce" and model.head_role is HeadRole.SIGMOID
        self.use_logits = kind == "cross_entropy" or (kind == "bce" and not self.sigmoid_output)
        self.negate_for_prediction = (not self.use_logits
                                      and model.head_role is HeadRole.DISTANCES)

    def __call__(self, scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        scores = scores.float()
        if self.kind == "cross_entropy":
            return F.cross_entropy(scores, y, label_smoothing=self.label_smoothing)
        if self.kind == "nll":
            loss = F.nll_loss(scores, y)
            if self.label_smoothing:
                # cross_entropy's smoothing, on log-probabilities: the target puts ε spread
                # evenly over the classes, so ε·mean(−log p) joins (1 − ε)·nll.
                eps = self.label_smoothing
                loss = (1 - eps) * loss - eps * scores.mean(dim=1).mean()
            return loss
        target = F.one_hot(y, scores.shape[1]).float()
        if self.kind == "bce":
            if self.sigmoid_output:
                return F.binary_cross_entropy(scores.clamp(1e-7, 1 - 1e-7), target)
            return F.binary_cross_entropy_with_logits(scores, target)
        return F.mse_loss(scores, target)

    def predictions(self, scores: torch.Tensor) -> torch.Tensor:
        """Scores where larger means more likely, for accuracy and the confusion matrix."""
        return -scores if self.negate_for_prediction else scores


def output_loss(graph: Graph) -> str:
    """The Output block's loss: what the trainer, evaluate and the views all compute."""
    node = next(n for n in graph.leaves() if n.kind == "Output")
    return REGISTRY.get("Output").resolve(node.params)["loss"]
