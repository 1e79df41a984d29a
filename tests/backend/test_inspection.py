"""Feature maps, filters and Grad-CAM against a plain PyTorch forward hook and a reference
Grad-CAM written here; the loader and the image decoding the designer's views use."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from engine import templates
from engine.backend.build import build_module
from engine.backend.evaluate import load_network, predict
from engine.backend.images import digits
from engine.backend.inspection import (
    activations,
    class_probabilities,
    convolutions,
    filters,
    grad_cam,
    image_tensor,
    load_for_inspection,
)
from engine.graph import Graph
from tests.backend.trained import train_tiny


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("inspection"))


def _id(graph, name):
    return next(n.id for n in graph.leaves() if n.name == name)


def _hooked(model, block, x):
    """A block's output by a plain forward hook on the same module."""
    seen = []
    handle = block.register_forward_hook(lambda m, i, o: seen.append(o.detach()))
    with torch.no_grad():
        model(x[None])
    handle.remove()
    return seen[0][0].numpy()


def reference_grad_cam(model, block, x, cls):
    """Selvaraju et al.'s Grad-CAM, written out: activations by a forward hook, their
    gradient by a tensor hook, channel weights by global average pooling, ReLU, bilinear
    resize to the input, divided by the maximum."""
    store = {}

    def forward_hook(module, inputs, output):
        store["a"] = output
        output.register_hook(lambda grad: store.__setitem__("g", grad))

    handle = block.register_forward_hook(forward_hook)
    inp = x[None].clone().requires_grad_(True)
    model.zero_grad()
    model.logits(inp)[0, cls].backward()
    handle.remove()
    a, g = store["a"].detach()[0], store["g"][0]
    cam = torch.clamp((g.mean(dim=(1, 2))[:, None, None] * a).sum(0), min=0)
    cam = F.interpolate(cam[None, None], size=x.shape[-2:], mode="bilinear",
                        align_corners=False)[0, 0]
    return (cam / cam.max()).numpy() if cam.max() > 0 else cam.numpy()


def test_loader_gives_the_run_weights_and_images_as_training_reads_them(trained, tmp_path):
    project, path, run = trained
    module, graph, names, target = load_for_inspection(path, run)
    state = torch.load(run / "best.pt", weights_only=True)["model"]
    for key, value in module.state_dict().items():
        torch.testing.assert_close(value, state[key], rtol=0, atol=0)
    assert not module.training and names == [str(i) for i in range(10)]
    x, _ = digits(20, 20)
    Image.fromarray(x[5, 0].numpy()).save(tmp_path / "five.png")
    from_file = image_tensor(tmp_path / "five.png", target)
    from_array = image_tensor(x[5, 0].numpy(), target)
    assert from_file.shape == (1, 8, 8) and from_file.dtype == torch.float32
    np.testing.assert_allclose(from_file, from_array, atol=1.0)  # PIL's and torch's resize
    # The same probabilities as `predict` gives for that file.
    (result,) = predict(load_network(project, run), [str(tmp_path / "five.png")], top=10)
    probs = class_probabilities(module, graph, from_file)
    for cls, p in result.top:
        assert probs[cls] == pytest.approx(p, rel=1e-5)


def test_rescale_from_the_run_is_applied_and_fresh_weights_load_without_a_run():
    project = templates.open_template("lenet-5")
    project.augmentation = {"rescale": 0.5}
    module, graph, names, target = load_for_inspection(project)
    assert target.rescale == 0.5 and len(names) == 10
    pixels = np.full((32, 32), 200, np.uint8)
    assert image_tensor(pixels, target).max().item() == 100.0
    torch.manual_seed(0)
    again = load_for_inspection(project)[0]  # the project's seed, whatever the global RNG
    for key, value in module.state_dict().items():
        torch.testing.assert_close(value, again.state_dict()[key])


