"""Augmented images per second: Netdraft's batch augmentation against per-sample torchvision.

    .venv/bin/python benchmarks/augment.py [--repeat N] [--device cpu|cuda] [--threads N]

Both sides apply the lecture's ImageDataGenerator set (rotation 40°, width and height shift
0.2, shear 0.2, zoom 0.2, horizontal flip) to uint8 batches of 256 images, 1×28×28 and
3×64×64. Netdraft: engine.backend.augment.Augmenter on the whole batch on the device (one
composed matrix per image, one grid_sample). Baseline: torchvision.transforms.v2 applied to
each image in a Dataset, batched by a DataLoader with 2 worker processes, as a hand-written
PyTorch pipeline does it. Prints medians of --repeat runs and LAST the ratios.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.backend.augment import AugmentConfig, Augmenter  # noqa: E402

BATCH = 256
SHAPES = ((1, 28, 28), (3, 64, 64))
LECTURE = AugmentConfig(enabled=True, rotation_range=40, width_shift_range=0.2,
                        height_shift_range=0.2, shear_range=0.2, zoom_range=0.2,
                        horizontal_flip=True)


class PerSample(torch.utils.data.Dataset):
    """Each item augmented on its own, as torchvision's transforms are meant to be used."""

    def __init__(self, images: torch.Tensor) -> None:
        from torchvision.transforms import v2

        self.images = images
        self.transform = v2.Compose([
            v2.RandomAffine(degrees=40, translate=(0.2, 0.2), scale=(0.8, 1.2),
                            shear=math.degrees(0.2)),
            v2.RandomHorizontalFlip(),
            v2.ToDtype(torch.float32),
        ])

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.transform(self.images[i]), 0


def netdraft_rate(images: torch.Tensor, device: torch.device, seconds: float) -> float:
    augmenter = Augmenter(LECTURE, seed=0, device=device)
    batch = images[:BATCH].to(device)
    augmenter(batch)  # warm-up
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        augmenter(batch)
        done += BATCH
    if device.type == "cuda":
        torch.cuda.synchronize()
    return done / (time.perf_counter() - start)


def torchvision_rate(images: torch.Tensor, batches: int) -> float:
    loader = torch.utils.data.DataLoader(PerSample(images), batch_size=BATCH, shuffle=True,
                                         num_workers=2, persistent_workers=True,
                                         prefetch_factor=4)
    iterator = iter(loader)
    next(iterator)  # workers started and warm
    done, start = 0, time.perf_counter()
    for _ in range(batches):
        try:
            x, _ = next(iterator)
        except StopIteration:
            iterator = iter(loader)
            x, _ = next(iterator)
        done += len(x)
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads for Netdraft's side (0: torch's default)")
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"device {device}, torch threads {torch.get_num_threads()}, batch {BATCH}")
    ratios = []
    for shape in SHAPES:
        images = torch.randint(0, 256, (BATCH * 8, *shape), dtype=torch.uint8,
                               generator=torch.Generator().manual_seed(0))
        ours = statistics.median(netdraft_rate(images, device, args.seconds)
                                 for _ in range(args.repeat))
        theirs = statistics.median(torchvision_rate(images, 8 if shape[0] == 1 else 4)
                                   for _ in range(args.repeat))
        label = "×".join(map(str, shape))
        print(f"{label:>8}: netdraft {ours:>10,.0f} img/s   torchvision per-sample, 2 workers "
              f"{theirs:>8,.0f} img/s")
        ratios.append(f"{label} {ours / theirs:.1f}×")
    print("ratio netdraft / torchvision: " + ", ".join(ratios))


if __name__ == "__main__":
    main()
