"""Size and memory before anything is built (DESIGN.md rule 8): validate and summary warn
about a network larger than a desktop holds; train, export, import and the data loaders
estimate what they will hold and refuse, with the figures and this machine's memory, before
allocating; `export --python` builds no weights at all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine import memory, templates
from engine.graph import Graph
from engine.project import Project, save
from engine.validate import analyze

ROOT = Path(__file__).resolve().parents[2]
MAIN = str(ROOT / "main.py")
GB = 1_000_000_000


def main_py(*args: object, cwd: Path = ROOT, timeout: int = 120,
            preexec=None) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, MAIN, *map(str, args)], cwd=cwd,
                            capture_output=True, text=True, timeout=timeout, preexec_fn=preexec)
    both = result.stdout + result.stderr
    assert "Traceback" not in both and "internal error" not in both, both
    return result


def dense_net(side: int, units: int, name: str = "big") -> Project:
    """Input 1×side×side, Flatten, Dense(units), Output: side²·units weights."""
    g = Graph()
    image = g.add_node("Input", "image", {"shape": [1, side, side]})
    flat = g.add_node("Flatten", "flat")
    dense = g.add_node("Dense", "dense", {"units": units})
    out = g.add_node("Output", "out", {"classes": units})
    for a, b in ((image, flat), (flat, dense), (dense, out)):
        g.connect(a.id, b.id)
    return Project(graph=g, name=name)


@pytest.fixture
def huge(tmp_path) -> Path:
    """1.28 T parameters (the issue's Input 1×100000×100000 + Dense 128): 5.1 TB."""
    path = tmp_path / "huge.netdraft"
    save(dense_net(100_000, 128), path)
    return path


@pytest.fixture
def big(tmp_path) -> Path:
    """1.6 G parameters: 6.4 GB of weights, beyond a desktop's 2 GB."""
    path = tmp_path / "big.netdraft"
    save(dense_net(2000, 400), path)
    return path


# ------------------------------------------------------------ validate, summary
def test_validate_warns_about_a_network_too_large_for_a_desktop_and_stays_ok(huge):
    result = main_py("validate", huge, timeout=30)
    assert result.returncode == 0
    assert "ok — 4 blocks, 1,280,000,000,128 params" in result.stdout
    warning = next(line for line in result.stdout.splitlines() if line.startswith("warning"))
    assert "1,280,000,000,128 parameters take 5.1 TB as float32" in warning
    assert "a desktop holds about 2.0 GB of weights" in warning
    assert "The largest block is Dense 'dense' (1,280,000,000,128 params)" in warning


def test_summary_shows_the_warning_in_text_and_json(big):
    text = main_py("summary", big, timeout=30)
    assert text.returncode == 0
    assert "Total params: 1,600,000,400" in text.stdout
    assert "warning: a network too large for a desktop: 1,600,000,400 parameters take " \
           "6.4 GB" in text.stdout
    as_json = json.loads(main_py("summary", big, "--json", timeout=30).stdout)
    assert as_json["warnings"][0].startswith("a network too large for a desktop")


def test_the_templates_draw_no_warning():
    for name in templates.names():
        analysis = analyze(templates.open_template(name).graph)
        assert memory.size_warning(analysis, 16 * GB) == "", name


def test_a_network_beyond_this_machines_memory_is_warned_about_with_the_figure():
    analysis = analyze(dense_net(1000, 300).graph)  # 300 M params: 1.2 GB, under 2 GB
    assert memory.size_warning(analysis, 8 * GB) == ""
    warning = memory.size_warning(analysis, 1 * GB)
    assert "while this machine has 1.0 GB available" in warning
    assert "1.2 GB as float32" in warning


# ------------------------------------------------------------------- train
def test_train_refuses_before_allocating_with_the_figures(huge, tmp_path):
    result = main_py("train", huge, "--data", "synthetic", "--epochs", "1", "--device", "cpu",
                     "--out", tmp_path / "run", timeout=120)
    assert result.returncode == 1
    assert "training this network needs ≈ 41 TB (weights 5.1 TB, gradients 5.1 TB, " \
           "optimizer state 10 TB, the optimizer step's temporaries 10 TB, activations at " \
           "batch 64 10 TB)" in result.stderr
    assert "but this machine's available memory is" in result.stderr
    assert "Dense 'dense'" in result.stderr


def test_the_training_check_uses_the_gpus_free_memory(monkeypatch):
    torch = pytest.importorskip("torch")
    from engine.backend import preflight
    from engine.backend.runtime import RunError

    graph = templates.open_template("lenet-5").graph
    settings = {"batch_size": 64, "optimizer": "adam", "precision": "fp32", "momentum": 0.9}
    monkeypatch.setattr(preflight, "available_memory", lambda: 64 * GB)
    monkeypatch.setattr(preflight, "gpu_free", lambda device: 1_000_000)
    with pytest.raises(RunError, match=r"cuda:0's free memory is 1.0 MB"):
        preflight.check_training(graph, settings, torch.device("cuda:0"))
    monkeypatch.setattr(preflight, "gpu_free", lambda device: 8 * GB)
    preflight.check_training(graph, settings, torch.device("cuda:0"))
    preflight.check_training(graph, settings, torch.device("cpu"))


def test_a_large_batch_is_told_to_shrink(monkeypatch):
    torch = pytest.importorskip("torch")
    from engine.backend import preflight
    from engine.backend.runtime import RunError

    graph = templates.open_template("vgg16").graph
    settings = {"batch_size": 4096, "optimizer": "sgd", "precision": "fp32", "momentum": 0.9}
    monkeypatch.setattr(preflight, "available_memory", lambda: 16 * GB)
    with pytest.raises(RunError, match=r"Lower the batch size \(activations take .* at batch "
                                       r"4096\)"):
        preflight.check_training(graph, settings, torch.device("cpu"))


def test_adams_step_temporaries_are_counted(monkeypatch):
    """A network whose Adam state fits but whose step would not (found by the fuzz under
    ulimit -v: 'DefaultCPUAllocator: can't allocate memory', an internal error)."""
    torch = pytest.importorskip("torch")
    from engine.backend import preflight
    from engine.backend.runtime import RunError

    graph = dense_net(100, 10_000).graph  # 100 M weights: 400 MB each copy
    settings = {"batch_size": 1, "optimizer": "adam", "precision": "fp32", "momentum": 0.9}
    monkeypatch.setattr(preflight, "available_memory", lambda: int(2.2 * GB))
    with pytest.raises(RunError, match="the optimizer step's temporaries 800 MB"):
        preflight.check_training(graph, settings, torch.device("cpu"))
    preflight.check_training(graph, {**settings, "optimizer": "sgd"}, torch.device("cpu"))


def test_a_header_that_lies_about_its_size_is_still_a_message():
    assert memory.size_text(2**8000) == "more than 1,000,000 TB"


def test_gpu_free_is_none_without_cuda():
    torch = pytest.importorskip("torch")
    from engine.backend.preflight import gpu_free

    assert gpu_free(torch.device("cpu")) is None
    if not torch.cuda.is_available():
        assert gpu_free(torch.device("cuda:0")) is None


def test_build_module_refuses_weights_beyond_available_memory(monkeypatch):
    pytest.importorskip("torch")
    from engine.backend import build

    monkeypatch.setattr(build, "available_memory", lambda: 100_000)
    with pytest.raises(build.BuildError, match=r"building this network needs ≈ 0.2 MB \(its weights 0.2 MB\) but this machine's available memory is 0.1 MB"):
        build.build_module(templates.open_template("lenet-5").graph)
    monkeypatch.setattr(build, "available_memory", lambda: 1 * GB)
    build.build_module(templates.open_template("lenet-5").graph)


# ------------------------------------------------------------------ export
@pytest.mark.parametrize("flag", ["--onnx", "--safetensors"])
def test_export_refuses_what_cannot_fit_before_building(huge, tmp_path, flag):
    out = tmp_path / "out.bin"
    result = main_py("export", huge, flag, out, timeout=120)
    assert result.returncode == 1
    assert "exporting this network needs ≈" in result.stderr
    assert "nothing was allocated" in result.stderr
    assert not out.exists()


def test_export_python_builds_no_weights(big, tmp_path, monkeypatch, capsys):
    pytest.importorskip("torch")
    from engine.cli import run
    from engine.export import pipeline

    def no_build(*args, **kwargs):
        raise AssertionError("export --python built the network")

    monkeypatch.setattr(pipeline, "build_module", no_build)
    out = tmp_path / "big.py"
    assert run(["export", str(big), "--python", str(out)]) == 0
    assert "class Big(nn.Module)" in out.read_text()
    assert "weights: none: the Python code holds no weights" in capsys.readouterr().out
    assert run(["export", str(big), "--python", str(out), "--with-training"]) == 0


def test_export_python_in_a_process_stays_small(big, tmp_path):
    """6.4 GB of weights would have been built; torch's own import is about 1 GB."""
    import resource

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))

    result = main_py("export", big, "--python", tmp_path / "big.py", timeout=120, preexec=cap)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "big.py").exists()


