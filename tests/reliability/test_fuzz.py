"""Fuzz every command with damaged inputs: seeded random mutations of valid projects (types,
values, deleted keys, truncation, random bytes), data files (.npz, CSV with images, MNIST
IDX), checkpoints and weights (.pt, .safetensors, pickles that would run code) and ONNX
models, run through `main.py validate`, `summary`, `train`, `export`, `import` and `new` as
subprocesses. Each case must end with exit code 0, 1 or 2, no traceback and no "internal
error", and write nothing outside its run folder (runs/) and output folder (out/): each case
works in a folder of its own (also its cwd and HOME) whose whole tree, with a folder
"outside" beside the project, is compared before and after. Libraries' caches in
HOME/.cache are allowed (onnxruntime keeps a device id there).

Cases are ids such as ``train-npz-03``; each one's inputs come from ``random.Random(id)``, so
a failure reproduces by running that one test (its message gives the command, the
mutations and the output; the case's folder is kept under pytest's tmp_path). The cases run
two at a time in the session fixture; each test then reports its own case.
"""

from __future__ import annotations

import functools
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from fuzz_mutations import (
    evil_pickle,
    grow,
    idx_bytes,
    mutate_bytes,
    mutate_csv,
    mutate_idx,
    mutate_image,
    mutate_json,
    mutate_npz,
    mutate_onnx,
    mutate_safetensors,
    project_text,
)

ROOT = Path(__file__).resolve().parents[2]
MAIN = str(ROOT / "main.py")
TEMPLATES = ROOT / "resources" / "templates"
MEMORY_CAP = 6 << 30  # address space per command: a runaway allocation fails, not the host

# family -> number of cases. Light families (no torch) are many; each heavy one costs a
# torch start (~3 s).
FAMILIES = {
    "project": 40,        # validate, summary, summary --json
    "train-project": 10,  # even: a JSON mutation; odd: a size made large
    "train-npz": 6,
    "train-csv": 3,
    "train-idx": 7,
    "resume": 4,
    "export-project": 6,
    "export-weights": 6,
    "import-onnx": 7,
    "import-run": 4,
    "import-weights": 3,
    "new": 6,
    "evaluate": 4,
    "predict": 4,
}
# Commands a family needs beyond the core ones: its cases are skipped until main.py has it.
NEEDS = {"evaluate": "evaluate", "predict": "predict"}
CASES = [f"{family}-{i:02d}" for family, count in FAMILIES.items() for i in range(count)]

# Cases that still fail, each with the defect it shows (reported to whoever owns the code);
# remove an entry when its defect is fixed.
XFAIL: dict[str, str] = {}

TRAIN_FLAGS = ["--epochs", "1", "--set", "training.threads=1", "--set", "data.workers=1"]


@dataclass
class Plan:
    commands: list[list[str]]
    notes: list[str]
    timeout: float = 90.0


@dataclass
class Outcome:
    failures: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)


