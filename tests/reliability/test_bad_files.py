"""Bad files and mistyped commands end in one line that names the file, the field or the
row, with the exit code of DESIGN.md's contract (2: bad usage or an unreadable file, 1: a
failed run) — never a traceback, an "internal error", a hang, a silent guess or a file read
from outside the project's folder."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine import templates
from engine import weights as stored
from engine.project import ProjectError, load, save

ROOT = Path(__file__).resolve().parents[2]
MAIN = str(ROOT / "main.py")


def main_py(*args: object, cwd: Path = ROOT, timeout: int = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, MAIN, *map(str, args)], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=timeout)
    both = result.stdout + result.stderr
    assert "Traceback" not in both and "internal error" not in both, both
    return result


@pytest.fixture
def mnist(tmp_path) -> Path:
    path = tmp_path / "mnist.netdraft"
    save(templates.open_template("keras-mnist"), path)
    return path


def _with_weights(path: Path, section: object) -> Path:
    doc = json.loads(path.read_text())
    doc["weights"] = section
    path.write_text(json.dumps(doc))
    return path


def _a_block_id(path: Path) -> str:
    return json.loads(path.read_text())["graph"]["nodes"][1]["id"]


# ------------------------------------------------------------------ commands
@pytest.mark.parametrize("word,told", [
    ("valdate", "did you mean 'validate'?"),
    ("trian", "did you mean 'train'?"),
    ("xyzzy", "Commands: templates, new, validate"),
])
def test_a_mistyped_command_exits_2_naming_the_nearest_command(mnist, word, told):
    result = main_py(word, mnist, timeout=30)
    assert result.returncode == 2
    assert f"unknown command '{word}'" in result.stderr and told in result.stderr


def test_a_planned_command_not_built_yet_is_said_so_not_suggested(mnist):
    from engine.cli import command_names

    result = main_py("evalute", mnist, timeout=30)
    assert result.returncode == 2
    assert "unknown command 'evalute'" in result.stderr
    if "evaluate" not in command_names():
        assert "'evaluate' is not in this version" in result.stderr
    else:
        assert "did you mean 'evaluate'?" in result.stderr


def test_paths_still_open_the_designer_and_bare_words_do_not():
    from main import looks_like_a_file

    assert looks_like_a_file("model.netdraft") and looks_like_a_file("runs/x")
    assert looks_like_a_file(str(ROOT / "README.md"))
    assert not looks_like_a_file("evalute") and not looks_like_a_file("validat")


@pytest.mark.parametrize("name", ["x" * 300, "../templates/lenet-5"])
def test_a_template_name_is_a_name_not_a_path(tmp_path, name):
    result = main_py("new", "--template", name, "-o", tmp_path / "x.netdraft", timeout=30)
    assert result.returncode == 2
    assert "there is no template" in result.stderr and "lenet-5" in result.stderr
    assert not (tmp_path / "x.netdraft").exists()


# ------------------------------------------------------------- project files
@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["device", "fifo", "folder"])
def test_a_project_that_is_no_regular_file_is_refused_at_once(tmp_path, kind):
    if kind == "device":
        path = Path("/dev/zero")
        words = "a character device"
    elif kind == "fifo":
        path = tmp_path / "pipe.netdraft"
        os.mkfifo(path)  # nobody writes: a blocking read would hang the test
        words = "a named pipe (FIFO)"
    else:
        path = tmp_path
        words = "a folder"
    with pytest.raises(ProjectError, match=re.escape(f"{words}, not a file; a project is a "
                                                     "regular file")):
        load(path)
    result = main_py("validate", path, timeout=30)
    assert result.returncode == 2 and str(path) in result.stderr


def test_a_project_larger_than_the_limit_is_refused_naming_the_limit(tmp_path):
    big = tmp_path / "big.netdraft"
    with big.open("wb") as handle:  # sparse: no 65 MB written
        handle.truncate(65_000_000)
    with pytest.raises(ProjectError, match=r"65 MB is more than Netdraft reads as a project "
                                           r"\(the limit is 64 MB\)"):
        load(big)


@pytest.mark.parametrize("section,field,received", [
    ("list", "weights.blocks", "[1, 2]"),
    ("string", "weights.blocks.{id}", "'x'"),
    ("file", "weights.file", "123"),
    ("shapes", "weights.blocks.{id}.shapes.weight", "'3x3'"),
    ("source", "weights.blocks.{id}.source", "'downloaded'"),
])
@pytest.mark.parametrize("command", ["validate", "summary"])
def test_a_malformed_weights_section_names_its_field(mnist, section, field, received,
                                                     command):
    block = _a_block_id(mnist)
    value = {"list": {"blocks": [1, 2]},
             "string": {"file": "m.safetensors", "blocks": {block: "x"}},
             "file": {"file": 123, "blocks": {block: {"source": "trained", "shapes": {}}}},
             "shapes": {"file": "m.safetensors",
                        "blocks": {block: {"source": "trained", "shapes": {"weight": "3x3"}}}},
             "source": {"file": "m.safetensors",
                        "blocks": {block: {"source": "downloaded", "shapes": {}}}},
             }[section]
    _with_weights(mnist, value)
    result = main_py(command, mnist, timeout=30)
    assert result.returncode == 2
    assert f"{field.format(id=block)}: expected" in result.stderr
    assert received in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("command", [["train", "--data", "digits"],
                                     ["export", "--onnx", "out.onnx"]])
def test_a_weights_file_that_is_a_number_stops_train_and_export_with_exit_2(mnist, command):
    _with_weights(mnist, {"file": 123, "blocks": {}})
    result = main_py(command[0], mnist, *command[1:], cwd=mnist.parent, timeout=60)
    assert result.returncode == 2
    assert "weights.file: expected the name of a .safetensors file" in result.stderr


# --------------------------------------------------------------- saving
@pytest.mark.parametrize("relative", [False, True])
def test_saving_through_a_symlink_updates_its_target_and_keeps_the_link(tmp_path, relative):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "model.netdraft"
    save(templates.open_template("lenet-5"), target)
    link = tmp_path / "link.netdraft"
    link.symlink_to(os.path.relpath(target, tmp_path) if relative else target)
    project = load(link)
    project.name = "renamed through the link"
    assert save(project, link) == link
    assert link.is_symlink()
    assert load(target).name == "renamed through the link"
    assert [p.name for p in (tmp_path / "real").iterdir()] == ["model.netdraft"]


# ----------------------------------------------------- where weights come from
def _stored_weights(tmp_path: Path, file_name: str) -> Path:
    """A lenet-5 project (in tmp_path/project) whose weights section names ``file_name``."""
    import torch

    from engine.backend.build import build_module

    folder = tmp_path / "project"
    folder.mkdir()
    path = folder / "lenet.netdraft"
    project = templates.open_template("lenet-5")
    torch.manual_seed(1)
    stored.save(project, path, stored.block_tensors(build_module(project.graph)), "trained")
    project.weights["file"] = file_name
    save(project, path)
    return path


@pytest.mark.parametrize("name", ["/etc/passwd", "../../../../etc/passwd",
                                  "../elsewhere/model.safetensors", "link.safetensors"])
def test_a_project_reads_weights_only_from_its_own_folder(tmp_path, name, monkeypatch):
    from engine.cli import run
    from engine.importers import safe_load

    path = _stored_weights(tmp_path, name)
    (tmp_path / "elsewhere").mkdir()
    (path.parent / "lenet.safetensors").rename(tmp_path / "elsewhere" / "model.safetensors")
    (path.parent / "link.safetensors").symlink_to(tmp_path / "elsewhere" / "model.safetensors")
    opened = []
    real = safe_load.read_safetensors
    monkeypatch.setattr(safe_load, "read_safetensors",
                        lambda p: opened.append(p) or real(p))
    with pytest.raises(stored.WeightsFileRefused, match="outside the project's folder"):
        stored.file_path(load(path).weights, path)
    code = run(["export", str(path), "--safetensors", str(tmp_path / "out.safetensors")])
    assert code == 1
    assert opened == []
    assert not (tmp_path / "out.safetensors").exists()
    listing = main_py("validate", path, timeout=30)
    assert listing.returncode == 0
    if ".." in name or name.startswith("/"):
        assert f"refused: {name} is outside the project's folder" in listing.stdout


def test_an_explicit_weights_file_may_live_anywhere(tmp_path, capsys):
    from safetensors.torch import save_file

    from engine.backend.build import build_module
    from engine.cli import run

    path = _stored_weights(tmp_path, "../elsewhere.safetensors")
    elsewhere = tmp_path / "elsewhere.safetensors"
    save_file(build_module(load(path).graph).state_dict(), str(elsewhere))
    assert run(["export", str(path), "--weights", str(elsewhere), "--safetensors",
                str(tmp_path / "out.safetensors")]) == 0
    assert f"weights from {elsewhere}" in capsys.readouterr().out


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_an_unreadable_weights_file_stops_the_export_unless_fresh_weights_are_asked(
        tmp_path, damage, capsys):
    from engine.cli import run

    path = _stored_weights(tmp_path, "lenet.safetensors")
    weights_file = path.parent / "lenet.safetensors"
    if damage == "missing":
        weights_file.unlink()
    else:
        weights_file.write_bytes(weights_file.read_bytes()[:500])
    out = tmp_path / "out.safetensors"
    assert run(["export", str(path), "--safetensors", str(out)]) == 1
    err = capsys.readouterr().err
    assert str(weights_file) in err and "--weights none" in err
    assert not out.exists()
    assert run(["export", str(path), "--weights", "none", "--safetensors", str(out)]) == 0
    assert "fresh weights (seed 0), as --weights none asks" in capsys.readouterr().out
    assert out.exists()


# --------------------------------------------------------------- ONNX files
def _onnx_with_external_data(folder: Path, location: str) -> Path:
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((4, 8), np.float32), "W")
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "128")):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])], [weight])
    folder.mkdir(exist_ok=True)
    path = folder / "model.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    return path


@pytest.mark.parametrize("where", ["outside", "symlink"])
def test_onnx_external_data_outside_its_folder_is_refused_in_one_line(tmp_path, where):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.ones((4, 8), np.float32).tobytes())
    if where == "outside":
        model = _onnx_with_external_data(tmp_path / "m", "../secret.bin")
    else:
        model = _onnx_with_external_data(tmp_path / "m", "data.bin")
        (tmp_path / "m" / "data.bin").symlink_to(secret)
    result = main_py("import", model, "-o", tmp_path / "out.netdraft", timeout=60)
    assert result.returncode == 2
    assert f"{model}: its external data is refused or unreadable" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.netdraft").exists()


# --------------------------------------------------------------- data files
TARGET_SHAPE = (1, 8, 8)


def _load(path: Path):
    from engine.backend.data import Target, load_data

    target = Target(TARGET_SHAPE, "RGB", 2, (), "in", "out")
    return load_data({"dataset": str(path), "val_fraction": 0.2, "seed": 0}, target)


def _npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def _bad_data(tmp_path: Path, case: str) -> tuple[Path, str]:
    """A damaged data file and the words its error must hold."""
    n = 20
    pixels = np.zeros((n, 8, 8), np.uint8)
    classes = np.arange(n) % 2
    if case == "random-csv":
        path = tmp_path / "random.csv"
        path.write_bytes(np.random.default_rng(0).bytes(4000))
        return path, "is not UTF-8 text"
    if case == "nul-csv":
        path = tmp_path / "nul.csv"
        path.write_bytes(b"path,label\na.png,\x00cat\n")
        return path, "line 2: not a CSV of path,label: it holds a NUL byte"
    if case == "empty-label":
        from PIL import Image

        Image.new("L", (8, 8)).save(tmp_path / "a.png")
        path = tmp_path / "labels.csv"
        path.write_text("path,label\na.png,cat\na.png,\na.png,dog\n")
        return path, "line 3: the label is empty"
    if case == "object":
        return _npz(tmp_path / "object.npz", x=np.array([None] * n, dtype=object),
                    y=classes), "array 'x' holds Python objects (dtype object)"
    if case == "string-x":
        return _npz(tmp_path / "text.npz", x=np.array(["ab"] * n), y=classes), \
            "array 'x' holds text (dtype <U2)"
    if case == "string-y":
        return _npz(tmp_path / "names.npz", x=pixels, y=np.array(["a", "b"] * 10)), \
            "array 'y' holds text"
    if case == "nan":
        return _npz(tmp_path / "nan.npz", x=np.full((n, 8, 8), np.nan, np.float32),
                    y=classes), "20 of 20 samples hold NaN or infinite values"
    if case == "inf":
        x = np.zeros((n, 8, 8), np.float32)
        x[7, 3, 3] = np.inf
        return _npz(tmp_path / "inf.npz", x=x, y=classes), \
            "1 of 20 samples hold NaN or infinite values (the first is sample 7)"
    if case == "two-columns":
        labels = np.stack([np.arange(n), classes], 1)
        return _npz(tmp_path / "pairs.npz", x=pixels, y=labels), \
            "labels of shape 20×2 are not one-hot: row 0 is [0, 0]"
    if case == "npy":
        path = tmp_path / "single.npz"
        with path.open("wb") as handle:
            np.save(handle, pixels)
        return path, "one NumPy array (.npy), not an .npz"
    raise AssertionError(case)


BAD_DATA = ["random-csv", "nul-csv", "empty-label", "object", "string-x", "string-y", "nan",
            "inf", "two-columns", "npy"]


@pytest.mark.parametrize("case", BAD_DATA)
def test_a_bad_data_file_is_named_with_what_is_wrong(tmp_path, case):
    from engine.backend.data import DataUnreadable

    path, words = _bad_data(tmp_path, case)
    with pytest.raises(DataUnreadable) as caught:
        _load(path)
    assert str(path) in str(caught.value) and words in str(caught.value)


def test_one_hot_and_probability_labels_still_train(tmp_path):
    x = np.zeros((20, 8, 8), np.uint8)
    classes = np.arange(20) % 2
    one_hot = _load(_npz(tmp_path / "onehot.npz", x=x, y=np.eye(2)[classes]))
    soft = np.where(np.eye(2)[classes] == 1, 0.9, 0.1)
    probabilities = _load(_npz(tmp_path / "soft.npz", x=x, y=soft))
    column = _load(_npz(tmp_path / "column.npz", x=x, y=classes[:, None]))
    for data in (one_hot, probabilities, column):
        assert data.class_names == ["0", "1"]
        assert sorted(set(data.train.y.tolist())) == [0, 1]


@pytest.mark.parametrize("case", ["random-csv", "nan", "two-columns"])
def test_train_on_a_bad_data_file_exits_2_naming_it(tmp_path, case):
    path, words = _bad_data(tmp_path, case)
    project = tmp_path / "p.netdraft"
    save(templates.open_template("keras-mnist"), project)
    result = main_py("train", project, "--data", path, "--epochs", "1", "--device", "cpu",
                     "--out", tmp_path / "run", timeout=120)
    assert result.returncode == 2
    assert str(path) in result.stderr and words in result.stderr
    assert "learning rate" not in result.stderr


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["data.csv", "data.npz", "train-images-idx3-ubyte"])
def test_a_data_file_that_is_a_fifo_is_refused_not_waited_on(tmp_path, name):
    from engine.backend.data import DataUnreadable

    os.mkfifo(tmp_path / name)
    with pytest.raises(DataUnreadable, match="a named pipe"):
        _load(tmp_path / name)


@pytest.mark.timeout(60)
def test_an_image_that_is_a_fifo_is_skipped_as_unreadable(tmp_path):
    from PIL import Image

    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.new("L", (8, 8), i * 40).save(tmp_path / cls / f"{i}.png")
    os.mkfifo(tmp_path / "a" / "stuck.png")
    data = _load(tmp_path)
    assert len(data.train) + len(data.val) == 6
    assert [Path(f).name for f, _ in data.skipped] == ["stuck.png"]
    assert "a named pipe" in data.skipped[0][1]


def test_a_csv_over_its_size_limit_names_the_limit(tmp_path, monkeypatch):
    from engine.backend import data
    from engine.backend.data import DataUnreadable

    path = tmp_path / "rows.csv"
    path.write_text("path,label\n" + "a.png,0\n" * 200)
    monkeypatch.setattr(data, "CSV_MAX_BYTES", 1000)
    with pytest.raises(DataUnreadable, match=r"1.6 kB is more than Netdraft reads as a CSV "
                                             r"of path,label \(the limit is 1.0 kB\)"):
        _load(path)


def _idx(path: Path, dims: tuple[int, ...], body: bytes) -> Path:
    import struct

    path.write_bytes(bytes([0, 0, 0x08, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)
                     + body)
    return path


def test_idx_files_are_read_no_further_than_their_header_declares(tmp_path, monkeypatch):
    from engine.backend import images
    from engine.backend.data import DataError, DataUnreadable

    labels = _idx(tmp_path / "train-labels-idx1-ubyte", (20,), bytes(20))
    short = _idx(tmp_path / "train-images-idx3-ubyte", (20, 8, 8), bytes(100))
    with pytest.raises(DataUnreadable, match="truncated: the header promises 20×8×8 values, the file holds 100"):
        images.read_idx(short)
    long = _idx(tmp_path / "x-idx3-ubyte", (2, 8, 8), bytes(10_000))
    with pytest.raises(DataUnreadable, match="promises 2×8×8 values and the file holds more bytes"):
        images.read_idx(long)
    _idx(short, (60_000_000, 28, 28), bytes(100))  # 47 GB declared
    monkeypatch.setattr(images, "available_memory", lambda: 1 << 30)
    with pytest.raises(DataError, match="more than this machine's available memory"):
        _load(short)
    assert labels.exists()
