"""Datasets for training: where the images come from, the train/validation split, the fit
against the graph's Input and Output, and batches on the training device.

A source is ``digits``, ``shapes``, ``synthetic`` (random pixels, for benchmarks), a folder
of class subfolders (ImageFolder's layout, or ``train/`` and ``val/`` folders of them), MNIST
IDX files (a folder, an images file or a prefix), a CSV of ``path,label`` or a NumPy .npz
with ``x`` and ``y`` (or Keras's ``x_train``/``y_train``/``x_test``/``y_test``). Images are decoded once into memory when they
fit (a quarter of the RAM), otherwise streamed by DataLoader workers each epoch; either way a
file that cannot be read is skipped, counted and reported, and never stops training.
"""

from __future__ import annotations

import csv
import io
import math
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.backend import images
from engine.backend.images import (
    IMAGE_EXTENSIONS,
    SHAPE_NAMES,
    DataError,
    DataNotFound,
    DataUnreadable,
)
from engine.files import FileRefused, check_regular, read_capped
from engine.graph import Graph
from engine.layers import REGISTRY
from engine.memory import available_memory, size_text

__all__ = ["DataError", "DataNotFound", "DataUnreadable", "Target", "Split", "DataBundle",
           "load_data", "open_data", "target_of"]

Log = Callable[[str], None]
Progress = Callable[[int, int], None]  # (files decoded, files to decode)
LOG_DECODED_EVERY = 2000  # files between "decoded N of M" lines in the training log
# ImageNet's 1.28 M rows of path,label take about 80 MB: a larger "CSV" is another file.
CSV_MAX_BYTES = 1_000_000_000


@dataclass(frozen=True)
class Target:
    """What the graph asks of its data."""

    shape: tuple[int, ...]
    order: str
    classes: int
    class_names: tuple[str, ...]
    input_name: str
    output_name: str

    @property
    def is_image(self) -> bool:
        return len(self.shape) == 3


def target_of(graph: Graph) -> Target:
    inputs = [n for n in graph.leaves() if n.kind == "Input"]
    outputs = [n for n in graph.leaves() if n.kind == "Output"]
    if len(inputs) != 1 or len(outputs) != 1:
        raise DataError("the network needs exactly one Input and one Output block to train")
    ip = REGISTRY.get("Input").resolve(inputs[0].params)
    op = REGISTRY.get("Output").resolve(outputs[0].params)
    names = tuple(n.strip() for n in op["class_names"].split(",") if n.strip())
    return Target(tuple(int(d) for d in ip["shape"]), ip["channel_order"], int(op["classes"]),
                  names, inputs[0].name, outputs[0].name)


@dataclass
class Split:
    """One side of the data: pixels in memory (x) or image files read each epoch (paths).

    Images decoded from files into memory keep their paths beside x, so a report can name
    the file of any sample.
    """

    y: torch.Tensor
    x: torch.Tensor | None = None
    paths: list[str] | None = None

    def __len__(self) -> int:
        return len(self.y)

    @property
    def streamed(self) -> bool:
        return self.x is None

    def subset(self, index: np.ndarray) -> Split:
        idx = torch.as_tensor(index, dtype=torch.int64)
        paths = [self.paths[i] for i in index] if self.paths is not None else None
        if self.x is not None:
            return Split(self.y[idx], x=self.x[idx], paths=paths)
        assert paths is not None
        return Split(self.y[idx], paths=paths)


@dataclass
class DataBundle:
    train: Split
    val: Split | None
    class_names: list[str]
    source: str
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    named_classes: bool = True  # False: bare class numbers, names made up or the Output's

    @property
    def pixel_max(self) -> float | None:
        """255 for decoded pixels (photometric augmentation clamps there), None for floats."""
        x = self.train.x
        return None if x is not None and x.dtype != torch.uint8 else 255.0

    def report(self) -> dict[str, Any]:
        return {"source": self.source, "train": len(self.train),
                "val": len(self.val) if self.val is not None else 0,
                "classes": len(self.class_names), "class_names": list(self.class_names),
                "streamed": self.train.streamed, "skipped": len(self.skipped),
                "skipped_files": [{"file": f, "reason": r} for f, r in self.skipped[:20]]}


