"""`python main.py export FILE [--weights RUN_DIR|CKPT] (--onnx OUT | --python OUT |
--safetensors OUT) ...`: torch and onnx are imported only when the command runs."""

from __future__ import annotations

import argparse
import json

from engine.cli import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, CliError, load_project
from engine.export import DEFAULT_OPSET, EXPORTERS, MAX_OPSET, MIN_OPSET, NATIVE_OPSET


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export", help="export to ONNX (checked against PyTorch), PyTorch code or safetensors",
        description="Export a project's network. At least one of --onnx, --python and "
                    "--safetensors. The ONNX model is run in onnxruntime and compared with "
                    "PyTorch; exit 1 when they differ by more than the tolerance.")
    p.add_argument("file", metavar="FILE", help="a .netdraft project")
    p.add_argument("--weights", metavar="RUN_DIR|CKPT",
                   help="a training run folder (its best.pt, else last.pt), a checkpoint or "
                        "state dict (.pt), a .safetensors file, or 'none' for fresh "
                        "initializers (seed 0); default: the project's stored weights (a "
                        "missing or damaged weights file is an error, exit 1)")
    p.add_argument("--onnx", metavar="OUT.onnx", help="write one self-contained ONNX file")
    p.add_argument("--python", metavar="OUT.py", help="write a standalone PyTorch module")
    p.add_argument("--safetensors", metavar="OUT", help="write the weights as safetensors")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET, metavar="N",
                   help=f"ONNX opset, {MIN_OPSET} to {MAX_OPSET} (default {DEFAULT_OPSET})")
    p.add_argument("--batch", default="dynamic", metavar="dynamic|N",
                   help="batch axis: dynamic (default) or a fixed size")
    p.add_argument("--fp16", action="store_true",
                   help="float16 weights and arithmetic (inputs and outputs stay float32)")
    p.add_argument("--exporter", choices=EXPORTERS, default=EXPORTERS[0],
                   help="torch's ONNX exporter: auto (default) tries the fast TorchScript one "
                        "and falls back to the torch.export-based one")
    p.add_argument("--tolerance", type=float, metavar="T",
                   help="parity tolerance (default 1e-4, with --fp16 1e-2), relative to the "
                        "output's size when the outputs exceed 1")
    p.add_argument("--with-training", action="store_true",
                   help="with --python: add a training script (python or torchrun) that "
                        "starts from the exported weights: the --safetensors file, else "
                        "OUT.safetensors written beside it when there are trained or "
                        "imported weights, else the model's initializers")
    p.add_argument("--check-data", nargs="?", const="", default=None, metavar="SPEC",
                   help="with --onnx: check parity on real images, the first validation "
                        "images of SPEC (as train --data takes) or, without SPEC, of the "
                        "project's dataset (default: generated inputs)")
    p.add_argument("--int8", action="store_true",
                   help="with --onnx: write an INT8 model (static QDQ quantization, "
                        "calibrated on the project's validation images) and report its "
                        "accuracy, agreement, size and latency against float32")
    p.add_argument("--calibration", metavar="SPEC",
                   help="with --int8: calibrate on SPEC's images (as train --data takes) "
                        "instead of the project's validation images")
    p.add_argument("--per-channel", action="store_true",
                   help="with --int8: one weight scale per output channel")
    p.add_argument("--keep-float", nargs="+", default=[], metavar="BLOCK",
                   help="with --int8: leave these blocks in float32")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    p.set_defaults(handler=cmd_export)


