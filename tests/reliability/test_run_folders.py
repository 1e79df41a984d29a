"""Run folders never lose or misplace what a trainer wrote (DESIGN.md rule 8): no write
through a symbolic link, atomic checkpoints that survive a SIGKILL mid-write, readers that
fall back to the other checkpoint, one trainer per folder, no new run over an old one
unasked, and a --resume that names a bad metrics row or a FIFO instead of failing or
hanging."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from engine import atomic
from engine.backend import checkpoint
from engine.backend.metrics import MetricsLog
from engine.backend.run_folder import RunFolderError, RunLock
from engine.cli import run
from engine.graph import Graph
from engine.project import Project, save
from engine.runs import read_record
from tests.backend.conftest import tiny_project

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _events(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _trained(tmp_path: Path, epochs: int = 1) -> tuple[Path, Path]:
    """A project file and a finished run of it (tmp_path/run)."""
    project_file = tmp_path / "p.netdraft"
    save(tiny_project(epochs=epochs), project_file)
    assert run(["train", str(project_file), "--out", str(tmp_path / "run"), "--events",
                "jsonl"]) == 0
    return project_file, tmp_path / "run"


def _train(capsys, *args: str) -> tuple[int, list[dict], str]:
    capsys.readouterr()
    code = run(["train", *args, "--events", "jsonl"])
    out, err = capsys.readouterr()
    return code, _events(out), err


def _refused(events: list[dict]) -> str:
    assert [(e["event"], e["kind"], e["exit_code"]) for e in events] == [("error", "run", 2)]
    return events[0]["message"]


# ------------------------------------------------------------------ symbolic links
def test_resume_refuses_links_out_of_the_run_folder_and_leaves_their_targets(tmp_path,
                                                                             capsys):
    project_file, run_dir = _trained(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    victims = {"metrics.csv": elsewhere / "notes.csv", "best.pt": elsewhere / "model.bin"}
    for name, victim in victims.items():
        victim.write_bytes(b"someone else's file\n")
        (run_dir / name).unlink()
        (run_dir / name).symlink_to(victim)
    code, events, err = _train(capsys, str(project_file), "--resume", str(run_dir),
                               "--epochs", "2")
    assert code == 2
    message = _refused(events)
    assert f"metrics.csv -> {victims['metrics.csv']}" in message
    assert f"best.pt -> {victims['best.pt']}" in message
    assert err == f"error: {message}\n"
    for victim in victims.values():
        assert victim.read_bytes() == b"someone else's file\n"
    # A new run into such a folder is refused the same way, even with --overwrite.
    code, events, _ = _train(capsys, str(project_file), "--out", str(run_dir), "--overwrite")
    assert code == 2 and "metrics.csv ->" in _refused(events)
    for victim in victims.values():
        assert victim.read_bytes() == b"someone else's file\n"


def test_each_run_file_write_replaces_a_link_instead_of_writing_through_it(tmp_path):
    """The writers themselves, without the folder check: a link in a run file's place is
    replaced by the file, and the link's target keeps its bytes."""
    run_dir, elsewhere = tmp_path / "run", tmp_path / "elsewhere"
    (run_dir / "confusion").mkdir(parents=True)
    elsewhere.mkdir()
    names = ("metrics.csv", "per_class.csv", "confusion/epoch_001.csv", "last.pt", "best.pt")
    for name in names:
        victim = elsewhere / name.replace("/", "_")
        victim.write_text("epoch\nsomeone else's\n")
        (run_dir / name).symlink_to(victim)
    log = MetricsLog(run_dir, resume_epoch=1, class_names=["a", "b"])
    log.write(1, {"train_loss": 0.5, "confusion": [[3, 1], [0, 4]]})
    log.close()
    checkpoint.save(run_dir / "last.pt", {"epoch": 1})
    atomic.copy(run_dir / "last.pt", run_dir / "best.pt")
    for name in names:
        assert not (run_dir / name).is_symlink() and (run_dir / name).is_file(), name
        assert (elsewhere / name.replace("/", "_")).read_text() == "epoch\nsomeone else's\n"
    assert checkpoint.load(run_dir / "best.pt")["epoch"] == 1
    assert "0.5" in (run_dir / "metrics.csv").read_text()
    assert not list(run_dir.glob(atomic.TEMP_GLOB))


