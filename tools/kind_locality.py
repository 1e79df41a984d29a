"""Where each layer kind is named: the measure of "one place per kind".

A kind is *named* in a source file when the file holds a string literal equal to the kind's
id ("Conv2D"). Code that needs a kind's identity imports the kind object from its family file
and reads ``.id``, so the id is written once. Input and Output are the graph's two ends and
are allowed anywhere; every other kind may be named in at most ``LIMIT`` files: its family
file and one other (a template or a transfer-learning head that builds that very block).

Some files speak ONNX's operator vocabulary (``op_type`` strings), which shares names with
kinds ("Add", "Concat", "Sigmoid"): there a string that is an ONNX operator is the operator,
not the kind, and is not counted.

    .venv/bin/python tools/kind_locality.py          # table of kinds over the limit, exit 1
    .venv/bin/python tools/kind_locality.py --all    # every kind with its files
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("engine", "designer", "main.py")
ENDS = frozenset({"Input", "Output"})
LIMIT = 2


def speaks_onnx(relative: str) -> bool:
    """The ONNX importers, the op interpreter that runs an ONNX graph as a Backbone and the
    exporter's node tables compare ``op_type`` strings."""
    return Path(relative).name.startswith("onnx_")


def source_files(root: Path = ROOT) -> list[Path]:
    files: list[Path] = []
    for entry in SOURCES:
        path = root / entry
        if path.is_dir():
            files.extend(sorted(path.rglob("*.py")))
        elif path.exists():
            files.append(path)
    return files


def string_literals(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)}


def onnx_operators() -> frozenset[str]:
    import onnx.defs

    return frozenset(schema.name for schema in onnx.defs.get_all_schemas())


def naming_files(kind_ids: Iterable[str], root: Path = ROOT) -> dict[str, list[str]]:
    """Kind id -> the source files (relative paths) that name it."""
    ids = set(kind_ids)
    operators = onnx_operators()
    found: dict[str, list[str]] = {kind: [] for kind in sorted(ids)}
    for path in source_files(root):
        relative = path.relative_to(root).as_posix()
        named = string_literals(path) & ids
        if speaks_onnx(relative):
            named -= operators
        for kind in named:
            found[kind].append(relative)
    return found


def over_limit(found: dict[str, list[str]]) -> dict[str, list[str]]:
    return {kind: files for kind, files in found.items()
            if kind not in ENDS and len(files) > LIMIT}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="list every kind, not only "
                        "those over the limit")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from engine.layers import REGISTRY

    found = naming_files(REGISTRY.ids())
    bad = over_limit(found)
    for kind, files in found.items():
        if args.all or kind in bad:
            print(f"{kind:18} {len(files)}  {', '.join(files)}")
    print(f"{len(found)} kinds; over the limit of {LIMIT} files (Input and Output aside): "
          f"{len(bad)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
