"""run.json, the trainer's record of a run, from real tiny trainings through `main.py train`:
finished, failed, interrupted by SIGTERM, killed by SIGKILL, resumed; only rank 0 writes;
a symlinked run.json is replaced, never written through."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from engine import templates
from engine.backend.events import ConsoleSink, JsonlSink
from engine.backend.run_record import RunRecordSink
from engine.cli import run
from engine.project import save
from engine.runs import KILLED_MESSAGE, read_run, write_record
from tests.backend.conftest import tiny_project

ROOT = Path(__file__).resolve().parents[2]


def _events(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _record(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


def _train(*args, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, str(ROOT / "main.py"), "train", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=cwd)


def _until_first_checkpoint(proc: subprocess.Popen) -> list[dict]:
    """Events up to the first epoch's last.pt (so a stop after it has something to resume)."""
    events = []
    for line in proc.stdout:
        events.append(json.loads(line))
        if events[-1]["event"] == "checkpoint" and events[-1]["kind"] == "last":
            return events
    raise AssertionError(f"no checkpoint: {proc.communicate()[1][-2000:]}")


def test_a_finished_run_records_what_its_events_said(tiny_file, tmp_path, capsys):
    out = tmp_path / "run"
    assert run(["train", str(tiny_file), "--epochs", "2", "--out", str(out),
                "--events", "jsonl"]) == 0
    events = _events(capsys.readouterr().out)
    start, done = events[0], events[-1]
    epochs = [e for e in events if e["event"] == "epoch"]
    record = _record(out)
    assert record["format"] == "netdraft-run" and record["status"] == "finished"
    assert record["settings"] == start["settings"]
    assert record["project"] == "tiny" and record["project_file"] == str(tiny_file.resolve())
    assert record["pid"] == os.getpid() and record["device"] == start["device"]
    assert {k: v for k, v in start["data"].items() if k != "skipped_files"} == record["data"]
    for key in ("epochs_done", "best_value", "best_epoch", "monitor"):
        assert record[key] == done[key], key
    assert record["last_metrics"]["val_accuracy"] == epochs[-1]["val_accuracy"]
    assert record["started"] <= record["ended"] and not record["resumed"]
    assert [s["status"] for s in record["sessions"]] == ["finished"]
    info = read_run(out)
    assert (info.status, info.epochs_done, info.best_value) == (
        "finished", done["epochs_done"], done["best_value"])
    assert [r["epoch"] for r in info.rows] == [1, 2] and info.resumable


def test_the_console_run_is_recorded_and_its_notes_shown_once(tiny_file, tmp_path, capsys):
    out = tmp_path / "run"
    assert run(["train", str(tiny_file), "--epochs", "1", "--out", str(out),
                "--set", "augmentation.rescale=0.5"]) == 0
    err = capsys.readouterr().err
    assert err.count("note: augmentation.rescale is applied") == 1  # ConsoleSink's own
    assert _record(out)["status"] == "finished"