# ----------------------------------------------------------------- sources
@dataclass
class _Raw:
    """A source before the split: labelled samples and the class names it knows."""

    split: Split
    class_names: list[str] | None  # None: integer labels without names
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _ram_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def check_decodable(target: Target, source: str | Path) -> None:
    """Refuse, before any file is read, an Input that decoded images cannot fill (else every
    file would fail alike and be skipped as unreadable)."""
    if not target.is_image:
        raise DataError(f"{source}: image files cannot feed the Input '{target.input_name}' "
                        f"of shape {'×'.join(map(str, target.shape))}: give it an image shape "
                        f"C×H×W")
    channels = target.shape[0]
    if channels not in images.DECODED_CHANNELS:
        raise DataError(f"{source}: Input '{target.input_name}' takes {channels} channels; "
                        f"images decode to 1 (grayscale) or 3 (RGB) — set the Input's "
                        f"channels to 1 or 3")


def _files_to_split(paths: list[str], labels: list[int], target: Target, cache: str,
                    log: Log, source: str | Path, progress: Progress | None = None,
                    ) -> tuple[Split, list[tuple[str, str]]]:
    check_decodable(target, source)
    if not paths:
        raise DataError("no images found")
    c, h, w = target.shape
    size = len(paths) * c * h * w
    if cache == "stream" or (cache == "auto" and size > _ram_bytes() // 4):
        log(f"streaming {len(paths):,} images from disk each epoch "
            f"({size / 2**30:.1f} GiB decoded would not fit in memory)")
        return Split(torch.as_tensor(labels, dtype=torch.int64), paths=paths), []
    log(f"decoding {len(paths):,} images to {c}×{h}×{w}")

    def report(done: int, total: int) -> None:
        if done % LOG_DECODED_EVERY == 0:
            log(f"decoded {done:,} of {total:,} images")
        if progress is not None:
            progress(done, total)

    x, ok, skipped = images.decode_many(paths, c, h, w, target.order, report)
    y = torch.as_tensor(labels, dtype=torch.int64)[torch.as_tensor(ok, dtype=torch.int64)]
    return Split(y, x=torch.from_numpy(x), paths=[paths[i] for i in ok]), skipped


def _class_folders(root: Path) -> list[Path]:
    return sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=lambda p: p.name)


def _image_files(folder: Path) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            if name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith("."):
                found.append(os.path.join(dirpath, name))
    return found


def _image_folder(root: Path, target: Target, cache: str, log: Log,
                  progress: Progress | None = None) -> _Raw:
    classes = _class_folders(root)
    if not classes:
        raise DataError(f"{root}: a dataset folder needs one subfolder per class (e.g. "
                        f"{root}/cats/*.jpg, {root}/dogs/*.jpg); found none")
    paths: list[str] = []
    labels: list[int] = []
    for index, folder in enumerate(classes):
        files = _image_files(folder)
        paths += files
        labels += [index] * len(files)
    if not paths:
        raise DataError(f"{root}: the class folders hold no images "
                        f"({', '.join(IMAGE_EXTENSIONS)})")
    split, skipped = _files_to_split(paths, labels, target, cache, log, root, progress)
    return _Raw(split, [p.name for p in classes], skipped)


