"""Reading images and labelled arrays: decoding, channel conversion, resizing, and the two
built-in datasets that need nothing downloaded (digits and shapes).

Everything returns uint8 pixels N×C×H×W in 0..255 (float arrays from .npz files stay as
they are) so the Input block's scale, mean and std apply the same way to every source.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from engine.files import open_regular
from engine.memory import available_memory, size_text

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
SHAPE_NAMES = ("circle", "square", "triangle", "star")
DECODED_CHANNELS = (1, 3)  # what decode_image makes of a file: grayscale or RGB
DIGITS_SIZE = 28  # digits() lays the 8×8 digits out as MNIST does before resizing
SHAPES_SIZE = 64  # the side of the images shapes() draws


class DataError(ValueError):
    """Data that cannot be used: the message says what, where, and what to do."""


class DataNotFound(DataError):
    """The dataset named does not exist, or is a file that cannot be used as data: the
    user must point at other data (the command line exits 2 for it)."""


class DataUnreadable(DataNotFound):
    """A data file that exists but cannot be used: not a regular file, over its size limit,
    random bytes, text or Python objects where numbers belong, non-finite pixel values,
    labels that are not classes. The message names the file (and row) and what is wrong."""


# ------------------------------------------------------------------- decoding
def decode_image(path: str | os.PathLike[str], channels: int, height: int, width: int,
                 order: str = "RGB") -> np.ndarray:
    """One image file as C×H×W uint8; raises OSError/ValueError when it cannot be read.

    Grayscale, RGB and RGBA all convert to the wanted channels (RGBA is composited over
    white first, so transparent areas read as background). An image too large to decode
    safely (Pillow's DecompressionBombError, which is not an OSError) is a ValueError, so
    every caller skips it as the unreadable file it is, and so is a path that is no regular
    file (a FIFO would block the decoder forever).
    """
    from PIL import Image

    try:
        with os.fdopen(open_regular(path, "an image"), "rb") as handle, \
                Image.open(handle) as img:
            img.load()  # a truncated file fails here, not later
            if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P"
                                                    and "transparency" in img.info):
                rgba = img.convert("RGBA")
                canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                img = Image.alpha_composite(canvas, rgba)
            img = img.convert("L" if channels == 1 else "RGB")
            if img.size != (width, height):
                img = img.resize((width, height), Image.Resampling.BILINEAR)
            array = np.asarray(img, dtype=np.uint8)
    except Image.DecompressionBombError as exc:
        raise ValueError(str(exc)) from None
    if channels == 1:
        return array[None]
    array = array.transpose(2, 0, 1)
    if order == "BGR":
        array = array[::-1]
    if channels != 3:
        raise DataError(f"images can be read with 1 or 3 channels; the Input asks for "
                        f"{channels}")
    return np.ascontiguousarray(array)


def decode_many(paths: Sequence[str], channels: int, height: int, width: int, order: str,
                progress: Callable[[int, int], None] | None = None, every: int = 100,
                ) -> tuple[np.ndarray, list[int], list[tuple[str, str]]]:
    """Decode files in parallel threads (Pillow releases the GIL while decoding).

    Returns the stacked images, the indices that were read, and (path, reason) for each
    file skipped because it is unreadable or truncated. ``progress(done, total)`` is called
    every ``every`` files and after the last; an exception it raises (a cancelled scan)
    stops the decoding and leaves the files not yet started undecoded.
    """
    out = np.empty((len(paths), channels, height, width), dtype=np.uint8)
    ok: list[int] = []
    skipped: list[tuple[str, str]] = []

    def one(i: int) -> tuple[int, str | None]:
        try:
            out[i] = decode_image(paths[i], channels, height, width, order)
            return i, None
        except (OSError, ValueError, SyntaxError) as exc:
            return i, str(exc) or type(exc).__name__

    workers = min(16, (os.cpu_count() or 1) * 2)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(one, range(len(paths)))
        try:
            for done, (i, error) in enumerate(results, 1):
                if error is None:
                    ok.append(i)
                else:
                    skipped.append((str(paths[i]), error))
                if progress is not None and (done % every == 0 or done == len(paths)):
                    progress(done, len(paths))
        finally:
            results.close()  # cancels the files not started, else the pool decodes them all
    return out[ok] if len(ok) != len(paths) else out, ok, skipped


# ------------------------------------------------------------ array sources
def fit_array(x: np.ndarray | torch.Tensor, shape: tuple[int, ...], order: str,
              source: str, input_name: str = "") -> torch.Tensor:
    """Bring an array of samples to N×shape: channel conversion and resizing for images.

    Accepts N×H×W, N×H×W×C and N×C×H×W for image Inputs, N×F for vector Inputs (or any
    sample whose size equals F). 1 (grayscale), 3 (RGB) and 4 (RGBA) channels convert to 1
    or 3; images with as many channels as the Input keep them. uint8 stays uint8.
    """
    who = f"the Input '{input_name}'" if input_name else "the Input"
    if isinstance(x, torch.Tensor):
        t = x
    else:
        a = np.asarray(x)
        if a.dtype.byteorder not in ("=", "|"):  # IDX files are big-endian
            a = a.astype(a.dtype.newbyteorder("="))
        t = torch.from_numpy(a if a.flags.writeable else a.copy())
    if t.dtype not in (torch.uint8, torch.float32):
        t = t.to(torch.float32)
    if len(shape) != 3:
        want = math.prod(shape)
        if t.dim() < 2 or math.prod(t.shape[1:]) != want:
            raise DataError(f"{source}: samples of shape {_fmt(t.shape[1:])} cannot feed "
                            f"{who} of shape {_fmt(shape)}; change the Input's shape to "
                            f"{list(t.shape[1:])} or the data")
        return t.reshape(len(t), *shape)
    c, h, w = shape
    if t.dim() == 3:
        t = t.unsqueeze(1)
    elif t.dim() == 4 and t.shape[-1] in (1, 3, 4) and t.shape[1] not in (1, 3, 4):
        t = t.permute(0, 3, 1, 2)
    elif t.dim() == 4 and t.shape[-1] == c and t.shape[1] != c:
        t = t.permute(0, 3, 1, 2)
    if t.dim() != 4 or t.shape[1] not in (1, 3, 4, c):
        raise DataError(f"{source}: samples of shape {_fmt(t.shape[1:])} are not images "
                        f"(H×W, H×W×C or C×H×W with 1, 3 or 4 channels) and cannot feed "
                        f"{who} of shape {_fmt(shape)}")
    have = t.shape[1]
    if have != c and c not in (1, 3):  # here have is 1, 3 or 4, which convert to 1 or 3
        keep = " or keep their 4" if have == 4 else ""
        raise DataError(f"{source}: the images have {have} channel{'s' * (have != 1)} and "
                        f"{who} takes {c}; they convert to 1 (grayscale) or 3 (RGB) "
                        f"channels{keep} — set the Input's channels to "
                        f"{'1, 3 or 4' if have == 4 else '1 or 3'}")
    t = convert_channels(t, c, order)
    if tuple(t.shape[-2:]) != (h, w):
        t = resize(t, h, w)
    return t.contiguous()


def convert_channels(t: torch.Tensor, channels: int, order: str = "RGB") -> torch.Tensor:
    have = t.shape[1]
    if have == 4 and channels != 4:  # RGBA over white
        alpha = t[:, 3:4].float() / 255.0 if t.dtype == torch.uint8 else t[:, 3:4]
        white = 255.0 if t.dtype == torch.uint8 else 1.0
        rgb = t[:, :3].float() * alpha + white * (1 - alpha)
        t = rgb.round().to(torch.uint8) if t.dtype == torch.uint8 else rgb
        have = 3
    if have == channels:
        out = t
    elif have == 1 and channels == 3:
        out = t.expand(-1, 3, -1, -1)
    elif have == 3 and channels == 1:  # ITU-R 601 luma, as Pillow's convert("L")
        luma = (t.float() * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, True)
        out = luma.round().clamp(0, 255).to(torch.uint8) if t.dtype == torch.uint8 else luma
    else:
        raise DataError(f"cannot convert {have}-channel images to {channels} channels")
    if channels == 3 and order == "BGR":
        out = out.flip(1)
    return out


def resize(t: torch.Tensor, height: int, width: int, chunk: int = 4096) -> torch.Tensor:
    """Bilinear resize (antialiased when shrinking), in chunks to bound memory."""
    parts = []
    for start in range(0, len(t), chunk):
        part = t[start:start + chunk].float()
        part = F.interpolate(part, size=(height, width), mode="bilinear", align_corners=False,
                             antialias=True)
        parts.append(part.round().clamp(0, 255).to(torch.uint8) if t.dtype == torch.uint8
                     else part)
    return torch.cat(parts) if parts else t.new_zeros(0, t.shape[1], height, width)


def _fmt(shape: Sequence[int]) -> str:
    return "×".join(str(int(d)) for d in shape) or "scalar"


# -------------------------------------------------------------------- MNIST IDX
IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4",
              0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (MNIST's format), gzipped or raw. Its header is read first: a file whose
    values would not fit in this machine's memory is refused before they are read, and no
    more bytes are read (or decompressed) than the header declares."""
    dims, code = _idx_header(path)
    dtype = np.dtype(IDX_DTYPES[code])
    count = math.prod(dims)
    start = 4 + 4 * len(dims)
    size = start + count * dtype.itemsize
    room = available_memory()
    if room is not None and 2 * size > room:  # the bytes, then the array made of them
        raise DataError(f"{path}: its header declares {_fmt(dims)} values "
                        f"({size_text(size)}), more than this machine's available memory "
                        f"({size_text(room)}) holds twice over")
    try:
        with _open_idx(path) as handle:
            data = handle.read(size + 1)
    except (OSError, EOFError) as exc:
        raise DataUnreadable(f"{path}: cannot be read ({exc})") from None
    if len(data) < size:
        held = max((len(data) - start) // dtype.itemsize, 0)
        raise DataUnreadable(f"{path}: truncated: the header promises {_fmt(dims)} values, "
                             f"the file holds {held}")
    if len(data) > size:
        raise DataUnreadable(f"{path}: the header promises {_fmt(dims)} values and the file "
                             "holds more bytes than those; is it an IDX file?")
    return np.frombuffer(data, dtype=dtype, offset=start).reshape(dims)


def _open_idx(path: Path):
    """A regular file, through gzip when it starts with gzip's magic bytes."""
    handle = os.fdopen(open_regular(path, "an IDX file"), "rb")
    try:
        gzipped = handle.read(2) == b"\x1f\x8b"
        handle.seek(0)
    except BaseException:
        handle.close()
        raise
    return gzip.GzipFile(fileobj=handle, mode="rb") if gzipped else handle


def _idx_header(path: Path) -> tuple[tuple[int, ...], int]:
    """(dimensions, element type code) from an IDX file's header."""
    try:
        with _open_idx(path) as handle:
            head = handle.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0:
                raise DataUnreadable(f"{path}: not an IDX file (it does not start with two "
                                     "zero bytes)")
            dims = handle.read(4 * head[3])
    except (OSError, EOFError, ValueError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataUnreadable(f"{path}: cannot be read ({exc})") from None
    if head[2] not in IDX_DTYPES:
        raise DataUnreadable(f"{path}: unknown IDX element type 0x{head[2]:02x}")
    if len(dims) < 4 * head[3]:
        raise DataUnreadable(f"{path}: truncated: the header ends early")
    return struct.unpack(f">{head[3]}I", dims), head[2]


def read_idx_dims(path: Path) -> tuple[int, ...]:
    """The dimensions an IDX file's header declares (e.g. 60000, 28, 28), read without
    the body."""
    return _idx_header(path)[0]


def idx_pairs(spec: Path) -> list[tuple[str, Path, Path]]:
    """(role, images, labels) for a folder of MNIST files, an images file or a prefix.

    Folder: train-* is training data and t10k-* (or test-*) validation data.
    """
    def labels_for(images: Path) -> Path:
        name = images.name.replace("images-idx3", "labels-idx1").replace("images.idx3",
                                                                         "labels.idx1")
        candidates = [images.with_name(name), images.with_name(name.removesuffix(".gz")),
                      images.with_name(name + ".gz")]
        for c in candidates:
            if c.exists():
                return c
        raise DataError(f"{images}: found the images but no labels file next to it "
                        f"(expected {images.with_name(name)})")

    if spec.is_dir():
        found = sorted(spec.glob("*images[-.]idx3*"))
        pairs = []
        for images in found:
            role = "val" if images.name.startswith(("t10k", "test")) else "train"
            pairs.append((role, images, labels_for(images)))
        return pairs
    if spec.exists():
        return [("train", spec, labels_for(spec))]
    found = sorted(spec.parent.glob(spec.name + "*images[-.]idx3*"))
    return [("train", found[0], labels_for(found[0]))] if found else []


# ------------------------------------------------------------ built-in data
def digits(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's bundled UCI handwritten digits (1,797 images of 8×8, values 0–16) as
    1×H×W uint8 pixels, laid out as MNIST is: the digit scaled to 20×20 and centred in
    28×28, then resized to the Input (LeNet-5's 32×32 keeps the margin its paper gives the
    digits). The margin matters: 'valid' 5×5 convolutions see border pixels less often."""
    pixels, labels = _digits_arrays()
    x = torch.as_tensor(pixels, dtype=torch.float32).view(-1, 1, 8, 8) * (255.0 / 16.0)
    x = F.interpolate(x, size=(20, 20), mode="bicubic", align_corners=False).clamp(0, 255)
    x = F.pad(x, (4, 4, 4, 4))
    if (height, width) != (DIGITS_SIZE, DIGITS_SIZE):
        x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False,
                          antialias=True)
    return x.round().clamp(0, 255).to(torch.uint8), torch.as_tensor(labels, dtype=torch.int64)


def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The digits file scikit-learn bundles, read directly: importing scikit-learn takes
    seconds; load_digits() is the fallback should the file move."""
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        path = Path(folder) / "datasets" / "data" / "digits.csv.gz"
        if path.exists():
            with gzip.open(path, "rt") as handle:
                table = np.loadtxt(handle, delimiter=",", dtype=np.float32)
            return table[:, :-1], table[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.data, bunch.target


def shapes(samples: int, classes: int, seed: int, size: int = SHAPES_SIZE,
           chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """Generated coloured circles, squares, triangles and stars on noisy backgrounds:
    3×size×size uint8, the same images for the same seed."""
    if not 2 <= classes <= len(SHAPE_NAMES):
        raise DataError(f"shapes: classes must be 2–{len(SHAPE_NAMES)}. Received: {classes}")
    rng = np.random.default_rng(seed)
    labels = np.arange(samples) % classes
    rng.shuffle(labels)
    images = np.empty((samples, 3, size, size), dtype=np.uint8)
    coords = (np.arange(size) + 0.5) / size * 2 - 1
    gx, gy = np.meshgrid(coords, coords)  # H×W, y down
    for start in range(0, samples, chunk):
        lab = labels[start:start + chunk]
        n = len(lab)
        cx, cy = rng.uniform(-0.35, 0.35, (2, n, 1, 1))
        radius = rng.uniform(0.3, 0.6, (n, 1, 1))
        angle = rng.uniform(0, 2 * np.pi, (n, 1, 1))
        x, y = gx - cx, gy - cy
        xr = x * np.cos(angle) + y * np.sin(angle)
        yr = -x * np.sin(angle) + y * np.cos(angle)
        rho, phi = np.hypot(xr, yr), np.arctan2(yr, xr)
        masks = {
            0: rho <= radius,
            1: np.maximum(np.abs(xr), np.abs(yr)) <= radius * 0.8,
            # A regular triangle: the distance to its three sides, as a max over normals.
            2: np.max([xr * np.cos(a) + yr * np.sin(a) for a in
                       (np.pi / 2, np.pi / 2 + 2 * np.pi / 3, np.pi / 2 + 4 * np.pi / 3)],
                      axis=0) <= radius * 0.5,
            3: rho <= radius * (0.45 + 0.55 * (0.5 + 0.5 * np.cos(5 * phi))) ** 1.5,
        }
        inside = np.select([lab.reshape(-1, 1, 1) == k for k in range(classes)],
                           [masks[k] for k in range(classes)], False)
        background = rng.uniform(0, 120, (n, 3, 1, 1))
        colour = rng.uniform(90, 255, (n, 3, 1, 1))
        noise = rng.normal(0, 25, (n, 3, size, size))
        img = np.where(inside[:, None], colour, background) + noise
        images[start:start + n] = np.clip(img, 0, 255).astype(np.uint8)
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))
