"""What the designer's Data panel shows about a dataset: sample images with their labels,
counts per class in training and validation, unreadable files, class imbalance, images
that are in both training and validation, and the data's own shape to check the network's
Input and Output against.

The data is opened, split and numbered by data.open_data, exactly as the trainer does, and
decoded at the Input's shape (what the network sees). scan() takes seconds for large
folders: the designer calls it from a worker thread, with a progress callback and a way to
cancel.
"""

from __future__ import annotations

import hashlib
import math
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from engine.backend import images
from engine.backend.data import DataBundle, Split, Target, open_data

__all__ = ["DataReport", "Sample", "ScanCancelled", "scan"]

IMBALANCE_WARNING = 3.0  # largest / smallest class in training at which the scan warns
NATIVE_PROBE_FILES = 50  # image headers read to find the files' own shape
STREAM_CHECK_LIMIT = 20_000  # streamed files decoded at most to find duplicates
STREAM_CHUNK = 256  # streamed files decoded between two checks for cancellation
HASH_CHUNK = 8192  # rows hashed between two checks for cancellation
DUPLICATE_EXAMPLES = 5
VECTOR_IMAGE_SHAPE = (1, 28, 28)  # images for a vector Input, as open_source makes them
SYNTHETIC_CLASSES = 10  # label range of 'synthetic' data when the Output's is not given
ARRAY_KINDS = ("synthetic", "npz", "idx")  # sources a vector Input reads as they are
DESCRIPTIONS = {"digits": "scikit-learn's handwritten digits",
                "shapes": "generated shapes on noisy backgrounds",
                "synthetic": "random pixels and labels", "folder": "a folder of class folders",
                "csv": "a CSV of path,label", "npz": "a NumPy .npz", "idx": "MNIST IDX files"}


class ScanCancelled(Exception):
    """The caller's cancelled() said stop; the scan returns nothing."""


@dataclass
class Sample:
    image: np.ndarray  # H×W×C uint8, C 1 or 3 (RGB), as the network sees it
    label: int
    split: str  # "train", or "val" for a class that has no training images
    path: str | None  # the file, when the data came from files


@dataclass
class DataReport:
    source: str
    description: str
    native_shape: tuple[int, int, int] | None  # C×H×W before resizing; None: not images
    native_shapes_vary: bool
    class_names: list[str]
    named_classes: bool  # False: bare class numbers, the names are "0", "1", …
    train_counts: list[int]
    val_counts: list[int]
    train_size: int
    val_size: int
    streamed: bool
    samples: list[Sample]
    unreadable: list[tuple[str, str]]  # (file, reason), every one the scan met
    duplicates: int  # validation images identical to a training image
    duplicate_examples: list[tuple[str, str]]  # (training image, validation image)
    duplicates_checked: bool  # False: streamed data too large to decode for the check
    imbalance: float  # largest / smallest non-empty class in training
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


class _Watch:
    """Progress over every decoding phase (train/ then val/ folders, then the files a
    streamed scan decodes) as one count, and cancellation checked at each report."""

    def __init__(self, progress: Callable[[int, int], None] | None,
                 cancelled: Callable[[], bool] | None) -> None:
        self.progress, self.cancelled = progress, cancelled
        self.offset = self.done = self.total = 0

    def check(self) -> None:
        if self.cancelled is not None and self.cancelled():
            raise ScanCancelled("the data scan was cancelled")

    def __call__(self, done: int, total: int) -> None:
        if done <= self.done or total != self.total:  # the next phase: counts restart
            self.offset += self.total
            self.total = total
        self.done = done
        self.check()
        if self.progress is not None:
            self.progress(self.offset + done, self.offset + total)


