"""The curves keep a long run's step losses in bounded memory without distorting them."""

from __future__ import annotations

import numpy as np

from designer.panels.curves import StepBuffer


def test_a_100000_step_run_is_held_in_bounded_memory():
    buffer = StepBuffer(capacity=1024)
    xs = np.arange(100_000) / 1000.0
    ys = 2.0 / (1.0 + xs)
    for x, y in zip(xs, ys):
        buffer.append(float(x), float(y))
    x, y = buffer.data()
    assert len(x) <= 1024
    assert len(x) >= 1024 // 2  # halving keeps at least half the capacity in use
    assert np.all(np.diff(x) > 0)
    # Each kept point is the mean of the steps it stands for: the curve keeps its shape.
    assert abs(y[0] - ys[: buffer.stride].mean()) < 0.05
    assert abs(float(np.interp(50.0, x, y)) - 2.0 / 51.0) < 1e-3


def test_short_runs_keep_every_step():
    buffer = StepBuffer(capacity=64)
    for i in range(50):
        buffer.append(i, i * 2.0)
    x, y = buffer.data()
    assert list(x) == list(range(50)) and list(y) == [i * 2.0 for i in range(50)]