# --------------------------------------------------- SIGKILL while best.pt is written
def _big_project(epochs: int) -> Project:
    """About 6 M parameters (a 72 MB checkpoint with Adam's two moments), trained on 64
    random images: each epoch is quick, each checkpoint takes a while to write."""
    g = Graph()
    prev = None
    for kind, name, params in (("Input", "in", {"shape": [1, 8, 8], "scale": 1 / 255}),
                               ("Flatten", "flat", {}),
                               ("Dense", "wide", {"units": 80_000, "activation": "relu"}),
                               ("Dense", "fc", {"units": 10, "activation": "softmax"}),
                               ("Output", "out", {"classes": 10})):
        node = g.add_node(kind, name, params)
        if prev is not None:
            g.connect(prev, node.id)
        prev = node.id
    return Project(graph=g, name="big",
                   data={"dataset": "synthetic", "samples": 64, "val_fraction": 0.0},
                   training={"epochs": epochs, "batch_size": 16, "threads": 1})


def _kill_while_best_is_written(proc: subprocess.Popen, run_dir: Path,
                                best_events: list[dict]) -> int | None:
    """SIGKILL the trainer in the middle of writing a later best.pt, timed on the sizes of
    the files it writes: best.pt itself shorter than the complete one (a copy in place), or
    a temporary .best.pt*.tmp with bytes in it. Returns the epoch of the last complete
    best.pt, or None when the run ended before a write could be hit."""
    best = run_dir / checkpoint.BEST
    while proc.poll() is None:
        if not best_events:
            time.sleep(0.005)
            continue
        complete_epoch, size = best_events[-1]["epoch"], best.stat().st_size
        while proc.poll() is None and best_events[-1]["epoch"] == complete_epoch:
            try:
                writing = best.stat().st_size < size or any(
                    p.stat().st_size > 0 for p in run_dir.glob(".best.pt*.tmp"))
            except OSError:  # renamed between listing and looking
                continue
            if writing:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                return complete_epoch
    return None


@pytest.mark.slow
def test_sigkill_while_best_pt_is_written_keeps_the_previous_best(tmp_path, capsys):
    project_file = tmp_path / "big.netdraft"
    save(_big_project(epochs=30), project_file)
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "train",
                             str(project_file), "--out", str(run_dir), "--events", "jsonl"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=ENV, cwd=tmp_path)
    best_events: list[dict] = []

    def read() -> None:
        for line in proc.stdout:
            event = json.loads(line)
            if event["event"] == "checkpoint" and event["kind"] == "best":
                best_events.append(event)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        complete_epoch = _kill_while_best_is_written(proc, run_dir, best_events)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    reader.join(5)
    assert complete_epoch is not None, "the run ended before a best.pt write could be hit"
    assert proc.returncode == -signal.SIGKILL
    # The previous best model is whole; the half-written one is a stray temporary file.
    assert checkpoint.load(run_dir / "best.pt")["epoch"] == complete_epoch
    stray = list(run_dir.glob(atomic.TEMP_GLOB))
    assert stray, "the kill should have landed mid-write"
    # Export and import of the killed run still work.
    assert run(["export", str(project_file), "--weights", str(run_dir), "--safetensors",
                str(tmp_path / "w.safetensors")]) == 0
    assert run(["import", str(run_dir), "-o", str(tmp_path / "again.netdraft")]) == 0
    # Resuming cleans the stray file up and carries on.
    resumed = checkpoint.load(checkpoint.resume_file(run_dir))["epoch"]
    code, events, err = _train(capsys, str(project_file), "--resume", str(run_dir),
                               "--epochs", str(resumed + 1))
    assert code == 0, err
    assert events[-1]["event"] == "done" and events[-1]["epochs_done"] == resumed + 1
    assert not list(run_dir.glob(atomic.TEMP_GLOB))
    assert f"removed {stray[0].name}" in err


