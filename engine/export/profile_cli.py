"""`python main.py profile FILE [--weights RUN] [--batch N] [--int8] [--json]`: measured
latency per block in onnxruntime (engine.export.profile); torch and onnxruntime are imported
only when the command runs."""

from __future__ import annotations

import argparse
import json

from engine.cli import EXIT_OK, EXIT_USAGE, CliError, load_project


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "profile", help="measured latency per block (onnxruntime CPU profiler)",
        description="Export the network to ONNX, run it in onnxruntime on the CPU with the "
                    "profiler on, and list each block's time and share of the total next "
                    "to its MACs.")
    p.add_argument("file", metavar="FILE", help="a .netdraft project")
    p.add_argument("--weights", metavar="RUN_DIR|CKPT",
                   help="as export takes it (default: the project's stored weights, else "
                        "fresh ones); timings barely depend on the weights, INT8 "
                        "calibration does")
    p.add_argument("--batch", type=int, default=1, metavar="N",
                   help="images per run (default 1)")
    p.add_argument("--int8", action="store_true",
                   help="profile the INT8 model (calibrated on the validation images)")
    p.add_argument("--runs", type=int, default=20, metavar="N",
                   help="profiled runs after 3 warm-up runs (default 20)")
    p.add_argument("--json", action="store_true", help="print the profile as JSON")
    p.set_defaults(handler=cmd_profile)


def cmd_profile(args: argparse.Namespace) -> int:
    if args.batch < 1:
        raise CliError(f"--batch expects a positive integer. Received: {args.batch}",
                       EXIT_USAGE)
    if args.runs < 1:
        raise CliError(f"--runs expects a positive integer. Received: {args.runs}",
                       EXIT_USAGE)
    project = load_project(args.file)
    from engine.export import ExportError
    from engine.export.profile import profile

    try:
        result = profile(project, args.file, weights=args.weights, batch=args.batch,
                         int8=args.int8, runs=args.runs)
    except ExportError as exc:
        raise CliError(str(exc), exc.code) from None
    if args.json:
        print(json.dumps(result.to_json(), indent=1))
        return EXIT_OK
    for warning in result.warnings:
        print(f"warning: {warning}")
    for line in result.lines():
        print(line)
    return EXIT_OK
