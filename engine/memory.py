"""How much memory training a network takes, estimated from the live analysis before any
network is built (DESIGN.md rule 8), and how much this machine has free. No torch here: the
designer shows the estimate as the user edits."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from engine.validate import BYTES_PER_VALUE, Analysis

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes, by what holds them. ``complete`` is False when some blocks have problems and
    so no counts (the estimate leaves them out)."""

    weights: int
    gradients: int
    optimizer_state: int
    activations: int
    batch_size: int
    precision: str = "fp32"
    complete: bool = True

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer_state + self.activations

    def text(self) -> str:
        """E.g. "≈ 123 MB: weights 0.2 MB, gradients 0.2 MB, optimizer 0.5 MB, activations
        122 MB (batch 64)"."""
        text = (f"≈ {size_text(self.total)}: weights {size_text(self.weights)}, gradients "
                f"{size_text(self.gradients)}, optimizer {size_text(self.optimizer_state)}, "
                f"activations {size_text(self.activations)} (batch {self.batch_size})")
        if not self.complete:
            text += "; blocks with problems are not counted"
        return text


def size_text(count: int) -> str:
    """Bytes in decimal units, MB from a tenth of one: 950 B, 2.8 kB, 0.2 MB, 122 MB, 1.5 GB.
    """
    if count >= 1e9:
        value, unit = count / 1e9, "GB"
    elif count >= 1e5:
        value, unit = count / 1e6, "MB"
    elif count >= 1e3:
        value, unit = count / 1e3, "kB"
    else:
        return f"{count} B"
    return f"{value:.0f} {unit}" if value >= 10 else f"{value:.1f} {unit}"


def optimizer_state_per_weight(optimizer: str, momentum: float = 0.9) -> int:
    """Values the optimizer keeps per trainable weight: Adam and AdamW two moments; SGD a
    momentum buffer when momentum > 0; RMSprop its mean square, plus a momentum buffer
    when momentum > 0."""
    if optimizer in ("adam", "adamw"):
        return 2
    if optimizer == "sgd":
        return 1 if momentum > 0 else 0
    if optimizer == "rmsprop":
        return 2 if momentum > 0 else 1
    raise ValueError(f"unknown optimizer {optimizer!r}; use {', '.join(OPTIMIZERS)}")


def estimate_training_memory(analysis: Analysis, batch_size: int, optimizer: str,
                             precision: str = "fp32", momentum: float = 0.9) -> MemoryEstimate:
    """The memory one training process needs, from the analysis's per-block counts.

    - weights: every parameter, trainable or not (BatchNorm's running statistics too),
      as float32;
    - gradients: one float32 per trainable parameter;
    - optimizer state: ``optimizer_state_per_weight`` float32 values per trainable
      parameter (Adam's step counters, a few bytes per tensor, are left out);
    - activations: every block's output for ``batch_size`` samples, kept for the backward
      pass, twice over for the gradients of the same size that backward holds (×2); half
      of that under bf16 or fp16, where autocast keeps activations in 16 bits.

    It leaves out the framework's own memory, temporary buffers inside a layer and the
    data loader, so read it as a lower bound on what the trainer uses.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; use {', '.join(PRECISIONS)}")
    if batch_size < 1:
        raise ValueError(f"the batch size must be at least 1. Received: {batch_size}")
    totals = analysis.totals()
    per_weight = optimizer_state_per_weight(optimizer, momentum)
    activations = totals["memory"] * batch_size * 2
    if precision != "fp32":
        activations //= 2
    return MemoryEstimate(
        weights=totals["params"] * BYTES_PER_VALUE,
        gradients=totals["trainable"] * BYTES_PER_VALUE,
        optimizer_state=per_weight * totals["trainable"] * BYTES_PER_VALUE,
        activations=activations, batch_size=batch_size, precision=precision,
        complete=analysis.ok)


def available_memory() -> int | None:
    """This machine's available RAM in bytes (Linux's MemAvailable, which counts caches
    the kernel can drop), else the free pages the C library reports; None when unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # the file says kB and means KiB
    except (OSError, ValueError, IndexError):
        pass
    try:
        pages, page_size = os.sysconf("SC_AVPHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return pages * page_size if pages > 0 and page_size > 0 else None