# ------------------------------------------------------------------ import
def _onnx_model(path: Path, rows: int) -> Path:
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((rows, 8), np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, rows])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])], [weight])
    path.write_bytes(helper.make_model(graph).SerializeToString())
    return path


def test_import_refuses_an_onnx_model_whose_weights_cannot_fit(tmp_path, monkeypatch, capsys):
    pytest.importorskip("onnx")
    from engine.backend import preflight
    from engine.cli import run
    from engine.importers import onnx_import

    model = _onnx_model(tmp_path / "m.onnx", 10_000)  # 320 kB of weights
    monkeypatch.setattr(preflight, "available_memory", lambda: 500_000)
    read = []
    monkeypatch.setattr(onnx_import, "OnnxImporter",
                        lambda *a: read.append(a) or pytest.fail("the model was read"))
    assert run(["import", str(model), "-o", str(tmp_path / "m.netdraft")]) == 1
    err = capsys.readouterr().err
    assert f"importing {model} needs ≈ 0.6 MB (the weights as read 0.3 MB" in err
    assert "available memory is 0.5 MB" in err
    assert read == [] and not (tmp_path / "m.netdraft").exists()


def test_import_counts_an_onnx_models_external_data_before_reading_it(tmp_path, monkeypatch,
                                                                      capsys):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto

    from engine.backend import preflight
    from engine.cli import run

    model = _onnx_model(tmp_path / "m.onnx", 12_500)  # 400 kB, moved to external data
    proto = onnx.load(str(model))
    onnx.save(proto, str(model), save_as_external_data=True, location="weights.bin",
              size_threshold=0)
    assert onnx.load(str(model), load_external_data=False).graph.initializer[0]\
        .data_location == TensorProto.EXTERNAL
    monkeypatch.setattr(preflight, "available_memory", lambda: 500_000)
    assert run(["import", str(model), "-o", str(tmp_path / "m.netdraft")]) == 1
    assert f"importing {model} needs ≈ 1.2 MB" in capsys.readouterr().err