def test_activations_equal_a_plain_forward_hook(trained):
    project, path, run = trained
    module, graph, _, target = load_for_inspection(path, run)
    x = image_tensor(digits(8, 8)[0][7, 0].numpy(), target)
    reference = build_module(graph)
    reference.load_state_dict(torch.load(run / "best.pt", weights_only=True)["model"])
    reference.eval()
    for name in ("conv1", "pool1", "flat", "fc"):
        got = activations(module, graph, _id(graph, name), x)
        want = _hooked(reference, getattr(reference, reference.attr_of[_id(graph, name)]), x)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    assert activations(module, graph, _id(graph, "conv1"), x).shape == (4, 8, 8)
    np.testing.assert_allclose(activations(module, graph, _id(graph, "in"), x),
                               x.numpy() / 255, rtol=1e-6)
    np.testing.assert_allclose(activations(module, graph, _id(graph, "out"), x),
                               activations(module, graph, _id(graph, "fc"), x))
    module.train()
    activations(module, graph, _id(graph, "conv1"), x)
    assert module.training  # the mode is left as it was


def test_filters_are_the_convolution_weights_out_in_kh_kw():
    g = Graph()
    names = {}
    prev = None
    for kind, name, params in [
            ("Input", "in", {"shape": [3, 8, 8]}),
            ("Conv2D", "conv", {"filters": 5, "kernel_size": 3}),
            ("DepthwiseConv2D", "dw", {"kernel_size": 3, "depth_multiplier": 2}),
            ("ConvTranspose2D", "up", {"filters": 4, "kernel_size": 2, "stride": 2}),
            ("GlobalAvgPool", "gap", {}),
            ("Dense", "fc", {"units": 3}),
            ("Output", "out", {"classes": 3})]:
        node = g.add_node(kind, name, params)
        names[name] = node.id
        if prev:
            g.connect(prev, node.id)
        prev = node.id
    module = build_module(g)
    assert convolutions(module) == [names["conv"], names["dw"], names["up"]]
    np.testing.assert_array_equal(filters(module, names["conv"]),
                                  module.conv.weight.detach().numpy())
    assert filters(module, names["conv"]).shape == (5, 3, 3, 3)
    assert filters(module, names["dw"]).shape == (10, 1, 3, 3)
    up = filters(module, names["up"])
    assert up.shape == (4, 10, 2, 2)
    np.testing.assert_array_equal(up, module.up.weight.detach().transpose(0, 1).numpy())
    with pytest.raises(ValueError, match="not a 2-D convolution"):
        filters(module, names["fc"])


def test_grad_cam_equals_the_reference(trained):
    project, path, run = trained
    module, graph, _, target = load_for_inspection(path, run)
    reference = build_module(graph)
    reference.load_state_dict(module.state_dict())
    reference.eval()
    xs = digits(8, 8)[0]
    checked = 0
    for index in (0, 3, 9):
        x = image_tensor(xs[index, 0].numpy(), target)
        for cls in range(10):
            for name in ("conv1", "pool1"):
                node = _id(graph, name)
                got = grad_cam(module, graph, node, x, cls)
                want = reference_grad_cam(reference, getattr(reference, name), x, cls)
                assert got.shape == (8, 8) and got.min() >= 0 and got.max() <= 1
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
                checked += got.max() > 0
    assert checked > 10  # most maps are not empty
    with pytest.raises(ValueError, match="output is C×H×W; 'flat' gives 64"):
        grad_cam(module, graph, _id(graph, "flat"), x, 0)
    with pytest.raises(ValueError, match="'fc' gives the class scores themselves"):
        grad_cam(module, graph, _id(graph, "fc"), x, 0)
    with pytest.raises(ValueError, match="class 10 is not one of"):
        grad_cam(module, graph, _id(graph, "conv1"), x, 10)
    with pytest.raises(ValueError, match="no block with id"):
        activations(module, graph, "nope", x)


def test_grad_cam_on_lenet5_rbf_scores_and_frozen_blocks():
    """LeNet-5's scores are negated RBF distances; a frozen network still gets a map."""
    project = templates.open_template("lenet-5")
    module, graph, _, target = load_for_inspection(project)
    for p in module.parameters():
        p.requires_grad_(False)
    x = image_tensor(digits(32, 32)[0][4, 0].numpy(), target)
    node = _id(graph, "C3")
    reference = build_module(graph)
    reference.load_state_dict(module.state_dict())
    reference.eval()
    got = grad_cam(module, graph, node, x, 4)
    want = reference_grad_cam(reference, reference.C3, x, 4)
    assert got.shape == (32, 32)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert all(p.grad is None for p in module.parameters())
