"""torchvision networks imported as blocks or as one Backbone: the built module computes what
torchvision computes, with weights loaded from a file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from importer_helpers import (
    SIZES,
    TOLERANCE,
    build_with_weights,
    max_diff,
    network_input,
    pixels,
    random_model,
    save_state,
)

from engine import weights
from engine.importers.safe_load import ImportFailure
from engine.importers.torchvision import TESTED, import_torchvision
from engine.project import save


def _import_and_save(tmp_path, name, weights_file, **kwargs):
    imported = import_torchvision(name, str(weights_file), **kwargs)
    project_path = tmp_path / f"{name}.netdraft"
    weights.save(imported.project, project_path, imported.tensors, "imported")
    save(imported.project, project_path)
    return imported, project_path


@pytest.mark.parametrize("name", TESTED)
def test_imported_blocks_compute_what_torchvision_computes(tmp_path, name):
    model = random_model(name)
    suffix = ".safetensors" if name in ("resnet18", "mobilenet_v2") else ".pth"
    weights_file = save_state(model, tmp_path / f"{name}{suffix}")
    size = SIZES[name]
    imported, project_path = _import_and_save(tmp_path, name, weights_file,
                                              input_shape=(3, size, size))
    graph = imported.project.graph
    assert graph.lint() == []
    assert all(n.kind != "Backbone" for n in graph.leaves())  # every layer is a block
    module, report = build_with_weights(imported.project, project_path)
    assert report.loaded and not report.fresh
    x = pixels(size)
    with torch.no_grad():
        ours = module(x)
        theirs = model(network_input(module, x))
    assert ours.shape == theirs.shape
    assert max_diff(ours, theirs) <= TOLERANCE, name
    statuses = {s.status for s in weights.statuses(graph, imported.project.weights).values()}
    assert statuses == {"imported"}


def test_blocks_are_grouped_by_stage_and_block(tmp_path):
    imported = import_torchvision("resnet18", None, input_shape=(3, 64, 64))
    graph = imported.project.graph
    conv = graph.by_name("layer2_0_conv1")
    chain = [graph.nodes[g].name for g in graph.ancestors_of(conv.id)]
    assert chain == ["layer2_0", "layer2"]
    assert graph.by_name("layer2_0_downsample_0").kind == "Conv2D"
    add = graph.by_name("layer2_0_add")
    assert add.kind == "Add" and add.parent == graph.by_name("layer2_0").id
    assert imported.tensors == {}  # no weights given: every block starts fresh


def test_input_block_carries_imagenet_preprocessing():
    imported = import_torchvision("squeezenet1_1", None, input_shape=(3, 64, 64))
    params = imported.project.graph.by_name("input").params
    assert params["mean"] == "0.485,0.456,0.406" and params["std"] == "0.229,0.224,0.225"
    assert params["scale"] == pytest.approx(1 / 255)


def test_googlenet_transform_input_becomes_a_frozen_block(tmp_path):
    model = random_model("googlenet", transform_input=True)
    weights_file = save_state(model, tmp_path / "g.pth")
    imported, project_path = _import_and_save(
        tmp_path, "googlenet", weights_file, input_shape=(3, 64, 64),
        options={"transform_input": True})
    block = imported.project.graph.by_name("transform_input")
    assert block.kind == "DepthwiseConv2D" and block.params["lr_mult"] == 0
    assert any("auxiliary classifiers" in n for n in imported.notes)
    module, _ = build_with_weights(imported.project, project_path)
    x = pixels(64)
    with torch.no_grad():
        ours, theirs = module(x), model(network_input(module, x))
    # A 1×1 convolution rounds x·a + b once where torchvision rounds twice (one ulp); this
    # network amplifies that ~2000× into outputs of ~100, so the bound is relative here.
    assert max_diff(ours, theirs) <= 2e-6 * theirs.abs().max().item()


def test_efficientnet_stochastic_depth_becomes_blocks_not_dropped_silently():
    # The StochasticDepth kind claims torchvision's module: each of the 9 residual branches
    # keeps its drop rate for fine-tuning instead of becoming a plain connection.
    imported = import_torchvision("efficientnet_b0", None, input_shape=(3, 32, 32))
    depth = [n for n in imported.project.graph.nodes.values() if n.kind == "StochasticDepth"]
    assert len(depth) == 9 and all(0 < n.params["rate"] < 0.2 for n in depth)
    assert not any("StochasticDepth" in note for note in imported.notes)


def test_collapsed_backbone_cut_at_a_stage_matches_torchvision(tmp_path):
    from engine import transfer

    model = random_model("resnet18")
    weights_file = save_state(model, tmp_path / "r18.pth")
    imported = import_torchvision("resnet18", str(weights_file), input_shape=(3, 64, 64),
                                  collapse=True, cut="layer3")
    graph = imported.project.graph
    block = graph.by_name("resnet18")
    assert block.kind == "Backbone" and block.params["out_shape"] == [256, 4, 4]
    transfer.add_head(graph, 5)
    project_path = tmp_path / "r18.netdraft"
    weights.save(imported.project, project_path, imported.tensors, "imported")
    module, report = build_with_weights(imported.project, project_path)
    assert report.loaded == [block.id] and len(report.fresh) == 1  # the new head
    x = pixels(64)
    with torch.no_grad():
        body = network_input(module, x)
        expected = model.layer3(model.layer2(model.layer1(model.maxpool(
            model.relu(model.bn1(model.conv1(body)))))))
        features = getattr(module, module.attr_of[block.id])(body)
        assert module(x).shape == (1, 5)
    assert max_diff(features, expected) <= TOLERANCE
    trainable = sum(p.numel() for n, p in model.named_parameters() if n.startswith(
        ("conv1", "bn1", "layer1", "layer2", "layer3")))
    assert block.params["trainable"] == trainable


def test_backbone_counts_and_shape_need_no_torch_and_follow_lr_mult():
    from engine.graph import Graph
    from engine.validate import analyze

    graph = Graph()
    source = graph.add_node("Input", name="input", params={"shape": [3, 224, 224]})
    block = graph.add_node("Backbone", name="features")
    graph.connect(source.id, block.id)
    result = analyze(graph).results[block.id]
    assert result.shape == (512, 7, 7)
    assert (result.trainable, result.non_trainable) == (11_176_512, 9_600)
    graph.set_param(block.id, "lr_mult", 0.0)
    frozen = analyze(graph).results[block.id]
    assert (frozen.trainable, frozen.non_trainable) == (0, 11_186_112)
    graph.set_param(source.id, "shape", [3, 64, 64])
    problem = analyze(graph).results[block.id].problem
    assert problem is not None and "3×224×224" in problem.message


def test_unknown_layers_fail_with_a_list_or_stay_in_a_backbone(tmp_path, monkeypatch):
    from torchvision import models

    class Swish2(torch.nn.Module):
        def forward(self, x):
            return x * torch.sigmoid(2 * x)

    original = models.get_model_builder("squeezenet1_1")

    def builder(**kwargs):
        model = original(**kwargs)
        model.features[1] = Swish2()
        return model

    monkeypatch.setattr(models, "get_model_builder", lambda name: builder)
    with pytest.raises(ImportFailure) as failure:
        import_torchvision("squeezenet1_1", None, input_shape=(3, 64, 64))
    assert "Swish2 ×1" in str(failure.value)
    assert failure.value.code == 1
    kept = import_torchvision("squeezenet1_1", None, input_shape=(3, 64, 64),
                              keep_unknown=True)
    kinds = [n.kind for n in kept.project.graph.leaves()]
    assert kinds == ["Input", "Backbone", "Output"]
    assert any("kept as one Backbone" in n for n in kept.notes)


def test_weights_of_another_architecture_are_refused(tmp_path):
    weights_file = save_state(random_model("squeezenet1_1"), tmp_path / "s.pth")
    with pytest.raises(ImportFailure) as failure:
        import_torchvision("resnet18", str(weights_file))
    assert "does not hold torchvision's resnet18" in str(failure.value)


def test_a_state_dict_for_other_class_counts_sets_num_classes(tmp_path):
    weights_file = save_state(random_model("squeezenet1_1", num_classes=7), tmp_path / "s.pth")
    imported = import_torchvision("squeezenet1_1", str(weights_file), input_shape=(3, 64, 64))
    assert imported.project.graph.by_name("output").params["classes"] == 7
    collapsed = import_torchvision("squeezenet1_1", str(weights_file),
                                   input_shape=(3, 64, 64), collapse=True)
    block = collapsed.project.graph.by_name("squeezenet1_1")
    assert json.loads(block.params["options"]) == {"num_classes": 7}
    # An uncut backbone must still be a project the file format (and the designer) accepts.
    from engine import project as project_io

    saved = project_io.save(collapsed.project, tmp_path / "collapsed.netdraft")
    assert project_io.load(saved).graph.by_name("squeezenet1_1").params["cut"] == ""


def test_the_palette_backbone_defaults_describe_what_it_builds():
    from engine.importers.backbones import build_backbone, counts, output_shape
    from engine.layers import REGISTRY

    params = REGISTRY.get("Backbone").defaults()
    module = build_backbone(params)
    assert list(output_shape(module, tuple(params["in_shape"]))) == params["out_shape"]
    assert counts(module) == (params["trainable"], params["non_trainable"])


def _cache_torchvision_weights(monkeypatch, hub: Path, enum_member) -> torch.nn.Module:
    """Put a random resnet18 where torch's hub keeps a downloaded checkpoint: the file name
    of the weights' URL under HUB/checkpoints, as torchvision's weights API looks for it."""
    monkeypatch.setattr(torch.hub, "_hub_dir", str(hub))
    model = random_model("resnet18")
    target = hub / "checkpoints" / Path(enum_member.url).name
    target.parent.mkdir(parents=True)
    torch.save(model.state_dict(), target)
    return model


@pytest.mark.parametrize("tag", ["DEFAULT", "IMAGENET1K_V1"])
def test_weights_api_tags_load_from_torch_hub_cache(tmp_path, monkeypatch, tag):
    from torchvision.models import ResNet18_Weights

    model = _cache_torchvision_weights(monkeypatch, tmp_path / "hub",
                                       ResNet18_Weights.IMAGENET1K_V1)
    imported = import_torchvision("resnet18", tag, input_shape=(3, 64, 64))
    assert any("ResNet18_Weights.IMAGENET1K_V1" in note for note in imported.notes), \
        imported.notes
    project_path = tmp_path / "resnet18.netdraft"
    weights.save(imported.project, project_path, imported.tensors, "imported")
    save(imported.project, project_path)
    module, report = build_with_weights(imported.project, project_path)
    assert report.loaded and not report.fresh
    x = pixels(64)
    with torch.no_grad():
        assert max_diff(module(x), model(network_input(module, x))) <= TOLERANCE


def test_weights_api_unknown_tag_and_offline_download_are_clear(tmp_path, monkeypatch):
    import urllib.error

    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "empty-hub"))
    with pytest.raises(ImportFailure, match="torchvision has no weights 'IMAGENET1K_V9' "
                                            "for resnet18"):
        import_torchvision("resnet18", "IMAGENET1K_V9")

    def offline(url, dst, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(ImportFailure) as failure:
        import_torchvision("resnet18", "DEFAULT")
    message = str(failure.value)
    assert "cannot download torchvision's resnet18 weights DEFAULT" in message
    assert "offline" in message and "--weights FILE" in message
