"""The coverage benchmark's random weights must leave its ONNX diff to the exporter.

benchmarks/torchvision_coverage.py compares each exported ONNX file with torchvision to 1e-4
of the largest output. Two float32 runtimes round differently, so that measures the exporter
only while the network does not amplify rounding: EfficientNetV2-S, its BatchNorm statistics
taken from 4 images, grew its activations to ~1e3 on the measured image, and torch's own
float32 output differed from float64 by 1.2e-1 of the largest output, the 'onnx diff' the
table showed (docs/transfer-learning.md).
"""

from __future__ import annotations

import importlib.util

import torch

from tests.export.conftest import ROOT


def _coverage():
    spec = importlib.util.spec_from_file_location(
        "torchvision_coverage", ROOT / "benchmarks/torchvision_coverage.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_efficientnet_v2_s_does_not_amplify_float32_rounding():
    coverage = _coverage()
    model = coverage.random_model("efficientnet_v2_s", 64)
    # the image the benchmark measures on, which the statistics never saw
    pixels = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1)) * 255
    x = (pixels * (1 / 255) - coverage.MEAN.view(3, 1, 1)) / coverage.STD.view(3, 1, 1)
    # each input rounded the other way: what a second runtime's rounding does to a layer
    signs = torch.randint(0, 2, x.shape, generator=torch.Generator().manual_seed(3)) * 2 - 1
    with torch.no_grad():
        y = model(x)
        moved = model(x * (1 + signs * 2.0**-24))
    change = float((moved - y).abs().max() / y.abs().max())
    assert change < coverage.TOLERANCE / 4, (
        f"one float32 rounding of the input moves the output by {change:.1e} of its largest "
        f"value ({float(y.abs().max()):.3g}); Received: {change}")