# --------------------------------------------------------------------- valid inputs
def _run_main(args: list[str], cwd: Path, timeout: float = 180) -> None:
    done = subprocess.run([sys.executable, MAIN, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=_env(cwd))
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"


def _write_png(path: Path, pixels: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(pixels).save(path)


@pytest.fixture(scope="session")
def base(tmp_path_factory) -> Path:
    """Valid inputs every case starts from: keras-mnist and lenet-5 reading a 40-image .npz,
    the same images as PNGs with a CSV and as IDX files, a 1-epoch run folder, the trained
    network as ONNX and safetensors, and that ONNX imported (a project with weights)."""
    root = tmp_path_factory.mktemp("fuzz-base")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 28, 28), dtype=np.uint8)
    y = np.arange(40) % 10
    np.savez(root / "d.npz", x=x, y=y)
    for name in ("keras-mnist", "lenet-5"):
        doc = json.loads((TEMPLATES / f"{name}.netdraft").read_text())
        doc["data"] = {"dataset": "d.npz"}
        (root / f"{name}.netdraft").write_text(json.dumps(doc, indent=1))
    (root / "imgs").mkdir()
    rows = []
    for i in range(20):
        _write_png(root / "imgs" / f"{i}.png", x[i])
        rows.append([f"imgs/{i}.png", str(y[i])])
    (root / "list.csv").write_text("\n".join(",".join(r) for r in rows))
    (root / "idx").mkdir()
    (root / "idx" / "train-images-idx3-ubyte").write_bytes(idx_bytes(x))
    (root / "idx" / "train-labels-idx1-ubyte").write_bytes(idx_bytes(y))
    _run_main(["train", "keras-mnist.netdraft", "--out", "runs/base", *TRAIN_FLAGS], root)
    (root / "out").mkdir()
    _run_main(["export", "keras-mnist.netdraft", "--weights", "runs/base", "--onnx",
               "out/m.onnx", "--safetensors", "out/m.safetensors"], root)
    (root / "imported").mkdir()
    _run_main(["import", "out/m.onnx", "-o", "imported/imported.netdraft"], root)
    assert json.loads((root / "imported" / "imported.netdraft").read_text())["weights"]
    return root


# -------------------------------------------------------------------- one case
def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NETDRAFT_DEBUG"}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="", PYTHONDONTWRITEBYTECODE="1")
    return env


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def _snapshot(top: Path, allowed: list[Path]) -> dict[str, tuple]:
    """Every file, folder and link under ``top`` but inside ``allowed``: kind, inode, size
    and modification time (an atomic replace changes the inode)."""
    out = {}
    for folder, dirs, files in os.walk(top):
        here = Path(folder)
        dirs[:] = [d for d in dirs if here / d not in allowed]
        for name in dirs + files:
            path = here / name
            info = path.lstat()
            kind = "link" if path.is_symlink() else "dir" if path.is_dir() else "file"
            stamp = 0 if kind == "dir" else info.st_mtime_ns
            out[str(path.relative_to(top))] = (kind, info.st_ino, info.st_size if
                                               kind != "dir" else 0, stamp)
    return out


def _changes(before: dict, after: dict) -> list[str]:
    out = [f"created {p}" for p in sorted(after.keys() - before.keys())]
    out += [f"deleted {p}" for p in sorted(before.keys() - after.keys())]
    out += [f"changed {p}" for p in sorted(before.keys() & after.keys())
            if before[p] != after[p]]
    return out


def _run(command: list[str], work: Path, home: Path, timeout: float) -> tuple[int | None,
                                                                             str, str]:
    proc = subprocess.Popen([sys.executable, MAIN, *command], cwd=work, env=_env(home),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            errors="replace", start_new_session=True, preexec_fn=_cap_memory)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return None, out, err
    return proc.returncode, out, err


def run_case(case_id: str, base: Path, top: Path) -> Outcome:
    work = top / "a" / "b" / "work"
    home, outside = top / "home", top / "outside"
    for folder in (work / "out", home, outside):
        folder.mkdir(parents=True)
    outside.joinpath("evil.pt").write_bytes(evil_pickle(str(outside / "pwned"), zipped=True))
    outside.joinpath("victim.onnx").write_bytes(b"not yours")
    extra = [str(outside / "evil.pt"), "../../../outside/evil.pt", str(outside)]
    family, number = case_id.rsplit("-", 1)
    plan = BUILDERS[family](Case(random.Random(case_id), int(number), base, work, outside,
                                 extra))
    allowed = [work / "runs", work / "out", home / ".cache", outside / "runs-disk"]
    outcome = Outcome()
    outcome.log.append(f"case folder: {top}")
    outcome.log += [f"mutation: {n}" for n in plan.notes]
    for command in plan.commands:
        before = _snapshot(top, allowed)
        start = time.monotonic()
        code, out, err = _run(command, work, home, plan.timeout)
        shown = "main.py " + " ".join(command)
        outcome.log.append(f"$ {shown}  -> exit {code} in {time.monotonic() - start:.1f} s\n"
                           f"{_tail(out)}{_tail(err)}")
        problems = []
        if code is None:
            problems.append(f"no exit within {plan.timeout:.0f} s")
        elif code not in (0, 1, 2):
            problems.append(f"exit code {code}")
        for text in (out, err):
            if "Traceback" in text:
                problems.append("a traceback")
            if "internal error" in text:
                problems.append("an internal error")
        problems += [f"wrote outside runs/ and out/: {c}"
                     for c in _changes(before, _snapshot(top, allowed))]
        outcome.failures += [f"{shown}: {p}" for p in dict.fromkeys(problems)]
    return outcome


