"""Data augmentation for whole batches on the training device.

The lecture's ImageDataGenerator set — rescale, rotation, width/height shift, shear, zoom,
horizontal flip — plus vertical flip, brightness/contrast, random resized crop and random
erasing. Every image draws its own parameters from one seeded generator; the geometric ones
are composed into one 2×3 matrix per image and applied by a single affine_grid/grid_sample
call, so a batch costs a few tensor operations and no Python loop over images (measured in
benchmarks/augment.py). Validation batches only get ``rescale``, as in Keras.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F

# Columns of the per-image random draw; a fixed layout keeps runs reproducible whichever
# transforms are switched on.
(_ROT, _SHIFT_X, _SHIFT_Y, _SHEAR, _ZOOM_X, _ZOOM_Y, _HFLIP, _VFLIP, _BRIGHT, _CONTRAST,
 _CROP_AREA, _CROP_RATIO, _CROP_X, _CROP_Y, _ERASE, _ERASE_AREA, _ERASE_RATIO, _ERASE_X,
 _ERASE_Y) = range(19)
_COLUMNS = 19
ERASE_AREA = (0.02, 0.33)       # torchvision RandomErasing's defaults
ERASE_RATIO = (0.3, 3.3)
CROP_RATIO = (3 / 4, 4 / 3)     # torchvision RandomResizedCrop's default


@dataclass(frozen=True)
class AugmentConfig:
    """The augmentation settings section (engine/settings.py) as typed values."""

    enabled: bool = False
    rescale: float = 1.0
    rotation_range: float = 0.0
    width_shift_range: float = 0.0
    height_shift_range: float = 0.0
    shear_range: float = 0.0
    zoom_range: float = 0.0
    horizontal_flip: bool = False
    vertical_flip: bool = False
    brightness: float = 0.0
    contrast: float = 0.0
    random_resized_crop: float = 0.0
    random_erasing: float = 0.0

    @classmethod
    def from_settings(cls, values: Mapping[str, Any]) -> AugmentConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    @property
    def geometric(self) -> bool:
        return bool(self.rotation_range or self.width_shift_range or self.height_shift_range
                    or self.shear_range or self.zoom_range or self.horizontal_flip
                    or self.vertical_flip or self.random_resized_crop)

    @property
    def photometric(self) -> bool:
        return bool(self.brightness or self.contrast)

    @property
    def active(self) -> bool:
        return self.enabled and (self.geometric or self.photometric
                                 or self.random_erasing > 0)


def _uniform(u: torch.Tensor, low: float, high: float) -> torch.Tensor:
    return low + (high - low) * u


def affine_matrices(cfg: AugmentConfig, r: torch.Tensor, height: int,
                    width: int) -> torch.Tensor:
    """N×2×3 matrices for affine_grid: output pixel -> input pixel, one per image.

    Built in pixel units around the centre (so rotation and shear keep right angles on
    non-square images), then converted to affine_grid's normalized coordinates.
    """
    n, dev = r.shape[0], r.device
    zero, one = torch.zeros(n, device=dev), torch.ones(n, device=dev)

    def matrix(a, b, c, d, tx, ty):
        return torch.stack((a, b, tx, c, d, ty, zero, zero, one), dim=1).view(n, 3, 3)

    m = torch.eye(3, device=dev).expand(n, 3, 3)
    if cfg.zoom_range:
        zx = _uniform(r[:, _ZOOM_X], 1 - cfg.zoom_range, 1 + cfg.zoom_range)
        zy = _uniform(r[:, _ZOOM_Y], 1 - cfg.zoom_range, 1 + cfg.zoom_range)
        m = matrix(zx, zero, zero, zy, zero, zero) @ m
    if cfg.shear_range:
        s = _uniform(r[:, _SHEAR], -cfg.shear_range, cfg.shear_range)
        m = matrix(one, -torch.sin(s), zero, torch.cos(s), zero, zero) @ m
    if cfg.rotation_range:
        t = torch.deg2rad(_uniform(r[:, _ROT], -cfg.rotation_range, cfg.rotation_range))
        c, s = torch.cos(t), torch.sin(t)
        m = matrix(c, -s, s, c, zero, zero) @ m
    if cfg.width_shift_range or cfg.height_shift_range:
        tx = _uniform(r[:, _SHIFT_X], -cfg.width_shift_range, cfg.width_shift_range) * width
        ty = _uniform(r[:, _SHIFT_Y], -cfg.height_shift_range, cfg.height_shift_range) * height
        m = matrix(one, zero, zero, one, tx, ty) @ m
    if cfg.horizontal_flip or cfg.vertical_flip:
        fx = torch.where(r[:, _HFLIP] < 0.5, -one, one) if cfg.horizontal_flip else one
        fy = torch.where(r[:, _VFLIP] < 0.5, -one, one) if cfg.vertical_flip else one
        m = matrix(fx, zero, zero, fy, zero, zero) @ m
    if cfg.random_resized_crop:
        area = _uniform(r[:, _CROP_AREA], cfg.random_resized_crop, 1.0)
        log_ratio = _uniform(r[:, _CROP_RATIO], math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1]))
        ratio = torch.exp(log_ratio)
        cw = torch.sqrt(area * ratio).clamp(max=1.0)   # crop size as fractions of W and H
        ch = torch.sqrt(area / ratio).clamp(max=1.0)
        cx = _uniform(r[:, _CROP_X], -1, 1) * (1 - cw) * width / 2
        cy = _uniform(r[:, _CROP_Y], -1, 1) * (1 - ch) * height / 2
        m = matrix(cw, zero, zero, ch, cx, cy) @ m
    # Pixel-centred units -> normalized [-1, 1] (align_corners=False): D^-1 · M · D.
    half = torch.tensor([width / 2, height / 2, 1.0], device=dev)
    m = m * half.view(1, 1, 3) / half.view(1, 3, 1)
    return m[:, :2, :]


def sampling_grid(theta: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """F.affine_grid(theta, (N, C, H, W), align_corners=False) by broadcasting: the x and
    y terms are small tensors and only their sum is full size (several times faster on
    CPU than affine_grid's batched matmul with an inner dimension of 3)."""
    dev, dtype = theta.device, theta.dtype
    xs = (torch.arange(width, device=dev, dtype=dtype) * 2 + 1) / width - 1
    ys = (torch.arange(height, device=dev, dtype=dtype) * 2 + 1) / height - 1
    along_x = theta[:, :, 0:1] * xs + theta[:, :, 2:3]     # N×2×W
    along_y = theta[:, :, 1:2] * ys                         # N×2×H
    # N×2×H×W with W innermost adds fast; grid_sample takes the permuted view as it is.
    return (along_x.unsqueeze(2) + along_y.unsqueeze(3)).permute(0, 2, 3, 1)


def _erase_mask(r: torch.Tensor, p: float, height: int, width: int) -> torch.Tensor:
    area = _uniform(r[:, _ERASE_AREA], *ERASE_AREA) * height * width
    ratio = torch.exp(_uniform(r[:, _ERASE_RATIO], math.log(ERASE_RATIO[0]),
                               math.log(ERASE_RATIO[1])))
    h = torch.sqrt(area * ratio).round().clamp(1, height)   # whole pixels, at least one
    w = torch.sqrt(area / ratio).round().clamp(1, width)
    y0 = (r[:, _ERASE_Y] * (height - h + 1)).floor()
    x0 = (r[:, _ERASE_X] * (width - w + 1)).floor()
    rows = torch.arange(height, device=r.device).view(1, height, 1)
    cols = torch.arange(width, device=r.device).view(1, 1, width)
    inside = ((rows >= y0.view(-1, 1, 1)) & (rows < (y0 + h).view(-1, 1, 1))
              & (cols >= x0.view(-1, 1, 1)) & (cols < (x0 + w).view(-1, 1, 1)))
    chosen = (r[:, _ERASE] < p).view(-1, 1, 1)
    return (inside & chosen).unsqueeze(1)


class Augmenter:
    """Augments training batches on their own device with its own seeded generator.

    ``pixel_max`` clamps photometric changes (255 for images decoded from files); None
    leaves float data unclamped.
    """

    def __init__(self, config: AugmentConfig, seed: int = 0,
                 device: torch.device | str = "cpu", pixel_max: float | None = 255.0) -> None:
        self.config = config
        self.device = torch.device(device)
        self.pixel_max = pixel_max
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed)

    def reseed(self, seed: int) -> None:
        self.generator.manual_seed(seed)

    def get_state(self) -> torch.Tensor:
        return self.generator.get_state()

    def set_state(self, state: torch.Tensor) -> None:
        self.generator.set_state(state.cpu() if state.device.type != "cpu" else state)

    def rescale(self, x: torch.Tensor) -> torch.Tensor:
        """What validation data gets: the float conversion and Keras's rescale only."""
        if not torch.is_floating_point(x):
            x = x.float()
        return x * self.config.rescale if self.config.rescale != 1.0 else x

    def __call__(self, x: torch.Tensor, rescale: bool = True) -> torch.Tensor:
        cfg = self.config
        if not torch.is_floating_point(x):
            x = x.float()
        if cfg.active and x.dim() == 4:
            x = self._augment(x)
        return self.rescale(x) if rescale else x

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        n, _, height, width = x.shape
        r = torch.rand(n, _COLUMNS, generator=self.generator, device=x.device)
        if cfg.geometric:
            theta = affine_matrices(cfg, r, height, width).to(x.dtype)
            grid = sampling_grid(theta, height, width)
            x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border",
                              align_corners=False)
        if cfg.photometric:
            if cfg.brightness:
                x = x * _uniform(r[:, _BRIGHT], 1 - cfg.brightness,
                                 1 + cfg.brightness).view(-1, 1, 1, 1)
            if cfg.contrast:
                c = _uniform(r[:, _CONTRAST], 1 - cfg.contrast, 1 + cfg.contrast)
                mean = x.mean(dim=(1, 2, 3), keepdim=True)
                x = (x - mean) * c.view(-1, 1, 1, 1) + mean
            if self.pixel_max is not None:
                x = x.clamp(0.0, self.pixel_max)
        if cfg.random_erasing > 0:
            x = x.masked_fill(_erase_mask(r, cfg.random_erasing, height, width), 0.0)
        return x


def preview(config: Mapping[str, Any] | AugmentConfig, images: Any, seed: int = 0) -> Any:
    """Augmented copies of N×C×H×W images for the designer to show.

    Accepts a torch tensor or a NumPy array and returns the same kind and dtype; uint8
    images come back clamped and rounded. ``enabled`` is ignored (a preview always shows
    the effect) and ``rescale`` is left out so the copies display as images.
    """
    cfg = config if isinstance(config, AugmentConfig) else AugmentConfig.from_settings(config)
    cfg = AugmentConfig(**{**{f.name: getattr(cfg, f.name) for f in fields(cfg)},
                           "enabled": True})
    is_numpy = not isinstance(images, torch.Tensor)
    x = torch.as_tensor(images)
    dtype = x.dtype
    squeeze = x.dim() == 3
    if squeeze:
        x = x.unsqueeze(0)
    pixel_max = 255.0 if dtype == torch.uint8 else None
    out = Augmenter(cfg, seed, x.device, pixel_max)(x, rescale=False)
    if dtype == torch.uint8:
        out = out.round().clamp(0, 255).to(torch.uint8)
    else:
        out = out.to(dtype)
    if squeeze:
        out = out.squeeze(0)
    return out.numpy() if is_numpy else out
