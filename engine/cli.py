"""The command line (DESIGN.md "CLI"). Exit codes: 0 success, 1 problems found or a failed
run, 2 bad usage or an unreadable file.

Core commands live here; the backend, exporters and importers each add theirs through a
module exposing ``register(subparsers)``, whose handlers import torch only when they run.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import json
import sys
from collections.abc import Sequence

from engine import memory, templates, weights
from engine import project as project_io
from engine.project import ProjectError
from engine.summary import format_text, human_count, summarize
from engine.validate import analyze

# Modules that add subcommands; each is listed here once it exists.
COMMAND_MODULES: tuple[str, ...] = ("engine.backend.cli", "engine.backend.eval_cli",
                                     "engine.export.cli", "engine.export.profile_cli",
                                     "engine.importers.cli")

# Commands DESIGN.md names that a version may not have yet: a typo near one of them is
# told that, rather than pointed at a command that does not exist.
PLANNED_COMMANDS: tuple[str, ...] = ()

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


class CliError(Exception):
    """A message for the person at the terminal, with the exit code to leave with."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def load_project(path: str) -> project_io.Project:
    try:
        return project_io.load(path)
    except ProjectError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


def cmd_templates(args: argparse.Namespace) -> int:
    for name in templates.names():
        proj = templates.open_template(name)
        totals = analyze(proj.graph).totals()
        first_line = proj.description.split(". ")[0].rstrip(".")
        # Trainable is what torchvision and papers count (no BatchNorm statistics).
        print(f"{name:<12} {totals['params']:>12,} params ({totals['trainable']:,} "
              f"trainable)  {human_count(totals['macs'])} MACs  {first_line}")
    return EXIT_OK


def cmd_new(args: argparse.Namespace) -> int:
    try:
        proj = templates.open_template(args.template)
    except ProjectError as exc:
        raise CliError(str(exc)) from None
    try:
        project_io.save(proj, args.output)
    except OSError as exc:
        raise CliError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    print(f"wrote {args.output} from the {args.template} template")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    proj = load_project(args.file)
    analysis = analyze(proj.graph)
    lint = proj.graph.lint()
    problems = [str(p) for p in analysis.problems] + [f"graph invariant: {m}" for m in lint]
    # Stored weights that no longer fit are re-initialized when built: listed, not problems.
    weights_lines = weights.listing(proj.graph, proj.weights, analysis)
    if problems:
        print(f"{args.file}: {len(problems)} problem(s)")
        for message in problems:
            print(f"  - {message}")
        _print_lines(weights_lines)
        return EXIT_PROBLEMS
    totals = analysis.totals()
    print(f"{args.file}: ok — {len(analysis.results)} blocks, {totals['params']:,} params")
    _print_lines([warning] if (warning := _size_warning(analysis)) else [])
    _print_lines(weights_lines)
    return EXIT_OK


def _size_warning(analysis) -> str:
    return memory.size_warning(analysis, memory.available_memory()) if analysis.ok else ""


def cmd_summary(args: argparse.Namespace) -> int:
    proj = load_project(args.file)
    analysis = analyze(proj.graph)
    summary = summarize(proj.graph, analysis)
    stored = {"weights": weights.to_json(proj.graph, proj.weights, analysis)} \
        if proj.weights.get("blocks") else {}
    warning = _size_warning(analysis)
    if args.json:
        extra = {"warnings": [warning.removeprefix("warning: ")]} if warning else {}
        print(json.dumps({"name": proj.name, **summary.to_json(), **stored, **extra},
                         indent=1))
    else:
        print(format_text(summary, proj.name))
        _print_lines([warning] if warning else [])
        _print_lines(weights.listing(proj.graph, proj.weights, analysis))
    return EXIT_OK


def _print_lines(lines: list[str]) -> None:
    for line in lines:
        print(line)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netdraft",
        description="Design, validate, train and export convolutional networks. "
                    "Without a command, opens the designer.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("templates", help="list templates with parameter counts")
    p.set_defaults(handler=cmd_templates)
    p = sub.add_parser("new", help="create a project from a template")
    p.add_argument("--template", required=True, metavar="NAME",
                   help="one of: " + ", ".join(templates.ORDER))
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p.set_defaults(handler=cmd_new)
    p = sub.add_parser("validate", help="check a project; exit 1 and list problems if any")
    p.add_argument("file", metavar="FILE")
    p.set_defaults(handler=cmd_validate)
    p = sub.add_parser("summary", help="Keras-style summary of a project's network")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(handler=cmd_summary)
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return parser


def command_names() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(sub.choices)


def unknown_command(word: str) -> str | None:
    """The message for a word that is no command (None when it is one), with the nearest
    command: "unknown command 'evalute'; did you mean 'evaluate'?"."""
    commands = command_names()
    if word in commands:
        return None
    listing = ", ".join(commands)
    close = difflib.get_close_matches(word, [*commands, *PLANNED_COMMANDS], n=1, cutoff=0.6)
    if close and close[0] in commands:
        return f"unknown command '{word}'; did you mean '{close[0]}'? Commands: {listing}"
    if close:
        return (f"unknown command '{word}'; '{close[0]}' is not in this version of Netdraft "
                f"yet. Commands: {listing}")
    return (f"unknown command '{word}'. Commands: {listing}; to open a project in the "
            "designer, give its file name (e.g. model.netdraft)")


def run(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.handler(args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
