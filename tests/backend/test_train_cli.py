"""`main.py train`: the JSON-lines protocol, exit codes, one-line errors, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.cli import run
from engine.project import save
from tests.backend.conftest import tiny_project

ROOT = Path(__file__).resolve().parents[2]


def _events(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_jsonl_protocol_in_order_on_stdout_only(tiny_file, tmp_path, capsys):
    code = run(["train", str(tiny_file), "--epochs", "1", "--out", str(tmp_path / "run"),
                "--events", "jsonl", "--set", "training.lr=0.02"])
    out, err = capsys.readouterr()
    events = _events(out)
    assert code == 0
    names = [e["event"] for e in events]
    assert names[0] == "start" and names[-1] == "done" and "epoch" in names
    assert names.index("step") < names.index("epoch") < names.index("checkpoint")
    start = events[0]
    assert start["protocol"] == 1 and start["data"]["classes"] == 10
    assert start["settings"]["training"]["lr"] == 0.02
    epoch = next(e for e in events if e["event"] == "epoch")
    assert {"train_loss", "val_accuracy", "val_top5", "per_class_accuracy",
            "confusion"} <= set(epoch)
    assert events[-1]["status"] == "finished"
    assert "{" not in err
    assert (tmp_path / "run" / "last.pt").exists()


@pytest.mark.parametrize("args,code,kind,words", [
    (["--data", "/no/such/data"], 2, "data", "no such dataset"),
    (["--data", "TOO_MANY"], 1, "data", "12 classes"),
])
def test_bad_data_is_one_error_event_and_exit_code(tiny_file, tmp_path, capsys, args, code,
                                                   kind, words):
    if "TOO_MANY" in args:
        np.savez(tmp_path / "c.npz", x=np.zeros((12, 8, 8), np.uint8), y=np.arange(12))
        args = ["--data", str(tmp_path / "c.npz")]
    assert run(["train", str(tiny_file), "--events", "jsonl", "--out", str(tmp_path / "r"),
                *args]) == code
    out, err = capsys.readouterr()
    events = _events(out)
    assert [e["event"] for e in events] == ["error"]
    assert events[0]["kind"] == kind and words in events[0]["message"]
    assert err.startswith("error: ") and "Traceback" not in err


def test_bad_usage_exits_2(tiny_file, tmp_path, capsys):
    assert run(["train", str(tiny_file), "--set", "training.optimizer=lbfgs"]) == 2
    assert "expected one of" in capsys.readouterr().err
    assert run(["train", str(tmp_path / "missing.netdraft")]) == 2
    assert run(["train", str(tiny_file), "--resume", str(tmp_path / "nothing")]) == 2


def test_sigterm_writes_a_checkpoint_and_resume_continues(tmp_path):
    project = tiny_project(epochs=200)
    save(project, tmp_path / "p.netdraft")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, str(ROOT / "main.py"), "train", str(tmp_path / "p.netdraft"),
           "--out", str(tmp_path / "run"), "--events", "jsonl"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=tmp_path)
    lines = []
    for line in proc.stdout:
        lines.append(json.loads(line))
        if lines[-1]["event"] == "epoch":
            proc.send_signal(signal.SIGTERM)
            break
    rest, err = proc.communicate(timeout=120)
    events = lines + _events(rest)
    assert proc.returncode == 143, err
    assert events[-1]["event"] == "done" and events[-1]["status"] == "interrupted"
    assert any(e["event"] == "checkpoint" for e in events)
    done_epochs = events[-1]["epochs_done"]
    assert done_epochs < 200
    resumed = subprocess.run(cmd[:4] + ["--resume", str(tmp_path / "run"), "--epochs",
                                        str(done_epochs + 1), "--events", "jsonl"],
                             capture_output=True, text=True, env=env, cwd=tmp_path,
                             timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    after = _events(resumed.stdout)
    assert after[0]["start_epoch"] == done_epochs + 1
    assert after[-1]["status"] == "finished"


def _missing_gpu() -> str:
    """A CUDA device this machine lacks: cuda without one, else the GPU after the last."""
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return f"cuda:{gpus}" if gpus else "cuda"


@pytest.mark.parametrize("args,shown,words", [
    (["--device", "tpu"], "--device tpu", "not a device Netdraft trains on"),
    (["--device", "MISSING_GPU"], "--device MISSING_GPU", "this machine has"),
    (["--set", "training.device=MISSING_GPU"], "training.device MISSING_GPU",
     "this machine has"),
])
def test_a_device_this_machine_lacks_is_bad_usage_naming_what_it_has(tiny_file, tmp_path,
                                                                     capsys, args, shown,
                                                                     words):
    device = _missing_gpu()
    if "training.device" in shown and device != "cuda":
        pytest.skip("the project setting only takes cuda, which this machine has")
    args = [a.replace("MISSING_GPU", device) for a in args]
    shown = shown.replace("MISSING_GPU", device)
    assert run(["train", str(tiny_file), "--events", "jsonl", "--out", str(tmp_path / "r"),
                *args]) == 2
    out, err = capsys.readouterr()
    events = _events(out)
    assert [(e["event"], e["kind"], e["exit_code"]) for e in events] == [("error", "run", 2)]
    message = events[0]["message"]
    assert message.startswith(f"{shown}: {words}")
    assert "cpu" in message.partition("; use auto")[2]  # what this machine can train on
    assert err == f"error: {message}\n"
    assert not (tmp_path / "r").exists()  # refused before anything started


def test_batch_size_sets_the_steps_per_epoch(tiny_file, tmp_path, capsys):
    assert run(["train", str(tiny_file), "--epochs", "1", "--batch-size", "100", "--events",
                "jsonl", "--out", str(tmp_path / "run")]) == 0
    events = _events(capsys.readouterr().out)
    start = events[0]
    train = start["data"]["train"]
    assert start["batch_size"] == 100 and start["settings"]["training"]["batch_size"] == 100
    assert start["steps_per_epoch"] == -(-train // 100) != -(-train // 64)  # the project: 64
    steps = [e for e in events if e["event"] == "step"]
    assert {e["steps"] for e in steps} == {start["steps_per_epoch"]}
    assert steps[-1]["step"] == start["steps_per_epoch"]
    with pytest.raises(SystemExit) as exited:  # argparse's usage error
        run(["train", str(tiny_file), "--batch-size", "0"])
    assert exited.value.code == 2
    assert "expected a number ≥ 1" in capsys.readouterr().err
