"""main.py profile: every ONNX node's time lands in a block, the blocks' times add up to the
whole model's profiled time, and every block with work is listed."""

from __future__ import annotations

import json

import pytest

from engine.cli import run as cli
from engine.validate import analyze
from tests.export.conftest import chain


def profile(capsys, *args: str) -> tuple[int, str, str]:
    code = cli(["profile", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def lenet_file(tmp_path):
    from engine import templates
    from engine.project import save

    path = tmp_path / "lenet.netdraft"
    save(templates.open_template("lenet-5"), path)
    return path


def check(result: dict, graph) -> None:
    blocks = {b["name"]: b for b in result["blocks"]}
    worked = {n.name for n in graph.leaves() if analyze(graph).results[n.id].macs > 0}
    assert worked <= set(blocks), worked - set(blocks)
    assert all(b["ms"] >= 0 for b in blocks.values())
    # Every node's kernel time went to a block...
    assert result["blocks_ms"] == pytest.approx(result["kernels_ms"], rel=0.10)
    # ...and the kernels are the run, bar onnxruntime's own work between them.
    assert result["kernels_ms"] <= result["total_ms"] * 1.001
    assert sum(b["share"] for b in blocks.values()) == pytest.approx(1.0)
    for b in blocks.values():
        assert b["macs"] == analyze(graph).results[b["id"]].macs * result["batch"]


def test_profile_maps_every_node_to_a_block(lenet_file, capsys):
    from engine.project import load

    code, out, err = profile(capsys, str(lenet_file), "--weights", "none", "--batch", "16",
                             "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["batch"] == 16 and result["precision"] == "float32"
    check(result, load(lenet_file).graph)
    names = {b["name"] for b in result["blocks"]}
    assert {"In", "C1", "S2", "C3", "C5", "F6", "Out"} <= names  # preprocessing is In's


def test_a_folded_batchnorm_is_listed_without_time(tmp_path, capsys):
    from engine.project import load, save

    project = chain([3, 16, 16], ("Conv2D", {"filters": 8, "kernel_size": 3}),
                    ("BatchNorm", {}), ("ReLU", {}), ("Flatten", {}), ("Dense", {"units": 4}))
    path = tmp_path / "bn.netdraft"
    save(project, path)
    code, out, err = profile(capsys, str(path), "--weights", "none", "--batch", "8", "--json")
    assert code == 0, err
    result = json.loads(out)
    check(result, load(path).graph)
    bn = next(b for b in result["blocks"] if b["kind"] == "BatchNorm")
    assert bn["nodes"] == 0 and bn["ms"] == 0  # onnxruntime folds it into the convolution
    conv = next(b for b in result["blocks"] if b["kind"] == "Conv2D")
    assert conv["nodes"] >= 1 and conv["ms"] > 0


@pytest.mark.slow
def test_fused_convolutions_count_for_the_convolution_not_the_relu_after_it(tmp_path,
                                                                           capsys):
    """onnxruntime names a Conv+BatchNorm+ReLU (+ residual Add) node after the ReLU's
    output; its time is the convolution's."""
    from engine import templates
    from engine.project import load, save

    project = templates.open_template("resnet18")
    for node in project.graph.leaves():
        if node.kind == "Input":
            project.graph.set_param(node.id, "shape", [3, 32, 32])
    path = tmp_path / "r18.netdraft"
    save(project, path)
    code, out, err = profile(capsys, str(path), "--weights", "none", "--runs", "3", "--json")
    assert code == 0, err
    result = json.loads(out)
    check(result, load(path).graph)
    kinds = {}
    for b in result["blocks"]:
        kinds.setdefault(b["kind"], []).append(b)
    assert all(b["nodes"] >= 1 and b["ms"] > 0 for b in kinds["Conv2D"])
    assert all(b["nodes"] == 0 for b in kinds["BatchNorm"])
    assert "ReLU" not in kinds  # fused into the convolutions: no time, no MACs


@pytest.mark.slow
def test_int8_profile_maps_quantize_nodes_to_blocks(tmp_path, capsys):
    from engine.project import load
    from tests.export.int8_fixtures import trained_lenet

    path, run = trained_lenet(tmp_path)
    code, out, err = profile(capsys, str(path), "--weights", str(run), "--batch", "8",
                             "--int8", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["precision"] == "int8" and not result["warnings"]
    check(result, load(path).graph)


def test_profile_text_and_usage_errors(lenet_file, capsys):
    code, out, _ = profile(capsys, str(lenet_file), "--weights", "none", "--runs", "4")
    assert code == 0
    assert out.splitlines()[0].split()[:3] == ["block", "kind", "ms"]
    assert "per run (float32, batch 1" in out
    code, _, err = profile(capsys, str(lenet_file), "--batch", "0")
    assert code == 2 and "--batch expects a positive integer" in err
    code, _, err = profile(capsys, str(lenet_file.with_name("missing.netdraft")))
    assert code == 2
