"""Every layer kind exports: its generated PyTorch code computes what its built module
computes, and its ONNX model matches PyTorch in onnxruntime. One table drives both."""

from __future__ import annotations

import pytest
import torch

from engine.backend.build import build_module
from engine.export.emitters import EMITTERS
from engine.export.onnx_export import export_onnx
from engine.export.parity import check
from engine.export.python_code import class_identifier, generate
from engine.graph import Graph
from engine.layers import REGISTRY
from tests.export.conftest import chain, finish, load_class, randomize

IMAGE = [3, 9, 8]
VECTOR = [12]

# kind -> (input shape, params) cases; the odd sizes exercise padding and ceil_mode.
CASES: dict[str, list[tuple[list[int], dict]]] = {
    "Conv2D": [
        (IMAGE, {"filters": 4, "kernel_size": 3}),
        (IMAGE, {"filters": 4, "kernel_size": 4, "padding": "same", "stride": 2,
                 "activation": "relu", "initializer": "he_normal"}),
        ([4, 9, 8], {"filters": 6, "kernel_size": [3, 2], "groups": 2, "dilation": 2,
                     "padding": [1, 2], "bias": False, "activation": "softmax"}),
    ],
    "DepthwiseConv2D": [([3, 8, 8], {"depth_multiplier": 2, "padding": "same",
                                      "activation": "relu6"})],
    "ConvTranspose2D": [([3, 5, 5], {"filters": 4, "kernel_size": 3, "stride": 2,
                                      "padding": 1, "output_padding": 1,
                                      "activation": "tanh"})],
    "MaxPool2D": [([2, 9, 9], {"pool_size": 3, "stride": 2, "ceil_mode": True}),
                  ([2, 8, 8], {"pool_size": 2, "stride": 1, "padding": "same"})],
    "AvgPool2D": [([2, 9, 9], {"pool_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
                  ([2, 8, 8], {"pool_size": 2, "stride": 1, "padding": "same"})],
    "SumPool2D": [([2, 8, 8], {"pool_size": 2}),
                  ([2, 9, 9], {"pool_size": 3, "stride": 2, "ceil_mode": True}),
                  ([2, 8, 8], {"pool_size": 2, "stride": 1, "padding": "same"})],
    "GlobalAvgPool": [(IMAGE, {})],
    "GlobalMaxPool": [(IMAGE, {})],
    # 9×8 to 4×3 does not divide evenly: torchscript cannot export it, dynamo takes over.
    "AdaptiveAvgPool": [([3, 7, 7], {"output_size": 1}), (IMAGE, {"output_size": [4, 3]})],
    "Dense": [(VECTOR, {"units": 5, "activation": "gelu", "initializer": "glorot_uniform"}),
              (VECTOR, {"units": 5, "bias": False, "activation": "log_softmax"})],
    "RBF": [(VECTOR, {"units": 5})],
    "BatchNorm": [(IMAGE, {}), (VECTOR, {"momentum": 0.01, "epsilon": 0.001})],
    "LayerNorm": [(IMAGE, {}), (VECTOR, {"epsilon": 0.001})],
    # An odd window exports as one LRN node, an even one as torch's decomposition.
    "LocalResponseNorm": [([7, 5, 5], {"size": 3, "alpha": 0.001, "beta": 0.5, "k": 1.5}),
                          ([7, 5, 5], {"size": 4, "alpha": 0.01, "beta": 0.75, "k": 2.0})],
    "Dropout": [(VECTOR, {"rate": 0.3})],
    "SpatialDropout2D": [(IMAGE, {"rate": 0.2})],
    "LeakyReLU": [(IMAGE, {"negative_slope": 0.2})],
    "ELU": [(IMAGE, {"alpha": 0.5})],
    "Softmax": [([6], {})],
    "LogSoftmax": [([6], {})],
    "Flatten": [([2, 3, 4], {})],
    "Reshape": [(VECTOR, {"shape": [3, 2, 2]})],
    "ZeroPad2D": [([2, 3, 4], {"padding": [1, 2]})],
    "Upsample": [([2, 3, 3], {"scale_factor": 2}),
                 ([2, 3, 3], {"scale_factor": 2, "mode": "bilinear"})],
    "Backbone": [([3, 224, 224], {})],
}
for _kind in ("ReLU", "ReLU6", "GELU", "SiLU", "Tanh", "Sigmoid", "Hardswish", "Hardsigmoid"):
    CASES[_kind] = [(IMAGE, {})]
MERGES = ("Add", "Concat", "Multiply")
SLOW_KINDS = {"Backbone"}


def merge_project(kind: str, broadcast: bool = False) -> tuple[Graph, str]:
    """Input -> two branches -> the merge (Multiply can scale maps by a C×1×1 branch)."""
    g = Graph()
    image = g.add_node("Input", "image", {"shape": [3, 5, 5]})
    a = g.add_node("ReLU", "left")
    g.connect(image.id, a.id)
    if broadcast:
        pooled = g.add_node("GlobalAvgPool", "squeeze")
        b = g.add_node("Reshape", "right", {"shape": [3, 1, 1]})
        g.connect(image.id, pooled.id)
        g.connect(pooled.id, b.id)
    else:
        b = g.add_node("Tanh", "right")
        g.connect(image.id, b.id)
    merge = g.add_node(kind, "merge")
    g.connect(a.id, merge.id)
    g.connect(b.id, merge.id)
    if not broadcast:
        g.connect(image.id, merge.id)  # a third input, straight from the Input
    return g, merge.id


def _cases():
    for kind, cases in CASES.items():
        for i, (shape, params) in enumerate(cases):
            marks = [pytest.mark.slow] if kind in SLOW_KINDS else []
            yield pytest.param(kind, shape, params, id=f"{kind}-{i}", marks=marks)


def project_for(kind: str, shape: list[int], params: dict):
    if kind in MERGES:
        g, last = merge_project(kind, broadcast=bool(params.get("broadcast")))
        return finish(g, last, name=f"{kind} case")
    return chain(shape, (kind, params), name=f"{kind} case")


ALL_CASES = list(_cases()) + [
    pytest.param(kind, [3, 5, 5], {}, id=f"{kind}-0") for kind in MERGES] + [
    pytest.param("Multiply", [3, 5, 5], {"broadcast": True}, id="Multiply-broadcast")]


def test_every_registered_kind_has_an_emitter_and_a_case():
    """Adding a layer kind means adding its emitter (engine/export/emitters.py) and a case
    here: both lists are checked against the registry."""
    kinds = set(REGISTRY.ids())
    assert kinds - set(EMITTERS) == set(), "kinds without Python code"
    assert set(EMITTERS) - kinds == set(), "emitters for kinds that no longer exist"
    covered = set(CASES) | set(MERGES) | {"Input", "Output", "Flatten"}
    assert kinds - covered == set(), "kinds without an export test case"


@pytest.mark.parametrize(("kind", "shape", "params"), ALL_CASES)
def test_kind_exports_to_python_and_onnx(kind, shape, params, tmp_path):
    project = project_for(kind, shape, params)
    torch.manual_seed(0)
    module = randomize(build_module(project.graph))
    x = torch.rand((2, *module.input_shape), generator=torch.Generator().manual_seed(3))

    path = tmp_path / "model.py"
    path.write_text(generate(project), encoding="utf-8")
    generated = load_class(path, class_identifier(project.name))().eval()
    generated.load_state_dict(module.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(generated(x), module(x), rtol=0, atol=1e-5)
        if hasattr(generated, "logits"):
            torch.testing.assert_close(generated.logits(x), module.logits(x), rtol=0,
                                       atol=1e-5)

    result = export_onnx(project, module, tmp_path / "model.onnx")
    report = check(module, result.path, x)
    assert report.passed, report.summary()
    assert report.max_abs_diff <= 1e-4
    if kind == "AdaptiveAvgPool" and params["output_size"] == [4, 3]:
        assert result.exporter == "dynamo"


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
