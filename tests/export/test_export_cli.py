"""`python main.py export`: what it writes, what it prints, and its exit codes."""

from __future__ import annotations

import json

import onnx
import pytest
import torch
from safetensors.torch import load_file

from engine import templates
from engine.backend.build import build_module
from engine.cli import run
from engine.project import save
from tests.export.conftest import chain, randomize


@pytest.fixture
def lenet(tmp_path):
    path = tmp_path / "lenet.netdraft"
    save(templates.open_template("lenet-5"), path)
    return path


@pytest.fixture
def run_dir(tmp_path):
    """A training run folder as the trainer leaves it: best.pt and last.pt."""
    module = randomize(build_module(templates.open_template("lenet-5").graph), seed=5)
    folder = tmp_path / "run"
    folder.mkdir()
    names = [f"digit {i}" for i in range(10)]
    torch.save({"model": module.state_dict(), "class_names": names}, folder / "best.pt")
    torch.save({"model": {}, "class_names": []}, folder / "last.pt")
    return folder, module


def test_exports_all_three_from_a_run_folder(lenet, run_dir, tmp_path, capsys):
    folder, trained = run_dir
    code = run(["export", str(lenet), "--weights", str(folder),
                "--onnx", str(tmp_path / "m.onnx"), "--python", str(tmp_path / "m.py"),
                "--safetensors", str(tmp_path / "m.safetensors")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "best.pt" in out and "parity ok" in out
    model = onnx.load(str(tmp_path / "m.onnx"))
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["class_names"])[3] == "digit 3"  # from the checkpoint
    stored = load_file(str(tmp_path / "m.safetensors"))
    assert torch.equal(stored["C1.weight"], trained.state_dict()["C1.weight"])
    assert "class Lenet5(nn.Module)" in (tmp_path / "m.py").read_text()


def test_json_outcome_holds_the_parity_report(lenet, tmp_path, capsys):
    assert run(["export", str(lenet), "--onnx", str(tmp_path / "m.onnx"), "--json"]) == 0
    outcome = json.loads(capsys.readouterr().out)
    parity = outcome["parity"]
    assert set(parity) >= {"max_abs_diff", "tolerance", "passed", "batch", "providers",
                           "timings"}
    assert parity["passed"] and parity["batch"] == 2
    assert parity["providers"] == ["CPUExecutionProvider"]
    assert {"export_s", "check_s", "torch_s", "onnxruntime_s"} <= set(parity["timings"])
    assert outcome["written"][0]["exporter"] == "torchscript"
    assert "fresh weights" in outcome["weights"]


def test_failed_parity_exits_1_and_keeps_the_file(lenet, tmp_path, capsys):
    code = run(["export", str(lenet), "--onnx", str(tmp_path / "m.onnx"),
                "--tolerance", "1e-12"])
    err = capsys.readouterr().err
    assert code == 1
    assert "parity FAILED" in err and "--tolerance" in err
    assert "Traceback" not in err
    assert (tmp_path / "m.onnx").exists()


def test_static_batch_and_float16(lenet, tmp_path, capsys):
    assert run(["export", str(lenet), "--onnx", str(tmp_path / "m.onnx"), "--batch", "4",
                "--fp16"]) == 0
    assert "float16" in capsys.readouterr().out
    model = onnx.load(str(tmp_path / "m.onnx"))
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 4
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    types = {t.data_type for t in model.graph.initializer if len(t.dims) > 1}
    assert types == {onnx.TensorProto.FLOAT16}


@pytest.mark.parametrize(("args", "words"), [
    ([], "nothing to export"),
    (["--python", "x.py", "--fp16"], "--fp16 apply to the ONNX export"),
    (["--onnx", "x.onnx", "--batch", "0"], "--batch expects"),
    (["--onnx", "x.onnx", "--opset", "5"], "--opset expects"),
    (["--safetensors", "x.st", "--with-training"], "--with-training"),
    (["--onnx", "x.onnx", "--weights", "missing.pt"], "no such file"),
    (["--python", "x.py", "--check-data"], "--check-data apply to the ONNX export"),
    (["--onnx", "x.onnx", "--check-data", "missing.npz"],
     "cannot check parity on real data: missing.npz"),
])
def test_bad_usage_exits_2(lenet, tmp_path, monkeypatch, capsys, args, words):
    monkeypatch.chdir(tmp_path)
    assert run(["export", str(lenet), *args]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_weights_that_do_not_fit_exit_2(lenet, tmp_path, capsys):
    other = build_module(templates.open_template("keras-mnist").graph)
    torch.save(other.state_dict(), tmp_path / "other.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    for name in ("other.pt", "junk.pt"):
        assert run(["export", str(lenet), "--weights", str(tmp_path / name),
                    "--safetensors", str(tmp_path / "w.safetensors")]) == 2
        assert name in capsys.readouterr().err


def test_an_opset_without_the_operator_names_the_block(tmp_path, capsys):
    """onnx's converter has no Pad adapter below opset 18: max pooling's -inf padding."""
    project = chain([2, 8, 8], ("MaxPool2D", {"pool_size": 2, "stride": 1,
                                              "padding": "same"}))
    path = tmp_path / "p.netdraft"
    save(project, path)
    code = run(["export", str(path), "--onnx", str(tmp_path / "m.onnx"), "--opset", "13",
                "--exporter", "dynamo"])
    err = capsys.readouterr().err
    assert code == 1
    assert "MaxPool2D 'maxpool2d1'" in err and "opset 13" in err


def test_when_both_exporters_fail_the_block_is_named(tmp_path, capsys):
    project = chain([3, 9, 8], ("AdaptiveAvgPool", {"output_size": [4, 3]}))
    path = tmp_path / "p.netdraft"
    save(project, path)
    code = run(["export", str(path), "--onnx", str(tmp_path / "m.onnx"), "--opset", "13"])
    err = capsys.readouterr().err
    assert code == 1
    assert "AdaptiveAvgPool 'adaptiveavgpool1'" in err and "not factor" in err


def test_without_weights_the_project_stored_weights_are_exported(tmp_path, capsys):
    from engine import weights

    project = templates.open_template("lenet-5")
    trained = randomize(build_module(project.graph), seed=9)
    path = tmp_path / "lenet.netdraft"
    weights.save(project, path, weights.block_tensors(trained), "trained")
    save(project, path)
    assert run(["export", str(path), "--safetensors", str(tmp_path / "w.safetensors")]) == 0
    assert "stored weights" in capsys.readouterr().out
    stored = load_file(str(tmp_path / "w.safetensors"))
    assert all(torch.equal(stored[k], v) for k, v in trained.state_dict().items())


def test_parity_on_real_images_uses_the_first_validation_images(lenet, tmp_path, capsys):
    import numpy as np

    from engine.backend.data import load_data, target_of
    from engine.backend.train import effective_settings
    from engine.export.pipeline import real_inputs
    from engine.project import load

    rng = np.random.default_rng(0)
    data = tmp_path / "digits.npz"
    np.savez(data, x=rng.integers(0, 256, (60, 1, 32, 32), dtype=np.uint8),
             y=np.arange(60) % 10)
    assert run(["export", str(lenet), "--onnx", str(tmp_path / "m.onnx"),
                "--check-data", str(data), "--json"]) == 0
    parity = json.loads(capsys.readouterr().out)["parity"]
    assert parity["passed"] and parity["inputs"] == f"validation images of {data}"
    project = load(lenet)
    settings = {**effective_settings(project)["data"], "dataset": str(data)}
    val = load_data(settings, target_of(project.graph)).val
    assert parity["batch"] == min(16, len(val))
    inputs, _ = real_inputs(project, str(data), 16)
    torch.testing.assert_close(inputs, val.x[:16].float(), rtol=0, atol=0)
    # Without SPEC the project's own dataset (digits) is read.
    assert run(["export", str(lenet), "--onnx", str(tmp_path / "d.onnx"),
                "--check-data"]) == 0
    assert "on a batch of 16 validation images of digits" in capsys.readouterr().out
