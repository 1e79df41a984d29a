"""Each initializer draws the weights its formula says, with the fans torch and Keras use;
'default' leaves torch's own initialization bit for bit."""

from __future__ import annotations

import math

import pytest
import torch

from engine.backend.build import build_module
from engine.graph import Graph
from engine.layers import REGISTRY

# (kind, input shape, params, fan_in, fan_out). The fans follow torch's
# _calculate_fan_in_and_fan_out, as Keras's do: a grouped convolution's fan_out ignores the
# groups, and a transposed convolution's fan_in counts its output channels.
LAYERS = [
    ("Dense", (512,), {"units": 256}, 512, 256),
    ("Conv2D", (64, 9, 9), {"filters": 128, "kernel_size": 3}, 64 * 9, 128 * 9),
    ("Conv2D", (64, 9, 9), {"filters": 256, "kernel_size": 3, "groups": 4}, 16 * 9, 256 * 9),
    ("DepthwiseConv2D", (256, 9, 9), {"depth_multiplier": 4, "kernel_size": 5}, 25, 1024 * 25),
    ("ConvTranspose2D", (64, 4, 4), {"filters": 32, "kernel_size": 4}, 32 * 16, 64 * 16),
]
IDS = ["dense", "conv", "grouped-conv", "depthwise", "transposed"]


def make(kind_id: str, shape: tuple[int, ...], params: dict, initializer: str):
    kind = REGISTRY.get(kind_id)
    p = kind.resolve({**params, "initializer": initializer})
    return kind.build([shape], p, kind.shape([shape], p))


def expected_std(initializer: str, fan_in: int, fan_out: int) -> float:
    return {
        "he_normal": math.sqrt(2 / fan_in),
        "he_uniform": math.sqrt(6 / fan_in) / math.sqrt(3),
        "glorot_normal": math.sqrt(2 / (fan_in + fan_out)),
        "glorot_uniform": math.sqrt(6 / (fan_in + fan_out)) / math.sqrt(3),
    }[initializer]


@pytest.mark.parametrize("initializer",
                         ["he_normal", "he_uniform", "glorot_normal", "glorot_uniform"])
@pytest.mark.parametrize("kind_id, shape, params, fan_in, fan_out", LAYERS, ids=IDS)
def test_an_initializer_draws_the_weights_its_formula_gives(kind_id, shape, params, fan_in,
                                                              fan_out, initializer):
    torch.manual_seed(0)
    layer = make(kind_id, shape, params, initializer)
    w = layer.weight.detach().flatten().double()
    assert w.numel() >= 25_000  # enough draws for a 4% tolerance on the std
    std = expected_std(initializer, fan_in, fan_out)
    assert w.std().item() == pytest.approx(std, rel=0.04)
    assert abs(w.mean().item()) < 0.05 * std
    peak = w.abs().max().item()
    if initializer.endswith("uniform"):
        bound = std * math.sqrt(3)
        assert bound * 0.99 < peak <= bound  # all within the bound, and it is reached
    else:
        assert peak > 3.5 * std  # a normal's tail, which no uniform of this std has
    assert torch.count_nonzero(layer.bias) == 0  # Keras's zeros, not torch's uniform bias


@pytest.mark.parametrize("kind_id, shape, params, fan_in, fan_out", LAYERS, ids=IDS)
def test_default_is_torchs_own_initialization(kind_id, shape, params, fan_in, fan_out):
    torch.manual_seed(0)
    layer = make(kind_id, shape, params, "default")
    base = next(c for c in type(layer).__mro__ if c.__module__.startswith("torch.nn"))
    torch.manual_seed(0)
    reference = base(*_torch_args(kind_id, shape, layer))
    assert torch.equal(layer.weight, reference.weight)
    assert torch.equal(layer.bias, reference.bias)
    bound = 1 / math.sqrt(fan_in)  # torch's kaiming_uniform_(a=√5) and its bias both reach it
    assert layer.bias.abs().max().item() <= bound
    assert layer.weight.abs().max().item() == pytest.approx(bound, rel=0.02)


def _torch_args(kind_id: str, shape: tuple[int, ...], layer) -> tuple:
    if kind_id == "Dense":
        return (layer.in_features, layer.out_features)
    args = (layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride)
    if kind_id == "ConvTranspose2D":
        return (*args, layer.padding, layer.output_padding)
    return (*args, layer.padding, layer.dilation, layer.groups)


@pytest.mark.parametrize("initializer", ["he_uniform", "default"])
def test_a_layer_without_bias_takes_an_initializer(initializer):
    torch.manual_seed(0)
    layer = make("Conv2D", (64, 9, 9), {"filters": 128, "bias": False}, initializer)
    assert layer.bias is None
    assert layer.weight.abs().max().item() <= math.sqrt(6 / (64 * 9)) + 1e-7


def test_a_built_network_uses_each_blocks_initializer():
    g = Graph()
    ids = [g.add_node("Input", "in", {"shape": [1024]}).id,
           g.add_node("Dense", "he", {"units": 512, "initializer": "he_uniform"}).id,
           g.add_node("Dense", "glorot", {"units": 256, "initializer": "glorot_uniform"}).id,
           g.add_node("Dense", "plain", {"units": 10}).id,
           g.add_node("Output", "out", {"classes": 10}).id]
    for src, dst in zip(ids, ids[1:], strict=False):
        g.connect(src, dst)
    torch.manual_seed(0)
    linears = [m for m in build_module(g).modules() if isinstance(m, torch.nn.Linear)]
    peaks = [m.weight.abs().max().item() for m in linears]
    bounds = [math.sqrt(6 / 1024), math.sqrt(6 / (512 + 256)), 1 / math.sqrt(256)]
    for peak, bound in zip(peaks, bounds, strict=True):
        assert bound * 0.99 < peak <= bound
    assert [torch.count_nonzero(m.bias).item() == 0 for m in linears] == [True, True, False]
