"""ConvNeXt and ShuffleNet v2 import as editable blocks that compute what torchvision computes:
the channels-last runs become LayerNorm2d and 1×1 Conv2D, the layer scales LayerScale blocks,
the channel shuffles and chunks ChannelShuffle and Split blocks."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
import torch.nn as nn
from importer_helpers import build_with_weights, network_input, pixels, random_model, save_state

from engine import weights
from engine.importers import fx_import
from engine.importers.torchvision import import_torchvision
from engine.project import Project, save

SIZE = 64


def convnext_model() -> nn.Module:
    """convnext_tiny with random weights whose blocks count: torchvision's layer scale of 1e-6
    would make every residual branch add almost nothing, and any error in it go unseen."""
    model = random_model("convnext_tiny")
    with torch.no_grad():
        for module in model.modules():
            if hasattr(module, "layer_scale"):
                module.layer_scale.uniform_(0.5, 1.5)
            if isinstance(module, nn.LayerNorm):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.2)
    return model


def imported_and_built(tmp_path, name: str, model: nn.Module):
    weights_file = save_state(model, tmp_path / f"{name}.pth")
    imported = import_torchvision(name, str(weights_file), input_shape=(3, SIZE, SIZE))
    project_path = tmp_path / f"{name}.netdraft"
    weights.save(imported.project, project_path, imported.tensors, "imported")
    save(imported.project, project_path)
    module, report = build_with_weights(imported.project, project_path)
    assert report.loaded and not report.fresh
    return imported, module


def relative_difference(module: nn.Module, model: nn.Module) -> float:
    x = pixels(SIZE, batch=2)
    with torch.no_grad():
        ours, theirs = module(x), model(network_input(module, x))
    assert ours.shape == theirs.shape
    return ((ours - theirs).abs().max() / theirs.abs().max()).item()


def kinds(imported) -> Counter:
    return Counter(n.kind for n in imported.project.graph.leaves())


def test_convnext_tiny_imports_as_blocks_that_compute_torchvisions(tmp_path):
    model = convnext_model()
    imported, module = imported_and_built(tmp_path, "convnext_tiny", model)
    found = kinds(imported)
    assert imported.project.graph.lint() == []
    # 18 blocks: LayerNorm2d, two 1×1 convolutions, layer scale and stochastic depth each;
    # the stem, three downsamplings and the classifier have a LayerNorm2d of their own.
    assert (found["LayerNorm2d"], found["LayerScale"], found["StochasticDepth"]) == (23, 18, 18)
    assert found["Conv2D"] == 4 + 2 * 18 and found["DepthwiseConv2D"] == 18
    assert not {"Backbone", "Permute", "LayerNorm"} & set(found)
    assert relative_difference(module, model) <= 1e-4
    block = imported.project.graph.by_name("features_1_0_layer_scale")
    assert imported.project.graph.nodes[block.parent].name == "features_1_0"
    assert any("channels-last" in note for note in imported.notes)


def test_convnext_stochastic_depth_is_a_block_that_drops_in_training(tmp_path):
    imported = import_torchvision("convnext_tiny", None, input_shape=(3, 32, 32))
    graph = imported.project.graph
    depth = [n for n in graph.nodes.values() if n.kind == "StochasticDepth"]
    # torchvision raises the drop probability linearly from 0 to 0.1 over the 18 blocks.
    rates = sorted(n.params["rate"] for n in depth)
    assert rates[0] == 0.0 and rates[-1] == pytest.approx(0.1) and len(set(rates)) == 18
    assert all(n.params["mode"] == "row" for n in depth)
    assert not any("StochasticDepth" in note for note in imported.notes)


def test_shufflenet_imports_as_blocks_that_compute_torchvisions(tmp_path):
    model = random_model("shufflenet_v2_x0_5")
    imported, module = imported_and_built(tmp_path, "shufflenet_v2_x0_5", model)
    found = kinds(imported)
    assert imported.project.graph.lint() == []
    assert found["ChannelShuffle"] == 16 and found["Split"] == 2 * 13
    assert "Backbone" not in found
    assert relative_difference(module, model) <= 1e-4
    graph = imported.project.graph
    halves = [graph.nodes[n] for n in graph.successors(graph.by_name("stage2_0_channel_shuffle"
                                                                       ).id)]
    assert sorted(n.params["index"] for n in halves if n.kind == "Split") == [0, 1]


def test_permutes_outside_a_channels_last_run_stay_permute_blocks():
    class Transposed(nn.Module):
        def forward(self, x):
            return x.permute(0, 1, 3, 2).flatten(1)

    converted = fx_import.to_graph(Transposed(), (2, 3, 5))
    assert not converted.unmapped
    permute = next(n for n in converted.graph.nodes.values() if n.kind == "Permute")
    assert permute.params == {"dims": [0, 2, 1]}


def test_a_channels_last_run_that_is_not_undone_is_left_as_it_is():
    class Unfinished(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = nn.LayerNorm(4)

        def forward(self, x):
            return self.norm(x.permute(0, 2, 3, 1)).flatten(1)

    converted = fx_import.to_graph(Unfinished(), (4, 3, 3))
    kinds_found = Counter(n.kind for n in converted.graph.nodes.values())
    assert kinds_found["Permute"] == 1 and "LayerNorm2d" not in kinds_found
    assert converted.unmapped["LayerNorm"] == 1  # over H×W×C's last axis: no block has it


class _ChannelsLastMLP(nn.Module):
    """A user's ConvNeXt-style block written with tensor methods instead of torchvision's
    Permute modules, and a channel shuffle written with reshape and -1."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.norm = nn.LayerNorm(8, eps=1e-6)
        self.up = nn.Linear(8, 16)
        self.down = nn.Linear(16, 8)
        self.gamma = nn.Parameter(torch.rand(8, 1, 1) + 0.5)

    def forward(self, x):
        x = self.conv(x)
        y = x.permute(0, 2, 3, 1)
        y = self.down(torch.relu(self.up(self.norm(y))))
        x = x + self.gamma * y.permute(0, 3, 1, 2)
        b, c, h, w = x.shape
        x = torch.transpose(x.reshape(b, 4, c // 4, h, w), 1, 2).reshape(b, -1, h, w)
        first, second = torch.chunk(x, 2, dim=1)
        return torch.cat([second, first], dim=1).mean((2, 3))


def test_a_hand_written_block_imports_as_channel_first_blocks_with_its_weights(tmp_path):
    torch.manual_seed(0)
    model = _ChannelsLastMLP().eval()
    with torch.no_grad():
        model.norm.weight.uniform_(0.5, 1.5)
        model.norm.bias.normal_(0.0, 0.2)
    converted = fx_import.to_graph(model, (3, 9, 9))
    assert not converted.unmapped
    found = Counter(n.kind for n in converted.graph.nodes.values())
    assert found["LayerNorm2d"] == 1 and found["Conv2D"] == 3 and found["LayerScale"] == 1
    assert found["ChannelShuffle"] == 1 and found["Split"] == 2
    assert not {"Permute", "Dense"} & set(found)
    tensors, left = fx_import.take_tensors(converted, model.state_dict())
    assert left == []
    project = Project(graph=converted.graph, name="hand-written")
    project_path = tmp_path / "hand.netdraft"
    weights.save(project, project_path, tensors, "imported")
    save(project, project_path)
    module, _ = build_with_weights(project, project_path)
    x = torch.rand(2, 3, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(module(x), model(x), rtol=1e-5, atol=1e-6)
