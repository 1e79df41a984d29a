"""export --int8: the quantized model's accuracy and agreement, computed here from
onnxruntime's outputs on the run's validation images, match the report; blocks kept in
float stay float; a calibration set too small or unreadable is a clear error (exit 2)."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from engine.cli import run as cli
from tests.export.int8_fixtures import digits_npz, trained_lenet

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lenet(tmp_path_factory):
    return trained_lenet(tmp_path_factory.mktemp("int8"))


def export(capsys, *args: str) -> tuple[int, str, str]:
    code = cli(["export", *args])
    out, err = capsys.readouterr()
    return code, out, err


def validation(project_path, run):
    """The run's validation images and classes, as `evaluate` reads them."""
    import torch

    from engine.backend.evaluate import evaluation_data, load_network, samples
    from engine.project import load

    net = load_network(load(project_path), str(run), project_path)
    split, *_ = evaluation_data(net, None)
    xs, ys = zip(*[(x, y) for _, x, y, _ in samples(split, net.target, 64)])
    return torch.cat(xs).float().numpy(), torch.cat(ys).numpy()


def top1(path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    distances = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    return distances.argmin(1)  # lenet-5's RBF head: the nearest class code


def test_int8_accuracy_and_agreement_match_onnxruntime(lenet, tmp_path, capsys):
    path, run = lenet
    f32, i8 = tmp_path / "f32.onnx", tmp_path / "i8.onnx"
    assert export(capsys, str(path), "--weights", str(run), "--onnx", str(f32))[0] == 0
    code, out, err = export(capsys, str(path), "--weights", str(run), "--onnx", str(i8),
                            "--int8", "--json")
    assert code == 0, err
    report = json.loads(out)["int8"]
    x, y = validation(path, run)
    p32, p8 = top1(f32, x), top1(i8, x)
    assert report["validation_samples"] == len(y) == 60
    assert report["float32_accuracy"] == pytest.approx(np.mean(p32 == y))
    assert report["int8_accuracy"] == pytest.approx(np.mean(p8 == y))
    assert report["agreement"] == pytest.approx(np.mean(p32 == p8))
    assert report["difference_points"] == pytest.approx(
        100 * (np.mean(p8 == y) - np.mean(p32 == y)), abs=1e-3)
    assert report["agreement"] >= 0.9  # a trained model quantizes with few changes
    model = onnx.load(str(i8))
    ops = {n.op_type for n in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert report["int8_bytes"] == i8.stat().st_size < 0.5 * f32.stat().st_size
    assert report["float32_bytes"] == pytest.approx(f32.stat().st_size, rel=0.01)
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["preprocessing"])["applied_in_model"] is True
    assert set(report["latency_ms"]["int8"]) == {"1", "32"}
    assert {s["block"] for s in report["sensitivity"]} >= {"C1", "C3", "C5", "F6"}


def test_keep_float_leaves_the_block_unquantized(lenet, tmp_path, capsys):
    path, run = lenet
    out = tmp_path / "kept.onnx"
    code, text, err = export(capsys, str(path), "--weights", str(run), "--onnx", str(out),
                             "--int8", "--per-channel", "--keep-float", "C1")
    assert code == 0, err
    assert "kept in float32: C1" in text
    model = onnx.load(str(out))
    made_by = {o: n for n in model.graph.node for o in n.output}
    conv = {n.name.split("/")[1]: n for n in model.graph.node if n.op_type == "Conv"}
    weight_source = made_by.get(conv["C1"].input[1])
    assert weight_source is None or weight_source.op_type != "DequantizeLinear"
    assert made_by[conv["C3"].input[1]].op_type == "DequantizeLinear"


def test_unknown_keep_float_block_is_a_usage_error(lenet, tmp_path, capsys):
    path, run = lenet
    code, _, err = export(capsys, str(path), "--weights", str(run), "--onnx",
                          str(tmp_path / "x.onnx"), "--int8", "--keep-float", "C9")
    assert code == 2 and "no block named 'C9'" in err


def test_a_calibration_set_too_small_or_unreadable_is_a_clear_error(lenet, tmp_path, capsys):
    path, run = lenet
    small = digits_npz(tmp_path / "few.npz", count=5)
    code, _, err = export(capsys, str(path), "--weights", str(run), "--onnx",
                          str(tmp_path / "x.onnx"), "--int8", "--calibration", str(small))
    assert code == 2 and "too small: 5 image(s)" in err and "at least 16" in err
    code, _, err = export(capsys, str(path), "--weights", str(run), "--onnx",
                          str(tmp_path / "x.onnx"), "--int8", "--calibration",
                          str(tmp_path / "missing"))
    assert code == 2 and "cannot calibrate INT8" in err and "Traceback" not in err


def test_int8_flags_need_int8_and_a_dynamic_batch(tmp_path, capsys):
    from engine import templates
    from engine.project import save

    path = tmp_path / "p.netdraft"
    save(templates.open_template("lenet-5"), path)
    for args, words in ((["--onnx", "o.onnx", "--per-channel"], "give --int8"),
                        (["--onnx", "o.onnx", "--int8", "--fp16"], "two precisions"),
                        (["--onnx", "o.onnx", "--int8", "--batch", "4"], "dynamic"),
                        (["--python", "o.py", "--int8"], "give --onnx")):
        code, _, err = export(capsys, str(path), *args)
        assert code == 2 and words in err, (args, err)
