"""Run under torchrun by test_distributed.py: trains the tiny project through the same
Trainer the command line uses, then saves this rank's weights for the test to compare."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine.backend.events import JsonlSink  # noqa: E402
from engine.backend.train import Trainer  # noqa: E402
from tests.backend.conftest import tiny_project  # noqa: E402


def main() -> None:
    out = Path(sys.argv[1])
    project = tiny_project(epochs=2, batchnorm=True, dropout=0.2)
    project.augmentation = {"enabled": True, "rotation_range": 10.0}
    trainer = Trainer(project, run_dir=out / "run", sink=JsonlSink(), device="cpu")
    model_holder = {}
    original = trainer._setup

    def setup() -> None:
        original()
        model_holder["model"] = trainer.model

    trainer._setup = setup  # type: ignore[method-assign]
    trainer.run()
    rank = int(os.environ["RANK"])
    torch.save({k: v.clone() for k, v in model_holder["model"].state_dict().items()},
               out / f"rank{rank}.pt")


if __name__ == "__main__":
    main()
