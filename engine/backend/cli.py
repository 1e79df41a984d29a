"""`main.py train`: the command line over engine.backend.train.

torch is imported only when the command runs, so `main.py --help` and the designer's start
stay light. With ``--events jsonl`` stdout carries only the JSON lines of docs/training.md
and every human message goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from engine import settings as settings_schema
from engine.cli import EXIT_PROBLEMS, EXIT_USAGE, CliError, load_project
from engine.runs import new_run_dir
from engine.templates import TEMPLATE_DIR


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, received {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number ≥ 1, received {value}")
    return value


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "train", help="train a project's network on CPU or GPU",
        description="Train FILE's network with its data, augmentation and training settings; "
                    "flags override them. Several GPUs or nodes: run the same command under "
                    "`torchrun --nproc-per-node=N main.py train ...`.")
    p.add_argument("file", metavar="FILE", help="a .netdraft project")
    p.add_argument("--data", metavar="SPEC",
                   help="digits, shapes, a folder of class subfolders, MNIST IDX files, a "
                        "CSV of path,label or an .npz with x and y")
    p.add_argument("--epochs", type=positive_int, metavar="N")
    p.add_argument("--batch-size", type=positive_int, metavar="N")
    p.add_argument("--device", metavar="D", help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--out", metavar="RUN_DIR",
                   help="where checkpoints and metrics go (default runs/NAME-TIME beside FILE)")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue the run in RUN_DIR exactly where it stopped")
    p.add_argument("--overwrite", action="store_true",
                   help="start a new run in --out's folder even though it holds one (its "
                        "checkpoints and metrics are replaced); refused without it")
    p.add_argument("--events", choices=("jsonl",),
                   help="print one JSON object per line on stdout (see docs/training.md)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override any setting, e.g. --set training.lr=0.01 "
                        "--set augmentation.enabled=true (repeatable)")
    p.set_defaults(handler=cmd_train)


def parse_sets(items: list[str]) -> dict[str, dict[str, Any]]:
    """'training.lr=0.01' -> {'training': {'lr': 0.01}}, checked against the schemas."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot:
            raise CliError(f"--set {item}: expected SECTION.KEY=VALUE, e.g. training.lr=0.01")
        schema = settings_schema.SECTIONS.get(section)
        if schema is None:
            raise CliError(f"--set {item}: unknown section {section!r}; use "
                           + ", ".join(settings_schema.SECTIONS))
        params = {p.name: p for p in schema}
        if name not in params:
            raise CliError(f"--set {item}: {section} has no setting {name!r}; it has "
                           + ", ".join(params))
        param = params[name]
        try:
            value = json.loads(text) if param.type != "str" else text
        except json.JSONDecodeError:
            value = text
        if param.type == "float" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        reason = param.check(value)
        if reason:
            raise CliError(f"--set {item}: {reason}. Received: {value!r}")
        out.setdefault(section, {})[name] = value
    return out