def scan(data_settings: dict, input_shape: Sequence[int], channel_order: str = "RGB",
         samples_per_class: int = 4, progress: Callable[[int, int], None] | None = None,
         cancelled: Callable[[], bool] | None = None,
         output_classes: int | None = None) -> DataReport:
    """Scan the project's resolved ``data`` settings for an Input of ``input_shape``.

    Never checks the classes against the Output (the designer reports a mismatch itself);
    ``output_classes`` matters only to 'synthetic' data, whose random labels the trainer
    draws for the Output's classes. Raises DataError/DataNotFound as training would, and
    ScanCancelled when ``cancelled()`` turns true.
    """
    started = time.perf_counter()
    watch = _Watch(progress, cancelled)
    watch.check()
    spec = str(data_settings.get("dataset", "")).strip()
    kind = _kind(spec)
    shape = tuple(int(d) for d in input_shape)
    decode_shape = shape if len(shape) == 3 or kind in ARRAY_KINDS else VECTOR_IMAGE_SHAPE
    target = Target(decode_shape, channel_order, output_classes or SYNTHETIC_CLASSES, (),
                    "Input", "Output")
    data = open_data(data_settings, target, progress=watch)
    watch.check()
    notes = list(data.notes)
    if decode_shape != shape:
        notes.append(f"the Input takes a vector of {'×'.join(map(str, shape))}; the images "
                     f"are shown as {'×'.join(map(str, decode_shape))}")
    native, vary = _native_shape(kind, spec, data, target)
    splits = [data.train] + ([data.val] if data.val is not None else [])
    top = max(int(s.y.max()) + 1 for s in splits if len(s))
    # Validation labels beyond the training names (integer labels) still get a bar.
    names = data.class_names + [str(i) for i in range(len(data.class_names), top)]
    train_counts = torch.bincount(data.train.y, minlength=len(names)).tolist()
    val_counts = (torch.bincount(data.val.y, minlength=len(names)).tolist()
                  if data.val is not None else [0] * len(names))
    unreadable = list(data.skipped)
    duplicates, examples, checked = _check_files(data, splits, target, watch, unreadable,
                                                 notes, data_settings.get("cache"))
    samples = _samples(data, samples_per_class, len(names), target, native, watch)
    present = [(count, i) for i, count in enumerate(train_counts) if count]
    imbalance = max(present)[0] / min(present)[0] if present else 1.0
    report = DataReport(
        spec, _describe(kind, spec, data, native, len(names)), native, vary, names,
        data.named_classes, train_counts, val_counts, len(data.train),
        len(data.val) if data.val is not None else 0, data.train.streamed, samples,
        unreadable, duplicates, examples, checked, imbalance, notes=notes)
    report.warnings = _warnings(report, present)
    report.seconds = time.perf_counter() - started
    return report


def _check_files(data: DataBundle, splits: list[Split], target: Target, watch: _Watch,
                 unreadable: list[tuple[str, str]], notes: list[str],
                 cache: str | None) -> tuple[int, list[tuple[str, str]], bool]:
    """Look for unreadable files and for validation images identical to training images,
    unless that would decode more than STREAM_CHECK_LIMIT streamed files. Unreadable files
    are added to ``unreadable``, what is not looked for to ``notes``; returns (duplicates,
    examples of them, whether the files were checked)."""
    streamed_files = sum(len(s) for s in splits if s.streamed)
    checked = streamed_files <= STREAM_CHECK_LIMIT
    if streamed_files:
        notes.append(f"{streamed_files:,} images are read from disk each epoch ("
                     + ("data.cache is 'stream'" if cache == "stream"
                        else "decoded they would not fit in a quarter of the memory") + ")")
    duplicates, examples = 0, []
    if not checked:
        notes.append(f"unreadable files and validation images identical to training images "
                     f"are not looked for: that would decode {streamed_files:,} streamed "
                     f"files (at most {STREAM_CHECK_LIMIT:,}); training reports unreadable "
                     f"files as it meets them")
    elif data.val is not None or streamed_files:  # streamed files are read to find bad ones
        digests = [_digests(split, target, watch, unreadable) for split in splits]
        if data.val is not None:
            duplicates, examples = _duplicates(data.train, digests[0], data.val, digests[1])
    return duplicates, examples, checked


# ------------------------------------------------------------------ the source
def _kind(spec: str) -> str:
    """Which reader open_source picks for ``spec``; a spec it will refuse reads as 'idx'."""
    if spec in ("digits", "shapes", "synthetic"):
        return spec
    path = Path(spec).expanduser()
    suffix = path.suffix.lower()
    if path.is_file() and suffix in (".npz", ".csv"):
        return suffix[1:]
    if path.is_dir():
        try:
            return "idx" if images.idx_pairs(path) else "folder"
        except images.DataError:
            return "idx"
    return "idx"


def _describe(kind: str, spec: str, data: DataBundle, native: tuple | None,
              classes: int) -> str:
    name = spec if kind in ("digits", "shapes", "synthetic") else Path(spec).name or spec
    what = DESCRIPTIONS[kind]
    total = len(data.train) + (len(data.val) if data.val is not None else 0)
    unit = "images" if native is not None else "samples"
    return f"{name}: {what}, {total:,} {unit}, {classes} class{'es' * (classes != 1)}"


