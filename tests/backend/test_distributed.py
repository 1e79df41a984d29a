"""torchrun with two CPU processes (gloo): identical weights on both ranks, the train command
reporting once, and a failure on one rank ending both with one message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.backend import checkpoint
from engine.backend.build import build_module
from engine.backend.distributed import World, shard
from engine.backend.train import derive_seed
from engine.project import save
from tests.backend.conftest import tiny_project

ROOT = Path(__file__).resolve().parents[2]


def torchrun(*args, timeout: float = 120) -> subprocess.CompletedProcess:
    """Two CPU processes; a run that hangs fails the test (and its processes are stopped)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc-per-node=2", *map(str, args)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()  # torchrun stops its workers (in sessions of their own) first
            out, err = proc.communicate()
            pytest.fail(f"hung for {timeout} s: {err[-2000:]}")
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def events_of(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_two_cpu_ranks_end_with_identical_weights(tmp_path):
    result = torchrun(ROOT / "tests" / "backend" / "ddp_worker.py", tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    events = events_of(result.stdout)
    starts = [e for e in events if e["event"] == "start"]
    assert len(starts) == 1 and starts[0]["world_size"] == 2  # only rank 0 speaks
    epochs = [e for e in events if e["event"] == "epoch"]
    assert len(epochs) == 2
    # Metrics are summed over both ranks: every validation image is counted once.
    assert sum(sum(row) for row in epochs[-1]["confusion"]) == starts[0]["data"]["val"]
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for key in rank0:
        torch.testing.assert_close(rank0[key], rank1[key], rtol=0, atol=0, msg=key)
    saved = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["model"]
    torch.testing.assert_close(saved["fc.weight"], rank0["fc.weight"], rtol=0, atol=0)


@pytest.mark.slow
def test_train_command_reports_once_and_saves_a_checkpoint(tmp_path, tiny_file):
    result = torchrun(ROOT / "main.py", "train", tiny_file, "--out", tmp_path / "run",
                      "--events", "jsonl", "--epochs", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert all(line.startswith("{") for line in lines)  # stdout is the protocol only
    kinds = [e["event"] for e in events_of(result.stdout)]
    assert kinds.count("start") == kinds.count("done") == 1 and kinds[-1] == "done"
    state = checkpoint.load(tmp_path / "run" / checkpoint.LAST)
    assert state["world_size"] == 2
    build_module(tiny_project().graph).load_state_dict(state["model"])


@pytest.mark.slow
def test_nan_loss_on_one_rank_stops_both_with_one_message(tmp_path):
    # 64 samples split evenly (no padding), so each goes to one rank only: the NaN one is
    # the first of rank 1's first batch, which rank 0 (the one that reports) never sees.
    order = torch.randperm(64, generator=torch.Generator().manual_seed(
        derive_seed(0, "shuffle", 0)))  # training.seed 0, epoch 0
    # NaN in the data is refused before training: the network overflows on one finite
    # sample instead, the Input scaling it by 1e38 (the others, below 1e-3, stay finite).
    x = np.random.default_rng(0).uniform(0, 1e-3, (64, 8, 8)).astype(np.float32)
    x[int(shard(order, World(2, 1, 1))[0])] = 255.0
    np.savez(tmp_path / "nan.npz", x=x, y=np.arange(64) % 10)
    project = tiny_project(dataset=str(tmp_path / "nan.npz"), epochs=1)
    project.graph.set_param(project.graph.by_name("in").id, "scale", 1e38)
    project.data["val_fraction"] = 0.0
    project.training["batch_size"] = 2  # 32 steps: found at the agreement before step 11
    save(project, tmp_path / "nan.netdraft")
    result = torchrun(ROOT / "main.py", "train", tmp_path / "nan.netdraft",
                      "--out", tmp_path / "run")
    assert result.returncode == 1
    message = "the loss became nan at epoch 1, step 1: lower the learning rate"
    assert result.stderr.count(message) == 1, result.stderr[-3000:]
    assert f'File "{ROOT / "engine"}' not in result.stderr  # no worker traceback