def _request(args: argparse.Namespace):
    from engine.export.pipeline import Request

    if not (args.onnx or args.python or args.safetensors):
        raise CliError("nothing to export: give --onnx OUT.onnx, --python OUT.py and/or "
                       "--safetensors OUT", EXIT_USAGE)
    if args.with_training and not args.python:
        raise CliError("--with-training adds a training script to the --python file: "
                       "give --python OUT.py too", EXIT_USAGE)
    onnx_only = [flag for flag, given in (("--fp16", args.fp16),
                                          ("--tolerance", args.tolerance is not None),
                                          ("--opset", args.opset != DEFAULT_OPSET),
                                          ("--batch", args.batch != "dynamic"),
                                          ("--exporter", args.exporter != EXPORTERS[0]),
                                          ("--check-data", args.check_data is not None))
                 if given]
    int8_only = [flag for flag, given in (("--calibration", args.calibration is not None),
                                          ("--per-channel", args.per_channel),
                                          ("--keep-float", bool(args.keep_float)))
                 if given]
    if int8_only and not args.int8:
        raise CliError(f"{', '.join(int8_only)} apply to the INT8 export: give --int8 too",
                       EXIT_USAGE)
    if args.int8:
        onnx_only.append("--int8")
        if args.fp16:
            raise CliError("--int8 and --fp16 are two precisions: give one", EXIT_USAGE)
        if args.batch != "dynamic":
            raise CliError("--int8 measures latency at batch 1 and 32: leave --batch "
                           "dynamic", EXIT_USAGE)
    if onnx_only and not args.onnx:
        raise CliError(f"{', '.join(onnx_only)} apply to the ONNX export: give --onnx "
                       "OUT.onnx too", EXIT_USAGE)
    batch: str | int = args.batch
    if batch != "dynamic":
        try:
            batch = int(batch)
        except ValueError:
            batch = 0
        if batch < 1:
            raise CliError(f"--batch expects 'dynamic' or a positive integer. Received: "
                           f"{args.batch!r}", EXIT_USAGE)
    if not MIN_OPSET <= args.opset <= MAX_OPSET:
        raise CliError(f"--opset expects {MIN_OPSET} to {MAX_OPSET} ({NATIVE_OPSET} or newer "
                       f"is written directly). Received: {args.opset}", EXIT_USAGE)
    if args.tolerance is not None and not args.tolerance > 0:
        raise CliError(f"--tolerance expects a positive number. Received: {args.tolerance}",
                       EXIT_USAGE)
    return Request(onnx=args.onnx, python=args.python, safetensors=args.safetensors,
                   weights=args.weights, opset=args.opset, batch=batch, fp16=args.fp16,
                   tolerance=args.tolerance, with_training=args.with_training,
                   exporter=args.exporter, check_data=args.check_data, int8=args.int8,
                   calibration=args.calibration, per_channel=args.per_channel,
                   keep_float=list(args.keep_float))


def cmd_export(args: argparse.Namespace) -> int:
    project = load_project(args.file)
    request = _request(args)
    from engine.export import ExportError
    from engine.export.pipeline import run

    try:
        outcome = run(project, args.file, request)
    except ExportError as exc:
        raise CliError(str(exc), exc.code) from None
    except OSError as exc:
        raise CliError(f"cannot write {exc.filename or 'the output'}: "
                       f"{exc.strerror or exc}", EXIT_USAGE) from None
    if args.json:
        print(json.dumps(outcome.to_json(), indent=1))
    else:
        _print(outcome)
    if outcome.parity is not None and not outcome.parity.passed:
        raise CliError(f"{outcome.parity.summary()}. The file was written for inspection; "
                       "raise --tolerance only if the difference is acceptable",
                       EXIT_PROBLEMS)
    return EXIT_OK


def _print(outcome) -> None:
    for warning in outcome.warnings:
        print(f"warning: {warning}")
    print(f"weights: {outcome.weights}")
    for item in outcome.written:
        if item["kind"] == "onnx":
            batch = "dynamic batch" if item["batch"] == "dynamic" else f"batch {item['batch']}"
            precision = ", float16" if item["fp16"] else ""
            precision = ", INT8" if item.get("int8") else precision
            print(f"wrote {item['path']} (ONNX opset {item['opset']}, {batch}{precision}, "
                  f"{item['bytes'] / 1e6:.1f} MB, input '{item['input']}', output "
                  f"'{item['output']}', {item['exporter']} exporter) in "
                  f"{item['seconds']:.1f} s")
        elif item["kind"] == "python":
            extra = " with a training script" if item["with_training"] else ""
            if item["with_training"]:
                extra += (f" that starts from {item['starts_from']}" if item["starts_from"]
                          else " that starts from the model's initializers")
            print(f"wrote {item['path']} ({item['lines']} lines of PyTorch{extra})")
        else:
            print(f"wrote {item['path']} ({item['tensors']} tensors, safetensors)")
    if outcome.parity is not None:
        print(outcome.parity.summary())
        timings = ", ".join(f"{k[:-2]} {v:.2f} s" for k, v in outcome.parity.timings.items())
        print(f"timings: {timings}")
    if outcome.int8 is not None:
        for line in outcome.int8.lines():
            print(line)
