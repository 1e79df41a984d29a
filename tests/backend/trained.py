"""A tiny network trained for two epochs on digits (about 2 s), for the tests of what reads
trained weights: evaluate, predict, inspection. Its accuracy is far from perfect on
purpose, so every class has mistakes to count."""

from __future__ import annotations

from pathlib import Path

from engine.backend.events import NullSink
from engine.backend.train import Trainer
from engine.project import Project, save
from tests.backend.conftest import tiny_project


def train_tiny(folder: Path, **graph_args) -> tuple[Project, Path, Path]:
    """(project, project file, run folder) of a finished two-epoch run."""
    project = tiny_project(epochs=2, **graph_args)
    path = folder / "tiny.netdraft"
    save(project, path)
    run = folder / "run"
    Trainer(project, run_dir=run, sink=NullSink()).run()
    return project, path, run
