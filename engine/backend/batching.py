"""Batches for training and evaluation: in-memory data moved to the device once when it fits,
streamed image files decoded in DataLoader workers (a file that cannot be read is skipped
and reported with its batch, never stops a run)."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator

import torch

from engine.backend import images
from engine.backend.data import Split, Target


class FileDataset(torch.utils.data.Dataset):
    """Streamed images: decoded in DataLoader workers; a bad file yields None."""

    def __init__(self, split: Split, target: Target) -> None:
        self.paths = split.paths or []
        self.labels = split.y
        self.shape = target.shape
        self.order = target.order

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        c, h, w = self.shape
        try:
            return (torch.from_numpy(images.decode_image(self.paths[i], c, h, w, self.order)),
                    self.labels[i], None)
        except (OSError, ValueError, SyntaxError) as exc:
            return None, self.labels[i], (self.paths[i], str(exc) or type(exc).__name__)


def _collate(items):
    good = [(x, y) for x, y, _ in items if x is not None]
    bad = [err for _, _, err in items if err is not None]
    if not good:
        return None, None, bad
    return torch.stack([x for x, _ in good]), torch.stack([y for _, y in good]), bad


def place(split: Split, device: torch.device) -> Split:
    """Move in-memory data to the device once when it fits (a quarter of free memory)."""
    if split.x is None or device.type == "cpu":
        return split
    size = split.x.numel() * split.x.element_size()
    free = torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else 1 << 30
    if size <= free // 4:
        return Split(split.y.to(device), x=split.x.to(device))
    return Split(split.y.pin_memory() if device.type == "cuda" else split.y,
                 x=split.x.pin_memory() if device.type == "cuda" else split.x)


def batches(split: Split, order: torch.Tensor, batch_size: int, device: torch.device,
            target: Target, workers: int = 0, skip: int = 0,
            drop_single: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor, list]]:
    """(x, y, skipped files) per batch of ``order``'s indices, starting after ``skip``
    batches. x is uint8 (or float) on ``device``; a final batch of one sample is dropped
    when ``drop_single`` (BatchNorm cannot train on it)."""
    total = len(order)
    count = math.ceil(total / batch_size)
    if drop_single and total % batch_size == 1 and total > 1:
        count -= 1
    if split.x is not None:
        order = order.to(split.x.device)
        for b in range(skip, count):
            idx = order[b * batch_size:(b + 1) * batch_size]
            x, y = split.x.index_select(0, idx), split.y.index_select(0, idx)
            yield x.to(device, non_blocking=True), y.to(device, non_blocking=True), []
        return
    dataset = FileDataset(split, target)
    indices = order[skip * batch_size:count * batch_size].tolist()
    workers = workers or min(8, os.cpu_count() or 1)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, sampler=indices, num_workers=workers,
        collate_fn=_collate, pin_memory=device.type == "cuda",
        persistent_workers=False, prefetch_factor=4 if workers else None)
    for x, y, bad in loader:
        if x is None:
            yield torch.empty(0, *target.shape, dtype=torch.uint8, device=device), \
                torch.empty(0, dtype=torch.int64, device=device), bad
            continue
        yield x.to(device, non_blocking=True), y.to(device, non_blocking=True), bad
