"""Does the network fit its data? The Input against the data's own image shape, the Output
against the data's classes, as Problems on those blocks, each with the one-click fixes the
designer offers.

Qt-free and torch-free: the designer calls it on every edit once a data scan has told it
the data's facts (engine/backend/data_scan.py finds them off the GUI thread).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.graph import Graph, Node
from engine.layers import REGISTRY
from engine.layers.base import ACTIVATION, REGULARIZATION
from engine.shapes import fmt_shape
from engine.validate import Code, Fix, ParamEdit, Problem, node_label

# The project ui key recording "this data shape may be resized into the Input".
ACCEPT_KEY = "accept_data_shape"


@dataclass(frozen=True)
class DataFacts:
    """What a scan found: the data's own C×H×W (before resizing) and its classes."""

    source: str
    shape: tuple[int, int, int] | None
    class_names: tuple[str, ...]
    named: bool = True  # False: bare class numbers ("0", "1", …), only their count matters


@dataclass
class FitReport:
    problems: dict[str, Problem] = field(default_factory=dict)
    fixes: list[Fix] = field(default_factory=list)


def _one(graph: Graph, kind: str) -> Node | None:
    found = [n for n in graph.leaves() if n.kind == kind]
    return found[0] if len(found) == 1 else None


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in str(text).split(",") if n.strip())


def _shown(names: tuple[str, ...], limit: int = 6) -> str:
    return ", ".join(names[:limit]) + (", …" if len(names) > limit else "")


def check(graph: Graph, facts: DataFacts | None,
          accepted: list[int] | tuple[int, ...] | None = None) -> FitReport:
    """The data problems of a graph, with their fixes; nothing when facts are unknown."""
    report = FitReport()
    if facts is None:
        return report
    _check_input(graph, facts, tuple(accepted) if accepted else None, report)
    _check_output(graph, facts, report)
    return report


def _check_input(graph: Graph, facts: DataFacts, accepted: tuple[int, ...] | None,
                 report: FitReport) -> None:
    node = _one(graph, "Input")
    if node is None or facts.shape is None:
        return
    shape = tuple(int(d) for d in REGISTRY.get("Input").resolve(node.params)["shape"])
    data = tuple(facts.shape)
    if len(shape) != 3 or shape == data or accepted == data:
        return
    c, h, w = data
    convert = "converts" if shape[0] != c else "resizes"
    report.problems[node.id] = Problem(
        node.id, Code.DATA,
        f"{node_label(node)} takes {fmt_shape(shape)} images but the data ({facts.source}) "
        f"is {fmt_shape(data)}",
        f"set the Input to {fmt_shape(data)}, or keep it and let the loader "
        f"{convert[:-1]} the images")
    new_shape = [c if c in (1, 3) else shape[0], h, w]
    report.fixes.append(Fix(f"Set the Input to {fmt_shape(tuple(new_shape))}", node.id,
                            (ParamEdit(node.id, "shape", new_shape),)))
    report.fixes.append(Fix(f"Keep {fmt_shape(shape)}: the loader {convert} the images",
                            node.id, ui_value=data))


def head_dense(graph: Graph, output: Node) -> Node | None:
    """The block whose width (a Dense's units) sets the Output's class scores, through
    pass-through blocks; its kind's ``width_param`` names the parameter."""
    node = output
    for _ in range(8):
        preds = graph.predecessors(node.id)
        if len(preds) != 1:
            return None
        node = graph.nodes[preds[0]]
        if node.kind not in REGISTRY:
            return None
        kind = REGISTRY.get(node.kind)
        if kind.width_param is not None:
            return node
        # Activations and dropout keep the number of class scores.
        if kind.category not in (ACTIVATION, REGULARIZATION):
            return None
    return None


def _check_output(graph: Graph, facts: DataFacts, report: FitReport) -> None:
    node = _one(graph, "Output")
    if node is None or not facts.class_names:
        return
    params = REGISTRY.get("Output").resolve(node.params)
    classes, names = int(params["classes"]), _names(params["class_names"])
    data_names = tuple(facts.class_names)
    count = len(data_names)
    if classes == count and (not names or not facts.named or names == data_names):
        return
    if classes != count:
        message = (f"{node_label(node)} has {classes} classes but the data "
                   f"({facts.source}) has {count} ({_shown(data_names)})")
    else:
        message = (f"{node_label(node)} names its classes {_shown(names)} but the data "
                   f"({facts.source}) names them {_shown(data_names)}")
    head = head_dense(graph, node)
    edits = [ParamEdit(node.id, "classes", count)]
    if facts.named:
        edits.append(ParamEdit(node.id, "class_names", ", ".join(data_names)))
    hint = f"set its classes to {count}" + (" and its class names from the data"
                                            if facts.named else "")
    if head is not None and classes != count:
        edits.append(ParamEdit(head.id, REGISTRY.get(head.kind).width_param, count))
        hint += f", and '{head.name}' to {count} units"
    report.problems[node.id] = Problem(node.id, Code.DATA, message, hint)
    report.fixes.append(Fix(f"Set the Output to {count} classes from the data", node.id,
                            tuple(edits)))
