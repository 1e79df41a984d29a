"""`main.py import`: torchvision networks, ONNX models and Netdraft runs as projects, with the
transfer-learning edits (cut, pop, new head, freeze, learning-rate multipliers) on the way.

torch, torchvision and onnx are imported only when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from engine.cli import EXIT_OK, EXIT_USAGE, CliError

EPILOG = """\
SOURCE is one of:
  torchvision:NAME   a torchvision network (resnet18, vgg16, mobilenet_v2, ...); weights from
                     --weights FILE (.pth/.pt state dict or .safetensors) or --weights TAG
                     (DEFAULT, IMAGENET1K_V1, ...: torchvision's weights API, needs a network
                     connection the first time); without --weights every block starts fresh
  MODEL.onnx         an ONNX model; its initializers become the blocks' weights
  RUN_DIR | CKPT.pt  a Netdraft training run (best.pt, else last.pt) or one checkpoint

Examples:
  main.py import torchvision:resnet18 --weights r18.pth --cut layer4 --head 10 \\
      --freeze -o pets.netdraft
  main.py import runs/shapes --pop 2 --head 10 --freeze-until conv2 -o digits.netdraft
"""


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in text.replace("x", ",").replace("×", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected C,H,W such as 3,224,224; received "
                                         f"{text!r}") from None
    if len(shape) != 3 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"expected three positive sizes C,H,W; received "
                                         f"{text!r}")
    return shape


def _lr_mult(text: str) -> tuple[str, float]:
    name, sep, value = text.rpartition("=")
    try:
        mult = float(value)
    except ValueError:
        mult = -1.0
    if not sep or not name or mult < 0:
        raise argparse.ArgumentTypeError(f"expected NAME=MULT with MULT ≥ 0, e.g. layer4=0.1; "
                                         f"received {text!r}")
    return name, mult


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "import", help="import a torchvision network, an ONNX model or a Netdraft run",
        description="Turn SOURCE into a Netdraft project (FILE) whose blocks hold the "
                    "source's weights (FILE's name with .safetensors, beside it); optionally "
                    "cut it, pop its last layers, put a new head and freeze blocks.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", metavar="SOURCE")
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="the project to write (.netdraft)")
    p.add_argument("--weights", metavar="FILE|TAG", help="torchvision sources: where the "
                   "weights come from")
    p.add_argument("--input-shape", type=_shape, metavar="C,H,W",
                   help="input size for torchvision sources (default 3,224,224)")
    p.add_argument("--collapse", action="store_true",
                   help="keep the network as one Backbone block instead of its layers")
    p.add_argument("--keep-unknown", action="store_true",
                   help="when some layers have no Netdraft block, keep the network as one "
                        "Backbone block instead of failing")
    edits = p.add_argument_group("transfer learning (applied in this order)")
    edits.add_argument("--cut", metavar="NAME", help="keep NAME (a block, a group such as "
                       "layer4, or with --collapse a module path) and what feeds it; drop the "
                       "rest, head included (Keras's include_top=False)")
    edits.add_argument("--pop", type=int, default=0, metavar="N",
                       help="remove the last N blocks before the Output (Keras's .pop())")
    edits.add_argument("--head", type=int, metavar="CLASSES",
                       help="put a new head: global average pooling (for feature maps), "
                            "Dense(CLASSES) and an Output")
    edits.add_argument("--head-dropout", type=float, default=0.0, metavar="RATE",
                       help="a Dropout before the new head's Dense")
    edits.add_argument("--freeze", action="store_true",
                       help="freeze every block with weights except the new head")
    edits.add_argument("--freeze-until", metavar="NAME",
                       help="freeze NAME (a block or group) and every block before it")
    edits.add_argument("--lr-mult", type=_lr_mult, action="append", default=[],
                       metavar="NAME=MULT", help="learning-rate multiplier for a block or "
                       "every block of a group; 0 freezes (repeatable)")
    p.set_defaults(handler=cmd_import)


def cmd_import(args: argparse.Namespace) -> int:
    from engine.importers.safe_load import ImportFailure

    output = Path(args.output)
    if not output.parent.exists():
        raise CliError(f"cannot write {output}: folder {output.parent} does not exist")
    try:
        _check_memory(args)
        imported = _import(args)
    except ImportFailure as exc:
        raise CliError(str(exc), exc.code) from None
    _edit(imported, args)
    _save(imported, output)
    return EXIT_OK


def _import(args: argparse.Namespace):
    source = args.source
    if source.startswith("torchvision:"):
        from engine.importers.torchvision import import_torchvision

        name = source.split(":", 1)[1]
        return import_torchvision(name, args.weights, args.input_shape or (3, 224, 224),
                                  collapse=args.collapse, keep_unknown=args.keep_unknown,
                                  cut=args.cut if args.collapse else "")
    _no_torchvision_flags(args)
    if source.lower().endswith(".onnx"):
        from engine.importers.onnx_import import import_onnx

        return import_onnx(source, keep_unknown=args.keep_unknown, collapse=args.collapse)
    path = Path(source)
    if path.is_dir() or path.suffix.lower() in (".pt", ".pth", ".ckpt"):
        from engine.importers.runs import import_run

        return import_run(path)
    raise CliError(f"{source}: unknown source; expected torchvision:NAME, a .onnx file, a "
                   "run directory or a checkpoint (.pt)", EXIT_USAGE)


def _weights_file(args: argparse.Namespace) -> Path | None:
    """The file an import reads whole, whose size is checked before it is read (an ONNX
    model's external data is counted when the model is opened)."""
    if args.source.startswith("torchvision:"):
        path = Path(args.weights) if args.weights else None
    else:
        path = Path(args.source)
        if path.is_dir():
            path = next((path / n for n in ("best.pt", "last.pt") if (path / n).is_file()),
                        None)
    return path if path is not None and path.is_file() else None


def _check_memory(args: argparse.Namespace) -> None:
    """Refuse, before reading it, a weights file that this machine's memory cannot hold
    twice (as read, and as saved beside the project): exit 1 with the figures."""
    from engine.backend.preflight import NotEnoughMemory, check_import
    from engine.importers.safe_load import FAILED, ImportFailure

    path = _weights_file(args)
    if path is None:
        return
    try:
        check_import(str(path), path.stat().st_size)
    except NotEnoughMemory as exc:
        raise ImportFailure(str(exc), FAILED) from None


def _no_torchvision_flags(args: argparse.Namespace) -> None:
    for flag, value in (("--weights", args.weights), ("--input-shape", args.input_shape)):
        if value is not None:
            raise CliError(f"{flag} applies to torchvision:NAME sources only; {args.source} "
                           "carries its own", EXIT_USAGE)


def _edit(imported, args: argparse.Namespace) -> None:
    from engine import transfer
    from engine.graph import GraphEditError

    graph = imported.project.graph
    try:
        if args.cut and not (args.collapse and args.source.startswith("torchvision:")):
            transfer.cut(graph, args.cut)
        if args.pop:
            transfer.pop(graph, args.pop)
        head: list[str] = []
        if args.head is not None:
            if args.head < 1:
                raise CliError(f"--head needs a number of classes ≥ 1; received {args.head}")
            head = transfer.add_head(graph, args.head, dropout=args.head_dropout)
        if args.freeze:
            transfer.freeze(graph, keep=tuple(head))
        if args.freeze_until:
            transfer.freeze(graph, until=args.freeze_until)
        weighted = set(transfer.weighted_blocks(graph))
        for name, mult in args.lr_mult:
            ids = transfer.blocks_named(graph, name)
            transfer.set_lr_mult(graph, [i for i in ids if i in weighted] or ids, mult)
    except GraphEditError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    if args.cut or args.pop or args.head is not None:
        imported.project.description += _edits_text(args)


def _edits_text(args: argparse.Namespace) -> str:
    parts = []
    if args.cut:
        parts.append(f"cut after {args.cut}")
    if args.pop:
        parts.append(f"last {args.pop} layer(s) popped")
    if args.head is not None:
        parts.append(f"new head for {args.head} classes")
    return " " + "; ".join(parts).capitalize() + "."


def _save(imported, output: Path) -> None:
    from engine import project as project_io
    from engine import weights
    from engine.validate import analyze

    project = imported.project
    graph = project.graph
    kept = {k: v for k, v in imported.tensors.items() if k in graph.nodes}
    try:
        if kept:
            weights.save(project, output, kept, imported.source)
        else:
            project.weights = {}
        project_io.save(project, output)
    except OSError as exc:
        raise CliError(f"cannot write {output}: {exc.strerror or exc}") from None
    analysis = analyze(graph)
    totals = analysis.totals()
    print(f"wrote {output}: {len(graph.leaves())} blocks, {totals['params']:,} params"
          + (f", weights in {project.weights['file']}" if kept else ", no stored weights"))
    for note in imported.notes:
        print(f"  note: {note}")
    for line in weights.listing(graph, project.weights, analysis):
        print(f"  {line}")
    for problem in analysis.problems:
        print(f"  problem: {problem}")