# ---------------------------------------------------------------- native shape
def _native_shape(kind: str, spec: str, data: DataBundle,
                  target: Target) -> tuple[tuple[int, int, int] | None, bool]:
    """The data's own C×H×W before the loader resizes it, and whether the files differ."""
    if kind == "digits":
        return (1, images.DIGITS_SIZE, images.DIGITS_SIZE), False
    if kind == "shapes":
        return (3, images.SHAPES_SIZE, images.SHAPES_SIZE), False
    if kind == "synthetic":
        return _image_shape(target.shape if target.is_image else None, target), False
    if kind == "npz":
        return _image_shape(_npz_sample_dims(Path(spec).expanduser()), target), False
    if kind in ("folder", "csv"):
        return _probe_files(data.train.paths or [])
    pairs = images.idx_pairs(Path(spec).expanduser())
    train = [p for p in pairs if p[0] == "train"] or pairs
    return _image_shape(images.read_idx_dims(train[0][1])[1:], target), False


def _image_shape(dims: Sequence[int] | None,
                 target: Target) -> tuple[int, int, int] | None:
    """One sample's C×H×W, read as images.fit_array reads H×W, H×W×C and C×H×W."""
    if dims is None:
        return None
    dims = tuple(int(d) for d in dims)
    if len(dims) == 2:
        return (1, *dims)
    if len(dims) != 3:
        return None
    wanted = target.shape[0] if target.is_image else None
    if dims[2] in (1, 3, 4, wanted) and dims[0] not in (1, 3, 4, wanted):
        return dims[2], dims[0], dims[1]
    return (dims[0], dims[1], dims[2]) if dims[0] in (1, 3, 4, wanted) else None


