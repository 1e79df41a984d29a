"""Checkpoints: plain tensors, dicts, lists, strings and numbers only, so each one loads with
torch.load(weights_only=True). The project travels inside as its JSON text, RNG states as
tensors. Every checkpoint is written atomically (engine.atomic: a temporary file in the run
folder, synced, then renamed), so a crash or a kill mid-write leaves the previous file whole;
a reader that still meets a damaged one falls back to the other checkpoint with a warning.
"""

from __future__ import annotations

import os
import random
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine import atomic

# The run folder's file names are engine.runs's (torch-free, read by the run history).
from engine.runs import BEST as BEST
from engine.runs import INTERRUPTED, LAST

FORMAT = "netdraft-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    pass


def save(path: Path, state: dict[str, Any]) -> Path:
    with atomic.replacing(path) as handle:
        torch.save({"format": FORMAT, "version": VERSION, **state}, handle)
    return Path(path)


def load(path: Path) -> dict[str, Any]:
    path = Path(path)
    try:
        # Non-blocking, so that a FIFO in a checkpoint's place is refused, not waited on.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
                     | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot be opened ({exc.strerror or exc})") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise CheckpointError(f"{path}: not a regular file (a FIFO, device or folder); "
                                  f"a checkpoint is a file that `train` writes")
        try:
            state = torch.load(handle, map_location="cpu", weights_only=True)
        except Exception as exc:  # a damaged or foreign file: say so in one line
            first = (str(exc).strip().splitlines() or [""])[0][:160]
            raise CheckpointError(f"{path}: cannot be read as a checkpoint "
                                  f"({type(exc).__name__}: {first})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a Netdraft checkpoint")
    if state.get("version", 0) > VERSION:
        raise CheckpointError(f"{path}: written by a newer Netdraft (version "
                              f"{state['version']}); update Netdraft to read it")
    return state


def resume_candidates(source: Path) -> list[Path]:
    """The checkpoints to continue from, best first: the file itself, or a run folder's
    interrupted.pt and last.pt, newer first."""
    source = Path(source)
    if source.is_dir():
        found = [source / n for n in (INTERRUPTED, LAST) if (source / n).exists()]
        if not found:
            raise CheckpointError(f"{source}: holds no {LAST} or {INTERRUPTED} to resume "
                                  f"from")
        return sorted(found, key=lambda p: p.stat().st_mtime_ns, reverse=True)
    if source.exists():
        return [source]  # load() refuses what is not a regular file
    raise CheckpointError(f"{source}: no such run folder or checkpoint")


def resume_file(source: Path) -> Path:
    """The checkpoint to continue from: the newer of interrupted.pt and last.pt."""
    return resume_candidates(source)[0]


def load_for_resume(source: Path, warn: Callable[[str], None]) -> tuple[Path, dict[str, Any]]:
    """The newest readable checkpoint of ``source`` and its state. One that cannot be read
    (cut short by a crash, damaged) is passed over for the other, with a warning; when
    none can be read, the CheckpointError names each."""
    errors = []
    for path in resume_candidates(source):
        try:
            state = load(path)
        except CheckpointError as exc:
            errors.append(str(exc))
            continue
        for error in errors:
            warn(f"warning: {error}; resuming from {path.name} instead")
        return path, state
    raise CheckpointError("; ".join(errors))


# ------------------------------------------------------------------ RNG state
def rng_state() -> dict[str, Any]:
    version, mt, gauss = random.getstate()
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": torch.tensor(mt, dtype=torch.int64),
        "python_version": int(version),
        "python_gauss": float(gauss) if gauss is not None else None,
        "numpy": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_pos": int(np_state[2]),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate((state["python_version"], tuple(int(v) for v in state["python"].tolist()),
                     state["python_gauss"]))
    np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32),
                         state["numpy_pos"], 0, 0.0))
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"][:torch.cuda.device_count()]
        torch.cuda.set_rng_state_all(cuda)