def _tail(text: str, lines: int = 8) -> str:
    kept = text.strip().splitlines()[-lines:]
    return "".join(f"    {line[:300]}\n" for line in kept)


# --------------------------------------------------------------------- builders
@dataclass
class Case:
    """What a builder works with: the case's generator and number (``n`` walks through the
    kinds of damage), the valid inputs, the project folder, a folder beside it that nothing
    may touch, and strings that point there."""

    rng: random.Random
    n: int
    base: Path
    work: Path
    outside: Path
    extra: list[str]

    def pick(self, options: list):
        return options[self.n % len(options)]


def _copy_project(case: Case, name: str) -> tuple[str, dict]:
    """Copy a base project (and what it reads) into the project folder: file name, document."""
    shutil.copy(case.base / "d.npz", case.work / "d.npz")
    if name == "imported":
        doc = json.loads((case.base / "imported" / "imported.netdraft").read_text())
        weights = doc["weights"]["file"]
        shutil.copy(case.base / "imported" / weights, case.work / weights)
        doc["data"] = {"dataset": "d.npz"}
    else:
        doc = json.loads((case.base / f"{name}.netdraft").read_text())
    return f"{name}.netdraft", doc


PROJECTS = ["keras-mnist", "lenet-5", "imported"]


def build_project(case: Case) -> Plan:
    file, doc = _copy_project(case, case.pick(PROJECTS))
    text, notes = project_text(doc, case.rng, case.extra)
    (case.work / file).write_bytes(text)
    return Plan([["validate", file], ["summary", file], ["summary", file, "--json"]],
                [f"{file}: {n}" for n in notes], timeout=60)


def build_train_project(case: Case) -> Plan:
    file, doc = _copy_project(case, case.pick(PROJECTS[:2]))
    if case.n % 2:
        doc, notes = grow(doc, case.rng)
    else:
        doc, notes = mutate_json(doc, case.rng, 1, case.extra)
    (case.work / file).write_text(json.dumps(doc, indent=1))
    notes = [f"{file}: {n}" for n in notes]
    if case.n % 4 == 2:
        # runs/ a link to a folder on another disk is the user's choice and is honoured:
        # the run folder goes there; nothing else outside may change (docs/safety.md).
        disk = case.outside / "runs-disk"
        disk.mkdir()
        (case.work / "runs").symlink_to(disk, target_is_directory=True)
        notes.append("runs/ is a symlink to ../../../outside/runs-disk")
    return Plan([["train", file, *TRAIN_FLAGS]], notes)


def _valid_keras(case: Case) -> str:
    shutil.copy(case.base / "keras-mnist.netdraft", case.work / "keras-mnist.netdraft")
    return "keras-mnist.netdraft"


def build_train_npz(case: Case) -> Plan:
    file = _valid_keras(case)
    with np.load(case.base / "d.npz") as data:
        content, notes = mutate_npz(data["x"], data["y"], case.rng, case.n)
    (case.work / "bad.npz").write_bytes(content)
    return Plan([["train", file, "--data", "bad.npz", *TRAIN_FLAGS]],
                [f"bad.npz: {n}" for n in notes])


