"""The run history read from run folders written by hand: run.json, metrics.csv and
checkpoint names; damaged files; killed trainers; comparing settings; naming and deleting."""

from __future__ import annotations

import datetime
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.runs import (
    KILLED_MESSAGE,
    RunInfo,
    best_metric_text,
    delete_run,
    list_runs,
    new_run_dir,
    process_start_token,
    read_run,
    runs_dir_for,
    settings_differences,
    write_record,
)

METRICS = ("epoch,train_loss,train_accuracy,train_top5,val_loss,val_accuracy,val_top5,lr,"
           "seconds,images_per_s\n"
           "1,1.5,0.5,,1.2,0.6,,0.001,2.0,900\n"
           "2,0.9,0.7,,0.8,0.75,,0.001,1.9,950\n")


def record(**fields) -> dict:
    base = {"format": "netdraft-run", "version": 1, "project": "lenet-5",
            "project_file": "/p/lenet-5.netdraft", "started": 1_700_000_000.0,
            "pid": os.getpid(), "process_start": process_start_token(os.getpid()),
            "host": socket.gethostname(), "status": "finished", "device": "cpu",
            "epochs": 15, "epochs_done": 2, "monitor": "val_accuracy", "best_value": 0.75,
            "best_epoch": 2, "settings": {"training": {"lr": 0.01}}, "resumed": False,
            "sessions": [{"started": 1_700_000_000.0, "ended": 1_700_000_060.0,
                          "status": "finished"}]}
    base.update(fields)
    return base


def make_run(folder: Path, run: dict | str | None = None, metrics: str | None = METRICS,
             checkpoints: tuple[str, ...] = ("last.pt", "best.pt")) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(run, dict):
        write_record(folder, run)
    elif isinstance(run, str):
        (folder / "run.json").write_text(run)
    if metrics is not None:
        (folder / "metrics.csv").write_text(metrics)
    for name in checkpoints:
        (folder / name).write_bytes(b"")
    return folder


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_recorded_run_reads_back_with_its_rows_and_checkpoints(tmp_path):
    info = read_run(make_run(tmp_path / "lenet-5-20240101-120000", record()))
    assert (info.name, info.status, info.project, info.device) == (
        "lenet-5-20240101-120000", "finished", "lenet-5", "cpu")
    assert (info.started, info.epochs_done, info.epochs) == (1_700_000_000.0, 2, 15)
    assert (info.monitor, info.best_value, info.best_epoch) == ("val_accuracy", 0.75, 2)
    assert info.settings == {"training": {"lr": 0.01}} and info.message == ""
    assert info.project_file == "/p/lenet-5.netdraft"
    assert [r["epoch"] for r in info.rows] == [1, 2]
    assert info.rows[1]["val_accuracy"] == 0.75 and info.rows[1]["val_top5"] is None
    assert info.checkpoints == {"last": info.path / "last.pt", "best": info.path / "best.pt"}
    assert info.resumable and not info.resumed
    assert best_metric_text(info) == "val_accuracy 75.0 % (epoch 2)"


def test_a_running_record_whose_trainer_is_gone_reads_as_killed_and_resumable(tmp_path):
    info = read_run(make_run(tmp_path / "r", record(status="running", pid=dead_pid(),
                                                    process_start=None)))
    assert info.status == "killed" and info.message == KILLED_MESSAGE
    assert info.resumable


def test_a_running_record_of_a_live_trainer_stays_running_and_not_resumable(tmp_path):
    info = read_run(make_run(tmp_path / "r", record(status="running")))
    assert info.status == "running" and not info.resumable
    # On another machine this one cannot tell: it keeps the record's word.
    info = read_run(make_run(tmp_path / "r2", record(status="running", pid=dead_pid(),
                                                     host="elsewhere.invalid")))
    assert info.status == "running"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_a_pid_reused_by_another_process_is_not_taken_for_the_trainer(tmp_path):
    info = read_run(make_run(tmp_path / "r", record(status="running",
                                                    process_start="another-boot/123")))
    assert info.status == "killed"


