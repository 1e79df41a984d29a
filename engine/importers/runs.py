"""Reuse a Netdraft model trained on a source task (the lecture's develop model approach): a
run directory or one of its checkpoints becomes a project whose blocks hold the trained
weights, ready to pop, freeze and give a new head."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from engine import project as project_io
from engine.importers.common import Imported
from engine.importers.safe_load import UNREADABLE, ImportFailure, torch_load

CHECKPOINT_FORMAT = "netdraft-checkpoint"
PREFERRED = ("best.pt", "last.pt")


def checkpoint_files(source: str | Path) -> list[Path]:
    """The checkpoints to read, in order of preference: the file itself, or a run
    directory's best.pt and last.pt (regular files only: a FIFO would never end)."""
    path = Path(source)
    if path.is_dir():
        found = [path / name for name in PREFERRED if (path / name).is_file()]
        if not found:
            raise ImportFailure(f"{path}: a folder without {' or '.join(PREFERRED)}; is it a "
                                "Netdraft run directory?", UNREADABLE)
        return found
    if not path.is_file():
        raise ImportFailure(f"{path}: no such run directory or checkpoint", UNREADABLE)
    return [path]


def load_checkpoint(source: str | Path) -> tuple[Path, Any, list[str]]:
    """The first readable checkpoint of ``source`` (see checkpoint_files), its content, and
    a warning for each one passed over: a best.pt cut short by a crash or damaged gives way
    to last.pt. When none can be read, the ImportFailure names each."""
    errors: list[str] = []
    for path in checkpoint_files(source):
        try:
            data = torch_load(path)
        except ImportFailure as exc:
            errors.append(str(exc))
            continue
        warnings = [f"{error}; using {path.name} instead" for error in errors]
        return path, data, warnings
    raise ImportFailure("; ".join(errors), UNREADABLE)


def import_run(source: str | Path) -> Imported:
    path, state, warnings = load_checkpoint(source)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ImportFailure(f"{path}: not a Netdraft checkpoint (no format "
                            f"{CHECKPOINT_FORMAT!r}); for a plain state dict of a torchvision "
                            "network use torchvision:NAME --weights FILE", UNREADABLE)
    try:
        project = project_io.loads(state["project"], f"{path} (project)")
    except (KeyError, TypeError, project_io.ProjectError) as exc:
        raise ImportFailure(f"{path}: its project cannot be read ({exc})", UNREADABLE) from None
    model = state.get("model")
    if not isinstance(model, dict):
        raise ImportFailure(f"{path}: holds no model weights", UNREADABLE)
    tensors = block_tensors(project, model, path)
    project.weights = {}
    notes = [*warnings, f"trained weights from {path}" + _when(state)]
    return Imported(project, tensors, notes, source="trained")


def block_tensors(project: project_io.Project, model: dict[str, Any], path: Path
                  ) -> dict[str, dict[str, torch.Tensor]]:
    """The checkpoint's state dict (keyed by submodule name) regrouped by node id."""
    from engine.backend.build import BuildError, build_module

    try:
        with torch.device("meta"):
            module = build_module(project.graph)
    except BuildError as exc:
        raise ImportFailure(f"{path}: its network cannot be built: {exc}") from None
    tensors: dict[str, dict[str, torch.Tensor]] = {}
    for node_id, attr in module.attr_of.items():
        want = getattr(module, attr).state_dict()
        if not want:
            continue
        block = {}
        for key, meta in want.items():
            value = model.get(f"{attr}.{key}")
            if value is None or value.shape != meta.shape:
                raise ImportFailure(f"{path}: the weights of '{project.graph.nodes[node_id].name}'"
                                    f" ({attr}.{key}) are missing or have another shape")
            block[key] = value
        tensors[node_id] = block
    return tensors


def _when(state: dict[str, Any]) -> str:
    metrics = state.get("metrics") or {}
    shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()
                      if isinstance(v, int | float) and k.startswith(("val_", "train_")))
    epoch = state.get("epoch")
    return (f" (epoch {epoch}" + (f"; {shown}" if shown else "") + ")") if epoch else ""
