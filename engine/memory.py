"""How much memory training a network takes, estimated from the live analysis before any
network is built (DESIGN.md rule 8), and how much this machine has free. No torch here: the
designer shows the estimate as the user edits.

validate and summary warn about a network larger than a desktop holds (size_warning);
train, export and import refuse one that does not fit (require), before allocating.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from engine.validate import BYTES_PER_VALUE, Analysis, node_label

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
    """Bytes in decimal units, MB from a tenth of one: 950 B, 2.8 kB, 0.2 MB, 122 MB, 1.5 GB,
    5.1 TB."""
    if count >= 10**18:  # a header that lies (an IDX file of rank 255): no float holds it
        return "more than 1,000,000 TB"
    if count >= 1e12:
        value, unit = count / 1e12, "TB"
    elif count >= 1e9:
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


def optimizer_step_temporaries(optimizer: str) -> int:
    """Values per trainable weight that one optimizer step allocates for a moment, measured
    on torch's CPU implementations: Adam and AdamW two (the denominator and the update),
    RMSprop one, SGD none."""
    return {"adam": 2, "adamw": 2, "rmsprop": 1}.get(optimizer, 0)


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
    """The RAM this process can still take, in bytes: the machine's available memory
    (Linux's MemAvailable, which counts caches the kernel can drop, else the free pages the C
    library reports), less when a container's memory limit (cgroup) or the address-space
    limit (ulimit -v) leaves less; None when unknown."""
    known = [room for room in (_machine_available(), _cgroup_room(), _address_space_room())
             if room is not None]
    return min(known) if known else None


def _machine_available() -> int | None:
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


CGROUP_FILES = (  # (limit, usage, statistics, the statistic of reclaimable page cache)
    ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current",
     "/sys/fs/cgroup/memory.stat", "inactive_file"),
    ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes",
     "/sys/fs/cgroup/memory/memory.stat", "total_inactive_file"),
)


def _cgroup_room(files: tuple[tuple[str, str, str, str], ...] = CGROUP_FILES) -> int | None:
    """What a container's memory limit leaves: the limit less the usage, whose page cache
    the kernel can drop counted as free. None without a limit (cgroup v1 writes 'no limit' as
    a number near 2**63)."""
    for limit_file, usage_file, stat_file, cache_key in files:
        try:
            limit_text = Path(limit_file).read_text().strip()
            if limit_text == "max":
                return None
            limit, usage = int(limit_text), int(Path(usage_file).read_text())
        except (OSError, ValueError):
            continue
        if limit >= 2**60:
            return None
        cache = 0
        try:
            for line in Path(stat_file).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == cache_key:
                    cache = int(value)
        except (OSError, ValueError):
            pass
        return max(limit - usage + cache, 0)
    return None


def _address_space_room() -> int | None:
    """What `ulimit -v` leaves this process: the limit less its present size."""
    try:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        if limit == resource.RLIM_INFINITY:
            return None
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return max(limit - int(line.split()[1]) * 1024, 0)
    except (ImportError, OSError, ValueError, IndexError):
        pass
    return None


# ------------------------------------------------------ too large to build
# The float32 weights a desktop holds comfortably: 500 M parameters. Larger networks are
# trained on servers; the Netdraft templates stay far below (VGG-16: 0.55 GB).
DESKTOP_WEIGHTS = 2_000_000_000


class NotEnoughMemory(Exception):
    """A job refused before it allocates: the message gives its estimate, what this
    machine has and what to change. Callers turn it into their own error type."""


def _largest(analysis: Analysis, by: str) -> str:
    """The block holding the most parameters (by="params") or activations (by="memory"),
    e.g. "Dense 'fc1' (1,600,000,400 params)"."""
    ok = [(node_id, r) for node_id, r in analysis.results.items() if r.ok]
    if not ok:
        return ""
    node_id, result = max(ok, key=lambda item: getattr(item[1], by))
    amount = (f"{result.params:,} params" if by == "params"
              else f"{size_text(result.memory)} per image")
    return f"{node_label(analysis.graph.nodes[node_id])} ({amount})"


def size_warning(analysis: Analysis, available: int | None) -> str:
    """One line for validate and summary when the network is larger than a desktop holds
    (its float32 weights above DESKTOP_WEIGHTS, or weights and one image's activations
    above ``available`` memory); "" otherwise. A warning, not a problem: the graph is
    valid, and a bigger machine may train it."""
    totals = analysis.totals()
    weights = totals["params"] * BYTES_PER_VALUE
    activations = totals["memory"]
    reasons = []
    if weights > DESKTOP_WEIGHTS:
        reasons.append(f"a desktop holds about {size_text(DESKTOP_WEIGHTS)} of weights")
    if available is not None and weights + activations > available:
        reasons.append(f"this machine has {size_text(available)} available")
    if not reasons:
        return ""
    largest = _largest(analysis, "params" if weights >= activations else "memory")
    return (f"warning: a network too large for a desktop: {totals['params']:,} parameters "
            f"take {size_text(weights)} as float32 and one image's activations "
            f"{size_text(activations)}, while {' and '.join(reasons)}. train, export and "
            f"import refuse what does not fit in memory. The largest block is {largest}")


def require(task: str, parts: dict[str, int], available: int | None, where: str,
            advice: str) -> None:
    """Raise NotEnoughMemory when ``parts`` (bytes by what holds them) add up to more than
    ``available`` (None: unknown, nothing is refused). ``where`` names the memory ("this
    machine's available memory", "GPU cuda:0's free memory")."""
    total = sum(parts.values())
    if available is None or total <= available:
        return
    listing = ", ".join(f"{name} {size_text(size)}" for name, size in parts.items() if size)
    raise NotEnoughMemory(f"{task} needs ≈ {size_text(total)} ({listing}) but {where} is "
                          f"{size_text(available)}; nothing was allocated. {advice}")


def training_advice(analysis: Analysis, estimate: MemoryEstimate) -> str:
    """What to change when training does not fit: the batch size when activations
    dominate, else the largest block."""
    if estimate.activations > estimate.total // 2 and estimate.batch_size > 1:
        return (f"Lower the batch size (activations take {size_text(estimate.activations)} "
                f"at batch {estimate.batch_size}) or shrink the network; the largest "
                f"activations are {_largest(analysis, 'memory')}")
    return f"Shrink the network: the largest block is {_largest(analysis, 'params')}"
