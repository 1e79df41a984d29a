"""The lecture's worked convolution examples, through the Conv2D kind's own module."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.layers import REGISTRY


def conv2d(input_shape, **params):
    kind = REGISTRY.get("Conv2D")
    p = kind.resolve(params)
    out = kind.shape([input_shape], p)
    return kind.build([input_shape], p, out), out


def test_stride_example():
    """An 8×7 grid holding 1–7, 11–17, …, 71–77, a 3×3 filter of ones, stride 2."""
    grid = torch.tensor([[10 * r + c + 1 for c in range(7)] for r in range(8)],
                        dtype=torch.float32)
    module, out = conv2d((1, 8, 7), filters=1, kernel_size=3, stride=2)
    with torch.no_grad():
        module.weight.fill_(1.0)
        module.bias.zero_()
        y = module(grid.reshape(1, 1, 8, 7))
    assert out == (1, 3, 3)
    assert tuple(y.shape) == (1, *out)
    assert y[0, 0, :2, :2].tolist() == [[108, 126], [288, 306]]


def test_multi_channel_example():
    """5×5×3 input, padding 1, two 3×3×3 filters, stride 2 -> 3×3×2."""
    module, out = conv2d((3, 5, 5), filters=2, kernel_size=3, stride=2, padding=1)
    assert out == (2, 3, 3)
    assert sum(t.numel() for t in module.parameters()) == 2 * 3 * 3 * 3 + 2
    x = torch.randint(0, 3, (1, 3, 5, 5)).float()
    with torch.no_grad():
        module.weight.copy_(torch.randint(-1, 2, module.weight.shape).float())
        module.bias.copy_(torch.tensor([1.0, 0.0]))
        y = module(x)
    assert tuple(y.shape) == (1, *out)
    padded = F.pad(x[0], (1, 1, 1, 1))
    for f in range(2):
        for i in range(3):
            for j in range(3):
                window = padded[:, 2 * i:2 * i + 3, 2 * j:2 * j + 3]
                expected = (window * module.weight[f]).sum() + module.bias[f]
                assert y[0, f, i, j].item() == expected.item()