def _csv_rows(path: Path) -> list[tuple[str, str, int]]:
    """(path, label, line) for each row of a CSV of path,label (a header row is skipped)."""
    try:
        text = read_capped(path, CSV_MAX_BYTES, "a CSV of path,label").decode("utf-8-sig")
    except FileRefused as exc:
        raise DataUnreadable(str(exc)) from None
    except UnicodeDecodeError as exc:
        raise DataUnreadable(f"{path}: not a CSV of path,label: byte {exc.start} is not "
                             "UTF-8 text (is it a binary file? save the CSV as UTF-8)") from None
    except OSError as exc:
        raise DataUnreadable(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise DataUnreadable(f"{path}, line {line}: not a CSV of path,label: it holds a NUL "
                             "byte, as binary files do")
    rows = []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for line, row in enumerate(reader, 1):
            if not row or not "".join(row).strip():
                continue
            if len(row) < 2:
                raise DataUnreadable(f"{path}, line {line}: expected path,label. "
                                     f"Received: {row}")
            if line == 1 and row[0].strip().lower() in ("path", "file", "filename", "image",
                                                        "filepath", "image_path"):
                continue
            file, label = row[0].strip(), row[1].strip()
            if not file or not label:
                missing = "image path" if not file else "label"
                raise DataUnreadable(f"{path}, line {line}: the {missing} is empty; every "
                                     f"row needs path,label. Received: {row}")
            rows.append((file, label, line))
    except csv.Error as exc:  # e.g. a field larger than csv's limit
        raise DataUnreadable(f"{path}, line {reader.line_num}: not a CSV of path,label "
                             f"({exc})") from None
    if not rows:
        raise DataUnreadable(f"{path}: no rows of path,label")
    return rows


def _csv(path: Path, target: Target, cache: str, log: Log,
         progress: Progress | None = None) -> _Raw:
    rows = _csv_rows(path)
    labels_text = [r[1] for r in rows]
    if all(_is_int(t) for t in labels_text):
        labels = [int(t) for t in labels_text]
        names = None
        bad = next((r for r in rows if int(r[1]) < 0), None)
        if bad:
            raise DataError(f"{path}, line {bad[2]}: a label cannot be negative. "
                            f"Received: {bad[1]}")
    else:
        names = sorted(set(labels_text))
        index = {n: i for i, n in enumerate(names)}
        labels = [index[t] for t in labels_text]
    paths = [str((path.parent / p) if not os.path.isabs(p) else Path(p)) for p, _, _ in rows]
    split, skipped = _files_to_split(paths, labels, target, cache, log, path, progress)
    return _Raw(split, names, skipped)


def _is_int(text: str) -> bool:
    try:
        int(text)
        return True
    except ValueError:
        return False


def _class_numbers(y: Any, source: str) -> np.ndarray:
    """Labels as one class number per sample: class numbers (N or N×1), or rows of
    one-hot or class probabilities (N×K, argmax). Anything else is refused, naming a row:
    N×2 rows of two numbers are not silently read as one class."""
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise DataUnreadable(f"{source}: labels must be class numbers 0, 1, 2, …; these "
                             f"are {_dtype_words(y.dtype)}. Received values such as "
                             f"{y.reshape(-1)[:3].tolist()}")
    if y.ndim == 2 and y.shape[1] > 1:
        rows = y.astype(np.float64)
        good = (np.isfinite(rows).all(1) & (rows >= 0).all(1)
                & np.isclose(rows.sum(1), 1.0, atol=1e-3))
        if not good.all():
            i = int(np.flatnonzero(~good)[0])
            raise DataUnreadable(
                f"{source}: labels of shape {y.shape[0]}×{y.shape[1]} are not one-hot: row "
                f"{i} is {y[i].tolist()}. Give one class number per sample (shape N), or "
                "per sample one 1 among 0s (or class probabilities that sum to 1)")
        return y.argmax(1)
    if y.ndim > 1 and math.prod(y.shape[1:]) != 1:
        raise DataUnreadable(f"{source}: labels of shape {'×'.join(map(str, y.shape))}; "
                             "expected one class number per sample (shape N) or one-hot "
                             "rows (N×classes)")
    return y.reshape(-1)


def _arrays(x: Any, y: Any, target: Target, source: str) -> Split:
    y = _class_numbers(y, source)
    if not np.issubdtype(y.dtype, np.integer):
        finite = np.isfinite(y)
        if not finite.all() or not np.all(np.equal(np.mod(y[finite], 1), 0)):
            raise DataUnreadable(f"{source}: labels must be class numbers 0, 1, 2, …. "
                                 f"Received values such as {y[:3].tolist()}")
        y = y.astype(np.int64)
    if len(x) != len(y):
        raise DataError(f"{source}: {len(x)} samples but {len(y)} labels")
    if len(y) and y.min() < 0:
        raise DataError(f"{source}: a label cannot be negative. Received: {int(y.min())}")
    pixels = images.fit_array(x, target.shape, target.order, source,
                              input_name=target.input_name)
    _check_finite(pixels, source)
    return Split(torch.tensor(y, dtype=torch.int64), x=pixels)


def _check_finite(x: torch.Tensor, source: str) -> None:
    """Refuse NaN or infinite values before training turns them into a loss of nan that
    looks like a learning-rate problem."""
    if not x.is_floating_point() or not len(x):
        return
    bad = ~torch.isfinite(x.reshape(len(x), -1)).all(1)
    if bad.any():
        first = int(torch.nonzero(bad)[0])
        raise DataUnreadable(f"{source}: {int(bad.sum()):,} of {len(x):,} samples hold NaN "
                             f"or infinite values (the first is sample {first}); training on "
                             "them makes the loss nan. Clean the data (e.g. np.nan_to_num) "
                             "or drop those samples")


def _dtype_words(dtype: np.dtype) -> str:
    return {"O": "Python objects", "U": "text", "S": "bytes", "V": "records",
            "c": "complex numbers", "M": "dates", "m": "time spans"}.get(
                dtype.kind, f"of type {dtype}") + f" (dtype {dtype})"


# What a damaged .npz raises: not a zip at all, a truncated member, a bad header.
_NPZ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile)