def cmd_train(args: argparse.Namespace) -> int:
    if args.overwrite and args.resume is not None:
        raise CliError("--overwrite starts a new run and --resume continues one: use one "
                       "of them", EXIT_USAGE)
    project = load_project(args.file)
    overrides = parse_sets(args.set)
    if args.data is not None:
        overrides.setdefault("data", {})["dataset"] = args.data
    if args.epochs is not None:
        overrides.setdefault("training", {})["epochs"] = args.epochs
    if args.batch_size is not None:
        overrides.setdefault("training", {})["batch_size"] = args.batch_size

    from engine.backend import checkpoint, events
    from engine.backend.build import BuildError
    from engine.backend.data import DataError, DataNotFound
    from engine.backend.run_folder import RunFolderError
    from engine.backend.run_record import RunRecordSink
    from engine.backend.runtime import RunError
    from engine.backend.train import Trainer

    shown = events.JsonlSink() if args.events == "jsonl" else events.ConsoleSink()
    sink = RunRecordSink(shown, project_file=args.file, resuming=args.resume is not None)
    run_dir = args.out
    if run_dir is None and args.resume is None:
        run_dir = default_run_dir(args.file, project.name)
    kinds = ((DataNotFound, "data", EXIT_USAGE), (DataError, "data", EXIT_PROBLEMS),
             (BuildError, "build", EXIT_PROBLEMS),
             (checkpoint.CheckpointError, "checkpoint", EXIT_USAGE),
             (DeviceUnavailable, "run", EXIT_USAGE), (RunFolderError, "run", EXIT_USAGE),
             (RunError, "run", EXIT_PROBLEMS))
    trainer = None
    try:
        trainer = Trainer(project, overrides, run_dir=run_dir, resume=args.resume, sink=sink,
                          device=args.device, project_path=args.file,
                          overwrite=args.overwrite)
        sink.run_dir = trainer.run_dir  # a failure before start is recorded there
        check_device(trainer.device_name or trainer.settings["training"]["device"],
                     "--device" if trainer.device_name else "training.device",
                     trainer.world.local_rank if trainer.world.enabled else None)
        outcome = trainer.run()
    except KeyboardInterrupt:
        _report(trainer, sink, "interrupted", "stopped at once by a second Ctrl+C", 130)
        raise CliError("stopped at once by a second Ctrl+C; the last epoch's checkpoint "
                       "is kept", 130) from None
    except tuple(k for k, _, _ in kinds) as exc:
        kind, code = next((name, code) for k, name, code in kinds if isinstance(exc, k))
        if isinstance(exc, RunFolderError):
            sink.run_dir = None  # the folder is another run's: its record is not ours to mark
        _report(trainer, sink, kind, str(exc), code)
        raise CliError(str(exc), code) from None
    except Exception as exc:  # a bug: one line for the designer, the trace on request
        if os.environ.get("NETDRAFT_DEBUG"):
            traceback.print_exc(file=sys.stderr)
        message = f"internal error: {type(exc).__name__}: {exc}"
        _report(trainer, sink, "internal", message, EXIT_PROBLEMS)
        raise CliError(message + " (set NETDRAFT_DEBUG=1 for the traceback)",
                       EXIT_PROBLEMS) from None
    return outcome.exit_code


def default_run_dir(project_file: str, project_name: str) -> Path:
    """runs/NAME-TIME beside the project, where the designer's run history looks; a bundled
    template's runs go to runs/ in the working folder instead, never into resources/."""
    if Path(project_file).resolve().parent == TEMPLATE_DIR:
        return new_run_dir(Path.cwd() / Path(project_file).name, project_name)  # as if here
    return new_run_dir(project_file, project_name)


class DeviceUnavailable(Exception):
    """A device name this machine cannot train on (unknown, or not here): bad usage, exit 2."""


def available_devices() -> list[str]:
    import torch

    from engine.backend.runtime import mps_available

    names = ["auto", "cpu"]
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if gpus == 1:
        names.append("cuda")
    elif gpus:
        names += ["cuda", f"cuda:0 … cuda:{gpus - 1}"]
    if mps_available():
        names.append("mps")
    return names


def check_device(name: str, origin: str = "--device", local_rank: int | None = None) -> None:
    """Refuse, before any data is read, a device this machine cannot train on, saying which
    it can."""
    import torch

    from engine.backend.runtime import RunError, pick_device

    try:
        pick_device(name, local_rank)
        return
    except RunError:
        pass
    try:
        kind = torch.device(name.strip().lower()).type
    except RuntimeError:
        kind = None
    if kind not in ("cpu", "cuda", "mps"):
        why = "not a device Netdraft trains on"
    elif kind == "mps":
        why = "Apple's Metal backend (MPS) is not available here"
    elif torch.version.cuda is None and torch.version.hip is None:
        why = "this PyTorch build has no CUDA support"
    elif torch.cuda.is_available():
        why = f"this machine has {torch.cuda.device_count()} GPU(s), numbered from 0"
    else:
        why = "this machine has no usable CUDA GPU"
    *others, last = available_devices()
    raise DeviceUnavailable(f"{origin} {name}: {why}; use {', '.join(others)} or {last}")


def _report(trainer: Any, sink: Any, kind: str, message: str, code: int) -> None:
    if trainer is not None and not trainer.world.main:
        return
    sink.emit("error", kind=kind, message=message, exit_code=code)