@pytest.mark.skipif(not hasattr(os, "waitid"), reason="needs waitid")
def test_a_trainer_that_ended_but_is_not_reaped_yet_reads_as_killed(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # ended, still a zombie
        info = read_run(make_run(tmp_path / "r", record(status="running", pid=child.pid,
                                                        process_start=None)))
        assert info.status == "killed"
    finally:
        child.wait()


def test_without_run_json_status_comes_from_the_checkpoint_names(tmp_path):
    plain = read_run(make_run(tmp_path / "tiny-20240102-030405"))
    assert plain.status == "unknown" and plain.epochs_done == 2 and plain.resumable
    assert plain.started == datetime.datetime(2024, 1, 2, 3, 4, 5).timestamp()
    stopped = make_run(tmp_path / "stopped", checkpoints=("last.pt", "interrupted.pt"))
    old = time.time() - 100
    os.utime(stopped / "last.pt", (old, old))
    info = read_run(stopped)
    assert info.status == "interrupted" and info.resumable
    assert info.started is not None and info.started <= time.time()
    os.utime(stopped / "interrupted.pt", (old - 50, old - 50))
    assert read_run(stopped).status == "unknown"


@pytest.mark.parametrize("text,words", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "not a Netdraft run record"),
    ('{"format": "something-else"}', "not a Netdraft run record"),
    ("\x00\xff garbage", "run.json"),
])
def test_a_damaged_run_json_is_skipped_with_a_note(tmp_path, text, words):
    folder = make_run(tmp_path / "r")
    (folder / "run.json").write_bytes(text.encode("latin-1"))
    info = read_run(folder)
    assert words in info.message
    assert info.status == "unknown" and info.epochs_done == 2  # from metrics.csv


def test_wrong_types_in_run_json_are_ignored_one_by_one(tmp_path):
    text = json.dumps(record(epochs_done="ten", started="yesterday", status="exploded",
                             best_epoch=True, settings=[1], sessions="many"))
    info = read_run(make_run(tmp_path / "r", text.replace('"best_value": 0.75',
                                                           '"best_value": NaN')))
    assert info.status == "unknown" and info.epochs_done == 0
    assert info.best_value is None and info.best_epoch is None and info.settings == {}
    assert info.project == "lenet-5"  # what is right still reads
    for words in ("epochs_done is not int", "started is not int or float",
                  "unknown status 'exploded'", "best_value is not a finite number",
                  "best_epoch is not int"):
        assert words in info.message
    assert isinstance(info.started, float)  # from the folder instead


def test_bad_metrics_rows_are_skipped_and_binary_garbage_does_not_raise(tmp_path):
    bad = METRICS + "three,x,y,,,,,,,\n4,0.5,0.8,,,,,0.001,1.0,1000\n"
    info = read_run(make_run(tmp_path / "r", metrics=bad))
    assert [r["epoch"] for r in info.rows] == [1, 2, 4]
    assert "metrics.csv line 4: not a row of numbers" in info.message
    garbage = read_run(make_run(tmp_path / "g", metrics="epoch,loss\n1,\x00\x00\n"))
    assert garbage.rows == [] and "metrics.csv" in garbage.message
    odd = read_run(make_run(tmp_path / "n", metrics=METRICS + "3,nan,inf,,,,,,,\n"))
    assert odd.rows[-1]["train_loss"] is None and odd.rows[-1]["train_accuracy"] is None
    utf = make_run(tmp_path / "u", metrics=None)
    (utf / "metrics.csv").write_bytes(b"\xff\xfe\x00epoch")
    assert "metrics.csv" in read_run(utf).message


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_pipe_in_place_of_a_file_is_not_read(tmp_path):
    folder = make_run(tmp_path / "r", metrics=None)
    os.mkfifo(folder / "run.json")
    os.mkfifo(folder / "metrics.csv")
    info = read_run(folder)  # would block forever if either were opened
    assert "run.json is not a regular file" in info.message
    assert "metrics.csv is not a regular file" in info.message


def test_a_symlinked_run_json_is_not_read(tmp_path):
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps(record(project="not this run")))
    folder = make_run(tmp_path / "r")
    (folder / "run.json").symlink_to(elsewhere)
    info = read_run(folder)
    assert info.project == "" and "symbolic link" in info.message