def _npz(path: Path, target: Target) -> list[tuple[str, _Raw]]:
    try:
        data = np.load(path, allow_pickle=False)
    except _NPZ_ERRORS as exc:
        raise DataUnreadable(f"{path}: cannot be read as a NumPy .npz ({exc})") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise DataUnreadable(f"{path}: one NumPy array (.npy), not an .npz of arrays x and y "
                             "(np.savez(FILE, x=images, y=labels))")
    try:
        with data:
            return _npz_parts(path, data, target)
    except _NPZ_ERRORS as exc:
        if isinstance(exc, DataError):
            raise
        raise DataUnreadable(f"{path}: cannot be read as a NumPy .npz ({exc})") from None


def _npz_header(data: Any, key: str) -> tuple[tuple[int, ...], np.dtype] | None:
    """An .npz member's shape and dtype from its header, without reading its values;
    None when the header is of a version this does not read (the load then decides)."""
    fmt = np.lib.format
    with data.zip.open(f"{key}.npy") as handle:
        version = fmt.read_magic(handle)
        reader = {(1, 0): fmt.read_array_header_1_0,
                  (2, 0): fmt.read_array_header_2_0}.get(version)
        if reader is None:
            return None
        shape, _, dtype = reader(handle)
    return tuple(shape), dtype


def _npz_array(path: Path, data: Any, key: str) -> np.ndarray:
    """One member of an .npz, refused from its header when it holds no numbers or more
    than this machine's memory can take."""
    header = _npz_header(data, key) if f"{key}.npy" in data.zip.namelist() else None
    if header is not None:
        shape, dtype = header
        wanted = "biufUS" if key == "class_names" else "biuf"
        if dtype.kind not in wanted:
            words = ("Netdraft does not unpickle data files" if dtype.kind == "O"
                     else "numbers are needed")
            fix = (f"numbers, e.g. np.savez(FILE, {key}={key}.astype(np.uint8))"
                   if key.startswith("x")
                   else "class numbers 0, 1, 2, … with the names in an array class_names "
                        "(np.unique(labels, return_inverse=True) gives both)"
                   if key.startswith("y") else "text (np.array(names, dtype=str))")
            raise DataUnreadable(f"{path}: array '{key}' holds {_dtype_words(dtype)}; "
                                 f"{words}. Save it as {fix}")
        size = math.prod(shape) * max(dtype.itemsize, 4 if dtype != np.uint8 else 1)
        room = available_memory()
        if room is not None and size > room:
            raise DataError(f"{path}: array '{key}' ({'×'.join(map(str, shape))} {dtype}) "
                            f"takes {size_text(size)} in memory, more than this machine's "
                            f"available {size_text(room)}")
    return data[key]


def _npz_parts(path: Path, data: Any, target: Target) -> list[tuple[str, _Raw]]:
    keys = set(data.files)
    names = ([str(n) for n in _npz_array(path, data, "class_names")]
             if "class_names" in keys else None)

    def part(xs: str, ys: str, source: str) -> _Raw:
        return _Raw(_arrays(_npz_array(path, data, xs), _npz_array(path, data, ys), target,
                            source), names)

    if {"x", "y"} <= keys:
        return [("train", part("x", "y", str(path)))]
    if {"x_train", "y_train"} <= keys:
        out = [("train", part("x_train", "y_train", f"{path} (x_train)"))]
        for xs, ys in (("x_test", "y_test"), ("x_val", "y_val")):
            if {xs, ys} <= keys:
                out.append(("val", part(xs, ys, f"{path} ({xs})")))
                break
        return out
    raise DataUnreadable(f"{path}: expected arrays named x and y (or x_train and y_train). "
                         f"Received: {', '.join(sorted(keys)) or 'no arrays'}")


