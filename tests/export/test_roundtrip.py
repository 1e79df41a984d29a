"""Round trip: export a template to ONNX, import it back with the ONNX importer
(engine.importers.onnx_import, the transfer-learning issue), and get a graph that validates
with the same shapes, the same parameter count and the same outputs."""

from __future__ import annotations

import pytest
import torch

from engine import templates
from engine.backend.build import build_module
from engine.export.onnx_export import export_onnx
from engine.graph import MISSING
from engine.importers import onnx_import
from engine.validate import analyze
from tests.export.conftest import randomize


def weighted_shapes(graph) -> list[tuple[int, ...]]:
    """Output shapes of the blocks that hold weights, sorted: what an import must keep
    (it may split a fused activation into its own block, and drops Dropout). Sorted, since
    parallel branches (GoogLeNet's inception blocks) may come back in another valid order."""
    analysis = analyze(graph)
    return sorted(analysis.results[i].shape for i in analysis.order
                  if analysis.results[i].params)


def round_trip(project, tmp_path, exporter: str = "auto"):
    torch.manual_seed(0)
    module = randomize(build_module(project.graph))
    path = tmp_path / "model.onnx"
    export_onnx(project, module, path, exporter=exporter)
    imported = onnx_import.import_onnx(path)
    graph = imported.project.graph
    analysis = analyze(graph)
    assert analysis.ok, [str(p) for p in analysis.problems]
    before, after = analyze(project.graph).totals(), analysis.totals()
    assert (after["trainable"], after["non_trainable"]) == (before["trainable"],
                                                             before["non_trainable"])
    assert weighted_shapes(graph) == weighted_shapes(project.graph)
    rebuilt = build_module(graph).eval()
    for node_id, tensors in imported.tensors.items():
        getattr(rebuilt, rebuilt.attr_of[node_id]).load_state_dict(tensors)
    x = torch.rand((2, *module.input_shape)) * 255
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), module(x), rtol=0, atol=1e-5)


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_resnet18_without_preprocessing_round_trips(exporter, tmp_path):
    project = templates.open_template("resnet18")
    node = next(n for n in project.graph.leaves() if n.kind == "Input")
    for key in ("scale", "mean", "std"):
        project.graph.set_param(node.id, key, MISSING)
    round_trip(project, tmp_path, exporter)


@pytest.mark.parametrize("name", ["keras-mnist", "lenet-5", "googlenet", "resnet18",
                                  pytest.param("alexnet", marks=pytest.mark.slow)])
def test_template_round_trips(name, tmp_path):
    """The Input's preprocessing (Mul/Sub/Div), RBF's ReduceSum/MatMul pattern and
    AlexNet's local response norms (one LRN node each) come back as the blocks they were
    exported from."""
    round_trip(templates.open_template(name), tmp_path)
