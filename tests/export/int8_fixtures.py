"""A lenet-5 trained for two epochs on 300 digits (a few seconds), for the INT8 and profile
tests, and the validation images its run used."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine import templates
from engine.backend.events import NullSink
from engine.backend.train import Trainer
from engine.project import save


def digits_npz(path: Path, count: int = 300) -> Path:
    from engine.backend.images import digits

    x, y = digits(28, 28)
    np.savez(path, x=x[:count, 0].numpy(), y=y[:count].numpy())
    return path


def trained_lenet(folder: Path) -> tuple[Path, Path]:
    """(project file, run folder)."""
    digits_npz(folder / "digits.npz")
    project = templates.open_template("lenet-5")
    project.data = {"dataset": str(folder / "digits.npz"), "val_fraction": 0.2}
    project.augmentation = {}
    project.training = {"epochs": 2, "batch_size": 32, "threads": 1}
    path = folder / "lenet.netdraft"
    save(project, path)
    run = folder / "run"
    from engine.project import load

    Trainer(load(path), run_dir=run, sink=NullSink(), project_path=path).run()
    return path, run
