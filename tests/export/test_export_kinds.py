"""Export paths particular kinds take, beyond the kinds' table (tests/kinds/cases.py, where
every kind's generated code and ONNX export are checked): the dynamo exporter on Netdraft's
own blocks, and LRN as one ONNX node."""

from __future__ import annotations

import pytest
import torch

from engine.backend.build import build_module
from engine.export.onnx_export import export_onnx
from engine.export.parity import check
from tests.export.conftest import chain, randomize


def test_the_dynamo_exporter_handles_the_custom_blocks(tmp_path):
    """The fallback exporter on the blocks Netdraft implements itself: 'same' padding with
    an even kernel, sum pooling with ceil_mode, LRN, max pooling's -inf padding, RBF."""
    project = chain([3, 10, 9],
                    ("Conv2D", {"filters": 6, "kernel_size": 4, "padding": "same",
                                "activation": "relu"}),
                    ("SumPool2D", {"pool_size": 3, "stride": 2, "ceil_mode": True}),
                    ("LocalResponseNorm", {"size": 3}),
                    ("MaxPool2D", {"pool_size": 2, "stride": 1, "padding": "same"}),
                    ("Flatten", {}), ("Dense", {"units": 8}), ("RBF", {"units": 4}))
    module = randomize(build_module(project.graph))
    result = export_onnx(project, module, tmp_path / "m.onnx", exporter="dynamo")
    assert result.exporter == "dynamo"
    x = torch.rand(3, 3, 10, 9)
    report = check(module, result.path, x)
    assert report.passed, report.summary()


@pytest.mark.parametrize("size, lrn_nodes", [(5, 1), (4, 0)])
def test_local_response_norm_is_one_lrn_node_where_onnx_means_the_same(size, lrn_nodes,
                                                                       tmp_path):
    """ONNX's LRN window is centred as torch's only for odd sizes (AlexNet's 5)."""
    import onnx

    project = chain([8, 4, 4], ("LocalResponseNorm", {"size": size, "alpha": 0.01,
                                                      "beta": 0.75, "k": 2.0}))
    module = randomize(build_module(project.graph)).eval()
    result = export_onnx(project, module, tmp_path / "lrn.onnx", exporter="torchscript")
    ops = [n.op_type for n in onnx.load(str(result.path)).graph.node]
    assert ops.count("LRN") == lrn_nodes, ops
    assert ("Pow" in ops) == (lrn_nodes == 0), ops
    x = torch.rand((3, 8, 4, 4), generator=torch.Generator().manual_seed(1)) * 4
    report = check(module, result.path, x)
    assert report.passed and report.max_abs_diff <= 1e-5, report.summary()
