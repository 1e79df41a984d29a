"""Small projects, seeded weights and a loader for generated code, for the export tests."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from engine.graph import Graph
from engine.project import Project
from engine.validate import analyze

ROOT = Path(__file__).resolve().parents[2]
RUFF = Path(sys.executable).with_name("ruff")


def chain(input_shape: list[int], *layers: tuple[str, dict[str, Any]],
          input_params: dict[str, Any] | None = None, name: str = "case") -> Project:
    """Input -> layers -> (Flatten when the last output is not a vector) -> Output."""
    g = Graph()
    prev = g.add_node("Input", "image", {"shape": list(input_shape), **(input_params or {})})
    for i, (kind, params) in enumerate(layers):
        node = g.add_node(kind, f"{kind.lower()}{i + 1}", params)
        g.connect(prev.id, node.id)
        prev = node
    return finish(g, prev.id, name)


def finish(g: Graph, last: str, name: str = "case") -> Project:
    shape = analyze(g).results[last].shape
    assert shape is not None, [str(p) for p in analyze(g).problems]
    if len(shape) != 1:
        flat = g.add_node("Flatten", "flat")
        g.connect(last, flat.id)
        last = flat.id
    out = g.add_node("Output", "scores", {"classes": math.prod(shape)})
    g.connect(last, out.id)
    analysis = analyze(g)
    assert analysis.ok, [str(p) for p in analysis.problems]
    return Project(graph=g, name=name)


def randomize(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Seeded nonzero biases and BatchNorm scales and statistics over the initializers'
    weights, so a wrong key, an ignored bias or a skipped normalization shows in the
    outputs while their size stays as a fresh network's."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, value in module.state_dict().items():
            if not value.is_floating_point():
                continue
            noise = torch.randn(value.shape, generator=generator)
            if key.endswith("running_var"):
                value.copy_(0.5 + noise.abs())
            elif key.endswith(("running_mean", "bias")):
                value.copy_(0.1 * noise)
            elif value.dim() == 1:  # a normalization's scale
                value.copy_(1.0 + 0.1 * noise)
    return module.eval()


def load_module(path: Path) -> Any:
    """Run a generated file as a module (its __main__ part stays unrun)."""
    spec = importlib.util.spec_from_file_location(f"generated_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_class(path: Path, class_name: str) -> type:
    return getattr(load_module(path), class_name)


def ruff(path: Path, isolated: bool) -> subprocess.CompletedProcess:
    """ruff with its default rules (--isolated) or with the project's configuration."""
    args = [str(RUFF), "check", "--no-cache", "--output-format", "concise"]
    args += ["--isolated"] if isolated else ["--config", str(ROOT / "pyproject.toml")]
    return subprocess.run([*args, str(path)], capture_output=True, text=True, check=False)


@pytest.fixture
def pixels():
    def make(shape: tuple[int, ...], batch: int = 2, seed: int = 1) -> torch.Tensor:
        return torch.rand((batch, *shape), generator=torch.Generator().manual_seed(seed))
    return make
