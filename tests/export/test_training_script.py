"""The training script that ``export --python OUT.py --with-training`` writes, run for real:
frozen blocks stay as they are, it starts from the weights exported with it, it reads the
datasets Netdraft's trainer reads (checked against engine.backend.data) and trains
data-parallel under torchrun."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from engine import weights as stored
from engine.backend import images
from engine.backend.build import build_module
from engine.backend.data import load_data, target_of
from engine.cli import run
from engine.export.python_code import generate
from engine.export.safetensors_export import export_safetensors
from engine.project import Project, save
from tests.export.conftest import chain, load_module, randomize

SMALL_NET = (("Conv2D", {"filters": 4, "kernel_size": 3, "activation": "relu"}),
             ("GlobalAvgPool", {}), ("Dense", {"units": 3, "activation": "softmax"}))


def _project(tmp_path: Path, *layers, samples: int = 48, **training) -> Project:
    """A 1×8×8 network trained on random .npz pixels in three classes, with plain SGD."""
    project = chain([1, 8, 8], *(layers or SMALL_NET), input_params={"scale": 1 / 255},
                    name="tiny")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", x=rng.integers(0, 256, (samples, 8, 8), dtype=np.uint8),
             y=rng.integers(0, 3, samples))
    project.data = {"dataset": str(tmp_path / "data.npz"), "val_fraction": 0.25}
    project.training = {"epochs": 1, "batch_size": 8, "optimizer": "sgd", "lr": 0.1,
                        "schedule": "none", **training}
    return project


def _script(project: Project, tmp_path: Path):
    path = tmp_path / "train.py"
    path.write_text(generate(project, with_training=True), encoding="utf-8")
    return load_module(path)


def _train(script, monkeypatch, *args: str) -> dict[str, torch.Tensor]:
    """Run the script's main() in this process; the model it saved last."""
    monkeypatch.setattr(sys, "argv", ["train.py", *args])
    script.main()
    out = Path(args[args.index("--out") + 1])
    return torch.load(out / "last.pt", weights_only=True)["model"]


# ---------------------------------------------------------------- frozen blocks
def test_frozen_blocks_keep_their_weights_and_batchnorm_statistics(tmp_path, monkeypatch):
    frozen = {"lr_mult": 0.0}
    project = _project(tmp_path, ("Conv2D", {"filters": 4, "kernel_size": 3, **frozen}),
                       ("BatchNorm", frozen), ("ReLU", {}), ("GlobalAvgPool", {}),
                       ("Dense", {"units": 3}))
    module = randomize(build_module(project.graph))
    export_safetensors(module, tmp_path / "start.safetensors", "tiny", [])
    start = load_file(str(tmp_path / "start.safetensors"))
    script = _script(project, tmp_path)
    assert script.LR_MULT == {"conv2d1": 0.0, "batchnorm2": 0.0}
    end = _train(script, monkeypatch, "--weights", str(tmp_path / "start.safetensors"),
                 "--out", str(tmp_path / "run"))
    for key in start:
        if key.startswith(("conv2d1.", "batchnorm2.")):
            torch.testing.assert_close(end[key], start[key], rtol=0, atol=0, msg=key)
    assert not torch.equal(end["dense5.weight"], start["dense5.weight"])


# ---------------------------------------------------------------- starting weights
def _export(tmp_path: Path, project: Project, *extra: str) -> Path:
    saved = tmp_path / "tiny.netdraft"
    save(project, saved)
    out = tmp_path / "export" / "train.py"
    assert run(["export", str(saved), "--python", str(out), "--with-training", *extra]) == 0
    return out


def test_the_script_starts_from_the_weights_exported_with_it(tmp_path, monkeypatch, capsys):
    project = _project(tmp_path)
    saved = tmp_path / "tiny.netdraft"
    module = randomize(build_module(project.graph), seed=3)
    stored.save(project, saved, stored.block_tensors(module), "trained")
    script = _export(tmp_path, project)
    out = capsys.readouterr().out
    assert f"wrote {script.with_suffix('.safetensors')}" in out
    assert "that starts from " in out
    weights = load_file(str(script.with_suffix(".safetensors")))
    for key, value in module.state_dict().items():
        torch.testing.assert_close(weights[key], value, rtol=0, atol=0, msg=key)
    assert load_module(script).WEIGHTS == "train.safetensors"

    # From another folder with a learning rate of 0: it ends where it started.
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    with pytest.raises(SystemExit):
        _train(load_module(script), monkeypatch, "--help")
    help_text = " ".join(capsys.readouterr().out.split())
    assert "(default: train.safetensors, relative to this file" in help_text
    end = _train(load_module(script), monkeypatch, "--lr", "0", "--out", "run")
    for key, value in weights.items():
        torch.testing.assert_close(end[key], value, rtol=0, atol=0, msg=key)


def test_a_safetensors_export_beside_it_is_the_start_and_none_means_initializers(tmp_path):
    project = _project(tmp_path)
    script = _export(tmp_path, project, "--safetensors", str(tmp_path / "w" / "a.safetensors"))
    assert not script.with_suffix(".safetensors").exists()
    assert load_module(script).WEIGHTS == "../w/a.safetensors"

    # Neither stored nor given weights: it starts from the model's initializers.
    (tmp_path / "fresh").mkdir()
    fresh = _export(tmp_path / "fresh", _project(tmp_path / "fresh"))
    assert load_module(fresh).WEIGHTS is None
    assert sorted(p.name for p in fresh.parent.iterdir()) == ["train.py"]