def _idx(pairs: list[tuple[str, Path, Path]], target: Target) -> list[tuple[str, _Raw]]:
    out = []
    for role, image_file, label_file in pairs:
        out.append((role, _Raw(_arrays(images.read_idx(image_file), images.read_idx(label_file),
                                       target, str(image_file)), None)))
    return out


def open_source(spec: str, target: Target, settings: dict[str, Any], log: Log,
                progress: Progress | None = None) -> list[tuple[str, _Raw]]:
    """(role, raw data) pairs; role "val" marks validation data the source brings along.

    ``progress`` hears (done, total) while image files are decoded, once per folder or CSV.
    """
    cache = settings.get("cache", "auto")
    image_shape = target.shape if target.is_image else (1, 28, 28)
    if spec == "digits":
        x, y = images.digits(image_shape[1], image_shape[2])
        return [("train", _Raw(_arrays(x, y, target, "digits"), [str(i) for i in range(10)]))]
    if spec == "shapes":
        classes = int(settings.get("classes", 4))
        x, y = images.shapes(int(settings.get("samples", 2000)), classes,
                             int(settings.get("seed", 0)))
        return [("train", _Raw(_arrays(x, y, target, "shapes"),
                               list(SHAPE_NAMES[:classes])))]
    if spec == "synthetic":  # random pixels and labels: for benchmarks and smoke tests
        gen = torch.Generator().manual_seed(int(settings.get("seed", 0)))
        count = int(settings.get("samples", 2000))
        x = torch.randint(0, 256, (count, *target.shape), dtype=torch.uint8, generator=gen)
        y = torch.randint(0, target.classes, (count,), generator=gen)
        return [("train", _Raw(_arrays(x, y, target, "synthetic"),
                               [str(i) for i in range(target.classes)]))]
    path = Path(spec).expanduser()
    if path.exists() and not path.is_dir():
        try:  # a device or FIFO would be read forever or block
            check_regular(path, "a data file")
        except (FileRefused, OSError) as exc:
            raise DataUnreadable(str(exc)) from None
    if path.is_dir():
        pairs = images.idx_pairs(path)
        if pairs:
            return _idx(pairs, target)
        subs = {p.name.lower(): p for p in _class_folders(path)}
        val_dir = subs.get("val") or subs.get("validation") or subs.get("test")
        if "train" in subs and val_dir is not None and _class_folders(subs["train"]):
            return [("train", _image_folder(subs["train"], target, cache, log, progress)),
                    ("val", _image_folder(val_dir, target, cache, log, progress))]
        return [("train", _image_folder(path, target, cache, log, progress))]
    suffix = path.suffix.lower()
    if path.is_file() and suffix == ".npz":
        return _npz(path, target)
    if path.is_file() and suffix == ".csv":
        return [("train", _csv(path, target, cache, log, progress))]
    pairs = images.idx_pairs(path) if (path.is_file() or path.parent.is_dir()) else []
    if pairs:
        return _idx(pairs, target)
    if path.is_file():
        raise DataError(f"{spec}: not a dataset Netdraft reads (a folder of class "
                        f"subfolders, MNIST IDX files, a .csv of path,label or an .npz)")
    raise DataNotFound(f"{spec}: no such dataset. Use 'digits', 'shapes', a folder of class "
                    f"subfolders, MNIST IDX files, a .csv of path,label or an .npz")


