"""The builder against the real thing: torchvision's resnet18, and the graph's own rules."""

from __future__ import annotations

import pytest
import torch

from engine.backend.build import (
    BuildError,
    apply_freezing,
    build_module,
    frozen_modules,
    map_state_dict,
)
from engine.graph import Graph
from engine.templates import open_template
from engine.templates import path as template_path

torchvision = pytest.importorskip("torchvision")


def small_graph(**input_params) -> Graph:
    g = Graph()
    x = g.add_node("Input", "in", {"shape": [1, 8, 8], **input_params}).id
    c = g.add_node("Conv2D", "conv1", {"filters": 4, "kernel_size": 3, "activation": "relu"})
    g.connect(x, c.id)
    grp = g.group([c.id], name="block")
    f = g.add_node("Flatten", "flat")
    g.connect(c.id, f.id)
    d = g.add_node("Dense", "fc", {"units": 3, "activation": "softmax"})
    g.connect(f.id, d.id)
    o = g.add_node("Output", "out", {"classes": 3})
    g.connect(d.id, o.id)
    g.grp_id = grp.id  # type: ignore[attr-defined]
    return g


def _perturb_batchnorm(model: torch.nn.Module) -> None:
    """Give every BatchNorm non-trivial statistics so the comparison means something."""
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) * 0.5 + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=gen) * 0.1)


@pytest.mark.skipif(not template_path("resnet18").exists(), reason="resnet18 template missing")
def test_resnet18_template_matches_torchvision_with_its_weights():
    torch.manual_seed(0)
    reference = torchvision.models.resnet18().eval()
    _perturb_batchnorm(reference)
    project = open_template("resnet18")
    model = build_module(project.graph).eval()
    model.load_state_dict(map_state_dict(model, reference.state_dict()))
    assert "layer1_0_conv1.weight" in model.state_dict()
    pixels = torch.randint(0, 256, (2, 3, 224, 224), generator=torch.Generator().manual_seed(2))
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        ours = model(pixels.float())
        theirs = reference((pixels.float() * (1 / 255) - mean) / std)
    assert ours.shape == theirs.shape == (2, 1000)
    assert theirs.abs().max() > 0.1
    assert (ours - theirs).abs().max().item() <= 1e-5


def test_preprocessing_runs_inside_and_stays_out_of_the_state_dict():
    g = small_graph(scale=0.5, mean="1.0", std="2.0")
    model = build_module(g)
    plain = build_module(g, preprocess=False)
    plain.load_state_dict(model.state_dict())
    x = torch.rand(2, 1, 8, 8) * 10
    assert set(model.state_dict()) == set(plain.state_dict())
    torch.testing.assert_close(model(x), plain((x * 0.5 - 1.0) / 2.0))
    assert model(x.to(torch.uint8)).dtype == torch.float32


def test_bad_mean_names_the_input():
    with pytest.raises(BuildError, match="Input 'in': mean needs 1 or 1 values"):
        build_module(small_graph(mean="1,2"))


def test_logits_strip_the_softmax():
    model = build_module(small_graph())
    x = torch.rand(4, 1, 8, 8)
    torch.testing.assert_close(torch.softmax(model.logits(x), 1), model(x))


def test_group_lr_mult_freezes_its_members_and_a_member_can_override():
    g = small_graph()
    g.set_param(g.grp_id, "lr_mult", 0.0)
    model = build_module(g)
    groups = apply_freezing(g, model)
    assert not model.conv1.weight.requires_grad and model.fc.weight.requires_grad
    assert [grp["lr_mult"] for grp in groups] == [1.0]
    assert frozen_modules(g, model) == [model.conv1]
    g.set_param(g.by_name("conv1").id, "lr_mult", 0.1)
    model = build_module(g)
    assert sorted(grp["lr_mult"] for grp in apply_freezing(g, model)) == [0.1, 1.0]


def test_map_state_dict_reports_the_mismatch():
    model = build_module(small_graph())
    foreign = {"features.0.weight": torch.zeros(4, 1, 3, 3), "features.0.bias": torch.zeros(4),
               "classifier.weight": torch.zeros(3, 99), "classifier.bias": torch.zeros(3)}
    with pytest.raises(BuildError, match=r"\(3, 99\).*fc.weight.*\(3, 144\)"):
        map_state_dict(model, foreign)