def test_without_out_the_run_goes_beside_the_project(tiny_file, tmp_path, capsys,
                                                     monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # runs/ must not land in the working directory
    assert run(["train", str(tiny_file), "--epochs", "1", "--events", "jsonl"]) == 0
    run_dir = Path(_events(capsys.readouterr().out)[0]["run_dir"])
    assert run_dir.parent == tiny_file.parent / "runs" and run_dir.name.startswith("tiny-")
    assert _record(run_dir)["status"] == "finished" and not (elsewhere / "runs").exists()
    # A bundled template is no place for runs: they go to the working folder's runs/.
    assert run(["train", str(templates.path("lenet-5")), "--epochs", "1", "--events",
                "jsonl"]) == 0
    run_dir = Path(_events(capsys.readouterr().out)[0]["run_dir"])
    assert run_dir.parent == elsewhere / "runs" and (run_dir / "run.json").is_file()
    assert not (templates.TEMPLATE_DIR / "runs").exists()


def test_a_data_error_after_the_folder_exists_is_recorded_as_failed(tiny_file, tmp_path,
                                                                    capsys):
    out = tmp_path / "run"
    assert run(["train", str(tiny_file), "--epochs", "1", "--out", str(out)]) == 0
    first = _record(out)
    capsys.readouterr()
    assert run(["train", str(tiny_file), "--resume", str(out), "--data", "/no/such/data",
                "--events", "jsonl"]) == 2
    error = _events(capsys.readouterr().out)[-1]
    record = _record(out)
    assert (record["status"], record["error_kind"], record["exit_code"]) == ("failed", "data", 2)
    assert record["message"] == error["message"] and "no such dataset" in error["message"]
    assert record["started"] == first["started"]
    assert [s["status"] for s in record["sessions"]] == ["finished", "failed"]
    info = read_run(out)
    assert info.status == "failed" and "no such dataset" in info.message
    assert info.resumable  # its checkpoint is still there
    # A data error before the run folder exists writes nothing.
    fresh = tmp_path / "fresh"
    assert run(["train", str(tiny_file), "--out", str(fresh), "--data", "/no/such/data"]) == 2
    assert not fresh.exists()


def test_sigterm_is_interrupted_and_resume_keeps_started_and_adds_a_session(tmp_path):
    save(tiny_project(epochs=200), tmp_path / "p.netdraft")
    out = tmp_path / "run"
    proc = _train(tmp_path / "p.netdraft", "--out", out, "--events", "jsonl", cwd=tmp_path)
    _until_first_checkpoint(proc)
    assert _record(out)["status"] == "running"
    proc.send_signal(signal.SIGTERM)
    rest, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    done = _events(rest)[-1]
    record = _record(out)
    assert record["status"] == "interrupted" == done["status"]
    assert record["epochs_done"] == done["epochs_done"]
    info = read_run(out)
    assert info.status == "interrupted" and info.resumable
    resumed = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "train", str(tmp_path / "p.netdraft"),
         "--resume", str(out), "--epochs", str(done["epochs_done"] + 1), "--events", "jsonl"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert resumed.returncode == 0, resumed.stderr
    after = _record(out)
    assert after["started"] == record["started"] and after["resumed"]
    assert after["status"] == "finished" and after["epochs_done"] == done["epochs_done"] + 1
    assert [s["status"] for s in after["sessions"]] == ["interrupted", "finished"]
    assert after["seconds"] > after["sessions"][-1]["seconds"]  # both sessions' time
    assert read_run(out).resumed


def test_sigkill_leaves_running_which_reads_as_killed_and_resumable(tmp_path):
    save(tiny_project(epochs=200), tmp_path / "p.netdraft")
    out = tmp_path / "run"
    proc = _train(tmp_path / "p.netdraft", "--out", out, "--events", "jsonl", cwd=tmp_path)
    _until_first_checkpoint(proc)
    proc.kill()
    proc.communicate(timeout=60)  # reaped: no zombie keeps the pid alive
    record = _record(out)
    assert record["status"] == "running" and record["pid"] == proc.pid
    info = read_run(out)
    assert info.status == "killed" and info.message == KILLED_MESSAGE
    assert info.resumable and info.epochs_done >= 1
    resumed = _train(tmp_path / "p.netdraft", "--resume", out, "--epochs",
                     info.epochs_done + 1, cwd=tmp_path)
    err = resumed.communicate(timeout=120)[1]
    assert resumed.returncode == 0, err
    after = _record(out)
    assert after["status"] == "finished" and after["started"] == record["started"]
    assert [s["status"] for s in after["sessions"]] == ["killed", "finished"]


def test_a_symlinked_run_json_is_refused_or_replaced_and_its_target_untouched(tiny_file,
                                                                             tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    target = tmp_path / "precious.json"
    target.write_text('{"keep": true}')
    (out / "run.json").symlink_to(target)
    # The trainer refuses a folder with a link out of it (tests/reliability has the rest) …
    assert run(["train", str(tiny_file), "--epochs", "1", "--out", str(out)]) == 2
    assert target.read_text() == '{"keep": true}'
    # … and the record's own writer replaces a link instead of writing through it.
    write_record(out, {"format": "netdraft-run", "status": "finished"})
    assert not (out / "run.json").is_symlink()
    assert _record(out)["status"] == "finished"
    assert target.read_text() == '{"keep": true}'


START = {"run_dir": None, "project": "tiny", "device": "cpu", "world_size": 2,
         "precision": "fp32", "epochs": 1, "start_epoch": 1, "batch_size": 8, "params": 10,
         "data": {"train": 8, "val": 2, "classes": 2, "skipped_files": []},
         "class_names": ["a", "b"], "notes": [], "settings": {"training": {}}}


def test_only_rank_0_writes(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    stream = io.StringIO()
    sink = RunRecordSink(JsonlSink(stream))
    sink.emit("start", **{**START, "run_dir": str(tmp_path)})
    assert not (tmp_path / "run.json").exists()
    assert _events(stream.getvalue())[0]["event"] == "start"  # still passed on
    monkeypatch.setenv("RANK", "0")
    RunRecordSink(JsonlSink(io.StringIO())).emit("start", **{**START, "run_dir": str(tmp_path)})
    assert _record(tmp_path)["world_size"] == 2


def test_a_record_that_cannot_be_written_is_a_note_not_a_failure(tmp_path):
    stream = io.StringIO()
    sink = RunRecordSink(ConsoleSink(stream))
    assert sink.shows_notes
    sink.emit("start", **{**START, "run_dir": str(tmp_path / "missing")})
    sink.emit("epoch", epoch=1, epochs=1, train_loss=1.0, train_accuracy=0.5,
              images_per_s=10.0, seconds=1.0, best_epoch=1, improved=True)
    text = stream.getvalue()
    assert text.count("run.json cannot be written") == 1 and "epoch 1/1" in text


@pytest.mark.parametrize("kind,status", [("run", "failed"), ("interrupted", "interrupted")])
def test_an_error_after_start_ends_the_record(tmp_path, kind, status):
    sink = RunRecordSink(JsonlSink(io.StringIO()))
    sink.emit("start", **{**START, "run_dir": str(tmp_path)})
    sink.emit("error", kind=kind, message="the loss became nan", exit_code=1)
    record = _record(tmp_path)
    assert (record["status"], record["message"], record["error_kind"]) == (
        status, "the loss became nan", kind)
    assert record["sessions"][-1]["status"] == status and record["ended"]
