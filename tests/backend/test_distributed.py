"""torchrun with two CPU processes (gloo): both ranks end with identical weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]


def test_two_cpu_ranks_end_with_identical_weights(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
         str(ROOT / "tests" / "backend" / "ddp_worker.py"), str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
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
