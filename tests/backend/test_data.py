"""Data sources, conversion to the Input, the split, bad files and refusals."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from engine.backend.batching import batches
from engine.backend.data import (
    DataError,
    DataNotFound,
    Target,
    load_data,
    stratified_split,
)
from engine.backend.images import shapes

GRAY_28 = Target((1, 28, 28), "L", 10, (), "in", "out")
RGB_16 = Target((3, 16, 16), "RGB", 3, (), "in", "out")


def settings(dataset, **extra):
    return {"dataset": dataset, "val_fraction": 0.0, "val_dataset": "", "seed": 0,
            "samples": 200, "classes": 4, "cache": "auto", "workers": 0, **extra}


def test_digits_fill_the_input_and_split_by_class():
    lenet = Target((1, 32, 32), "L", 10, (), "In", "output")
    data = load_data(settings("digits", val_fraction=0.2), lenet)
    assert data.train.x.shape[1:] == (1, 32, 32) and data.train.x.dtype == torch.uint8
    assert len(data.train) + len(data.val) == 1797
    assert data.class_names == [str(i) for i in range(10)]
    counts = torch.bincount(data.val.y, minlength=10)
    assert counts.min() >= 34  # stratified: every class gives its fifth
    rgb = load_data(settings("digits"), Target((3, 28, 28), "RGB", 10, (), "in", "out"))
    assert rgb.train.x.shape[1:] == (3, 28, 28)


def test_shapes_are_seeded_and_configurable():
    a, ya = shapes(40, 3, seed=5)
    b, yb = shapes(40, 3, seed=5)
    c, _ = shapes(40, 3, seed=6)
    assert a.shape == (40, 3, 64, 64) and torch.equal(a, b) and torch.equal(ya, yb)
    assert not torch.equal(a, c) and set(ya.tolist()) == {0, 1, 2}
    data = load_data(settings("shapes", classes=3, samples=60), RGB_16)
    assert data.class_names == ["circle", "square", "triangle"]
    assert data.train.x.shape == (60, 3, 16, 16)


def _write_images(root):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)
    (root / "cat").mkdir(parents=True)
    (root / "dog").mkdir()
    Image.fromarray(pixels).save(root / "cat" / "a.png")
    Image.fromarray(pixels[..., 0]).save(root / "cat" / "b.jpg")        # grayscale
    Image.fromarray(pixels).convert("RGBA").save(root / "dog" / "c.webp")
    Image.fromarray(pixels).save(root / "dog" / "d.bmp")
    good = root / "dog" / "e.png"
    Image.fromarray(pixels).save(good)
    (root / "dog" / "truncated.png").write_bytes(good.read_bytes()[:100])
    (root / "dog" / "garbage.jpg").write_bytes(b"not an image at all")
    (root / "dog" / "notes.txt").write_text("ignored")


def test_image_folder_converts_and_skips_bad_files(tmp_path):
    _write_images(tmp_path / "data")
    target = Target((1, 10, 12), "L", 2, (), "in", "out")
    data = load_data(settings(str(tmp_path / "data")), target)
    assert data.class_names == ["cat", "dog"]
    assert data.train.x.shape == (5, 1, 10, 12)
    assert data.train.y.tolist() == [0, 0, 1, 1, 1]
    assert len(data.skipped) == 2 and data.report()["skipped"] == 2
    assert any("skipped 2 unreadable" in n for n in data.notes)
    streamed = load_data(settings(str(tmp_path / "data"), cache="stream"), target)
    assert streamed.train.streamed
    got = list(batches(streamed.train, torch.arange(7), 4, torch.device("cpu"), target))
    assert sum(len(x) for x, _, _ in got) == 5
    assert sum(len(bad) for _, _, bad in got) == 2
    assert torch.equal(torch.cat([x for x, _, _ in got]), data.train.x)


def test_train_and_val_folders_align_class_names(tmp_path):
    _write_images(tmp_path / "d" / "train")
    _write_images(tmp_path / "d" / "val")
    (tmp_path / "d" / "val" / "cat" / "a.png").unlink()
    data = load_data(settings(str(tmp_path / "d")), RGB_16)
    assert len(data.train) == 5 and len(data.val) == 4
    extra = tmp_path / "v2"
    _write_images(extra)
    (extra / "cow").mkdir()
    Image.new("RGB", (4, 4)).save(extra / "cow" / "x.png")
    with pytest.raises(DataError, match="cow are not in the training data"):
        load_data(settings(str(tmp_path / "d" / "train"), val_dataset=str(extra)), RGB_16)


def test_csv_of_paths_and_names(tmp_path):
    _write_images(tmp_path)
    (tmp_path / "list.csv").write_text("path,label\ncat/a.png,cat\ndog/d.bmp,dog\n"
                                       "dog/e.png,dog\n")
    data = load_data(settings(str(tmp_path / "list.csv")), RGB_16)
    assert data.class_names == ["cat", "dog"] and data.train.y.tolist() == [0, 1, 1]


def _idx(path, array, gz):
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape)
    body = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(body) if gz else body)


def test_mnist_idx_folder_gz_and_raw(tmp_path):
    images = np.random.default_rng(0).integers(0, 255, (30, 28, 28))
    labels = np.arange(30) % 10
    _idx(tmp_path / "train-images-idx3-ubyte.gz", images, gz=True)
    _idx(tmp_path / "train-labels-idx1-ubyte.gz", labels, gz=True)
    _idx(tmp_path / "t10k-images-idx3-ubyte", images[:10], gz=False)
    _idx(tmp_path / "t10k-labels-idx1-ubyte", labels[:10], gz=False)
    data = load_data(settings(str(tmp_path)), GRAY_28)
    assert len(data.train) == 30 and len(data.val) == 10
    assert torch.equal(data.train.x[:, 0], torch.as_tensor(images, dtype=torch.uint8))
    one = load_data(settings(str(tmp_path / "t10k-images-idx3-ubyte")), GRAY_28)
    assert len(one.train) == 10


def test_npz_shapes_are_refused_with_both_shapes(tmp_path):
    np.savez(tmp_path / "v.npz", x=np.zeros((8, 5), np.float32), y=np.arange(8) % 2)
    vector = Target((7,), "RGB", 2, (), "in", "out")
    with pytest.raises(DataError,
                       match=r"samples of shape 5 cannot feed the Input 'in' of shape 7"):
        load_data(settings(str(tmp_path / "v.npz")), vector)
    ok = load_data(settings(str(tmp_path / "v.npz")), Target((5,), "RGB", 2, (), "in", "out"))
    assert ok.train.x.dtype == torch.float32 and ok.train.x.shape == (8, 5)
    np.savez(tmp_path / "hwc.npz", x_train=np.zeros((6, 9, 9, 3), np.uint8),
             y_train=np.arange(6) % 3, x_test=np.zeros((2, 9, 9, 3), np.uint8),
             y_test=np.arange(2))
    data = load_data(settings(str(tmp_path / "hwc.npz")), RGB_16)
    assert data.train.x.shape == (6, 3, 16, 16) and len(data.val) == 2


@pytest.mark.parametrize("channels", [2, 4])
@pytest.mark.parametrize("listing", ["folder", "csv", "streamed folder"])
def test_image_files_for_an_input_they_cannot_fill_are_refused_before_reading(
        tmp_path, monkeypatch, channels, listing):
    _write_images(tmp_path / "data")
    spec = tmp_path / "data"
    if listing == "csv":
        spec = tmp_path / "data" / "list.csv"
        spec.write_text("cat/a.png,cat\ndog/d.bmp,dog\n")

    def never(*args, **kwargs):
        raise AssertionError("no file should be decoded")

    monkeypatch.setattr("engine.backend.images.decode_many", never)
    monkeypatch.setattr("engine.backend.images.decode_image", never)
    target = Target((channels, 16, 16), "RGB", 2, (), "in", "out")
    cache = "stream" if listing == "streamed folder" else "auto"
    with pytest.raises(DataError) as refused:
        load_data(settings(str(spec), cache=cache), target)
    assert str(refused.value) == (
        f"{spec}: Input 'in' takes {channels} channels; images decode to 1 (grayscale) or 3 "
        f"(RGB) — set the Input's channels to 1 or 3")


@pytest.mark.parametrize("x,channels,words", [
    (np.zeros((4, 9, 9, 3), np.uint8), 4, "the images have 3 channels and the Input 'in' "
     "takes 4; they convert to 1 (grayscale) or 3 (RGB) channels — set the Input's channels "
     "to 1 or 3"),
    (np.zeros((4, 9, 9), np.uint8), 2, "the images have 1 channel and the Input 'in' takes "
     "2; they convert to 1 (grayscale) or 3 (RGB) channels — set the Input's channels to 1 "
     "or 3"),
    (np.zeros((4, 4, 9, 9), np.uint8), 5, "the images have 4 channels and the Input 'in' "
     "takes 5; they convert to 1 (grayscale) or 3 (RGB) channels or keep their 4 — set the "
     "Input's channels to 1, 3 or 4"),
])
def test_npz_channels_that_cannot_convert_name_the_file_and_the_input(tmp_path, x, channels,
                                                                      words):
    np.savez(tmp_path / "c.npz", x=x, y=np.arange(len(x)) % 2)
    target = Target((channels, 16, 16), "RGB", 2, (), "in", "out")
    with pytest.raises(DataError) as refused:
        load_data(settings(str(tmp_path / "c.npz")), target)
    assert str(refused.value) == f"{tmp_path / 'c.npz'}: {words}"


@pytest.mark.parametrize("channels", [2, 4])
def test_npz_with_the_inputs_own_channel_count_keeps_its_channels(tmp_path, channels):
    # Not RGBA composited over white: 4 bands (e.g. RGB and infrared) stay 4 bands.
    x = np.random.default_rng(0).integers(0, 256, (6, 16, 16, channels), dtype=np.uint8)
    np.savez(tmp_path / "bands.npz", x=x, y=np.arange(6) % 2)
    target = Target((channels, 16, 16), "RGB", 2, (), "in", "out")
    data = load_data(settings(str(tmp_path / "bands.npz")), target)
    assert torch.equal(data.train.x, torch.from_numpy(x).permute(0, 3, 1, 2))


def test_too_many_classes_are_refused_naming_both(tmp_path):
    np.savez(tmp_path / "c.npz", x=np.zeros((12, 28, 28), np.uint8), y=np.arange(12))
    with pytest.raises(DataError, match=r"12 classes .* Output 'out' has 10: set its classes"):
        load_data(settings(str(tmp_path / "c.npz")), GRAY_28)


def test_missing_dataset_says_what_it_reads(tmp_path):
    with pytest.raises(DataNotFound, match="no such dataset.*digits"):
        load_data(settings(str(tmp_path / "nope")), GRAY_28)


def test_split_is_seeded_and_disjoint():
    y = torch.arange(100) % 4
    a_train, a_val = stratified_split(y, 0.2, seed=3)
    b_train, b_val = stratified_split(y, 0.2, seed=3)
    _, c_val = stratified_split(y, 0.2, seed=4)
    assert np.array_equal(a_val, b_val) and not np.array_equal(a_val, c_val)
    assert len(a_val) == 20 and not set(a_train) & set(a_val)


def test_a_damaged_npz_is_a_data_error_naming_the_file(tmp_path):
    """Not a zip, and a zip cut short: both name the file instead of an internal error."""
    import numpy as np

    from engine.backend.data import DataError, Target, load_data

    target = Target((1, 8, 8), "RGB", 2, (), "in", "out")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"PK\x03\x04 truncated")
    whole = tmp_path / "whole.npz"
    np.savez(whole, x=np.zeros((20, 8, 8), np.uint8), y=np.arange(20) % 2)
    cut = tmp_path / "cut.npz"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    for path in (garbage, cut):
        with pytest.raises(DataError, match=path.name):
            load_data({"dataset": str(path), "val_fraction": 0.2, "seed": 0}, target)
