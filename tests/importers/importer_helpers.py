"""Helpers for the importer tests: torchvision networks with random weights that behave like
trained ones (BatchNorm statistics of real activations), and a parity check."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

# The smallest square input each architecture takes; AlexNet and VGG16 need 224 for the
# TorchScript ONNX exporter, whose adaptive pools want an output that divides the input.
SIZES = {"resnet18": 64, "resnet34": 64, "resnet50": 64, "vgg16": 64, "mobilenet_v2": 64,
         "mobilenet_v3_small": 64, "efficientnet_b0": 64, "densenet121": 64,
         "googlenet": 64, "alexnet": 64, "squeezenet1_1": 64, "inception_v3": 80,
         "mnasnet0_5": 64, "regnet_y_400mf": 64, "shufflenet_v2_x0_5": 64}
ONNX_SIZES = {**SIZES, "alexnet": 224, "vgg16": 224}
TOLERANCE = 1e-5


def random_model(name: str, seed: int = 0, **options) -> torch.nn.Module:
    """torchvision's ``name`` with random weights, in eval mode. BatchNorm scales and shifts
    are random and its running statistics come from one batch of random images, so
    activations keep a trained network's size (torchvision's own initialization makes
    MobileNet's and EfficientNet's outputs ~1e-10, which would make any comparison pass)."""
    from torchvision import models

    torch.manual_seed(seed)
    if name == "googlenet":
        options.setdefault("init_weights", True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = models.get_model(name, weights=None, **options)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return model.eval()
    with torch.no_grad():
        for m in norms:
            m.weight.uniform_(0.5, 1.5)
            m.bias.normal_(0.0, 0.2)
            m.reset_running_stats()
            m.momentum = None  # a cumulative average: one batch sets the statistics
        model.train()
        size = SIZES.get(name, 64)
        model(torch.rand(4, 3, size, size))
        for m in norms:
            m.momentum = 0.1
    return model.eval()


def save_state(model: torch.nn.Module, path: Path) -> Path:
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    else:
        torch.save(model.state_dict(), path)
    return path


def build_with_weights(project, project_path: Path):
    """The project's network with its stored weights, in eval mode."""
    from engine import weights
    from engine.backend.build import build_module

    module = build_module(project.graph).eval()
    report = weights.load_into(module, project.graph, project.weights, project_path)
    assert not report.stale and not report.warnings, report
    return module, report


def network_input(module, x: torch.Tensor) -> torch.Tensor:
    """What the network body sees once the Input block's preprocessing has run."""
    preprocess = getattr(module, "preprocess", None)
    return preprocess(x) if preprocess is not None else x


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


def pixels(size: int, batch: int = 1, seed: int = 1) -> torch.Tensor:
    """Raw pixel values 0–255, as the data pipeline feeds the Input block."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, size, size, generator=generator) * 255