def _npz_sample_dims(path: Path) -> tuple[int, ...] | None:
    """The shape of one sample of the .npz's x (or x_train), read from the array header."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = set(archive.namelist())
            key = next((k for k in ("x.npy", "x_train.npy") if k in members), None)
            if key is None:
                return None
            with archive.open(key) as handle:
                version = np.lib.format.read_magic(handle)
                read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                        else np.lib.format.read_array_header_2_0)
                return tuple(read(handle)[0][1:])
    except (OSError, ValueError, zipfile.BadZipFile):
        return None


def _mode_channels(mode: str) -> int:
    """Channels of a Pillow mode, as decode_image treats the file (alpha counted)."""
    if mode in ("1", "L", "LA", "P;1") or mode.startswith(("I", "F")):
        return 1
    return 4 if mode in ("RGBA", "PA", "RGBa") else 3


def _probe_files(paths: Sequence[str]) -> tuple[tuple[int, int, int] | None, bool]:
    """The most common C×H×W among the first readable files, read from their headers."""
    from PIL import Image

    found: Counter[tuple[int, int, int]] = Counter()
    for path in paths[:NATIVE_PROBE_FILES * 2]:  # streamed paths may hold unreadable files
        try:
            with Image.open(path) as img:
                found[(_mode_channels(img.mode), img.height, img.width)] += 1
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            continue
        if found.total() == NATIVE_PROBE_FILES:
            break
    if not found:
        return None, False
    return found.most_common(1)[0][0], len(found) > 1


# ------------------------------------------------------------------- duplicates
def _digests(split: Split, target: Target, watch: _Watch,
             unreadable: list[tuple[str, str]]) -> list[bytes | None]:
    """One hash per sample of its pixels at the Input's shape; None for an unreadable
    streamed file, which is added to ``unreadable``."""
    if split.x is not None:
        rows = np.ascontiguousarray(split.x.reshape(len(split.x), -1).numpy())
        digests: list[bytes | None] = []
        for start in range(0, len(rows), HASH_CHUNK):
            watch.check()
            digests += [hashlib.blake2b(row, digest_size=16).digest()
                        for row in rows[start:start + HASH_CHUNK]]
        return digests
    paths = split.paths or []
    c, h, w = target.shape
    digests = [None] * len(paths)
    for start in range(0, len(paths), STREAM_CHUNK):
        chunk = paths[start:start + STREAM_CHUNK]
        x, ok, skipped = images.decode_many(
            chunk, c, h, w, target.order,
            lambda done, _, start=start: watch(start + done, len(paths)))
        unreadable += skipped
        for row, i in zip(x.reshape(len(x), -1), ok, strict=True):
            digests[start + i] = hashlib.blake2b(row, digest_size=16).digest()
    return digests


def _duplicates(train: Split, train_digests: list[bytes | None], val: Split,
                val_digests: list[bytes | None]) -> tuple[int, list[tuple[str, str]]]:
    first: dict[bytes, int] = {}
    for i, digest in enumerate(train_digests):
        if digest is not None:
            first.setdefault(digest, i)
    count, examples = 0, []
    for j, digest in enumerate(val_digests):
        i = first.get(digest) if digest is not None else None
        if i is None:
            continue
        count += 1
        if len(examples) < DUPLICATE_EXAMPLES:
            examples.append((_name(train, i, "train"), _name(val, j, "val")))
    return count, examples


def _name(split: Split, index: int, part: str) -> str:
    return split.paths[index] if split.paths is not None else f"{part} #{index}"


# ---------------------------------------------------------------------- samples
def _samples(data: DataBundle, per_class: int, classes: int, target: Target,
             native: tuple[int, int, int] | None, watch: _Watch) -> list[Sample]:
    """The first ``per_class`` training images of each class, in class order; validation
    images for a class that has none in training."""
    parts = [("train", data.train, _value_range(data.train))]
    if data.val is not None:
        parts.append(("val", data.val, _value_range(data.val)))
    out = []
    for cls in range(classes):
        for part, split, value_range in parts:
            picked = _class_samples(split, part, cls, per_class, target, native, value_range)
            if picked:
                out += picked
                break
        watch.check()
    return out


def _value_range(split: Split) -> tuple[float, float] | None:
    """The lowest and highest value of float pixels (None for uint8), to show them."""
    if split.x is None or split.x.dtype == torch.uint8 or not len(split):
        return None
    low, high = torch.aminmax(split.x)
    return float(low), float(high)


def _class_samples(split: Split, part: str, cls: int, count: int, target: Target,
                   native: tuple[int, int, int] | None,
                   value_range: tuple[float, float] | None) -> list[Sample]:
    indices = torch.nonzero(split.y == cls).flatten().tolist()
    picked = []
    # A few extra tries: a streamed class may begin with unreadable files.
    for i in indices[:count * 3 + 10] if split.streamed else indices[:count]:
        if split.x is not None:
            pixels = split.x[i].numpy()
        else:
            c, h, w = target.shape
            try:
                pixels = images.decode_image(split.paths[i], c, h, w, target.order)
            except (OSError, ValueError, SyntaxError):
                continue
        image = _displayable(pixels, target, native, value_range)
        if image is None:
            return []
        picked.append(Sample(image, cls, part,
                             split.paths[i] if split.paths is not None else None))
        if len(picked) == count:
            break
    return picked


def _displayable(pixels: np.ndarray, target: Target, native: tuple[int, int, int] | None,
                 value_range: tuple[float, float] | None) -> np.ndarray | None:
    """C×H×W (or a vector of an image's size) as H×W×C uint8 RGB or grayscale; float
    pixels are stretched from the data's own range to 0..255."""
    if pixels.ndim == 1:
        if native is None or math.prod(native) != pixels.size:
            return None
        pixels = pixels.reshape(native)
    if value_range is not None:
        low, high = value_range
        scaled = (pixels - low) / (high - low) * 255 if high > low else pixels * 0
        pixels = np.clip(np.round(scaled), 0, 255).astype(np.uint8)
    pixels = pixels[:3] if pixels.shape[0] >= 3 else pixels[:1]
    if pixels.shape[0] == 3 and target.order == "BGR" and target.is_image:
        pixels = pixels[::-1]  # decoded for a BGR network; shown as the picture it is
    return np.ascontiguousarray(pixels.transpose(1, 2, 0))


# --------------------------------------------------------------------- warnings
def _warnings(report: DataReport, present: list[tuple[int, int]]) -> list[str]:
    names = report.class_names
    out = []
    if report.imbalance >= IMBALANCE_WARNING:
        (most, big), (least, small) = max(present), min(present)
        out.append(f"strong class imbalance: '{names[big]}' has {most:,} training images "
                   f"and '{names[small]}' {least:,} ({report.imbalance:.1f}×); consider "
                   f"collecting more or weighting")
    empty = [f"'{names[i]}'" for i, count in enumerate(report.train_counts) if not count]
    if empty:
        out.append(f"no training images for class{'es' * (len(empty) > 1)} "
                   f"{', '.join(empty[:8])}{', …' if len(empty) > 8 else ''}: the network "
                   f"cannot learn {'them' if len(empty) > 1 else 'it'}")
    if report.duplicates:
        train, val = report.duplicate_examples[0]
        many = report.duplicates > 1
        out.append(f"{report.duplicates:,} validation image{'s' * many} "
                   f"{'are' if many else 'is'} identical to training images (e.g. "
                   f"{_short(val)} and {_short(train)}): validation accuracy will be "
                   f"optimistic")
    if report.unreadable:
        file, reason = report.unreadable[0]
        count = len(report.unreadable)
        out.append(f"{count:,} unreadable file{'s' * (count > 1)} skipped (e.g. "
                   f"{_short(file)}: {reason})")
    return out


def _short(name: str) -> str:
    """A file as its folder and name (train #3 stays as it is)."""
    path = Path(name)
    return str(Path(path.parent.name, path.name)) if path.parent.name else name
