"""Training images per second: Netdraft's trainer against a plain hand-written PyTorch loop.

    .venv/bin/python benchmarks/train_throughput.py [--epochs N] [--repeat N] [--threads N]
                                                    [--device D] [--template NAME]

Same model (the lenet-5 template, the default project, built by build_module), same data
(the digits dataset at the Input's size, 4 copies: 7,188 images), same batch size (64),
optimizer (Adam) and device.
The plain loop is what a PyTorch user writes: a DataLoader over a TensorDataset, and with
augmentation on, torchvision.transforms.v2 applied per sample in a Dataset with 2 DataLoader
workers. Augmentation is the lecture's set (rotation 40°, shifts 0.2, shear 0.2, zoom 0.2).
Images/s count training steps only (no validation): the last epoch of each run, median of
--repeat runs, trainer and plain loop interleaved.
Prints LAST the ratios trainer / plain loop with augmentation off and on.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import templates  # noqa: E402
from engine.backend.build import build_module  # noqa: E402
from engine.backend.events import NullSink  # noqa: E402
from engine.backend.images import digits  # noqa: E402
from engine.backend.train import Trainer  # noqa: E402

BATCH = 64
AUGMENT = {"enabled": True, "rotation_range": 40.0, "width_shift_range": 0.2,
           "height_shift_range": 0.2, "shear_range": 0.2, "zoom_range": 0.2}


class PerSample(torch.utils.data.Dataset):
    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        from torchvision.transforms import v2

        self.x, self.y = x, y
        self.transform = v2.RandomAffine(degrees=40, translate=(0.2, 0.2), scale=(0.8, 1.2),
                                         shear=math.degrees(0.2))

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        return self.transform(self.x[i]), self.y[i]


def plain_loop(project, x, y, epochs: int, augment: bool, device: torch.device) -> float:
    torch.manual_seed(0)
    model = build_module(project.graph).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    if augment:
        loader = torch.utils.data.DataLoader(PerSample(x, y), batch_size=BATCH, shuffle=True,
                                             num_workers=2, persistent_workers=True)
    else:
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y),
                                             batch_size=BATCH, shuffle=True)
    rates = []
    for _ in range(epochs):
        model.train()
        seen, start = 0, time.perf_counter()
        for xb, yb in loader:
            xb, yb = xb.to(device).float(), yb.to(device)
            loss = F.cross_entropy(model.logits(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            seen += len(xb)
        if device.type == "cuda":
            torch.cuda.synchronize()
        rates.append(seen / (time.perf_counter() - start))
    return statistics.median(rates[1:] or rates)


def trainer_rate(project, data_file: Path, epochs: int, augment: bool, device: str,
                 threads: int) -> float:
    overrides = {"data": {"dataset": str(data_file), "val_fraction": 0.0},
                 "training": {"epochs": epochs, "batch_size": BATCH, "optimizer": "adam",
                              "lr": 1e-3, "threads": threads},
                 "augmentation": AUGMENT if augment else {"enabled": False}}
    with tempfile.TemporaryDirectory() as run_dir:
        outcome = Trainer(project, overrides, run_dir=run_dir, sink=NullSink(),
                          device=device).run()
    rates = [h["images_per_s"] for h in outcome.history]
    return statistics.median(rates[1:] or rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--template", default="lenet-5")
    parser.add_argument("--copies", type=int, default=4, help="digits repeated this often")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    project = templates.open_template(args.template)
    shape = tuple(project.graph.by_name(n.name).params.get("shape", [1, 28, 28])
                  for n in project.graph.leaves() if n.kind == "Input")[0]
    x, y = digits(shape[1], shape[2])
    x, y = x.repeat(args.copies, 1, 1, 1), y.repeat(args.copies)
    device = torch.device(args.device)
    print(f"{args.template} on {device}, torch threads {torch.get_num_threads()}, "
          f"{len(x):,} images {'×'.join(map(str, shape))}, batch {BATCH}")
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        data_file = Path(tmp) / "digits.npz"
        np.savez(data_file, x=x.numpy(), y=y.numpy())
        for augment in (False, True):
            ours_runs, theirs_runs = [], []
            for _ in range(args.repeat):  # interleaved, so a busy moment hits both sides
                ours_runs.append(trainer_rate(project, data_file, args.epochs, augment,
                                              args.device, args.threads))
                theirs_runs.append(plain_loop(project, x, y, args.epochs, augment, device))
            ours, theirs = statistics.median(ours_runs), statistics.median(theirs_runs)
            word = "on " if augment else "off"
            print(f"augmentation {word}: trainer {ours:>8,.0f} img/s   plain loop "
                  f"{theirs:>8,.0f} img/s")
            ratios.append(f"augmentation {word.strip()} {ours / theirs:.2f}×")
    print("ratio trainer / plain loop: " + ", ".join(ratios))


if __name__ == "__main__":
    main()
