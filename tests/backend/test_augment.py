"""Batch augmentation: per-image parameters, reproducibility, and the transforms' effects."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from engine.backend.augment import (
    AugmentConfig,
    Augmenter,
    affine_matrices,
    preview,
    sampling_grid,
)

LECTURE = AugmentConfig(enabled=True, rescale=1 / 255, rotation_range=40,
                        width_shift_range=0.2, height_shift_range=0.2, shear_range=0.2,
                        zoom_range=0.2)


def _batch(n=16, c=1, h=12, w=16):
    return torch.randint(0, 256, (n, c, h, w), generator=torch.Generator().manual_seed(0),
                         dtype=torch.uint8)


def test_each_image_draws_its_own_parameters_reproducibly():
    same = _batch(1).repeat(16, 1, 1, 1)
    out = Augmenter(LECTURE, seed=1)(same)
    assert len({tuple(o.flatten()[:50].tolist()) for o in out}) == 16
    torch.testing.assert_close(Augmenter(LECTURE, seed=1)(same), out, rtol=0, atol=0)
    assert not torch.equal(Augmenter(LECTURE, seed=2)(same), out)
    assert out.max() <= 1.0  # rescale applied


def test_validation_gets_only_the_rescale():
    x = _batch()
    torch.testing.assert_close(Augmenter(LECTURE).rescale(x), x.float() / 255)


def test_flips_are_exact_and_all_off_is_identity():
    x = _batch(32, 3)
    out = Augmenter(AugmentConfig(enabled=True, horizontal_flip=True, vertical_flip=True))(x)
    kinds = set()
    for i in range(32):
        for name, candidate in (("none", x[i]), ("h", x[i].flip(-1)), ("v", x[i].flip(-2)),
                                ("hv", x[i].flip(-1).flip(-2))):
            if torch.allclose(out[i], candidate.float(), atol=1e-3):
                kinds.add(name)
                break
        else:
            raise AssertionError(f"image {i} is not a flip of its input")
    assert kinds == {"none", "h", "v", "hv"}
    torch.testing.assert_close(Augmenter(AugmentConfig(enabled=False, rotation_range=40))(x),
                               x.float())


def test_grid_matches_affine_grid_and_shift_moves_pixels():
    cfg = AugmentConfig(enabled=True, rotation_range=30, shear_range=0.3, zoom_range=0.2,
                        width_shift_range=0.1, random_resized_crop=0.5, horizontal_flip=True)
    theta = affine_matrices(cfg, torch.rand(6, 19), 10, 14)
    torch.testing.assert_close(sampling_grid(theta, 10, 14),
                               F.affine_grid(theta, [6, 1, 10, 14], align_corners=False))
    r = torch.full((1, 19), 1.0)  # the largest shift of the range: +2 pixels
    theta = affine_matrices(AugmentConfig(width_shift_range=0.25), r, 8, 8)
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, :, 4] = 1.0
    out = F.grid_sample(x, sampling_grid(theta, 8, 8), align_corners=False)
    # Output pixels sample the input 2 pixels (a quarter of 8) further right.
    assert out[0, 0, :, 2].sum() == 8 and out.sum() == 8


def test_photometric_and_erasing():
    x = torch.full((64, 3, 8, 8), 100, dtype=torch.uint8)
    bright = Augmenter(AugmentConfig(enabled=True, brightness=0.5), seed=0)(x)
    means = bright.mean(dim=(1, 2, 3))
    assert means.min() >= 50 - 1e-3 and means.max() <= 150 + 1e-3 and means.std() > 10
    erased = Augmenter(AugmentConfig(enabled=True, random_erasing=1.0), seed=0)(x)
    zeros = (erased == 0).float().mean(dim=(1, 2, 3))
    assert (zeros > 0).all() and (zeros < 0.5).all() and zeros.std() > 0
    untouched = Augmenter(AugmentConfig(enabled=True, random_erasing=1e-9), seed=0)(x)
    torch.testing.assert_close(untouched, x.float())


def test_preview_keeps_type_and_is_seeded():
    images = _batch(4, 3).numpy()
    a = preview({"rotation_range": 30, "enabled": False}, images, seed=3)
    b = preview({"rotation_range": 30}, images, seed=3)
    assert isinstance(a, np.ndarray) and a.dtype == np.uint8 and a.shape == images.shape
    assert np.array_equal(a, b) and not np.array_equal(a, images)
    single = preview({"horizontal_flip": True}, torch.ones(1, 5, 5), seed=0)
    assert single.shape == (1, 5, 5) and single.dtype == torch.float32
