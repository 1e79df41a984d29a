"""What a block shows, read from the engine each time it is painted (nothing is copied)."""

from __future__ import annotations

from dataclasses import dataclass, field

from designer.canvas.marks import Marks, block_marks
from designer.document import Document
from designer.latency import latency_ids
from engine.layers import REGISTRY
from engine.shapes import fmt_shape
from engine.summary import human_count


@dataclass(frozen=True)
class Face:
    title: str  # the name as shown: without its group's prefix inside a group
    kind: str
    detail: str
    shape: str
    counts: str
    status: str  # ok, problem, unknown
    problem: str = ""
    hint: str = ""
    params: int = 0
    macs: int = 0
    marks: Marks = field(default_factory=Marks)
    name: str = ""  # the full name (the tooltip's)
    latency: str = ""  # the last profile's figure ("" when none)

    @property
    def tooltip(self) -> str:
        lines = [f"<b>{_esc(self.name or self.title)}</b> ({_esc(self.kind)})"]
        if self.detail:
            lines.append(_esc(self.detail))
        if self.shape:
            lines.append(f"output: {_esc(self.shape)}")
        if self.counts:
            lines.append(_esc(self.counts))
        if self.latency:
            lines.append(f"latency (measured): {_esc(self.latency)}")
        if self.problem:
            lines.append(f"<span style='color:#d12c2c'><b>Problem:</b> {_esc(self.problem)}"
                         "</span>")
            if self.hint:
                lines.append(f"<b>Fix:</b> {_esc(self.hint)}")
        elif self.status == "unknown":
            lines.append("Shape unknown: a block upstream has a problem.")
        lines += [_esc(line) for line in self.marks.lines()]
        text = "<br>".join(lines)
        if self.problem:  # Qt wraps a short tooltip narrowly: give the message room
            text = f"<table width='380'><tr><td>{text}</td></tr></table>"
        return text


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def shapes_text(shapes: tuple) -> str:
    if not shapes:
        return "?"
    return ", ".join(fmt_shape(s) for s in shapes)


def counts_text(params: int, macs: int) -> str:
    text = f"{params:,} params"
    if macs:
        text += f" · {human_count(macs)} MACs"
    return text


def describe(node_kind: str, params: dict) -> str:
    """The kind's key parameters in the lecture's words ("40 @ 5×5, stride 1, same")."""
    if node_kind not in REGISTRY:
        return ""
    kind = REGISTRY.get(node_kind)
    try:
        return kind.describe(kind.resolve(params))
    except Exception:  # a value outside the schema: the problem says which
        return ""


def short_name(doc: Document, node_id: str) -> str:
    """A block's name without its group's name in front: inside 'inception3a',
    'inception3a_branch1_conv' reads 'branch1_conv' (the frame around it says the rest).
    A remainder without letters ('layer1_0' in 'layer1') keeps the whole name."""
    graph = doc.graph
    node = graph.nodes[node_id]
    parent = graph.nodes.get(node.parent) if node.parent else None
    if parent is None:
        return node.name
    prefix = parent.name
    if len(node.name) > len(prefix) + 1 and node.name.startswith(prefix) and (
            node.name[len(prefix)] in "_.-/ "):
        rest = node.name[len(prefix) + 1:]
        if any(ch.isalpha() for ch in rest):
            return rest
    return node.name


def block_face(doc: Document, node_id: str) -> Face:
    node = doc.graph.nodes[node_id]
    if node.is_group:
        return group_face(doc, node_id)
    result = doc.analysis.results.get(node_id)
    detail = describe(node.kind, node.params)
    title = short_name(doc, node_id)
    if result is None:
        return Face(title, node.kind, detail, "", "", "unknown",
                    marks=block_marks(doc, node_id), name=node.name)
    shape = fmt_shape(result.shape) if result.ok and result.shape else ""
    counts = counts_text(result.params, result.macs) if result.ok else ""
    problem = result.problem
    # The block shows its name and kind: its problem need not repeat them.
    message = problem.message.removeprefix(f"{node.kind} '{node.name}': ") if problem else ""
    return Face(title, node.kind, detail, shape, counts, result.status, message,
                problem.hint if problem else "", result.params, result.macs,
                block_marks(doc, node_id), node.name, doc.latency.text([node_id]))


def group_face(doc: Document, group_id: str) -> Face:
    node = doc.graph.nodes[group_id]
    members = doc.graph.members(group_id)
    summary = doc.analysis.group(group_id)
    if summary.input_shapes or summary.output_shapes:
        detail = (f"{shapes_text(summary.input_shapes)} → "
                  f"{shapes_text(summary.output_shapes)}")
    else:
        detail = ""
    first = summary.problems[0] if summary.problems else None
    count = len(members)
    kind = f"group · {count} block" + ("" if count == 1 else "s")
    return Face(short_name(doc, group_id), kind, detail, shapes_text(summary.output_shapes)
                if summary.output_shapes else "", counts_text(summary.params, summary.macs),
                summary.status, first.message if first else "", first.hint if first else "",
                summary.params, summary.macs, block_marks(doc, group_id), node.name,
                doc.latency.text([m.id for m in members]))


def measure_of(doc: Document, node_id: str, measure: str) -> int:
    """A block's (or group's) parameters, MACs or measured latency (µs): its share bar is
    this over the total."""
    node = doc.graph.nodes.get(node_id)
    if node is None:
        return 0
    if measure == "latency":
        return doc.latency.micros(latency_ids(doc, node_id))
    if node.is_group:
        summary = doc.analysis.group(node_id)
        return summary.params if measure == "params" else summary.macs
    result = doc.analysis.results.get(node_id)
    if result is None:
        return 0
    return result.params if measure == "params" else result.macs
