"""A Keras-style model summary built from the analysis: one row per block, then totals."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from engine.graph import Graph
from engine.shapes import fmt_shape
from engine.validate import Analysis, analyze

HIDDEN_KINDS = ("Input", "Output")  # Keras's Sequential summary lists neither


@dataclass(frozen=True)
class Row:
    node_id: str
    name: str
    kind: str
    group: str
    output_shape: str
    params: int
    trainable: int
    non_trainable: int
    macs: int
    status: str


@dataclass(frozen=True)
class Summary:
    rows: tuple[Row, ...]
    total_params: int
    trainable_params: int
    non_trainable_params: int
    macs: int
    activation_bytes: int
    input_shape: str
    problems: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["rows"] = [asdict(r) for r in self.rows]
        data["problems"] = list(self.problems)
        return data


def summarize(graph: Graph, analysis: Analysis | None = None) -> Summary:
    analysis = analysis or analyze(graph)
    rows = []
    input_shape = "?"
    for node_id in analysis.order:
        node = graph.nodes[node_id]
        result = analysis.results[node_id]
        if node.kind == "Input":
            input_shape = fmt_shape(result.shape)
        if node.kind in HIDDEN_KINDS:
            continue
        group = graph.nodes[node.parent].name if node.parent else ""
        rows.append(Row(node_id, node.name, node.kind, group, fmt_shape(result.shape),
                        result.params, result.trainable, result.non_trainable, result.macs,
                        result.status))
    totals = analysis.totals()
    return Summary(tuple(rows), totals["params"], totals["trainable"],
                   totals["non_trainable"], totals["macs"], totals["memory"], input_shape,
                   tuple(str(p) for p in analysis.problems))


def human_bytes(n: int) -> str:
    """
    >>> human_bytes(1536)
    '1.50 KiB'
    """
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    return f"{n} B"


def human_count(n: int) -> str:
    """
    >>> human_count(4_089_184_256)
    '4.09 G'
    """
    for limit, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= limit:
            return f"{n / limit:.2f} {unit}"
    return str(n)


def format_text(summary: Summary, title: str = "") -> str:
    headers = ("Layer (type)", "Output shape", "Param #")
    cells = [(f"{r.name} ({r.kind})", r.output_shape if r.status == "ok" else r.status,
              f"{r.params:,}") for r in summary.rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h)
              for i, h in enumerate(headers)]
    width = sum(widths) + 6
    lines = [f'Model: "{title}"' if title else "Model", f"Input: {summary.input_shape}",
             "━" * width,
             "  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(),
             "━" * width]
    for cell in cells:
        lines.append(f"{cell[0].ljust(widths[0])}  {cell[1].ljust(widths[1])}  "
                     f"{cell[2].rjust(widths[2])}")
    lines += ["━" * width,
              f"Total params: {summary.total_params:,}",
              f"Trainable params: {summary.trainable_params:,}",
              f"Non-trainable params: {summary.non_trainable_params:,}",
              f"MACs per image: {summary.macs:,} ({human_count(summary.macs)})",
              f"Activation memory per image: {human_bytes(summary.activation_bytes)}"]
    if summary.problems:
        lines += ["", f"{len(summary.problems)} problem(s):"]
        lines += [f"  - {p}" for p in summary.problems]
    return "\n".join(lines)