# ------------------------------------------------------------- the split
def stratified_split(labels: torch.Tensor, fraction: float,
                     seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val): each class gives the same fraction to validation."""
    rng = np.random.default_rng(seed)
    y = labels.numpy()
    train, val = [], []
    for cls in np.unique(y):
        idx = np.flatnonzero(y == cls)
        rng.shuffle(idx)
        take = min(len(idx) - 1, int(round(len(idx) * fraction))) if len(idx) > 1 else 0
        val.append(idx[:take])
        train.append(idx[take:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def _names_for(raw: _Raw, target: Target) -> list[str]:
    if raw.class_names is not None:
        return list(raw.class_names)
    count = int(raw.split.y.max()) + 1 if len(raw.split) else 0
    if target.class_names and len(target.class_names) >= count:
        return list(target.class_names)
    return [str(i) for i in range(max(count, 1))]


def _align(raw: _Raw, names: list[str], target: Target, where: str) -> Split:
    """Relabel validation data so its class numbers follow the training data's names."""
    if raw.class_names is None:
        return raw.split
    index = {n: i for i, n in enumerate(names)}
    unknown = [n for n in raw.class_names if n not in index]
    if unknown:
        raise DataError(f"{where}: classes {', '.join(unknown[:5])} are not in the training "
                        f"data (which has {', '.join(names[:10])})")
    table = torch.tensor([index[n] for n in raw.class_names], dtype=torch.int64)
    return Split(table[raw.split.y], x=raw.split.x, paths=raw.split.paths)


def check_fit(names: list[str], splits: list[Split], target: Target,
              notes: list[str]) -> None:
    """Refuse data whose classes cannot fit the Output, naming both numbers."""
    top = max((int(s.y.max()) for s in splits if len(s)), default=-1) + 1
    count = max(len(names), top)
    if count > target.classes:
        shown = ", ".join(names[:8]) + (", …" if len(names) > 8 else "")
        raise DataError(f"the data has {count} classes ({shown}) but the Output "
                        f"'{target.output_name}' has {target.classes}: set its classes to "
                        f"{count} and give the block before it {count} units")
    if count < target.classes:
        notes.append(f"the data has {count} classes and the Output '{target.output_name}' "
                     f"{target.classes}: the extra outputs are never the right answer")


def open_data(settings: dict[str, Any], target: Target, log: Log = lambda m: None,
              progress: Progress | None = None) -> DataBundle:
    """The training source and its validation part (a source of its own, the source's own
    validation part or a stratified split), labelled and split exactly as training uses
    them, without checking the classes against the Output: the designer's Data panel
    shows the data whatever the Output says."""
    spec = str(settings["dataset"]).strip()
    if not spec:
        raise DataError("no dataset: set data.dataset or pass --data")
    parts = open_source(spec, target, settings, log, progress)
    train_raw = next(raw for role, raw in parts if role == "train")
    names = _names_for(train_raw, target)
    skipped = [s for _, raw in parts for s in raw.skipped]
    val_spec = str(settings.get("val_dataset") or "").strip()
    train = train_raw.split
    val: Split | None = None
    if val_spec:
        val_parts = open_source(val_spec, target, settings, log, progress)
        val_raw = next(raw for _, raw in val_parts)
        skipped += val_raw.skipped
        val = _align(val_raw, names, target, val_spec)
    elif any(role == "val" for role, _ in parts):
        val_raw = next(raw for role, raw in parts if role == "val")
        val = _align(val_raw, names, target, f"{spec} (validation part)")
    elif float(settings.get("val_fraction", 0.0)) > 0 and len(train) > 1:
        train_idx, val_idx = stratified_split(train.y, float(settings["val_fraction"]),
                                              int(settings.get("seed", 0)))
        train, val = train.subset(train_idx), train.subset(val_idx)
    if len(train) == 0:
        raise DataError(f"{spec}: no training samples could be read"
                        + (f" ({len(skipped)} files skipped)" if skipped else ""))
    return DataBundle(train, val if val is not None and len(val) else None, names, spec,
                      skipped, named_classes=train_raw.class_names is not None)


def load_data(settings: dict[str, Any], target: Target, log: Log = lambda m: None,
              ) -> DataBundle:
    """Open the training source (and validation source or split) for a graph's target;
    refuse data with more classes than its Output."""
    data = open_data(settings, target, log)
    check_fit(data.class_names, [data.train] + ([data.val] if data.val is not None else []),
              target, data.notes)
    if data.skipped:
        data.notes.append(f"skipped {len(data.skipped)} unreadable image(s), e.g. "
                          f"{data.skipped[0][0]}: {data.skipped[0][1]}")
    return data
