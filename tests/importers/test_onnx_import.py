"""ONNX models as Netdraft graphs: torchvision networks exported by torch, a hand-built graph
covering the mapped ops, unmappable ops, and files that are not ONNX."""

from __future__ import annotations

import logging
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from importer_helpers import ONNX_SIZES, TOLERANCE, build_with_weights, max_diff, random_model
from onnx import TensorProto, helper, numpy_helper

from engine import weights
from engine.importers.onnx_import import import_onnx
from engine.importers.safe_load import ImportFailure
from engine.importers.torchvision import TESTED
from engine.project import save

ROOT = Path(__file__).resolve().parents[2]


def export(model: torch.nn.Module, size: int, path: Path, dynamo: bool = False) -> Path:
    """torch's exporter with a dynamic batch; TrainingMode.PRESERVE keeps BatchNorm as a node
    instead of folding it into the convolution weights."""
    x = torch.rand(1, 3, size, size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            if dynamo:
                torch.onnx.export(model, (x,), str(path), dynamo=True, external_data=False,
                                  verbose=False,
                                  dynamic_shapes=({0: torch.export.Dim("batch", min=1)},))
            else:
                torch.onnx.export(model, (x,), str(path), dynamo=False, input_names=["image"],
                                  dynamic_axes={"image": {0: "batch"}},
                                  training=torch.onnx.TrainingMode.PRESERVE)
        finally:
            logging.disable(logging.NOTSET)
    return path


def import_built(path: Path, tmp_path: Path, **kwargs):
    imported = import_onnx(path, **kwargs)
    project_path = tmp_path / "imported.netdraft"
    weights.save(imported.project, project_path, imported.tensors, "imported")
    save(imported.project, project_path)
    module, _ = build_with_weights(imported.project, project_path)
    return imported, module


def run_onnxruntime(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


@pytest.mark.parametrize("name", TESTED)
def test_torchvision_exported_to_onnx_imports_and_computes_the_same(tmp_path, name):
    size = ONNX_SIZES[name]
    model = random_model(name)
    path = export(model, size, tmp_path / f"{name}.onnx")
    imported, module = import_built(path, tmp_path)
    assert all(n.kind != "Backbone" for n in imported.project.graph.leaves())
    batch = 2 if size <= 64 else 1  # a batch of 2 checks the dynamic batch axis
    x = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert max_diff(module(x), model(x)) <= TOLERANCE, name


def test_netdraft_style_dynamo_export_imports(tmp_path):
    """torch's dynamo exporter (what `main.py export --onnx` uses) folds BatchNorm into the
    convolutions and writes pooling as ReduceMean and flatten as Reshape."""
    model = random_model("mobilenet_v3_small")
    path = export(model, 64, tmp_path / "m.onnx", dynamo=True)
    kinds = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert {"ReduceMean", "Reshape"} <= kinds
    imported, module = import_built(path, tmp_path)
    x = np.random.default_rng(0).random((2, 3, 64, 64), dtype=np.float32)
    expected = run_onnxruntime(path, x)
    with torch.no_grad():
        ours = module(torch.from_numpy(x)).numpy()
    assert np.abs(ours - expected).max() <= TOLERANCE * max(1.0, np.abs(expected).max())


def _init(name: str, array: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(np.asarray(array), name)


def coverage_model(path: Path) -> Path:
    """One graph with most mapped ops, small enough to check against onnxruntime."""
    rng = np.random.default_rng(0)
    f32 = np.float32
    inits = [
        _init("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)),
        _init("w1", rng.normal(0, 0.3, (8, 3, 3, 3)).astype(f32)),
        _init("b1", rng.normal(0, 0.1, 8).astype(f32)),
        _init("wt", rng.normal(0, 0.3, (8, 4, 2, 2)).astype(f32)),
        _init("scales", np.array([1, 1, 2, 2], f32)),
        _init("lo", np.array(0, f32)), _init("hi", np.array(6, f32)),
        _init("wm", rng.normal(0, 0.3, (12, 10)).astype(f32)),
        _init("bm", rng.normal(0, 0.1, 10).astype(f32)),
        _init("ratio", np.array(0.25, f32)),
        _init("wg", rng.normal(0, 0.3, (10, 6)).astype(f32)),
        _init("bg", rng.normal(0, 0.1, 6).astype(f32)),
        _init("shape", np.array([-1, 6], np.int64)),
        _init("bn_s", rng.uniform(0.5, 1.5, 12).astype(f32)),
        _init("bn_b", rng.normal(0, 0.1, 12).astype(f32)),
        _init("bn_m", rng.normal(0, 0.1, 12).astype(f32)),
        _init("bn_v", rng.uniform(0.5, 1.5, 12).astype(f32)),
    ]
    N = helper.make_node
    nodes = [
        N("Pad", ["x", "pads"], ["p"], mode="constant"),
        N("Conv", ["p", "w1", "b1"], ["c"], kernel_shape=[3, 3]),
        N("LeakyRelu", ["c"], ["l"], alpha=0.1),
        N("LRN", ["l"], ["n"], size=3, alpha=1e-3, beta=0.75, bias=2.0),
        N("AveragePool", ["n"], ["a"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
          count_include_pad=1),
        N("MaxPool", ["a"], ["m"], kernel_shape=[2, 2], strides=[2, 2]),
        N("Resize", ["m", "", "scales"], ["r"], mode="nearest",
          coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
        N("ConvTranspose", ["m", "wt"], ["t"], kernel_shape=[2, 2], strides=[2, 2]),
        N("Concat", ["r", "t"], ["cc"], axis=1),
        N("BatchNormalization", ["cc", "bn_s", "bn_b", "bn_m", "bn_v"], ["bn"], epsilon=1e-3),
        N("Clip", ["bn", "lo", "hi"], ["c6"]),
        N("HardSwish", ["c6"], ["hs"]),
        N("GlobalAveragePool", ["hs"], ["g"]),
        N("HardSigmoid", ["g"], ["gs"], alpha=1 / 6, beta=0.5),
        N("Mul", ["hs", "gs"], ["se"]),
        N("Sum", ["se", "hs"], ["s2"]),
        N("GlobalMaxPool", ["s2"], ["gm"]),
        N("Flatten", ["gm"], ["fl"], axis=1),
        N("MatMul", ["fl", "wm"], ["mm"]),
        N("Add", ["mm", "bm"], ["d"]),
        N("Dropout", ["d", "ratio"], ["dd"]),
        N("Gemm", ["dd", "wg", "bg"], ["gg"], transB=0),
        N("Reshape", ["gg", "shape"], ["rr"]),
        N("Softmax", ["rr"], ["y"], axis=1),
    ]
    graph = helper.make_graph(
        nodes, "coverage", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                          ["batch", 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 6])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def test_mapped_ops_compute_what_onnxruntime_computes(tmp_path):
    path = coverage_model(tmp_path / "coverage.onnx")
    imported, module = import_built(path, tmp_path)
    kinds = {n.kind for n in imported.project.graph.leaves()}
    assert {"ZeroPad2D", "Conv2D", "LeakyReLU", "LocalResponseNorm", "AvgPool2D", "MaxPool2D",
            "Upsample", "ConvTranspose2D", "Concat", "BatchNorm", "ReLU6", "Hardswish",
            "AdaptiveAvgPool", "Hardsigmoid", "Multiply", "Add", "GlobalMaxPool", "Reshape",
            "Flatten", "Dense", "Dropout", "Softmax", "Output"} <= kinds
    dense = [n for n in imported.project.graph.leaves() if n.kind == "Dense"]
    assert all(n.params["bias"] for n in dense)  # MatMul + Add became one Dense
    x = np.random.default_rng(1).normal(0, 1, (2, 3, 16, 16)).astype(np.float32)
    with torch.no_grad():
        ours = module(torch.from_numpy(x)).numpy()
    assert np.abs(ours - run_onnxruntime(path, x)).max() <= TOLERANCE


def unmappable_model(path: Path) -> Path:
    """A Conv, then Neg (no block) between two Transposes (Permute blocks), then a pool."""
    rng = np.random.default_rng(2)
    N = helper.make_node
    nodes = [N("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             N("Transpose", ["c"], ["t"], perm=[0, 1, 3, 2]),
             N("Neg", ["t"], ["n"]),
             N("Transpose", ["n"], ["b"], perm=[0, 1, 3, 2]),
             N("Relu", ["b"], ["r"]),
             N("GlobalAveragePool", ["r"], ["g"]),
             N("Flatten", ["g"], ["y"])]
    graph = helper.make_graph(
        nodes, "unmappable",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [_init("w", rng.normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32))])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_unmappable_ops_are_listed_by_name_and_count(tmp_path):
    path = unmappable_model(tmp_path / "u.onnx")
    with pytest.raises(ImportFailure) as failure:
        import_onnx(path)
    assert failure.value.code == 1
    assert "no block for: Neg ×1." in str(failure.value)  # the Transposes are Permutes
    assert "--keep-unknown" in str(failure.value)


def test_keep_unknown_keeps_the_model_in_a_backbone_run_by_torch(tmp_path):
    path = unmappable_model(tmp_path / "u.onnx")
    imported, module = import_built(path, tmp_path, keep_unknown=True)
    kinds = [n.kind for n in imported.project.graph.leaves()]
    assert kinds == ["Input", "Backbone", "Output"]
    block = imported.project.graph.by_name("u")
    assert block.params["trainable"] == 4 * 3 * 3 * 3 and block.params["out_shape"] == [4]
    x = np.random.default_rng(3).normal(0, 1, (1, 3, 8, 8)).astype(np.float32)
    with torch.no_grad():
        ours = module(torch.from_numpy(x)).numpy()
    assert np.abs(ours - run_onnxruntime(path, x)).max() <= TOLERANCE


@pytest.mark.parametrize("content", [b"", b"not an onnx model at all\n", "truncated"])
def test_a_damaged_or_foreign_file_gives_a_clear_error(tmp_path, content):
    path = tmp_path / "bad.onnx"
    if content == "truncated":
        good = coverage_model(tmp_path / "good.onnx").read_bytes()
        content = good[: len(good) // 3]
    path.write_bytes(content)
    with pytest.raises(ImportFailure) as failure:
        import_onnx(path)
    assert failure.value.code == 2
    assert str(path) in str(failure.value)


def test_cli_import_of_a_damaged_onnx_file_exits_2_without_a_traceback(tmp_path):
    path = tmp_path / "bad.onnx"
    path.write_bytes(b"\x08\x07garbage")
    out = subprocess.run([sys.executable, "main.py", "import", str(path), "-o",
                          str(tmp_path / "x.netdraft")], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and "bad.onnx" in out.stderr
    assert not (tmp_path / "x.netdraft").exists()


def preprocessing_model(path: Path, raw_reused: bool = False) -> Path:
    """In * (1/255) - mean, / std, then Relu (+ the raw input again when raw_reused)."""
    mean = np.array([0.5, 0.25, 0.125], np.float32).reshape(1, 3, 1, 1)
    std = np.array([0.25, 0.5, 2.0], np.float32).reshape(1, 3, 1, 1)
    nodes = [helper.make_node("Mul", ["In", "scale"], ["m"]),
             helper.make_node("Sub", ["m", "mean"], ["s"]),
             helper.make_node("Div", ["s", "std"], ["d"]),
             helper.make_node("Relu", ["d"], ["out" if not raw_reused else "r"])]
    if raw_reused:
        nodes.append(helper.make_node("Add", ["r", "In"], ["out"]))
    graph = helper.make_graph(
        nodes, "pre", [helper.make_tensor_value_info("In", TensorProto.FLOAT, [1, 3, 4, 4])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, 4, 4])],
        [_init("scale", np.array(1 / 255, np.float32)), _init("mean", mean),
         _init("std", std)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    model.metadata_props.add(key="preprocessing", value='{"scale": 0.00392156862745098, '
                             '"mean": [0.5, 0.25, 0.125], "channel_order": "BGR"}')
    onnx.save(model, str(path))
    return path


def test_preprocessing_after_the_input_becomes_the_input_blocks_params(tmp_path):
    graph = import_onnx(preprocessing_model(tmp_path / "pre.onnx")).project.graph
    node = next(n for n in graph.leaves() if n.kind == "Input")
    assert node.params["scale"] == 1 / 255  # the metadata's exact value
    assert node.params["mean"] == "0.5,0.25,0.125"
    assert node.params["std"] == "0.25,0.5,2.0"
    assert node.params["channel_order"] == "BGR"
    assert [n.kind for n in graph.leaves()] == ["Input", "ReLU"]


def test_preprocessing_is_not_folded_when_the_raw_input_is_used_again(tmp_path):
    with pytest.raises(ImportFailure, match="Mul"):
        import_onnx(preprocessing_model(tmp_path / "pre.onnx", raw_reused=True))