def test_list_runs_finds_run_folders_newest_first(tmp_path):
    runs = tmp_path / "runs"
    make_run(runs / "a", record(started=100.0))
    make_run(runs / "b", record(started=300.0))
    make_run(runs / "c", metrics=None, checkpoints=("interrupted.pt",))  # killed early
    (runs / "c" / "interrupted.pt").touch()
    os.utime(runs / "c", (200, 200))
    os.utime(runs / "c" / "interrupted.pt", (200, 200))
    (runs / "notes").mkdir()
    (runs / "notes" / "readme.txt").write_text("not a run")
    (runs / "loose.txt").write_text("a file")
    assert [r.name for r in list_runs(runs)] == ["b", "c", "a"]
    assert list_runs(tmp_path / "missing") == []


def run_with(settings: dict | None) -> RunInfo:
    return RunInfo(path=Path("x"), name="x", settings=settings or {})


def test_settings_differences_fill_defaults_and_keep_section_order():
    runs = [run_with({"training": {"lr": 0.001, "epochs": 5}, "augmentation": {}}),
            run_with({"training": {"epochs": 8, "optimizer": "sgd"},
                      "augmentation": {"enabled": True}}),
            run_with(None)]
    assert settings_differences(runs) == [
        ("augmentation.enabled", [False, True, None]),
        ("training.epochs", [5, 8, None]),
        ("training.optimizer", ["adam", "sgd", None]),
    ]  # lr 0.001 is the default: equal to leaving it out
    assert settings_differences(runs[:1]) == []
    assert settings_differences([run_with({"data": {"new_key": 1}}),
                                 run_with({"data": {"seed": 0}})]) == [
        ("data.new_key", [1, None])]


def test_new_run_dir_is_beside_the_project_and_never_taken(tmp_path):
    project = tmp_path / "work" / "my net.netdraft"
    when = datetime.datetime(2026, 11, 26, 15, 40, 12)
    first = new_run_dir(project, "my net/../x", now=when)
    assert first == runs_dir_for(project) / "my_net____x-20261126-154012"
    assert first.parent == tmp_path / "work" / "runs" and not first.exists()
    first.mkdir(parents=True)
    second = new_run_dir(project, "my net/../x", now=when)
    assert second.name == "my_net____x-20261126-154012-2"
    second.mkdir()
    assert new_run_dir(project, "my net/../x", now=when).name.endswith("-3")
    assert new_run_dir(project, "", now=when).name == "run-20261126-154012"


def test_delete_run_removes_a_run_folder_but_not_what_its_links_point_at(tmp_path):
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "data.txt").write_text("precious")
    folder = make_run(tmp_path / "runs" / "r", record())
    (folder / "data").symlink_to(keep)
    (folder / "file").symlink_to(keep / "data.txt")
    delete_run(folder)
    assert not folder.exists() and (keep / "data.txt").read_text() == "precious"


def test_delete_run_refuses_what_is_not_a_finished_run_folder(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="plain: not a run folder"):
        delete_run(plain)
    with pytest.raises(ValueError, match="no such folder"):
        delete_run(tmp_path / "missing")
    real = make_run(tmp_path / "real", record())
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(ValueError, match="link: a symbolic link"):
        delete_run(link)
    project = make_run(tmp_path / "project", record())
    (project / "lenet.netdraft").write_text("{}")
    with pytest.raises(ValueError, match="holds a project file"):
        delete_run(project)
    running = make_run(tmp_path / "running", record(status="running"))
    with pytest.raises(ValueError, match=f"pid {os.getpid()} .*still running"):
        delete_run(running)
    assert all(p.exists() for p in (plain, real, project, running, real / "last.pt"))


def test_best_metric_text():
    info = run_with(None)
    assert best_metric_text(info) == "—"
    info.monitor, info.best_value, info.best_epoch = "val_loss", 0.06123, 7
    assert best_metric_text(info) == "val_loss 0.0612 (epoch 7)"
    info.monitor, info.best_value = "val_accuracy", 0.981
    assert best_metric_text(info) == "val_accuracy 98.1 % (epoch 7)"


def test_the_history_and_the_memory_estimate_import_neither_torch_nor_qt():
    code = ("import sys, engine.runs, engine.memory; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'PySide6', 'numpy')))")
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=root, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
