"""Checkpoints: plain tensors, dicts, lists, strings and numbers only, so each one loads with
torch.load(weights_only=True). The project travels inside as its JSON text, RNG states as
tensors. Files are written to a temporary name and renamed, so a crash mid-write never
leaves a broken checkpoint."""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

# The run folder's file names are engine.runs's (torch-free, read by the run history).
from engine.runs import BEST as BEST
from engine.runs import INTERRUPTED, LAST

FORMAT = "netdraft-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    pass


def save(path: Path, state: dict[str, Any]) -> Path:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save({"format": FORMAT, "version": VERSION, **state}, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load(path: Path) -> dict[str, Any]:
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except Exception as exc:  # a damaged or foreign file: say so in one line
        raise CheckpointError(f"{path}: cannot be read as a checkpoint ({exc})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a Netdraft checkpoint")
    if state.get("version", 0) > VERSION:
        raise CheckpointError(f"{path}: written by a newer Netdraft (version "
                              f"{state['version']}); update Netdraft to read it")
    return state


def resume_file(run_dir: Path) -> Path:
    """The checkpoint to continue from: the newer of interrupted.pt and last.pt."""
    run_dir = Path(run_dir)
    if run_dir.is_file():
        return run_dir
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir}: no such run folder")
    found = [run_dir / n for n in (INTERRUPTED, LAST) if (run_dir / n).exists()]
    if not found:
        raise CheckpointError(f"{run_dir}: holds no {LAST} or {INTERRUPTED} to resume from")
    return max(found, key=lambda p: p.stat().st_mtime_ns)


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
