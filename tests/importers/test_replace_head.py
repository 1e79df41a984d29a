"""The designer's one-step transfer edits on real torchvision networks: Replace Head pops
exactly each network's classifier (the lecture's model.pop()) and adds Dense(num_classes);
a Backbone re-described for another cut matches torchvision's own layers."""

from __future__ import annotations

import pytest
import torch

from engine import transfer
from engine.importers.backbone_edit import cut_points, describe, kept_tensors
from engine.importers.torchvision import import_torchvision
from engine.validate import analyze

# The classifier each network ends with, as its import names the blocks.
CLASSIFIERS = {
    "resnet18": ["fc"],
    "vgg16": ["classifier_6"],
    "mobilenet_v2": ["classifier_1"],
    "googlenet": ["fc"],
    "densenet121": ["classifier"],
    "efficientnet_b0": ["classifier_1"],
    "mobilenet_v3_small": ["classifier_3"],
    # SqueezeNet classifies with a 1×1 convolution, then ReLU, pooling and flatten.
    "squeezenet1_1": ["flatten", "classifier_3", "classifier_2", "classifier_1"],
}


@pytest.mark.parametrize("name", sorted(CLASSIFIERS))
def test_replace_head_pops_exactly_the_classifier(name):
    graph = import_torchvision(name, None, (3, 64, 64)).project.graph
    before = {i: graph.nodes[i].name for i in graph.nodes}
    removed, added = transfer.replace_head(graph, 5)
    assert [before[i] for i in removed] == ["output", *CLASSIFIERS[name]]
    analysis = analyze(graph)
    assert analysis.ok and graph.lint() == []
    names = [graph.nodes[i].name for i in added]
    assert names[-2:] == ["head_fc", "output"]
    head = graph.by_name("head_fc")
    assert head.params["units"] == 5 and graph.by_name("output").params["classes"] == 5
    assert len(analysis.results[head.id].input_shapes[0]) == 1


def test_freeze_boundary_freezes_before_and_thaws_after():
    graph = import_torchvision("resnet18", None, (3, 64, 64)).project.graph
    transfer.freeze(graph)
    frozen, thawed = transfer.freeze_boundary(graph, "layer2")
    names = {graph.nodes[i].name for i in frozen}
    assert {"conv1", "bn1", "layer2_1_bn2"} <= names
    assert {graph.nodes[i].name for i in thawed} >= {"layer3_0_conv1", "layer4_1_conv2", "fc"}
    assert all(graph.nodes[i].params["lr_mult"] == 1.0 for i in thawed)


def test_a_backbone_described_for_a_cut_matches_torchvision():
    from torchvision import models

    points = cut_points("torchvision:resnet50")
    assert points[:5] == ["conv1", "bn1", "relu", "maxpool", "layer1"]
    assert "layer3.5" in points and points[-1] == "fc"
    params = describe("torchvision:resnet50", "layer3", (3, 96, 96))
    model = models.resnet50(weights=None).eval()
    trunk = torch.nn.Sequential(*list(model.children())[:7])  # conv1 … layer3
    with torch.no_grad():
        out = trunk(torch.zeros(1, 3, 96, 96))
    assert params["out_shape"] == list(out.shape[1:])
    assert params["trainable"] == sum(p.numel() for p in trunk.parameters())
    assert params["in_shape"] == [3, 96, 96] and params["macs"] > 0
    state = models.resnet18(weights=None).state_dict()
    kept = kept_tensors(state, "torchvision:resnet18", "layer2")
    assert kept is not None and "layer2.1.bn2.running_var" in kept
    assert not any(k.startswith(("layer3", "fc")) for k in kept)
    assert kept_tensors(kept, "torchvision:resnet18", "layer3") is None  # never stored