def build_train_csv(case: Case) -> Plan:
    file = _valid_keras(case)
    shutil.copytree(case.base / "imgs", case.work / "imgs")
    rows = [line.split(",") for line in (case.base / "list.csv").read_text().splitlines()]
    content, notes = mutate_csv(rows, case.rng, case.extra)
    (case.work / "list.csv").write_bytes(content)
    notes = [f"list.csv: {n}" for n in notes]
    if case.n % 2:  # and an image damaged
        image = case.work / "imgs" / f"{case.rng.randrange(20)}.png"
        damaged, more = mutate_bytes(image.read_bytes(), case.rng)
        image.write_bytes(damaged)
        notes += [f"{image.relative_to(case.work)}: {n}" for n in more]
    return Plan([["train", file, "--data", "list.csv", *TRAIN_FLAGS]], notes)


def build_train_idx(case: Case) -> Plan:
    file = _valid_keras(case)
    (case.work / "idx").mkdir()
    images = (case.base / "idx" / "train-images-idx3-ubyte").read_bytes()
    labels = (case.base / "idx" / "train-labels-idx1-ubyte").read_bytes()
    images, labels, notes = mutate_idx(images, labels, case.rng, case.n)
    (case.work / "idx" / "train-images-idx3-ubyte").write_bytes(images)
    (case.work / "idx" / "train-labels-idx1-ubyte").write_bytes(labels)
    return Plan([["train", file, "--data", "idx", *TRAIN_FLAGS]],
                [f"idx/: {n}" for n in notes])


def _damage_run(case: Case, run: Path, victim: str) -> list[str]:
    """Damage one file of a copy of the base run: bytes, JSON, a pickle that runs code, or
    the checkpoints gone."""
    shutil.copytree(case.base / "runs" / "base", run)
    where = f"{run.relative_to(case.work)}/"
    if victim.startswith("evil"):
        target = victim.split(":")[1]
        (run / target).write_bytes(evil_pickle(str(case.work / "pwned"), zipped=bool(case.n % 2)))
        return [f"{where}{target}: a pickle that creates pwned when loaded unsafely"]
    if victim == "gone":
        (run / "best.pt").unlink()
        (run / "last.pt").unlink()
        return [f"{where}: best.pt and last.pt deleted"]
    if victim == "run.json":
        doc, notes = mutate_json(json.loads((run / victim).read_text()), case.rng, 2,
                                 case.extra)
        (run / victim).write_text(json.dumps(doc))
    else:
        content, notes = mutate_bytes((run / victim).read_bytes(), case.rng)
        (run / victim).write_bytes(content)
    return [f"{where}{victim}: {n}" for n in notes]


def build_resume(case: Case) -> Plan:
    file = _valid_keras(case)
    shutil.copy(case.base / "d.npz", case.work / "d.npz")
    victim = case.pick(["last.pt", "evil:last.pt", "run.json", "metrics.csv", "gone"])
    notes = _damage_run(case, case.work / "runs" / "base", victim)
    return Plan([["train", file, "--resume", "runs/base", "--epochs", "2", "--set",
                  "training.threads=1", "--set", "data.workers=1"]], notes)


def build_export_project(case: Case) -> Plan:
    file, doc = _copy_project(case, case.pick(PROJECTS))
    if doc["weights"] and case.n % 2 == 0:
        # Stored weights named outside the project's folder: a pickle there must not run.
        doc["weights"]["file"] = case.rng.choice(case.extra[:2])
        text = json.dumps(doc, indent=1).encode()
        notes = [f"weights.file -> {doc['weights']['file']!r} (a pickle that runs code)"]
    else:
        text, notes = project_text(doc, case.rng, case.extra)
    (case.work / file).write_bytes(text)
    notes = [f"{file}: {n}" for n in notes]
    if case.n % 3 == 1:  # the output a link to someone else's file: it must stay as it is
        (case.work / "out" / "m.onnx").symlink_to(case.outside / "victim.onnx")
        notes.append("out/m.onnx is a symlink to ../../../outside/victim.onnx")
    return Plan([["export", file, "--onnx", "out/m.onnx", "--python", "out/m.py",
                  "--safetensors", "out/m.safetensors"]], notes)


