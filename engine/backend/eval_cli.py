"""`main.py evaluate` and `main.py predict`: the command line over engine.backend.evaluate.

torch is imported only when a command runs. With ``--json`` stdout carries one JSON object
(docs/evaluation.md lists its fields); warnings always go to stderr. Exit codes as train's:
0 success, 1 a failed run (data that does not fit the network, a network that cannot be
built, an internal error), 2 bad usage or an unreadable file (project, checkpoint, data,
image) and weights that do not fit FILE's network.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from typing import Any

from engine.backend.cli import positive_int
from engine.cli import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, CliError, load_project

MISCLASSIFIED_SHOWN = 20   # rows of the human report's misclassified table
CONFUSION_SHOWN = 20       # the largest confusion matrix the human report prints
NAME_WIDTH = 18


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "evaluate", help="accuracy, per-class figures and confusion of trained weights",
        description="Evaluate FILE's network with trained weights on the run's validation "
                    "data (or --data SPEC): accuracy, top-5, loss, per-class precision, "
                    "recall, F1 and support, the confusion matrix, the most confused class "
                    "pairs and every misclassified sample.")
    p.add_argument("file", metavar="FILE", help="a .netdraft project")
    _weights_and_device(p)
    p.add_argument("--data", metavar="SPEC",
                   help="evaluate on all of SPEC (its validation part when it has one) "
                        "instead of the run's validation data; SPEC as for train")
    p.add_argument("--batch-size", type=positive_int, metavar="N",
                   help="samples per forward pass (default: the run's batch size)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=cmd_evaluate)

    p = subparsers.add_parser(
        "predict", help="the most likely classes of image files",
        description="Classify image files with FILE's network and trained weights; each "
                    "image is decoded and resized exactly as training feeds images.")
    p.add_argument("file", metavar="FILE", help="a .netdraft project")
    _weights_and_device(p)
    p.add_argument("images", nargs="+", metavar="IMAGE", help="png, jpg, bmp or webp files")
    p.add_argument("--top", type=positive_int, default=5, metavar="K",
                   help="classes shown per image (default 5)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=cmd_predict)


def _weights_and_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", required=True, metavar="RUN|CKPT",
                   help="a run folder (its best.pt, else last.pt) or a checkpoint file")
    p.add_argument("--device", default="auto", metavar="D",
                   help="auto (default), cpu, cuda, cuda:N or mps")


def _run(args: argparse.Namespace, body) -> int:
    """Load FILE and the weights, run ``body(net, device)``, and turn every failure into
    a message with its exit code."""
    project = load_project(args.file)
    from engine.backend.build import BuildError
    from engine.backend.cli import DeviceUnavailable, check_device
    from engine.backend.data import DataError, DataNotFound
    from engine.backend.evaluate import WeightsError, load_network
    from engine.backend.runtime import pick_device

    kinds = ((WeightsError, EXIT_USAGE), (DataNotFound, EXIT_USAGE),
             (DeviceUnavailable, EXIT_USAGE), (DataError, EXIT_PROBLEMS),
             (BuildError, EXIT_PROBLEMS))
    try:
        check_device(args.device)
        device = pick_device(args.device)
        net = load_network(project, args.weights, project_path=args.file,
                           file_label=args.file, warn=_warn)
        return body(net, device)
    except tuple(k for k, _ in kinds) as exc:
        code = next(c for k, c in kinds if isinstance(exc, k))
        raise CliError(str(exc), code) from None
    except Exception as exc:  # a bug: one line, the trace on request
        if os.environ.get("NETDRAFT_DEBUG"):
            traceback.print_exc(file=sys.stderr)
        raise CliError(f"internal error: {type(exc).__name__}: {exc} (set NETDRAFT_DEBUG=1 "
                       f"for the traceback)", EXIT_PROBLEMS) from None


def _warn(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _dump(value: dict[str, Any]) -> None:
    from engine.backend.metrics import finite

    print(json.dumps(finite(value), indent=1))


# ------------------------------------------------------------------ evaluate
def cmd_evaluate(args: argparse.Namespace) -> int:
    def body(net, device) -> int:
        from engine.backend.evaluate import evaluate

        result = evaluate(net, args.data, device, args.batch_size, log=_warn)
        for note in result.notes:
            _warn(f"note: {note}")
        if args.json:
            _dump(result.to_json())
        else:
            print(format_evaluation(result))
        return EXIT_OK

    return _run(args, body)


def _name(text: str) -> str:
    return text if len(text) <= NAME_WIDTH else text[:NAME_WIDTH - 1] + "…"


def _percent(value: float | None) -> str:
    return "n/a" if value is None or value != value else f"{value:.2%}"


def format_evaluation(result) -> str:
    """The human report: headline figures, the per-class table, the confusion matrix (up
    to CONFUSION_SHOWN classes), the most confused pairs and the first misclassified."""
    lines = [f"{result.weights}" + (f" (epoch {result.epoch})" if result.epoch else "")
             + f" on {result.source} ({result.part}): {result.samples:,} samples, "
             f"{result.classes} classes"]
    head = f"accuracy {_percent(result.accuracy)}"
    if result.top5 is not None:
        head += f"   top-5 {_percent(result.top5)}"
    head += "   loss " + (f"{result.loss:.4f}" if result.loss is not None else "n/a")
    lines += [head, ""]
    w = max([len(_name(n)) for n in result.class_names] + [len("weighted avg")])
    lines.append(f"{'class':<{w}}  precision  recall      f1  support")
    for row in result.per_class():
        lines.append(f"{_name(row['name']):<{w}}  {row['precision']:9.3f}  "
                     f"{row['recall']:6.3f}  {row['f1']:6.3f}  {row['support']:7,}")
    for label, avg in result.averages().items():
        lines.append(f"{label + ' avg':<{w}}  {avg['precision']:9.3f}  {avg['recall']:6.3f}"
                     f"  {avg['f1']:6.3f}  {result.samples:7,}")
    lines.append("")
    matrix = result.confusion()
    if result.classes <= CONFUSION_SHOWN:
        lines.append("confusion matrix (rows: true class, columns: predicted)")
        cell = max(3, len(str(int(matrix.max()) if matrix.size else 0)),
                   *(len(_name(n)) for n in result.class_names))
        lines.append(" " * w + "".join(f" {_name(n):>{cell}}" for n in result.class_names))
        for name, row in zip(result.class_names, matrix):
            lines.append(f"{_name(name):<{w}}" + "".join(f" {v:>{cell}}" for v in row))
    else:
        lines.append(f"confusion matrix: {result.classes} classes, see --json")
    confused = result.most_confused()
    if confused:
        lines += ["", "most confused (true → predicted: samples)"]
        lines += [f"  {_name(c['true_name'])} → {_name(c['predicted_name'])}: {c['count']}"
                  for c in confused]
    wrong = result.misclassified()
    lines += ["", f"misclassified: {len(wrong):,}"
              + (f" (the first {MISCLASSIFIED_SHOWN}; all with --json)"
                 if len(wrong) > MISCLASSIFIED_SHOWN else "")]
    for entry in wrong[:MISCLASSIFIED_SHOWN]:
        where = entry.get("file", f"#{entry['index']}")
        lines.append(f"  {where}: {entry['true_name']} predicted as "
                     f"{entry['predicted_name']} ({_confidence(result.loss_kind, entry)})")
    return "\n".join(lines)


def _confidence(loss_kind: str, entry: dict[str, Any]) -> str:
    value = entry.get("confidence", entry.get("probability"))
    return f"score {value:.4g}" if loss_kind == "mse" else f"{value:.1%}"


# ------------------------------------------------------------------- predict
def cmd_predict(args: argparse.Namespace) -> int:
    def body(net, device) -> int:
        from engine.backend.evaluate import predict

        results = predict(net, args.images, args.top, device)
        weights = net.weights
        if args.json:
            _dump({"weights": str(weights.path), "epoch": weights.epoch,
                   "loss_kind": net.loss.kind, "classes": net.classes,
                   "class_names": list(net.class_names),
                   "predictions": [
                       {"image": r.image,
                        "top": [{"class": c, "name": net.class_names[c], "probability": p}
                                for c, p in r.top]} for r in results]})
            return EXIT_OK
        for r in results:
            print(r.image)
            for rank, (c, p) in enumerate(r.top, 1):
                entry = {"probability": p}
                print(f"  {rank}. {_name(net.class_names[c]):<{NAME_WIDTH}} "
                      f"{_confidence(net.loss.kind, entry):>10}")
        return EXIT_OK

    return _run(args, body)
