"""The allowed import edges between engine's packages (docs/architecture.md, "Packages"),
checked on the source: a new edge fails here until the table says why it is allowed. And a
network builds and runs without the importers, Backbone included."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "engine"

# Which areas of engine each area may import (its own included). Areas: "layers"
# (engine/layers/), "shapes" (engine/shapes.py), "core" (engine's other top-level modules),
# "backend", "export", "importers".
ALLOWED = {
    "shapes": set(),
    "layers": {"layers", "shapes"},
    "core": {"core", "shapes", "layers"},
    "backend": {"core", "shapes", "layers", "backend"},
    "export": {"core", "shapes", "layers", "backend", "export"},
    "importers": {"core", "shapes", "layers", "backend", "importers"},
}
# The readers of files a user hands over (checkpoints, safetensors), which refuse pickle and
# code: loading weights anywhere goes through them.
READERS = {"engine.importers.safe_load", "engine.importers.runs"}
# Modules of the layers package that import torch (or onnx, torchvision) at module level: the
# modules a build makes. Elsewhere in layers and core, such imports sit inside functions.
TORCH_SIDE = {"engine.layers.modules", "engine.layers.backbone_module",
              "engine.layers.onnx_graph"}
HEAVY = {"torch", "torchvision", "onnx", "onnxruntime", "numpy"}
NEVER = {"designer", "PySide6", "shiboken6", "pyqtgraph"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def area(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 1 and (ENGINE / parts[1]).is_dir():
        return parts[1]
    return "shapes" if module == "engine.shapes" else "core"


def imports(path: Path) -> list[tuple[str, bool]]:
    """(module imported, whether at module level) for each import statement."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "engine":  # from engine import weights
                found += [(f"engine.{alias.name}", id(node) in top) for alias in node.names]
            else:
                found.append((node.module, id(node) in top))
    return found


def engine_modules() -> list[tuple[str, Path]]:
    return [(module_name(path), path) for path in sorted(ENGINE.rglob("*.py"))]


def test_engine_packages_import_only_what_the_table_allows():
    wrong = []
    for module, path in engine_modules():
        source = area(module)
        for target, _ in imports(path):
            if not target.startswith("engine.") or target in READERS:
                continue
            if area(target) not in ALLOWED[source]:
                wrong.append(f"{module} imports {target} ({source} -> {area(target)})")
    assert wrong == []


def test_engine_never_imports_the_designer_or_qt():
    wrong = [f"{module} imports {target}" for module, path in engine_modules()
             for target, _ in imports(path) if target.split(".")[0] in NEVER]
    assert wrong == []


def test_layers_and_core_import_torch_only_inside_functions():
    wrong = []
    for module, path in engine_modules():
        if area(module) not in ("layers", "core", "shapes") or module in TORCH_SIDE:
            continue
        for target, top_level in imports(path):
            if top_level and (target.split(".")[0] in HEAVY or target in TORCH_SIDE):
                wrong.append(f"{module} imports {target} at module level")
    assert wrong == []


def test_the_table_sees_the_edges_it_rules():
    """A scan that found nothing would pass whatever the code does."""
    edges = {(area(module), area(target)) for module, path in engine_modules()
             for target, _ in imports(path) if target.startswith("engine.")}
    assert {("layers", "shapes"), ("core", "layers"), ("export", "backend"),
            ("importers", "layers")} <= edges
    assert ("engine.layers.backbone_module", True) in imports(
        ENGINE / "importers" / "backbones.py")


BUILD = textwrap.dedent("""
    import sys

    import torch

    from engine.backend.build import build_module
    from engine.graph import Graph

    g = Graph()
    x = g.add_node("Input", "x", {"shape": [3, 32, 32]})
    blocks = [("Conv2D", {"filters": 3, "kernel_size": 3, "padding": "same"}),
              ("SumPool2D", {"pool_size": 1})]
    if BACKBONE:
        blocks.append(("Backbone", {"source": "torchvision:resnet18", "cut": "layer1",
                                    "in_shape": [3, 32, 32], "out_shape": [64, 8, 8],
                                    "trainable": 0, "non_trainable": 0, "macs": 0}))
    blocks += [("GlobalAvgPool", {}), ("Dense", {"units": 4}), ("Output", {"classes": 4})]
    prev = x
    for i, (kind, params) in enumerate(blocks):
        node = g.add_node(kind, f"b{i}", params)
        g.connect(prev.id, node.id)
        prev = node
    with torch.no_grad():
        out = build_module(g).eval()(torch.rand(2, 3, 32, 32))
    assert tuple(out.shape) == (2, 4), out.shape
    print(" ".join(sorted(m for m in sys.modules if m.startswith("engine."))))
""")


def _loaded_by_a_build(backbone: bool) -> set[str]:
    code = f"BACKBONE = {backbone}\n{BUILD}"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def test_building_a_network_loads_no_importer():
    """torch itself loads torch.fx, so what is checked is Netdraft's side: without a
    Backbone not even the tracer's module, with one no importer."""
    plain = _loaded_by_a_build(backbone=False)
    assert "engine.backend.build" in plain
    assert {m for m in plain if m.startswith("engine.importers")} == set()
    assert "engine.layers.backbone_module" not in plain
    with_backbone = _loaded_by_a_build(backbone=True)
    assert "engine.layers.backbone_module" in with_backbone
    assert {m for m in with_backbone if m.startswith("engine.importers")} == set()
