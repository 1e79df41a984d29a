"""Batch augmentation: per-image parameters, reproducibility, and the transforms' effects."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from engine.backend import augment
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


# --- Each transform's effect, with the per-image draw chosen (through affine_matrices) or
# recomputed from the Augmenter's seed (the draw is torch.rand(N, 19) from its generator).

def _draw(n=1, **columns):
    """A draw with every column at the middle of its range except those given."""
    r = torch.full((n, augment._COLUMNS), 0.5)
    for name, value in columns.items():
        r[:, getattr(augment, name)] = value
    return r


def _seeded_draw(n, seed):
    return torch.rand(n, augment._COLUMNS, generator=torch.Generator().manual_seed(seed))


def _warp(cfg, r, x):
    """What the Augmenter does with a geometric config and the draw r."""
    _, _, h, w = x.shape
    grid = sampling_grid(affine_matrices(cfg, r, h, w), h, w)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _coordinates(h, w):
    """A 2-channel image of each pixel's own column and row: bilinear sampling of a linear
    function is exact, so a warped copy says which input point each output pixel reads."""
    rows, cols = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                                torch.arange(w, dtype=torch.float32), indexing="ij")
    return torch.stack((cols, rows)).unsqueeze(0)


def test_augmenter_applies_its_seeded_draw_through_the_composed_matrix():
    cfg = AugmentConfig(enabled=True, rotation_range=30, width_shift_range=0.1,
                        height_shift_range=0.1, shear_range=0.2, zoom_range=0.2,
                        horizontal_flip=True, vertical_flip=True, random_resized_crop=0.5)
    x = _batch(8, 2).float()
    expected = _warp(cfg, _seeded_draw(8, 5), x)
    torch.testing.assert_close(Augmenter(cfg, seed=5)(x), expected, rtol=0, atol=1e-4)


def test_rotation_by_90_degrees_is_rot90():
    x = torch.rand(2, 3, 9, 9, generator=torch.Generator().manual_seed(0))
    cfg = AugmentConfig(rotation_range=90)
    torch.testing.assert_close(_warp(cfg, _draw(2, _ROT=1.0), x),      # +90°
                               torch.rot90(x, 1, (-2, -1)), rtol=0, atol=1e-5)
    torch.testing.assert_close(_warp(cfg, _draw(2, _ROT=0.0), x),      # -90°
                               torch.rot90(x, -1, (-2, -1)), rtol=0, atol=1e-5)
    torch.testing.assert_close(_warp(cfg, _draw(2, _ROT=0.5), x), x, rtol=0, atol=1e-5)


def test_shift_moves_an_impulse_by_the_drawn_number_of_pixels():
    x = torch.zeros(1, 1, 8, 16)
    x[0, 0, 4, 6] = 1.0
    cfg = AugmentConfig(width_shift_range=0.25, height_shift_range=0.25)
    # The range's ends: 0.25 of the width is 4 pixels, of the height 2; the content moves
    # the other way from the sampling offset.
    out = _warp(cfg, _draw(_SHIFT_X=0.0, _SHIFT_Y=1.0), x)
    assert out.sum() == 1 and out[0, 0, 2, 10] == 1
    out = _warp(cfg, _draw(_SHIFT_X=0.75, _SHIFT_Y=0.25), x)  # -2 and +1 pixels
    assert out.sum() == 1 and out[0, 0, 5, 4] == 1


def test_shear_maps_pixels_by_the_shear_matrix_in_pixel_units():
    s = math.pi / 6  # radians (Keras's shear_range is in degrees)
    cfg = AugmentConfig(shear_range=s)
    h, w = 9, 15     # not square: the shear is in pixels, not normalized units
    out = _warp(cfg, _draw(_SHEAR=1.0), _coordinates(h, w))[0]
    rows = torch.arange(h, dtype=torch.float32).view(h, 1) - (h - 1) / 2
    cols = torch.arange(w, dtype=torch.float32) - (w - 1) / 2
    # Output pixel (x, y) about the centre reads input (x - sin(s)·y, cos(s)·y).
    want_x = (cols - math.sin(s) * rows) + (w - 1) / 2
    want_y = (math.cos(s) * rows).expand(h, w) + (h - 1) / 2
    inside = (want_x >= 0) & (want_x <= w - 1)  # elsewhere the border is repeated
    assert inside.float().mean() > 0.8
    torch.testing.assert_close(out[0][inside], want_x[inside], rtol=0, atol=1e-4)
    torch.testing.assert_close(out[1], want_y, rtol=0, atol=1e-4)
    # So a vertical line leans: each row's centre of mass moves sin(s) = 0.5 pixel per row.
    line = torch.zeros(1, 1, h, w)
    line[..., 7] = 1.0
    leaned = _warp(cfg, _draw(_SHEAR=1.0), line)[0, 0]
    centre = (leaned * torch.arange(w)).sum(1) / leaned.sum(1)
    torch.testing.assert_close(centre, 7 + 0.5 * rows.flatten(), rtol=0, atol=1e-4)


def test_zoom_in_by_two_maps_the_central_half_onto_the_whole_image():
    x = torch.rand(1, 2, 16, 16, generator=torch.Generator().manual_seed(1))
    out = _warp(AugmentConfig(zoom_range=0.5), _draw(_ZOOM_X=0.0, _ZOOM_Y=0.0), x)
    centre = F.interpolate(x[..., 4:12, 4:12], scale_factor=2, mode="bilinear",
                           align_corners=False)
    # Equal but for the outermost ring, where the upscaled crop repeats its own edge and
    # the zoom reads the neighbouring pixel outside the central half.
    torch.testing.assert_close(out[..., 1:-1, 1:-1], centre[..., 1:-1, 1:-1], rtol=0,
                               atol=1e-5)
    # Width and height draw their own factors: zoom out by 1.5 across, in by 2 down.
    coords = _warp(AugmentConfig(zoom_range=0.5), _draw(_ZOOM_X=1.0, _ZOOM_Y=0.0),
                   _coordinates(16, 16))[0]
    torch.testing.assert_close(coords[1, :, 0], (torch.arange(16.0) - 7.5) / 2 + 7.5)
    torch.testing.assert_close(coords[0, 0, 5:11], (torch.arange(5.0, 11) - 7.5) * 1.5 + 7.5)


def test_random_resized_crop_takes_the_drawn_window():
    x = torch.rand(1, 3, 8, 16, generator=torch.Generator().manual_seed(2))
    cfg = AugmentConfig(random_resized_crop=0.25)
    # The smallest area (a quarter), aspect ratio 1 (log-uniform, so the middle draw) and
    # the window pushed right and up: the top-right quadrant, rows 0-3 and columns 8-15.
    out = _warp(cfg, _draw(_CROP_AREA=0.0, _CROP_RATIO=0.5, _CROP_X=1.0, _CROP_Y=0.0), x)
    window = F.interpolate(x[..., :4, 8:], size=(8, 16), mode="bilinear",
                           align_corners=False)
    torch.testing.assert_close(out[..., 1:-1, 1:-1], window[..., 1:-1, 1:-1], rtol=0,
                               atol=1e-5)
    # Ratio 4/3, the range's top, relative to the image's own shape: a quarter of the area
    # as sqrt(1/3) of the width by sqrt(3/16) of the height, read a step apart per pixel.
    coords = _warp(cfg, _draw(_CROP_AREA=0.0, _CROP_RATIO=1.0), _coordinates(8, 16))[0]
    torch.testing.assert_close(coords[0, 4].diff(), torch.full((15,), (1 / 3) ** 0.5))
    torch.testing.assert_close(coords[1, :, 8].diff(), torch.full((7,), (3 / 16) ** 0.5))
    # The whole area at ratio 1 is the image itself.
    torch.testing.assert_close(_warp(cfg, _draw(_CROP_AREA=1.0, _CROP_RATIO=0.5), x), x,
                               rtol=0, atol=1e-5)


def test_each_image_is_flipped_when_its_draw_says_so():
    x = _batch(64, 1, 6, 6).float()
    r = _seeded_draw(64, 3)
    out = Augmenter(AugmentConfig(enabled=True, horizontal_flip=True), seed=3)(x)
    flip = r[:, augment._HFLIP] < 0.5
    assert 16 < flip.sum() < 48
    torch.testing.assert_close(out[flip], x[flip].flip(-1), rtol=0, atol=1e-4)
    torch.testing.assert_close(out[~flip], x[~flip], rtol=0, atol=1e-4)
    out = Augmenter(AugmentConfig(enabled=True, vertical_flip=True), seed=3)(x)
    flip = r[:, augment._VFLIP] < 0.5
    torch.testing.assert_close(out[flip], x[flip].flip(-2), rtol=0, atol=1e-4)
    torch.testing.assert_close(out[~flip], x[~flip], rtol=0, atol=1e-4)


def test_brightness_scales_each_image_by_its_drawn_factor_and_clamps():
    x = _batch(32, 3).float() * 0.5      # at most 127.5: no clamping at 1.5×
    out = Augmenter(AugmentConfig(enabled=True, brightness=0.5), seed=4)(x)
    factor = 0.5 + _seeded_draw(32, 4)[:, augment._BRIGHT]   # uniform in [0.5, 1.5]
    torch.testing.assert_close(out, x * factor.view(-1, 1, 1, 1))
    bright = Augmenter(AugmentConfig(enabled=True, brightness=0.5), seed=4)(
        torch.full((32, 1, 2, 2), 200.0))
    torch.testing.assert_close(bright[:, 0, 0, 0], (200 * factor).clamp(max=255))


def test_contrast_keeps_each_mean_and_scales_the_deviation():
    x = torch.randint(64, 193, (32, 3, 8, 8), generator=torch.Generator().manual_seed(0))
    x = x.float()                        # deviations at most 1.5 × 128: no clamping
    out = Augmenter(AugmentConfig(enabled=True, contrast=0.5), seed=6)(x)
    factor = 0.5 + _seeded_draw(32, 6)[:, augment._CONTRAST]
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    torch.testing.assert_close(out.mean(dim=(1, 2, 3), keepdim=True), mean)
    torch.testing.assert_close(out - mean, (x - mean) * factor.view(-1, 1, 1, 1),
                               rtol=1e-5, atol=1e-3)


def test_random_erasing_zeroes_one_rectangle_of_the_drawn_area():
    n, h, w = 200, 40, 40
    x = torch.full((n, 2, h, w), 100.0)
    p = 0.7
    out = Augmenter(AugmentConfig(enabled=True, random_erasing=p), seed=7)(x)
    r = _seeded_draw(n, 7)
    assert ((out == 0) | (out == 100)).all()
    zero = out[:, 0] == 0
    assert torch.equal(zero, out[:, 1] == 0)   # every channel, the same rectangle
    erased = zero.flatten(1).any(1)
    assert torch.equal(erased, r[:, augment._ERASE] < p)
    fractions, ratios = [], []
    for i in erased.nonzero().flatten().tolist():
        ys, xs = zero[i].nonzero(as_tuple=True)
        eh, ew = int(ys.max() - ys.min() + 1), int(xs.max() - xs.min() + 1)
        assert len(ys) == eh * ew, f"image {i}: the zeros are not one rectangle"
        area = (augment.ERASE_AREA[0] + (augment.ERASE_AREA[1] - augment.ERASE_AREA[0])
                * r[i, augment._ERASE_AREA].item()) * h * w
        # Sides are rounded to whole pixels (off by at most half a pixel each) and cut
        # to the image's.
        if eh < h and ew < w:
            assert abs(eh * ew - area) <= (eh + ew) / 2 + 1, (i, eh, ew, area)
        fractions.append(eh * ew / (h * w))
        ratios.append(eh / ew)
    assert 0.018 <= min(fractions) < 0.05 and 0.25 < max(fractions) <= 0.34
    assert min(ratios) >= 0.3 * 0.8 and max(ratios) <= 3.3 * 1.2
    assert min(ratios) < 0.5 and max(ratios) > 2
