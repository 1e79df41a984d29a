"""Weights as safetensors under the generated module's parameter names.

The names are GraphModule's state-dict keys (``conv1.weight``, ``bn1.running_mean``), which
the generated Python module shares, so ``model.load_state_dict(load_file(path))`` works on
either.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import save_file


def export_safetensors(module: torch.nn.Module, path: str | Path, project_name: str,
                       class_names: list[str]) -> list[str]:
    """Write the state dict atomically; returns the keys written."""
    path = Path(path)
    state = {k: v.detach().to("cpu").contiguous() for k, v in module.state_dict().items()}
    meta = {"format": "pt", "netdraft.project": project_name,
            "class_names": json.dumps(class_names)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        save_file(state, str(tmp), metadata=meta)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return list(state)
