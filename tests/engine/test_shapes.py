"""engine/shapes.py: its doctest examples, and its pooling arithmetic against torch."""

from __future__ import annotations

import doctest
import itertools

import torch
import torch.nn.functional as F

import engine.shapes
from engine.shapes import conv_output_size


def test_doctests():
    result = doctest.testmod(engine.shapes)
    assert result.attempted > 0
    assert result.failed == 0


def test_ceil_mode_matches_torch():
    """Every small case torch accepts, including windows that may not start in the padding."""
    for size, kernel, stride, pad, ceil in itertools.product(
            range(1, 10), range(1, 5), range(1, 4), range(0, 3), (False, True)):
        if pad > kernel // 2:
            continue  # torch refuses; the pool rules refuse it first
        expected = conv_output_size(size, kernel, stride, pad, ceil_mode=ceil)
        x = torch.zeros(1, 1, size, 1)
        try:
            got = F.max_pool2d(x, (kernel, 1), (stride, 1), (pad, 0), ceil_mode=ceil).shape[2]
        except RuntimeError:
            got = 0
        assert max(expected, 0) == got, (size, kernel, stride, pad, ceil)