def test_import_refuses_a_weights_file_that_cannot_fit(tmp_path, monkeypatch, capsys):
    from engine.backend import preflight
    from engine.cli import run

    checkpoint = tmp_path / "run.pt"
    checkpoint.write_bytes(bytes(400_000))
    monkeypatch.setattr(preflight, "available_memory", lambda: 500_000)
    assert run(["import", str(checkpoint), "-o", str(tmp_path / "x.netdraft")]) == 1
    assert f"importing {checkpoint} needs ≈ 0.8 MB" in capsys.readouterr().err


# -------------------------------------------------------------------- data
def test_an_npz_larger_than_memory_is_refused_from_its_header(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from engine.backend import data
    from engine.backend.data import DataError, Target, load_data

    path = tmp_path / "big.npz"
    np.savez(path, x=np.zeros((100, 8, 8), np.float32), y=np.arange(100) % 2)
    monkeypatch.setattr(data, "available_memory", lambda: 10_000)
    with pytest.raises(DataError, match=r"array 'x' \(100×8×8 float32\) takes 26 kB in "
                                        r"memory, more than this machine's available 10 kB"):
        load_data({"dataset": str(path)}, Target((1, 8, 8), "RGB", 2, (), "in", "out"))


# ---------------------------------------------------------- available memory
def test_a_containers_memory_limit_bounds_available_memory(tmp_path):
    def files(limit: str, usage: str, cache: str) -> tuple[tuple[str, str, str, str], ...]:
        (tmp_path / "max").write_text(limit)
        (tmp_path / "current").write_text(usage)
        (tmp_path / "stat").write_text(f"anon 5\ninactive_file {cache}\n")
        return ((str(tmp_path / "max"), str(tmp_path / "current"), str(tmp_path / "stat"),
                 "inactive_file"),)

    assert memory._cgroup_room(files("4000000000\n", "3000000000\n", "500000000")) == \
        1_500_000_000
    assert memory._cgroup_room(files("max\n", "3000000000\n", "0")) is None
    assert memory._cgroup_room(files(str(2**63 - 4096), "1", "0")) is None  # cgroup v1
    assert memory._cgroup_room(((str(tmp_path / "none"),) * 3 + ("x",),)) is None


def test_ulimit_v_bounds_available_memory():
    import resource

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    code = "from engine.memory import available_memory; print(available_memory())"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, preexec_fn=cap,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert 0 < int(result.stdout) < 2 << 30

