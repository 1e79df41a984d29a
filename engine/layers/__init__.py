"""The layer registry, filled from an explicit list of family modules (no scanning)."""

from __future__ import annotations

from engine.layers import (
    activation,
    backbone,
    channels,
    conv,
    dense,
    io,
    merge,
    norm,
    pool,
    regularization,
    reshape,
    residual,
)
from engine.layers.base import (
    HeadRole,
    LayerKind,
    Param,
    ParamFix,
    Registry,
    Shape,
    ShapeError,
)

REGISTRY = Registry()
for _family in (io, conv, pool, dense, norm, regularization, residual, activation, reshape,
                channels, merge, backbone):
    for _kind in _family.KINDS:
        REGISTRY.register(_kind)

__all__ = ["REGISTRY", "HeadRole", "LayerKind", "Param", "ParamFix", "Registry", "Shape", "ShapeError"]