# ---------------------------------------------------------------- datasets
def _settings(spec: str) -> dict:
    return {"dataset": spec, "val_fraction": 0.25, "val_dataset": "", "seed": 0,
            "samples": 60, "classes": 3, "cache": "memory", "workers": 0}


def _same_as_netdraft(script, project: Project, spec: str, train_size: int | None = None):
    """The script's training and validation data equal Netdraft's trainer's for ``spec``."""
    bundle = load_data(_settings(spec), target_of(project.graph))
    (x, y), val, names = script.load_source(spec)
    assert val is not None
    torch.testing.assert_close(script.fit_images(x), bundle.train.x, rtol=0, atol=0)
    assert torch.equal(y, bundle.train.y)
    torch.testing.assert_close(script.fit_images(val[0]), bundle.val.x, rtol=0, atol=0)
    assert torch.equal(val[1], bundle.val.y)
    if names is not None:
        assert names == bundle.class_names
    if train_size is not None:
        assert len(y) == train_size


def _idx(path: Path, array: np.ndarray, zipped: bool) -> None:
    """uint8 ``array`` as an IDX file: two zero bytes, type 0x08, the dims, the values."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    data = header + array.tobytes()
    path.write_bytes(gzip.compress(data) if zipped else data)


def test_mnist_idx_files_gzipped_or_raw_read_as_netdraft_reads_them(tmp_path):
    project = _project(tmp_path)
    script = _script(project, tmp_path)
    rng = np.random.default_rng(1)
    folder = tmp_path / "mnist"
    folder.mkdir()
    for prefix, count, zipped in (("train", 20, True), ("t10k", 6, False)):
        suffix = ".gz" if zipped else ""
        _idx(folder / f"{prefix}-images-idx3-ubyte{suffix}",
             rng.integers(0, 256, (count, 10, 10), dtype=np.uint8), zipped)
        _idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}",
             rng.integers(0, 3, count, dtype=np.uint8), zipped)
    _same_as_netdraft(script, project, str(folder), train_size=20)


def test_a_folder_with_train_and_val_folders_is_a_split_not_two_classes(tmp_path):
    project = _project(tmp_path)
    script = _script(project, tmp_path)
    rng = np.random.default_rng(2)
    root = tmp_path / "pictures"
    for part, classes in (("train", ("ant", "bee", "cat")), ("val", ("bee", "cat"))):
        for name in classes:
            (root / part / name).mkdir(parents=True)
            for i in range(3):
                Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8), "L").save(
                    root / part / name / f"{i}.png")
    (x, y), (val_x, val_y), names = script.load_source(str(root))
    assert names == ["ant", "bee", "cat"] and len(y) == 9 and len(val_y) == 6
    assert sorted(val_y.tolist()) == [1, 1, 1, 2, 2, 2]  # numbered as the training classes
    _same_as_netdraft(script, project, str(root))


def test_shapes_are_netdraft_s_images_for_the_same_seed(tmp_path):
    project = _project(tmp_path)
    project.data = {"dataset": "shapes", "samples": 60, "classes": 3, "seed": 5}
    script = _script(project, tmp_path)
    for samples, classes, seed, more in ((60, 3, 5, {}), (40, 4, 1, {"size": 9, "chunk": 16})):
        x, y = script.shapes(samples, classes, seed, **more)
        want_x, want_y = images.shapes(samples, classes, seed, **more)
        assert torch.equal(x, want_x) and torch.equal(y, want_y)
    (x, y), val, names = script.load_source("shapes")
    assert val is None and names == ["circle", "square", "triangle"]
    want_x, want_y = images.shapes(60, 3, 5)
    assert torch.equal(y, want_y)
    torch.testing.assert_close(script.fit_images(x, (3, 16, 16), "BGR"),
                               images.fit_array(want_x, (3, 16, 16), "BGR", "shapes"),
                               rtol=0, atol=0)


# ---------------------------------------------------------------- torchrun
def test_ranks_take_equal_shares_so_none_waits_for_a_step_the_others_skip(tmp_path):
    script = _script(_project(tmp_path), tmp_path)
    order = torch.randperm(37)
    shares = [script.shard(order, rank, 2) for rank in (0, 1)]
    assert len(shares[0]) == len(shares[1]) == 19
    assert set(torch.cat(shares).tolist()) == set(range(37))
    assert torch.equal(script.shard(order, 0, 1), order)


@pytest.mark.slow
def test_torchrun_on_two_cpu_ranks_trains_as_one_process_with_twice_the_batch(
        tmp_path, monkeypatch):
    """DDP averages the two ranks' gradients, so 2 ranks × batch 6 take the steps one process
    takes with batch 12; unsynchronized ranks would each follow their own half."""
    project = _project(tmp_path, samples=48, batch_size=6)
    path = tmp_path / "train.py"
    path.write_text(generate(project, with_training=True), encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
         str(path), "--epochs", "2", "--out", str(tmp_path / "ddp")],
        capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("epoch 2/2") == 1  # only rank 0 reports
    ddp = torch.load(tmp_path / "ddp" / "last.pt", weights_only=True)["model"]
    one = _train(load_module(path), monkeypatch, "--epochs", "2", "--batch-size", "12",
                 "--out", str(tmp_path / "one"))
    for key, value in one.items():
        torch.testing.assert_close(ddp[key], value, rtol=1e-5, atol=1e-6, msg=key)
    start = _train(load_module(path), monkeypatch, "--epochs", "2", "--lr", "0",
                   "--out", str(tmp_path / "start"))
    assert not torch.equal(ddp["dense3.weight"], start["dense3.weight"])
