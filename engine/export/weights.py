"""The weights an export uses: a run folder or checkpoint (--weights), the project's stored
weights, or a fresh seeded initialization — in that order of preference. ``--weights none``
asks for the fresh initialization whatever the project stores; stored weights that cannot
be read (a missing, damaged or refused file) stop the export (exit 1) instead of shipping
random weights after a warning.

Files are read through torch.load(weights_only=True) or safetensors only (DESIGN.md rule 7).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from engine.export import ExportError

UNREADABLE, FAILED = 2, 1
CHECKPOINT_NAMES = ("best.pt", "last.pt")
FRESH = "none"  # --weights none: the initializers, seeded


@dataclass
class Weights:
    source: str                        # words for the report
    class_names: list[str] | None = None
    warnings: list[str] = field(default_factory=list)


def checkpoint_path(spec: str | Path) -> Path:
    """A run folder's best checkpoint (else its last one), or the file itself."""
    path = Path(spec)
    if path.is_dir():
        for name in CHECKPOINT_NAMES:
            if (path / name).is_file():
                return path / name
        raise ExportError(f"{path}: no checkpoint in this run folder (looked for "
                          f"{' and '.join(CHECKPOINT_NAMES)}); pass a .pt or .safetensors "
                          "file instead", UNREADABLE)
    if not path.is_file():
        raise ExportError(f"{path}: no such file or run folder", UNREADABLE)
    return path


def read(spec: str | Path, warnings: list[str] | None = None,
         ) -> tuple[dict[str, torch.Tensor], list[str] | None, Path]:
    """Tensors by name and the class names a trainer's checkpoint records. A run folder
    whose best.pt cannot be read (cut short by a crash) gives last.pt, with a warning
    appended to ``warnings``."""
    from engine.importers.runs import load_checkpoint
    from engine.importers.safe_load import ImportFailure, read_safetensors, tensors_of, torch_load

    path = checkpoint_path(spec)
    try:
        if path.suffix.lower() == ".safetensors":
            return read_safetensors(path), None, path
        if Path(spec).is_dir():
            path, data, passed_over = load_checkpoint(spec)
            if warnings is not None:
                warnings.extend(passed_over)
        else:
            data = torch_load(path)
        names = data.get("class_names") if isinstance(data, dict) else None
        names = [str(n) for n in names] if isinstance(names, list | tuple) else None
        return tensors_of(data, path), names, path
    except ImportFailure as exc:
        raise ExportError(str(exc), UNREADABLE) from None


def load(module: torch.nn.Module, project: Any, project_path: str | Path | None,
         spec: str | Path | None) -> Weights:
    """Fill ``module`` (a fresh build_module of the project) with the weights to export."""
    if spec is not None and str(spec).lower() == FRESH:
        return Weights("fresh weights (seed 0), as --weights none asks", None)
    if spec is not None:
        passed_over: list[str] = []
        tensors, names, path = read(spec, passed_over)
        _load_state(module, tensors, path)
        return Weights(f"weights from {path}", names, passed_over)
    section = project.weights or {}
    if section.get("blocks"):
        from engine import weights as stored

        report = stored.load_into(module, project.graph, section, project_path)
        if report.unreadable:
            raise ExportError(f"{report.unreadable}: the export would hold freshly "
                              "initialized weights instead of the project's. Give the "
                              "weights with --weights RUN_DIR|CKPT, or --weights none to "
                              "export fresh weights", FAILED)
        words = f"the project's stored weights ({len(report.loaded)} blocks)"
        if report.fresh or report.stale:
            words += f", {len(report.fresh) + len(report.stale)} blocks freshly initialized"
        return Weights(words, None, list(report.warnings))
    return Weights("fresh weights (seed 0): the project has no trained weights yet", None,
                   ["no weights given and none stored in the project: the export holds "
                    "freshly initialized weights; pass --weights RUN_DIR|CKPT"])


def _load_state(module: torch.nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    own = module.state_dict()
    if set(tensors) != set(own) or any(tensors[k].shape != own[k].shape for k in own):
        from engine.backend.build import BuildError, map_state_dict

        try:
            tensors = map_state_dict(module, tensors)
        except BuildError as exc:
            raise ExportError(f"{path}: these weights do not fit the network: {exc}",
                              UNREADABLE) from None
    try:
        module.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise ExportError(f"{path}: these weights do not fit the network: "
                          f"{str(exc).splitlines()[0]}", UNREADABLE) from None
