"""The Data panel's scan: the trainer's own split and counts, the data's native shape,
samples as the network sees them, unreadable files, imbalance, train/validation
duplicates, progress and cancelling."""

from __future__ import annotations

import gzip
import shutil
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from engine.backend.data import DataError, DataNotFound, Target, load_data
from engine.backend.data_scan import ScanCancelled, scan
from engine.settings import resolve


def settings(dataset, **extra):
    return resolve("data", {"dataset": str(dataset), "val_fraction": 0.0, **extra})


def _picture(path, seed, size=(20, 24), mode="RGB"):
    """A distinct random picture (H×W = size) saved in ``mode``."""
    pixels = np.random.default_rng(seed).integers(0, 255, (*size, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).convert(mode).save(path)


def _folder(root, counts, seed=0):
    for c, (name, count) in enumerate(counts.items()):
        for i in range(count):
            _picture(root / name / f"{i:03}.png", seed * 10_000 + c * 1000 + i)


def test_digits_counts_and_split_are_the_trainers():
    data_settings = settings("digits", val_fraction=0.2, seed=0)
    report = scan(data_settings, (1, 28, 28), "L", samples_per_class=3)
    trained = load_data(data_settings, Target((1, 28, 28), "L", 10, (), "in", "out"))
    assert report.class_names == [str(i) for i in range(10)] and report.named_classes
    assert (report.train_size, report.val_size) == (len(trained.train), len(trained.val))
    assert report.train_counts == torch.bincount(trained.train.y, minlength=10).tolist()
    assert report.val_counts == torch.bincount(trained.val.y, minlength=10).tolist()
    assert sum(report.train_counts) + sum(report.val_counts) == 1797
    assert report.native_shape == (1, 28, 28) and not report.native_shapes_vary
    assert report.description == ("digits: scikit-learn's handwritten digits, 1,797 images, "
                                  "10 classes")
    assert [s.label for s in report.samples] == [c for c in range(10) for _ in range(3)]
    first_zero = torch.nonzero(trained.train.y == 0).flatten()[0]
    sample = report.samples[0]
    assert sample.image.shape == (28, 28, 1) and sample.image.dtype == np.uint8
    assert np.array_equal(sample.image[..., 0], trained.train.x[first_zero, 0].numpy())
    assert {s.split for s in report.samples} == {"train"} and sample.path is None
    assert report.duplicates == 0 and report.duplicates_checked and report.warnings == []
    assert report.imbalance == max(report.train_counts) / min(report.train_counts)


def test_shapes_names_and_native_shape():
    report = scan(settings("shapes", classes=3, samples=60), (3, 16, 16))
    assert report.class_names == ["circle", "square", "triangle"]
    assert report.native_shape == (3, 64, 64)
    assert report.samples[0].image.shape == (16, 16, 3) and len(report.samples) == 12


def test_image_folder_imbalance_and_unreadable_files(tmp_path):
    _folder(tmp_path, {"bird": 5, "cat": 12, "dog": 3})
    for name in ("broken1.png", "broken2.png"):
        (tmp_path / "bird" / name).write_bytes(np.random.default_rng(1).bytes(300))
    report = scan(settings(tmp_path), (3, 10, 12))
    assert report.class_names == ["bird", "cat", "dog"]
    assert report.train_counts == [5, 12, 3] and report.train_size == 20
    assert sorted(f for f, _ in report.unreadable) == [
        str(tmp_path / "bird" / "broken1.png"), str(tmp_path / "bird" / "broken2.png")]
    assert report.native_shape == (3, 20, 24) and not report.native_shapes_vary
    assert report.samples[0].path == str(tmp_path / "bird" / "000.png")
    assert report.samples[0].image.shape == (10, 12, 3)
    assert report.imbalance == 4.0
    assert report.warnings[0] == ("strong class imbalance: 'cat' has 12 training images "
                                  "and 'dog' 3 (4.0×); consider collecting more or "
                                  "weighting")
    assert report.warnings[1].startswith("2 unreadable files skipped (e.g. bird/broken")


def test_balanced_folder_has_no_imbalance_warning(tmp_path):
    _folder(tmp_path, {"bird": 5, "cat": 6})
    report = scan(settings(tmp_path), (1, 8, 8))
    assert report.warnings == [] and report.imbalance == 1.2


@pytest.mark.parametrize("cache", ["memory", "stream"])
def test_an_image_in_train_and_val_is_a_duplicate(tmp_path, cache):
    _folder(tmp_path / "train", {"a": 4, "b": 4})
    _folder(tmp_path / "val", {"a": 2, "b": 2}, seed=1)
    shutil.copy(tmp_path / "train" / "b" / "001.png", tmp_path / "val" / "b" / "copy.png")
    (tmp_path / "val" / "a" / "bad.png").write_bytes(b"not an image")
    calls = []
    report = scan(settings(tmp_path, cache=cache), (3, 8, 8),
                  progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (14, 14)  # train/ then val/: one count over both folders
    assert [done for done, _ in calls] == sorted({done for done, _ in calls})
    assert report.streamed == (cache == "stream")
    assert (report.train_size, report.val_counts) == (8, [2, 3] if cache == "memory"
                                                      else [3, 3])
    assert report.duplicates == 1 and report.duplicate_examples == [
        (str(tmp_path / "train" / "b" / "001.png"), str(tmp_path / "val" / "b" / "copy.png"))]
    assert report.unreadable[0][0] == str(tmp_path / "val" / "a" / "bad.png")
    assert ("1 validation image is identical to training images (e.g. b/copy.png and "
            "b/001.png): validation accuracy will be optimistic") in report.warnings


def test_too_many_streamed_files_skip_the_duplicate_check_and_say_so(tmp_path, monkeypatch):
    _folder(tmp_path / "train", {"a": 4, "b": 4})
    _folder(tmp_path / "val", {"a": 2, "b": 2})  # the same pictures as train's first two
    monkeypatch.setattr("engine.backend.data_scan.STREAM_CHECK_LIMIT", 11)
    report = scan(settings(tmp_path, cache="stream"), (3, 8, 8))
    assert not report.duplicates_checked and report.duplicates == 0
    assert any("would decode 12 streamed files (at most 11)" in n for n in report.notes)
    assert len(report.samples) == 8 and report.samples[0].image.shape == (8, 8, 3)
    monkeypatch.setattr("engine.backend.data_scan.STREAM_CHECK_LIMIT", 12)
    assert scan(settings(tmp_path, cache="stream"), (3, 8, 8)).duplicates == 4


def test_native_channels_follow_the_files(tmp_path):
    for mode, channels in (("L", 1), ("RGBA", 4), ("RGB", 3)):
        for i in range(3):
            _picture(tmp_path / mode / "x" / f"{i}.png", i, size=(9, 7), mode=mode)
            _picture(tmp_path / mode / "y" / f"{i}.png", i + 5, size=(9, 7), mode=mode)
        report = scan(settings(tmp_path / mode), (3, 8, 8))
        assert report.native_shape == (channels, 9, 7) and not report.native_shapes_vary
    _picture(tmp_path / "RGB" / "y" / "other.png", 9, size=(30, 30), mode="L")
    report = scan(settings(tmp_path / "RGB"), (3, 8, 8))
    assert report.native_shape == (3, 9, 7) and report.native_shapes_vary


def test_progress_counts_up_to_the_total_and_cancel_stops_early(tmp_path):
    _folder(tmp_path, {"a": 130, "b": 120})
    calls = []
    scan(settings(tmp_path), (1, 8, 8), progress=lambda done, total: calls.append((done,
                                                                                    total)))
    assert [done for done, _ in calls] == sorted({done for done, _ in calls})
    assert len(calls) >= 2 and calls[-1] == (250, 250)
    calls.clear()
    with pytest.raises(ScanCancelled):
        scan(settings(tmp_path), (1, 8, 8),
             progress=lambda done, total: calls.append(done), cancelled=lambda: bool(calls))
    assert calls and max(calls) < 250


def test_cancelled_before_the_start_reads_nothing(tmp_path):
    with pytest.raises(ScanCancelled):
        scan(settings(tmp_path / "absent"), (1, 8, 8), cancelled=lambda: True)


def test_npz_native_shape_and_float_samples(tmp_path):
    x = np.random.default_rng(0).integers(0, 255, (12, 10, 14, 3), dtype=np.uint8)
    np.savez(tmp_path / "hwc.npz", x=x, y=np.arange(12) % 3)
    report = scan(settings(tmp_path / "hwc.npz"), (1, 8, 8), samples_per_class=2)
    assert report.native_shape == (3, 10, 14) and not report.named_classes
    assert [s.image.shape for s in report.samples] == [(8, 8, 1)] * 6
    floats = np.random.default_rng(1).uniform(-1, 1, (12, 10, 14)).astype(np.float32)
    np.savez(tmp_path / "float.npz", x=floats, y=np.arange(12) % 3)
    report = scan(settings(tmp_path / "float.npz"), (1, 10, 14), samples_per_class=12)
    pixels = np.stack([s.image for s in report.samples])
    assert report.native_shape == (1, 10, 14) and pixels.dtype == np.uint8
    assert pixels.min() == 0 and pixels.max() == 255  # the data's own range fills 0..255


def test_classes_without_training_images_are_warned_and_shown_from_validation(tmp_path):
    x = np.random.default_rng(0).integers(0, 255, (9, 6, 6), dtype=np.uint8)
    np.savez(tmp_path / "parts.npz", x_train=x[:6], y_train=np.arange(6) % 2,
             x_test=x[6:], y_test=np.array([0, 3, 3]))
    report = scan(settings(tmp_path / "parts.npz"), (1, 6, 6), samples_per_class=2)
    assert report.class_names == ["0", "1", "2", "3"]
    assert (report.train_counts, report.val_counts) == ([3, 3, 0, 0], [1, 0, 0, 2])
    assert report.warnings == ["no training images for classes '2', '3': the network "
                               "cannot learn them"]
    assert [(s.label, s.split) for s in report.samples] == [
        (0, "train"), (0, "train"), (1, "train"), (1, "train"), (3, "val"), (3, "val")]
    assert np.array_equal(report.samples[-1].image[..., 0], x[8])


def test_idx_native_shape_from_the_header(tmp_path):
    images = np.random.default_rng(0).integers(0, 255, (20, 12, 9), dtype=np.uint8)
    for name, array in (("train-images-idx3-ubyte.gz", images),
                        ("train-labels-idx1-ubyte.gz", np.arange(20, dtype=np.uint8) % 4)):
        header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
        header += struct.pack(f">{array.ndim}I", *array.shape)
        (tmp_path / name).write_bytes(gzip.compress(header + array.tobytes()))
    report = scan(settings(tmp_path), (108,))
    assert report.native_shape == (1, 12, 9) and report.class_names == list("0123")
    assert report.samples[0].image.shape == (12, 9, 1)  # a vector Input's sample, shown


def test_more_classes_than_an_output_are_reported_not_refused(tmp_path):
    _folder(tmp_path, {name: 2 for name in "abcde"})
    with pytest.raises(DataError, match="the data has 5 classes"):
        load_data(settings(tmp_path), Target((3, 8, 8), "RGB", 2, (), "in", "out"))
    report = scan(settings(tmp_path), (3, 8, 8))
    assert report.class_names == list("abcde") and report.train_counts == [2] * 5


def test_missing_data_passes_the_trainers_error_through(tmp_path):
    with pytest.raises(DataNotFound, match="no such dataset"):
        scan(settings(tmp_path / "absent"), (1, 8, 8))
    _folder(tmp_path, {"a": 1})
    with pytest.raises(DataError, match="Input 'Input' takes 2 channels"):
        scan(settings(tmp_path), (2, 8, 8))