def test_stray_temporary_files_are_removed_when_a_run_resumes(tmp_path, capsys):
    project_file, run_dir = _trained(tmp_path)
    left = [run_dir / ".last.pt.999.abcd0123.tmp", run_dir / "confusion" /
            ".epoch_001.csv.999.abcd0123.tmp"]
    for path in left:
        path.write_bytes(b"half a file")
    code, _, err = _train(capsys, str(project_file), "--resume", str(run_dir), "--epochs", "2")
    assert code == 0, err
    assert not any(path.exists() for path in left)


# ----------------------------------------------------------------- readers fall back
def test_import_falls_back_to_last_pt_when_best_pt_is_cut_short(tmp_path, capsys):
    from engine.importers.runs import import_run

    _, run_dir = _trained(tmp_path)
    (run_dir / "best.pt").write_bytes(b"")
    imported = import_run(run_dir)
    assert "best.pt" in imported.notes[0] and "using last.pt instead" in imported.notes[0]
    assert imported.tensors
    capsys.readouterr()
    assert run(["import", str(run_dir), "-o", str(tmp_path / "x.netdraft")]) == 0
    assert "using last.pt instead" in capsys.readouterr().out


def test_resume_falls_back_to_last_pt_when_interrupted_pt_is_damaged(tmp_path, capsys):
    project_file, run_dir = _trained(tmp_path)
    data = (run_dir / "last.pt").read_bytes()
    (run_dir / "interrupted.pt").write_bytes(data[: len(data) // 2])  # newer, cut short
    code, events, err = _train(capsys, str(project_file), "--resume", str(run_dir),
                               "--epochs", "2")
    assert code == 0, err
    assert "interrupted.pt" in err and "resuming from last.pt instead" in err
    assert events[0]["start_epoch"] == 2


# ------------------------------------------------------------ one trainer per folder
@pytest.mark.timeout(300)  # without the lock the second trainer would train for long
def test_a_second_trainer_on_a_folder_in_use_is_refused_naming_the_first(tmp_path, capsys):
    project_file = tmp_path / "p.netdraft"
    save(tiny_project(epochs=10_000), project_file)
    run_dir = tmp_path / "run"
    first = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "train",
                              str(project_file), "--out", str(run_dir), "--events", "jsonl"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             env=ENV, cwd=tmp_path)
    try:
        for line in first.stdout:  # until its first checkpoint: a run to resume
            if json.loads(line)["event"] == "checkpoint":
                break
        threading.Thread(target=first.stdout.read, daemon=True).start()  # keep it drained
        for args in (["--out", str(run_dir)], ["--out", str(run_dir), "--overwrite"],
                     ["--resume", str(run_dir)]):
            code, events, _ = _train(capsys, str(project_file), *args)
            assert code == 2, args
            message = _refused(events)
            assert f"in use by another trainer (pid {first.pid})" in message, message
        # A failure after the folder is known (a bad device) leaves the record to its owner.
        code, events, _ = _train(capsys, str(project_file), "--resume", str(run_dir),
                                 "--device", "tpu")
        assert code == 2
        record, _ = read_record(run_dir)
        assert record["status"] == "running" and record["pid"] == first.pid
        # The lock dies with its holder, even by SIGKILL: the run resumes at once.
        first.kill()
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
        first.wait()
    resumed = checkpoint.load(checkpoint.resume_file(run_dir))["epoch"]
    code, events, err = _train(capsys, str(project_file), "--resume", str(run_dir),
                               "--epochs", str(resumed + 1))
    assert code == 0, err
    epochs = [int(line.split(",")[0])
              for line in (run_dir / "metrics.csv").read_text().splitlines()[1:]]
    assert epochs == list(range(1, resumed + 2))  # one trainer's rows, in order


def test_the_lock_names_the_holders_pid(tmp_path):
    lock = RunLock(tmp_path)
    lock.acquire()
    try:
        with pytest.raises(RunFolderError, match=f"pid {os.getpid()}"):
            RunLock(tmp_path).acquire()
    finally:
        lock.release()
    again = RunLock(tmp_path)
    again.acquire()  # free once released
    again.release()


def test_a_new_run_over_an_old_one_needs_overwrite(tmp_path, capsys):
    (tmp_path / "run").mkdir()  # an empty folder is fine
    project_file, run_dir = _trained(tmp_path)
    metrics = (run_dir / "metrics.csv").read_bytes()
    best = (run_dir / "best.pt").read_bytes()
    code, events, _ = _train(capsys, str(project_file), "--out", str(run_dir))
    assert code == 2
    message = _refused(events)
    assert str(run_dir) in message and "--overwrite" in message and "--resume" in message
    assert (run_dir / "metrics.csv").read_bytes() == metrics
    assert (run_dir / "best.pt").read_bytes() == best
    assert read_record(run_dir)[0]["status"] == "finished"  # not marked failed
    code, events, err = _train(capsys, str(project_file), "--out", str(run_dir),
                               "--overwrite", "--set", "training.seed=1")
    assert code == 0, err
    assert (run_dir / "best.pt").read_bytes() != best
    assert len(read_record(run_dir)[0]["sessions"]) == 1  # a new run, not a resume
    assert run(["train", str(project_file), "--resume", str(run_dir), "--overwrite"]) == 2


# ------------------------------------------------------------------ --resume inputs
def test_resume_names_a_garbage_metrics_row_and_goes_on(tmp_path, capsys):
    project_file, run_dir = _trained(tmp_path, epochs=2)
    with (run_dir / "metrics.csv").open("a") as handle:
        handle.write("garbage,row\nthree,1,2,3\n")
    code, events, err = _train(capsys, str(project_file), "--resume", str(run_dir),
                               "--epochs", "3")
    assert code == 0, err
    assert "metrics.csv line 4" in err and "metrics.csv line 5" in err
    lines = (run_dir / "metrics.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in lines] == ["epoch", "1", "2", "3"]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("how", ["folder", "file"])
def test_resume_refuses_a_fifo_instead_of_hanging(tmp_path, capsys, how):
    project_file, run_dir = _trained(tmp_path)
    (run_dir / "last.pt").unlink()
    os.mkfifo(run_dir / "last.pt")
    source = run_dir if how == "folder" else run_dir / "last.pt"
    code, events, err = _train(capsys, str(project_file), "--resume", str(source))
    assert code == 2
    assert "last.pt" in events[-1]["message"] and "not a regular file" in events[-1]["message"]


def test_export_falls_back_to_last_pt_when_best_pt_is_cut_short(tmp_path):
    """A best.pt left empty by a crash: export uses last.pt and says so."""
    import shutil

    from engine import project as projects
    from engine import templates

    project = templates.open_template("keras-mnist")
    project.training.update({"epochs": 1, "threads": 1})
    project.data = {"dataset": "synthetic", "samples": 64}
    path = projects.save(project, tmp_path / "m.netdraft")
    run = tmp_path / "run"
    trained = subprocess.run([sys.executable, str(ROOT / "main.py"), "train", str(path),
                              "--out", str(run)], capture_output=True, text=True, timeout=300)
    assert trained.returncode == 0, trained.stderr
    (run / "best.pt").write_bytes(b"")
    out = tmp_path / "m.onnx"
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "export", str(path),
                             "--weights", str(run), "--onnx", str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "last.pt" in result.stdout + result.stderr
    assert out.is_file()
    shutil.rmtree(run)
