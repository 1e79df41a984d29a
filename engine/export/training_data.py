"""The data part of the generated training script: the sources Netdraft's trainer reads
(engine/backend/data.py), written with torch, numpy and Pillow only.

``shapes`` is a copy of engine.backend.images.shapes (tests check that both draw the same
images for the same seed); IDX files, class folders and train/ + val/ folders follow
engine.backend.images.idx_pairs and engine.backend.data.open_source.
"""

DATA_CODE = r'''
def fit_images(x, shape=INPUT_SHAPE, order=CHANNEL_ORDER):
    """N×C×H×W (or N×H×W) pixels converted to the Input's channels and size."""
    x = torch.as_tensor(x)
    if len(shape) != 3:
        return x.float().reshape(len(x), *shape)
    if x.dim() == 3:
        x = x.unsqueeze(1)
    if x.dim() == 4 and x.shape[1] not in (1, 3) and x.shape[-1] in (1, 3):
        x = x.permute(0, 3, 1, 2)
    channels, height, width = shape
    dtype = x.dtype
    x = x.float()
    if x.shape[1] == 3 and channels == 1:
        x = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    elif x.shape[1] == 1 and channels == 3:
        x = x.repeat(1, 3, 1, 1)
    if order == "BGR" and channels == 3:
        x = x.flip(1)
    if tuple(x.shape[-2:]) != (height, width):
        x = F.interpolate(x, size=(height, width), mode="bilinear", antialias=True)
    return x.round().clamp(0, 255).to(torch.uint8) if dtype == torch.uint8 else x


def load_source(spec):
    """((x, y), validation (x, y) or None, class names or None) from a dataset:

    'digits' (scikit-learn's), 'shapes' (generated as Netdraft generates them), an .npz
    (x and y, or x_train and y_train with x_test/y_test or x_val/y_val), MNIST IDX files (a
    folder of train-* and t10k-* files, an images file or a prefix; gzipped or raw), a CSV
    of path,label, a folder with one subfolder of images per class, or a folder holding
    train/ and val/ (or validation/ or test/) folders of class folders.
    """
    import numpy as np

    if spec == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        x = torch.as_tensor(digits.images, dtype=torch.float32).view(-1, 1, 8, 8) * 255 / 16
        x = F.pad(F.interpolate(x, size=(20, 20), mode="bicubic").clamp(0, 255), (4,) * 4)
        x = x.round().to(torch.uint8)
        return (x, torch.as_tensor(digits.target)), None, [str(i) for i in range(10)]
    if spec == "shapes":
        classes = DATA["classes"]
        return shapes(DATA["samples"], classes, DATA["seed"]), None, SHAPE_NAMES[:classes]
    path = Path(spec).expanduser()
    if path.suffix.lower() not in (".npz", ".csv") and (found := idx_files(path)):
        parts = {}
        for role, images, labels in found:
            parts.setdefault(role, (torch.as_tensor(read_idx(images)),
                                    torch.as_tensor(read_idx(labels)).long()))
        if "train" not in parts:
            raise SystemExit(f"{spec}: IDX files for validation (t10k-*) but none for "
                             "training (train-*)")
        return parts["train"], parts.get("val"), None
    if path.is_dir():
        subfolders = {p.name.lower(): p for p in class_folders(path)}
        val = subfolders.get("val") or subfolders.get("validation") or subfolders.get("test")
        train = subfolders.get("train")
        if train is not None and val is not None and class_folders(train):
            (x, y), names = read_folder(train)
            (val_x, val_y), val_names = read_folder(val)
            return (x, y), (val_x, align(val_y, val_names, names, val)), names
        train, names = read_folder(path)
        return train, None, names
    if path.suffix.lower() == ".npz" and path.is_file():
        with np.load(path) as data:
            names = [str(n) for n in data["class_names"]] if "class_names" in data else None
            if "x" in data:
                return (torch.as_tensor(data["x"]), _labels(data["y"])), None, names
            val = next(((torch.as_tensor(data[x]), _labels(data[y]))
                        for x, y in (("x_test", "y_test"), ("x_val", "y_val")) if x in data),
                       None)
            return (torch.as_tensor(data["x_train"]), _labels(data["y_train"])), val, names
    if path.suffix.lower() == ".csv" and path.is_file():
        return read_csv(path)
    raise SystemExit(f"{spec}: no such dataset. Use 'digits', 'shapes', an .npz, MNIST IDX "
                     "files, a .csv of path,label or a folder of class folders (--data)")


def _labels(y):
    y = torch.as_tensor(y)
    return (y.argmax(1) if y.dim() == 2 and y.shape[1] > 1 else y.flatten()).long()


def align(y, names, train_names, where):
    """Validation labels renumbered to follow the training data's class names."""
    if names is None or train_names is None or names == train_names:
        return y
    unknown = [name for name in names if name not in train_names]
    if unknown:
        raise SystemExit(f"{where}: classes {', '.join(unknown[:5])} are not in the "
                         f"training data (which has {', '.join(train_names[:10])})")
    return torch.tensor([train_names.index(name) for name in names])[y]


SHAPE_NAMES = ["circle", "square", "triangle", "star"]


def shapes(samples, classes, seed, size=64, chunk=1024):
    """Netdraft's generated coloured circles, squares, triangles and stars on noisy
    backgrounds: 3×size×size uint8, the same images for the same seed."""
    import numpy as np

    rng = np.random.default_rng(seed)
    labels = np.arange(samples) % classes
    rng.shuffle(labels)
    images = np.empty((samples, 3, size, size), dtype=np.uint8)
    coords = (np.arange(size) + 0.5) / size * 2 - 1
    gx, gy = np.meshgrid(coords, coords)
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
        masks = [
            rho <= radius,
            np.maximum(np.abs(xr), np.abs(yr)) <= radius * 0.8,
            np.max([xr * np.cos(a) + yr * np.sin(a) for a in
                    (np.pi / 2, np.pi / 2 + 2 * np.pi / 3, np.pi / 2 + 4 * np.pi / 3)],
                   axis=0) <= radius * 0.5,
            rho <= radius * (0.45 + 0.55 * (0.5 + 0.5 * np.cos(5 * phi))) ** 1.5,
        ]
        inside = np.select([lab.reshape(-1, 1, 1) == k for k in range(classes)],
                           masks[:classes], False)
        background = rng.uniform(0, 120, (n, 3, 1, 1))
        colour = rng.uniform(90, 255, (n, 3, 1, 1))
        noise = rng.normal(0, 25, (n, 3, size, size))
        img = np.where(inside[:, None], colour, background) + noise
        images[start:start + n] = np.clip(img, 0, 255).astype(np.uint8)
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))


def idx_files(path):
    """(role, images file, labels file) for a folder of MNIST IDX files (train-* for
    training, t10k-* or test-* for validation), an images file or a prefix."""
    if path.is_dir():
        found = sorted(path.glob("*images[-.]idx3*"))
    elif path.exists():
        found = [path]
    else:
        found = sorted(path.parent.glob(path.name + "*images[-.]idx3*"))[:1]
    out = []
    for images in found:
        name = images.name.replace("images-idx3", "labels-idx1")
        name = name.replace("images.idx3", "labels.idx1")
        labels = [images.with_name(n) for n in (name, name.removesuffix(".gz"), name + ".gz")
                  if images.with_name(n).exists()]
        if not labels:
            raise SystemExit(f"{images}: found the images but no labels file next to it "
                             f"(expected {images.with_name(name)})")
        test = path.is_dir() and images.name.startswith(("t10k", "test"))
        out.append(("val" if test else "train", images, labels[0]))
    return out


IDX_TYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """An IDX file (MNIST's format), gzipped or raw, as a NumPy array."""
    import gzip

    import numpy as np

    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in IDX_TYPES:
        raise SystemExit(f"{path}: not an IDX file (MNIST's format)")
    dims = np.frombuffer(data, ">u4", count=data[3], offset=4).tolist()
    body = np.frombuffer(data, IDX_TYPES[data[2]], offset=4 + 4 * data[3])
    if body.size != math.prod(dims):
        raise SystemExit(f"{path}: truncated: the header promises {dims}")
    return body.reshape(dims).astype(body.dtype.newbyteorder("="))


def class_folders(path):
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def read_folder(path):
    """((x, y), class names) from a folder with one subfolder of images per class."""
    names = [p.name for p in class_folders(path)]
    files = [(f, i) for i, name in enumerate(names) for f in sorted((path / name).rglob("*"))
             if f.is_file() and not f.name.startswith(".")]
    return _read_images(files), names


def read_csv(path):
    """Images listed in a CSV of path,label (paths relative to the CSV's folder)."""
    rows = [line.rsplit(",", 1) for line in path.read_text(encoding="utf-8-sig").splitlines()
            if line.strip()]
    if rows and rows[0][0].strip().lower() in ("path", "file", "filename", "image",
                                               "filepath", "image_path"):
        rows = rows[1:]
    labels = [label.strip() for _, label in rows]
    numbers = all(label.isdigit() for label in labels)
    names = None if numbers else sorted(set(labels))
    files = [(path.parent / file.strip(), int(label) if numbers else names.index(label))
             for (file, _), label in zip(rows, labels, strict=True)]
    return _read_images(files), None, names


def _read_images(files):
    from PIL import Image

    channels, height, width = INPUT_SHAPE
    mode = "L" if channels == 1 else "RGB"
    images, labels = [], []
    for file, label in files:
        try:
            with Image.open(file) as image:
                pixels = image.convert(mode).resize((width, height), Image.Resampling.BILINEAR)
        except OSError:
            continue  # not an image: skipped, as Netdraft skips it
        images.append(torch.frombuffer(bytearray(pixels.tobytes()), dtype=torch.uint8)
                      .view(height, width, channels).permute(2, 0, 1))
        labels.append(label)
    if not images:
        raise SystemExit(f"no images could be read (looked at {len(files)} files)")
    return torch.stack(images), torch.tensor(labels)
'''
