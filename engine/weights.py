"""Weights that follow the blocks.

A project's ``weights`` section says which blocks hold stored weights:

    {"file": "model.safetensors",              # beside the project file
     "blocks": {node_id: {"source": "imported" | "trained",
                          "shapes": {"weight": [64, 3, 7, 7], "bias": [64], ...}}}}

The file holds one tensor per block tensor, named "<node id>.<tensor>" ("n12.weight"), so a
renamed block keeps its weights. Every block with parameters has a status:

    imported / trained  stored weights that fit the block as it is now
    fresh               no stored weights: the block starts from its initializer
    stale               stored weights no longer fit (an edit changed the block or its
                        input); the block is re-initialized, with a warning

Statuses come from shapes alone (no torch), so validate and summary list them cheaply. The
loader at the bottom is torch-side and imports torch only when called.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.graph import Graph
from engine.layers import REGISTRY, Shape
from engine.shapes import fmt_shape
from engine.validate import Analysis, analyze

# Bookkeeping buffers that are not weights: never compared, never counted.
COUNTERS = ("num_batches_tracked",)


@dataclass(frozen=True)
class BlockWeights:
    node_id: str
    name: str
    status: str        # imported, trained, fresh or stale
    detail: str = ""   # for stale: what is stored and what the block needs


def _short(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def fits(kind_id: str, inputs: list[Shape], params: dict[str, Any], counts: tuple[int, int],
         stored: dict[str, list[int]]) -> str:
    """Why stored shapes do not fit a block ("" when they do): the tensors its kind's
    ``weights`` names, by the last part of their state-dict key, else the count of values."""
    stored = {k: v for k, v in stored.items() if _short(k) not in COUNTERS}
    rule = REGISTRY.get(kind_id).weights
    if rule is not None:
        want = rule(inputs, params)
        have = {_short(k): tuple(v) for k, v in stored.items()}
        if have == want:
            return ""
        for name in [*want, *(k for k in have if k not in want)]:
            if name not in have:
                return f"no stored {name} (needs {fmt_shape(want[name])})"
            if name not in want:
                return f"stored {name} {fmt_shape(have[name])} that the block does not have"
            if have[name] != want[name]:
                return f"stored {name} {fmt_shape(have[name])}, needs {fmt_shape(want[name])}"
    total = sum(math.prod(v) for v in stored.values())
    needed = counts[0] + counts[1]
    if total != needed:
        return f"stored {total:,} values, the block has {needed:,}"
    return ""


def statuses(graph: Graph, section: dict[str, Any],
             analysis: Analysis | None = None) -> dict[str, BlockWeights]:
    """The weights status of every block that has parameters or stored weights."""
    analysis = analysis or analyze(graph)
    blocks = section.get("blocks", {}) if isinstance(section, dict) else {}
    out: dict[str, BlockWeights] = {}
    for node_id in analysis.order:
        node = graph.nodes[node_id]
        result = analysis.results.get(node_id)
        entry = blocks.get(node_id)
        if result is None or not result.ok:
            if isinstance(entry, dict):
                out[node_id] = BlockWeights(node_id, node.name, entry.get("source", "imported"),
                                            "not checked: the block has a problem")
            continue
        if entry is None:
            if result.params:
                out[node_id] = BlockWeights(node_id, node.name, "fresh")
            continue
        kind = REGISTRY.get(node.kind)
        params = kind.resolve(node.params)
        why = fits(node.kind, list(result.input_shapes), params,
                   kind.params_count(list(result.input_shapes), params, result.shape),
                   entry.get("shapes", {}))
        source = entry.get("source", "imported")
        out[node_id] = BlockWeights(node_id, node.name, "stale" if why else source, why)
    return out


def listing(graph: Graph, section: dict[str, Any], analysis: Analysis | None = None,
            limit: int = 8) -> list[str]:
    """Lines for validate and summary: counts per status, naming fresh and stale blocks.
    Empty when the project holds no stored weights."""
    if not section.get("blocks"):
        return []
    found = statuses(graph, section, analysis)
    by_status: dict[str, list[BlockWeights]] = {}
    for item in found.values():
        by_status.setdefault(item.status, []).append(item)
    counts = ", ".join(f"{len(by_status[s])} {s}" for s in ("imported", "trained", "fresh",
                                                             "stale") if s in by_status)
    lines = [f"Weights ({section.get('file', '?')}): {counts}"]
    if outside_folder(section.get("file", "")):
        lines.append(f"  refused: {section['file']} is outside the project's folder and is "
                     "never read; the blocks start from their initializers")
    for status, words in (("fresh", "start from their initializer"),
                          ("stale", "no longer fit and are re-initialized")):
        items = by_status.get(status, [])
        if not items:
            continue
        lines.append(f"  {status} ({words}):")
        for item in items[:limit]:
            lines.append(f"    {item.name}" + (f": {item.detail}" if item.detail else ""))
        if len(items) > limit:
            lines.append(f"    … and {len(items) - limit} more")
    return lines


def to_json(graph: Graph, section: dict[str, Any],
            analysis: Analysis | None = None) -> dict[str, Any]:
    return {item.name: {"status": item.status, **({"detail": item.detail} if item.detail
                                                  else {})}
            for item in statuses(graph, section, analysis).values()}


# ----------------------------------------------------------------- torch side
@dataclass
class LoadReport:
    loaded: list[str]
    fresh: list[str]
    stale: list[str]
    warnings: list[str]
    # Why the stored weights could not be read at all (missing, damaged or refused file):
    # every block then starts fresh. Empty when they were read or none are stored.
    unreadable: str = ""


class WeightsFileRefused(ValueError):
    """A project's weights file that lies outside the project's folder: never read."""


def file_path(section: dict[str, Any], project_path: str | Path | None) -> Path | None:
    """The weights file a project names, which must lie inside the project's folder (the
    working folder for a project never saved): a relative name that, links resolved, stays
    there. A project is a document others send; it must not make Netdraft read
    /etc/passwd or another project's model. Raises WeightsFileRefused naming the path."""
    name = section.get("file")
    if not name:
        return None
    folder = (Path(project_path).resolve().parent if project_path else Path.cwd().resolve())
    path = folder / name
    if Path(name).is_absolute() or not path.resolve().is_relative_to(folder):
        raise WeightsFileRefused(
            f"weights file {name!r} ({path.resolve()}) is outside the project's folder "
            f"{folder}: a project reads its weights only from its own folder. Copy the file "
            "beside the project, or give it on the command line with --weights FILE")
    return path