def build_export_weights(case: Case) -> Plan:
    file = _valid_keras(case)
    kind = case.pick(["safetensors", "pt", "evil"])
    if kind == "safetensors":
        weights = "w.safetensors"
        content, notes = mutate_safetensors((case.base / "out" / "m.safetensors").read_bytes(),
                                            case.rng, case.n // 3)
    elif kind == "pt":
        weights = "w.pt"
        content, notes = mutate_bytes((case.base / "runs" / "base" / "best.pt").read_bytes(),
                                      case.rng)
    else:
        weights = "w.pt"
        content = evil_pickle(str(case.work / "pwned"), zipped=bool(case.n % 2))
        notes = ["a pickle that creates pwned when loaded unsafely"]
    (case.work / weights).write_bytes(content)
    return Plan([["export", file, "--weights", weights, "--python", "out/m.py",
                  "--safetensors", "out/m.safetensors"]], [f"{weights}: {n}" for n in notes])


TRANSFER_FLAGS = [["--pop", "-1"], ["--pop", "99"], ["--head", "0"], ["--head", "-3"],
                  ["--cut", "no-such-block"], ["--freeze-until", ""], ["--head-dropout", "nan"],
                  ["--lr-mult", "dense_1=nan"], ["--lr-mult", "x=-1"], ["--pop", "1", "--head",
                  "1000000000"], ["--collapse", "--cut", "../../x"]]


def build_import_onnx(case: Case) -> Plan:
    content, notes = mutate_onnx((case.base / "out" / "m.onnx").read_bytes(), case.rng, case.n)
    (case.work / "m.onnx").write_bytes(content)
    notes = [f"m.onnx: {n}" for n in notes]
    flags = case.rng.choice(TRANSFER_FLAGS) if case.rng.random() < 0.4 else []
    if flags:
        notes.append(f"flags {flags}")
    # What an import writes must open again.
    return Plan([["import", "m.onnx", *flags, "-o", "out/imported.netdraft"],
                 ["validate", "out/imported.netdraft"]], notes)


def build_import_run(case: Case) -> Plan:
    victim = case.pick(["best.pt", "run.json", "evil:best.pt", "gone", "evil:last.pt"])
    notes = _damage_run(case, case.work / "runs" / "base", victim)
    return Plan([["import", "runs/base", "-o", "out/run.netdraft"],
                 ["validate", "out/run.netdraft"]], notes)


def build_import_weights(case: Case) -> Plan:
    if case.n < 2:
        content = evil_pickle(str(case.work / "pwned"), zipped=bool(case.n % 2))
        notes = ["r18.pth: a pickle that creates pwned when loaded unsafely"]
    else:
        content, notes = mutate_bytes((case.base / "runs" / "base" / "best.pt").read_bytes(),
                                      case.rng)
        notes = [f"r18.pth (a Netdraft checkpoint): {n}" for n in notes]
    (case.work / "r18.pth").write_bytes(content)
    return Plan([["import", "torchvision:resnet18", "--weights", "r18.pth", "-o",
                  "out/r18.netdraft"]], notes)


def build_new(case: Case) -> Plan:
    name = case.pick(["", "../../../outside/evil", "lenet-5/../keras-mnist", "LENET-5",
                      str(TEMPLATES / "lenet-5.netdraft"), "x" * 300])
    return Plan([["new", "--template", name, "-o", "out/new.netdraft"]],
                [f"--template {name!r}"], timeout=60)


def build_evaluate(case: Case) -> Plan:
    file, doc = _copy_project(case, "keras-mnist")
    shutil.copytree(case.base / "runs" / "base", case.work / "runs" / "base")
    data, notes = "d.npz", []
    what = case.pick(["project", "data", "weights", "evil"])
    if what == "project":
        doc, notes = mutate_json(doc, case.rng, 1, case.extra)
        notes = [f"{file}: {n}" for n in notes]
    elif what == "data":
        with np.load(case.base / "d.npz") as arrays:
            content, notes = mutate_npz(arrays["x"], arrays["y"], case.rng)
        data = "bad.npz"
        (case.work / data).write_bytes(content)
        notes = [f"bad.npz: {n}" for n in notes]
    elif what == "weights":
        best = case.work / "runs" / "base" / "best.pt"
        content, notes = mutate_bytes(best.read_bytes(), case.rng)
        best.write_bytes(content)
        notes = [f"runs/base/best.pt: {n}" for n in notes]
    else:
        (case.work / "runs" / "base" / "best.pt").write_bytes(
            evil_pickle(str(case.work / "pwned"), zipped=True))
        notes = ["runs/base/best.pt: a pickle that creates pwned when loaded unsafely"]
    (case.work / file).write_text(json.dumps(doc, indent=1))
    return Plan([["evaluate", file, "--weights", "runs/base", "--data", data, "--json"]], notes)


def build_predict(case: Case) -> Plan:
    file = _valid_keras(case)
    shutil.copytree(case.base / "runs" / "base", case.work / "runs" / "base")
    content, notes = mutate_image((case.base / "imgs" / "0.png").read_bytes(), case.rng,
                                  case.n)
    (case.work / "image.png").write_bytes(content)
    shutil.copy(case.base / "imgs" / "1.png", case.work / "good.png")
    top = case.pick(["5", "1000000000", "1"])
    return Plan([["predict", file, "--weights", "runs/base", "good.png", "image.png",
                  "--top", top, "--json"]], [f"image.png: {n}" for n in notes]
                + [f"--top {top}"])


BUILDERS = {
    "project": build_project, "train-project": build_train_project,
    "train-npz": build_train_npz, "train-csv": build_train_csv,
    "train-idx": build_train_idx, "resume": build_resume,
    "export-project": build_export_project, "export-weights": build_export_weights,
    "import-onnx": build_import_onnx, "import-run": build_import_run,
    "import-weights": build_import_weights,
    "new": build_new, "evaluate": build_evaluate, "predict": build_predict,
}
assert set(BUILDERS) == set(FAMILIES)


# ------------------------------------------------------------------------- tests
@pytest.fixture(scope="session")
def outcomes(request, base, tmp_path_factory) -> dict[str, Outcome]:
    """Every selected case, two at a time (the commands are single-threaded)."""
    selected = [item.callspec.params["case"] for item in request.session.items
                if hasattr(item, "callspec") and "case" in item.callspec.params
                and item.module.__name__ == __name__]
    selected = [case for case in selected if _missing_command(case) is None]
    tops = {case: tmp_path_factory.mktemp(case) for case in selected}
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {case: pool.submit(_run_safely, case, base, tops[case]) for case in selected}
    return {case: future.result() for case, future in futures.items()}


def _run_safely(case: str, base: Path, top: Path) -> Outcome:
    try:
        return run_case(case, base, top)
    except Exception as exc:  # the fuzz's own failure: that case fails, the others go on
        return Outcome([f"building or checking the case failed: {type(exc).__name__}: {exc}"])


@functools.cache
def _wired(command: str) -> bool:
    done = subprocess.run([sys.executable, MAIN, command, "--help"], capture_output=True,
                          timeout=60)
    return done.returncode == 0


def _missing_command(case: str) -> str | None:
    command = NEEDS.get(case.rsplit("-", 1)[0])
    return command if command and not _wired(command) else None


def _param(case: str):
    if case in XFAIL:
        return pytest.param(case, marks=pytest.mark.xfail(reason=XFAIL[case], strict=False))
    return case


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_damaged_inputs_end_in_a_message_and_write_only_where_asked(case, outcomes):
    missing = _missing_command(case)
    if missing:
        pytest.skip(f"main.py {missing} is not a command yet")
    outcome = outcomes[case]
    assert not outcome.failures, "\n".join(outcome.failures + [""] + outcome.log)
