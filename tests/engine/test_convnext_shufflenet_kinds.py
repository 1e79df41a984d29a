"""ConvNeXt's and ShuffleNet v2's kinds against the torch and torchvision code they stand for:
LayerNorm2d, Permute, ChannelShuffle, Split, LayerScale and StochasticDepth; and the
messages a user reads when a block's settings do not fit its input."""

from __future__ import annotations

import doctest

import pytest
import torch
from torchvision.models.convnext import LayerNorm2d as TorchvisionLayerNorm2d
from torchvision.models.shufflenetv2 import channel_shuffle
from torchvision.ops import Permute as TorchvisionPermute
from torchvision.ops import StochasticDepth as TorchvisionStochasticDepth

import engine.layers.channels
from engine.layers import REGISTRY, ShapeError
from engine.layers.base import CATEGORIES


def built(kind_id: str, shape: tuple[int, ...], **params):
    kind = REGISTRY.get(kind_id)
    p = kind.resolve(params)
    out = kind.shape([shape], p)
    module = kind.build([shape], p, out)
    trainable, fixed = kind.params_count([shape], p, out)
    assert sum(t.numel() for t in module.parameters()) == trainable
    assert sum(t.numel() for t in module.buffers()) == fixed
    state = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    assert state == (kind.weights([shape], p) if kind.weights else {}), kind_id
    assert kind.macs([shape], p, out) == 0  # no weight product: values move or scale
    return module.eval(), out


def x_of(shape: tuple[int, ...], batch: int = 2) -> torch.Tensor:
    return torch.randn((batch, *shape), generator=torch.Generator().manual_seed(1))


def test_channels_doctests():
    assert doctest.testmod(engine.layers.channels).failed == 0


def test_layer_norm2d_is_torchvisions():
    module, out = built("LayerNorm2d", (6, 5, 4))
    theirs = TorchvisionLayerNorm2d(6, eps=1e-6)
    with torch.no_grad():
        theirs.weight.normal_()
        theirs.bias.normal_()
    module.load_state_dict(theirs.state_dict())
    x = x_of((6, 5, 4))
    assert out == (6, 5, 4)
    torch.testing.assert_close(module(x), theirs(x), rtol=0, atol=0)


@pytest.mark.parametrize("dims", [[1, 2, 0], [2, 0, 1], [0, 2, 1], [0, 1, 2]])
def test_permute_is_torchvisions_without_the_batch_axis(dims):
    module, out = built("Permute", (3, 5, 7), dims=dims)
    theirs = TorchvisionPermute([0] + [d + 1 for d in dims])
    x = x_of((3, 5, 7))
    assert out == tuple(theirs(x).shape[1:])
    assert torch.equal(module(x), theirs(x))


@pytest.mark.parametrize("groups, channels", [(2, 8), (3, 12), (4, 8), (1, 5)])
def test_channel_shuffle_is_shufflenets(groups, channels):
    module, out = built("ChannelShuffle", (channels, 3, 2), groups=groups)
    x = x_of((channels, 3, 2))
    assert out == (channels, 3, 2)
    assert torch.equal(module(x), channel_shuffle(x, groups))
    assert torch.equal(module(x), torch.nn.ChannelShuffle(groups)(x))


@pytest.mark.parametrize("shape", [(8, 3, 3), (12,)])
@pytest.mark.parametrize("parts", [2, 4])
def test_split_parts_are_chunks(shape, parts):
    x = x_of(shape)
    for index, chunk in enumerate(x.chunk(parts, dim=1)):
        module, out = built("Split", shape, parts=parts, index=index)
        assert out == tuple(chunk.shape[1:])
        assert torch.equal(module(x), chunk)


def test_layer_scale_is_convnexts():
    module, out = built("LayerScale", (6, 4, 4), init=0.25)
    assert torch.equal(module.gamma, torch.full((6, 1, 1), 0.25))
    with torch.no_grad():
        module.gamma.normal_()
    x = x_of((6, 4, 4))
    assert torch.equal(module(x), module.gamma * x)
    vector, _ = built("LayerScale", (5,))
    assert tuple(vector.gamma.shape) == (5,)


@pytest.mark.parametrize("mode", ["row", "batch"])
def test_stochastic_depth_is_torchvisions(mode):
    module, out = built("StochasticDepth", (4, 3, 3), rate=0.4, mode=mode)
    theirs = TorchvisionStochasticDepth(0.4, mode)
    x = x_of((4, 3, 3), batch=16)
    assert torch.equal(module(x), x)  # eval: the identity
    module.train()
    theirs.train()
    torch.manual_seed(5)
    ours = module(x)
    torch.manual_seed(5)
    assert torch.equal(ours, theirs(x))
    dropped = (ours == 0).flatten(1).all(dim=1)
    assert 0 < int(dropped.sum()) < 16 if mode == "row" else True


def test_new_kinds_are_in_the_palette_with_help():
    grouped = REGISTRY.by_category()
    for kind_id in ("LayerNorm2d", "Permute", "ChannelShuffle", "Split", "LayerScale",
                    "StochasticDepth"):
        kind = REGISTRY.get(kind_id)
        assert kind.category in CATEGORIES and kind in grouped[kind.category]
        assert kind.help and kind.describe(kind.defaults())


# ----------------------------------------------------------------- what a user reads
def refusal(kind_id: str, shape: tuple[int, ...], **params) -> ShapeError:
    kind = REGISTRY.get(kind_id)
    with pytest.raises(ShapeError) as caught:
        kind.shape([shape], kind.resolve(params))
    return caught.value


def test_split_refuses_parts_that_do_not_divide_the_channels():
    error = refusal("Split", (10, 4, 4), parts=3)
    assert "3 parts do not divide the 10 channels" in error.message
    assert "use parts 2 or 5 (a divisor of 10)" == error.hint
    assert [f.changes for f in error.fixes] == [(("parts", 2),), (("parts", 5),)]


def test_split_refuses_an_index_past_the_last_part():
    error = refusal("Split", (8,), parts=2, index=2)
    assert "index 2 names no part: there are 2 parts, numbered 0 to 1" in error.message
    assert error.fixes[0].changes == (("index", 1),)


def test_channel_shuffle_refuses_groups_that_do_not_divide_the_channels():
    error = refusal("ChannelShuffle", (116, 4, 4), groups=3)
    assert "groups 3 does not divide the 116 channels" in error.message
    assert "use groups 2 or 4 (a divisor of 116)" == error.hint
    with pytest.raises(RuntimeError):
        torch.nn.ChannelShuffle(3)(torch.zeros(1, 116, 4, 4))


def test_channel_shuffle_and_layer_norm2d_need_an_image():
    for kind_id in ("ChannelShuffle", "LayerNorm2d"):
        error = refusal(kind_id, (64,))
        assert "expects an image C×H×W but receives 64" in error.message


@pytest.mark.parametrize("dims", [[0, 0, 2], [0, 1], [1, 2, 3]])
def test_permute_refuses_dims_that_are_not_a_reordering(dims):
    error = refusal("Permute", (3, 8, 8), dims=dims)
    assert f"dims {dims} is not a reordering of the input's 3 axes [0, 1, 2]" in error.message
    assert "list each of [0, 1, 2] once" in error.hint


def test_schema_refuses_what_no_input_could_fit():
    assert REGISTRY.get("StochasticDepth").check_params({"rate": 1.5})
    assert REGISTRY.get("StochasticDepth").check_params({"mode": "column"})
    assert REGISTRY.get("Split").check_params({"parts": 0})
    assert REGISTRY.get("Permute").check_params({"dims": [0, -1, 2]})