def outside_folder(name: str) -> bool:
    """Whether a weights file name leaves the project's folder on its face (absolute, or
    through '..'); links are only seen when the file is opened (file_path)."""
    parts = Path(os.path.normpath(name)).parts if name else ()
    return Path(name).is_absolute() or (bool(parts) and parts[0] == "..")


def load_into(module: Any, graph: Graph, section: dict[str, Any],
              project_path: str | Path | None,
              warn: Callable[[str], None] | None = None) -> LoadReport:
    """Copy the stored weights that fit into a GraphModule from build_module(graph).

    Blocks without stored weights keep their fresh initialization; blocks whose weights no
    longer fit are re-initialized (they already are: build_module made them) and a warning
    names them. Never raises for a weights file that is missing, damaged or outside the
    project's folder: every block then starts fresh, with a warning, and
    ``report.unreadable`` says why (an export refuses to go on with it).
    """
    import torch

    report = LoadReport([], [], [], [])

    def warning(message: str) -> None:
        report.warnings.append(message)
        if warn is not None:
            warn(message)

    def unreadable(why: str) -> None:
        report.unreadable = why
        warning(f"{why}; every block starts from its initializer")

    blocks = section.get("blocks", {})
    tensors: dict[str, Any] = {}
    if blocks:
        try:
            path = file_path(section, project_path)
        except WeightsFileRefused as exc:
            unreadable(str(exc))
        else:
            if path is None:
                unreadable("the project lists stored weights but names no weights file")
            else:
                tensors, why = _read(path)
                if why:
                    unreadable(why)
    for node_id, attr in module.attr_of.items():
        block = getattr(module, attr)
        name = graph.nodes[node_id].name
        own = block.state_dict()
        if node_id not in blocks or not tensors:
            if own:
                report.fresh.append(node_id)
            continue
        prefix = f"{node_id}."
        stored = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        why = _mismatch(own, stored)
        if why:
            report.stale.append(node_id)
            warning(f"{graph.nodes[node_id].kind} '{name}': its stored weights no longer fit "
                    f"({why}); it is re-initialized")
            continue
        with torch.no_grad():
            block.load_state_dict(stored, strict=True)
        report.loaded.append(node_id)
    return report


def _read(path: Path) -> tuple[dict[str, Any], str]:
    """The tensors of a weights file, or none and why."""
    from engine.importers.safe_load import ImportFailure, read_safetensors

    if not path.is_file():
        return {}, f"weights file {path} is missing"
    try:
        return read_safetensors(path), ""
    except ImportFailure as exc:
        return {}, str(exc)


def _mismatch(own: dict[str, Any], stored: dict[str, Any]) -> str:
    for key, value in own.items():
        if key not in stored:
            return f"no stored {key}"
        if tuple(stored[key].shape) != tuple(value.shape):
            return (f"stored {key} {fmt_shape(tuple(stored[key].shape))}, needs "
                    f"{fmt_shape(tuple(value.shape))}")
    extra = sorted(set(stored) - set(own))
    return f"stored {extra[0]} that the block does not have" if extra else ""


def block_tensors(module: Any) -> dict[str, dict[str, Any]]:
    """A GraphModule's tensors grouped by node id: what save() stores."""
    out: dict[str, dict[str, Any]] = {}
    for node_id, attr in module.attr_of.items():
        state = getattr(module, attr).state_dict()
        if state:
            out[node_id] = state
    return out


def save(section_owner: Any, project_path: str | Path,
         tensors: dict[str, dict[str, Any]], source: str | dict[str, str],
         file_name: str | None = None) -> Path:
    """Write the blocks' tensors beside the project and describe them in its weights
    section. ``source`` is one word for every block or one per node id."""
    from safetensors.torch import save_file

    project_path = Path(project_path)
    name = file_name or f"{project_path.stem}.safetensors"
    path = project_path.resolve().parent / name
    flat: dict[str, Any] = {}
    blocks: dict[str, Any] = {}
    for node_id, state in tensors.items():
        for key, value in state.items():
            flat[f"{node_id}.{key}"] = value.detach().to("cpu").contiguous()
        blocks[node_id] = {
            "source": source if isinstance(source, str) else source[node_id],
            "shapes": {k: list(v.shape) for k, v in state.items()}}
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(flat, str(tmp))
    tmp.replace(path)
    section_owner.weights = {"file": name, "blocks": blocks}
    return path
