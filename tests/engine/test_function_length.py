"""No function over MAX_LINES lines (issue 11): a longer one is split into named parts.

Counted as ast sees a function: from its ``def`` line (decorators not included) to its last
line, docstring, comments and blank lines inside it included; a nested function counts on
its own and inside the function that holds it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("engine", "designer", "main.py")
MAX_LINES = 60


def _python_files(root: Path) -> list[Path]:
    files = []
    for name in SCANNED:
        path = root / name
        files.extend([path] if path.is_file() else sorted(path.rglob("*.py")))
    return files


def long_functions(root: Path = ROOT,
                   limit: int = MAX_LINES) -> list[tuple[str, str, int, int]]:
    """(file, qualified name, first line, lines) of each function longer than ``limit``."""
    found = []
    for path in _python_files(root):
        relative = path.relative_to(root).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=relative)
        stack: list[tuple[ast.AST, str]] = [(tree, "")]
        while stack:
            node, prefix = stack.pop()
            for child in ast.iter_child_nodes(node):
                name = prefix
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    name = f"{prefix}{child.name}"
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    lines = child.end_lineno - child.lineno + 1
                    if lines > limit:
                        found.append((relative, name, child.lineno, lines))
                stack.append((child, f"{name}." if name != prefix else prefix))
    return sorted(found)


def test_no_function_is_longer_than_the_limit():
    over = long_functions()
    assert not over, (
        f"functions over {MAX_LINES} lines: split each into named parts. Received: "
        + "; ".join(f"{f}:{line} {name} ({n} lines)" for f, name, line, n in over))


def test_a_long_method_and_a_long_nested_function_are_found(tmp_path):
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_LINES))
    (tmp_path / "engine").mkdir()
    (tmp_path / "engine" / "long.py").write_text(
        "class Panel:\n"
        "    def short(self):\n"
        "        return 1\n\n"
        "    def build(self):\n" + body.replace("    ", "        ") +
        "\n\ndef outer():\n"
        "    def inner():\n" + body.replace("    ", "        ") +
        "    return inner\n",
        encoding="utf-8")
    (tmp_path / "engine" / "fine.py").write_text("def f():\n" + body[:-len("    x59 = 59\n")],
                                                 encoding="utf-8")
    (tmp_path / "designer").mkdir()
    (tmp_path / "main.py").write_text("", encoding="utf-8")
    found = long_functions(tmp_path)
    assert [(f, name, n) for f, name, _line, n in found] == [
        ("engine/long.py", "Panel.build", MAX_LINES + 1),
        ("engine/long.py", "outer", MAX_LINES + 3),
        ("engine/long.py", "outer.inner", MAX_LINES + 1),
    ]
