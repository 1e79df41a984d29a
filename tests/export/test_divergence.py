"""A failed parity check names the block that computes something else, not the first one
whose outputs show a difference made upstream.

The network: two Dense blocks of large, opposite weights (outputs ~1e4), an Add of the two
(~0.1: all but the biases cancel) and a Dense head. The ONNX file is exported from a copy in
which one of the two is 1e-6 larger, as a second runtime's float32 rounding may make it: that
block agrees within the check's rule, the Add turns the difference into ~1e-2 on outputs of
~0.1, and the head passes it on. EfficientNetV2-S with badly calibrated weights did the same
over 15 blocks, and the check blamed a Sigmoid that computes exactly what PyTorch does.
"""

from __future__ import annotations

import copy

import torch

from engine.backend.build import build_module
from engine.export.divergence import first_divergence
from engine.export.onnx_export import export_onnx
from engine.export.parity import check
from engine.graph import Graph
from tests.export.conftest import finish


def _cancelling():
    g = Graph()
    source = g.add_node("Input", "x", {"shape": [16]})
    add = g.add_node("Add", "add")
    for name in ("up", "down"):
        dense = g.add_node("Dense", name, {"units": 8})
        g.connect(source.id, dense.id)
        g.connect(dense.id, add.id)
    head = g.add_node("Dense", "head", {"units": 3})
    g.connect(add.id, head.id)
    project = finish(g, head.id)
    module = build_module(project.graph).eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        weight = 1e4 * torch.randn(8, 16, generator=generator)
        module.up.weight.copy_(weight)
        module.down.weight.copy_(-weight)
        for dense in (module.up, module.down):
            dense.bias.copy_(0.1 * torch.randn(8, generator=generator))
    rounded = copy.deepcopy(module)
    with torch.no_grad():
        rounded.down.weight.mul_(1 + 1e-6)
    return project, module, rounded


def _export(project, module, tmp_path):
    path = tmp_path / "case.onnx"
    export_onnx(project, module, path)
    return path


def test_amplified_rounding_blames_no_block(tmp_path):
    project, module, rounded = _cancelling()
    path = _export(project, rounded, tmp_path)
    inputs = torch.rand(2, 16, generator=torch.Generator().manual_seed(1))
    assert not check(module, path, inputs).passed
    assert first_divergence(project.graph, module, path, inputs, 1e-4) == ""


def test_a_wrong_block_after_amplified_rounding_is_named(tmp_path):
    project, module, rounded = _cancelling()
    with torch.no_grad():
        rounded.head.bias += 0.5
    path = _export(project, rounded, tmp_path)
    inputs = torch.rand(2, 16, generator=torch.Generator().manual_seed(1))
    blamed = first_divergence(project.graph, module, path, inputs, 1e-4)
    assert blamed.startswith("Dense 'head' (its outputs differ by up to 5.0e-01"), blamed
