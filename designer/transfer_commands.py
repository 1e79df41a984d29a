"""Transfer learning as undoable commands: freeze, unfreeze, freeze up to a block,
learning-rate multipliers and a new head.

The edits themselves are engine.transfer's. A structural one (a new head) runs on a copy of
the graph; the difference between the copy and the document's graph becomes ordinary steps
(remove, add, connect, set a parameter), so one undo reverts it exactly and the canvas
follows the engine's notifications as for any other edit (DESIGN.md rules 1-2).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from designer import steps
from designer.canvas.items import BLOCK_H, BLOCK_W, LAYOUT_GAP
from designer.commands import Command
from designer.document import Document, Point
from engine import transfer
from engine.graph import MISSING, Edge, Graph, Node
from engine.layers.backbone import backbone
from engine.layout import GROUP_HEADER, GROUP_PADDING


def weighted(doc: Document, ids: Iterable[str]) -> list[str]:
    """The blocks with weights among ``ids`` (a group stands for its members), in order."""
    graph = doc.graph
    leaves: list[str] = []
    for node_id in ids:
        node = graph.nodes.get(node_id)
        if node is None:
            continue
        leaves.extend([m.id for m in graph.members(node_id)] if node.is_group else [node_id])
    out = []
    for node_id in dict.fromkeys(leaves):
        result = doc.analysis.results.get(node_id)
        if graph.nodes[node_id].kind == backbone.id or (result is not None and result.params):
            out.append(node_id)
    return out


def _what(doc: Document, ids: list[str], blocks: list[str]) -> str:
    if len(ids) == 1:
        return doc.label(ids[0])
    return f"{len(blocks)} blocks"


def set_lr_mult(doc: Document, ids: Iterable[str], mult: float | None,
                only_frozen: bool = False) -> Command | None:
    """Give the weighted blocks among ``ids`` the multiplier ``mult`` (0 freezes; None goes
    back to the default 1). ``only_frozen``: touch only blocks now frozen (Unfreeze leaves a
    fine-tuning multiplier such as 0.1 alone). None when nothing would change."""
    ids = list(ids)
    blocks = weighted(doc, ids)
    graph = doc.graph
    value = MISSING if mult is None else float(mult)
    changing = []
    for node_id in blocks:
        current = graph.nodes[node_id].params.get("lr_mult", MISSING)
        if only_frozen and (1.0 if current is MISSING else float(current)) != 0:
            continue
        same = (current is MISSING if value is MISSING
                else current is not MISSING and float(current) == value)
        if not same:
            changing.append(node_id)
    if not changing:
        return None
    what = _what(doc, ids, changing)
    if mult == 0:
        text = f"Freeze {what}"
    elif mult is None or mult == 1:
        text = f"Unfreeze {what}"
    else:
        text = f"Set {what} learning rate × {mult:g}"
    return Command(doc, text, [steps.ClearParam(i, "lr_mult") if value is MISSING
                               else steps.SetParam(i, "lr_mult", value) for i in changing])


def freeze(doc: Document, ids: Iterable[str]) -> Command | None:
    return set_lr_mult(doc, ids, 0.0)


def unfreeze(doc: Document, ids: Iterable[str]) -> Command | None:
    return set_lr_mult(doc, ids, None, only_frozen=True)


def freeze_up_to(doc: Document, node_id: str) -> Command:
    """Freeze a block (or group) and everything before it; frozen blocks after it train
    again (engine.transfer.freeze_boundary). Raises GraphEditError in the engine's words."""
    name = doc.label(node_id)
    return from_engine(doc, f"Freeze up to {name}",
                       lambda graph: transfer.freeze_boundary(graph, name))


def replace_head(doc: Document, classes: int, dropout: float = 0.0,
                 class_names: list[str] | None = None) -> Command:
    """The lecture's pop() and Dense(num_classes) as one step; the new Output takes the
    data's class names when given. Raises GraphEditError when the network has no place
    for a head, in the engine's words."""

    def edit(graph: Graph) -> None:
        _removed, added = transfer.replace_head(graph, classes, dropout=dropout)
        if class_names and len(class_names) == classes:
            output = next(i for i in added if graph.nodes[i].kind == "Output")
            graph.set_param(output, "class_names", ",".join(class_names))

    return from_engine(doc, f"Replace the head ({classes} classes)", edit)


# -------------------------------------------------------- engine edits as steps
def from_engine(doc: Document, text: str, edit: Callable[[Graph], Any]) -> Command:
    """Run ``edit`` on a copy of the graph and record what it changed as steps."""
    work = doc.graph.copy()
    edit(work)
    work = _fresh_ids(doc, work)
    return Command(doc, text, diff_steps(doc, work))


def _fresh_ids(doc: Document, work: Graph) -> Graph:
    """New blocks get ids this session never gave and the weights section does not name, so
    a new Dense never picks up the stored weights of a block deleted before."""
    graph = doc.graph
    added = [i for i in work.nodes if i not in graph.nodes]
    if not added:
        return work
    stored = set((doc.project.weights or {}).get("blocks", {}))
    taken = set(work.nodes) | stored
    mapping: dict[str, str] = {}
    for old in added:
        new = graph.new_id()
        while new in taken:
            new = graph.new_id()
        taken.add(new)
        mapping[old] = new
    if all(k == v for k, v in mapping.items()):
        return work
    data = work.to_json()
    for item in data["nodes"]:
        item["id"] = mapping.get(item["id"], item["id"])
        if item.get("parent") is not None:
            item["parent"] = mapping.get(item["parent"], item["parent"])
    for item in data["edges"]:
        item["src"] = mapping.get(item["src"], item["src"])
        item["dst"] = mapping.get(item["dst"], item["dst"])
    return Graph.from_json(data)


def diff_steps(doc: Document, work: Graph) -> list[steps.Step]:
    """Steps that turn the document's graph into ``work``: connections and blocks removed
    (members before their groups), groups then blocks added (placed after the block they
    hang from), names, groups and parameters of the blocks both hold, then connections."""
    graph = doc.graph
    old_edges, new_edges = set(graph.edges), set(work.edges)
    gone = [i for i in graph.nodes if i not in work.nodes]
    added = [i for i in work.nodes if i not in graph.nodes]
    out: list[steps.Step] = [steps.Disconnect(e) for e in sorted(old_edges - new_edges)]
    depth = {i: len(graph.ancestors_of(i)) for i in gone}
    out += [steps.RemoveNode(i) for i in sorted(gone, key=lambda i: -depth[i])]
    places = _places(doc, work, added)
    new_depth = {i: len(work.ancestors_of(i)) for i in added}
    order = sorted(added, key=lambda i: (not work.nodes[i].is_group, new_depth[i]))
    out += [steps.AddNode(copy.deepcopy(work.nodes[i]), places.get(i)) for i in order]
    for node_id, node in graph.nodes.items():
        new = work.nodes.get(node_id)
        if new is None:
            continue
        if new.name != node.name:
            out.append(steps.Rename(node_id, new.name))
        if new.parent != node.parent:
            out.append(steps.SetParent(node_id, new.parent))
        for key in sorted(set(node.params) | set(new.params)):
            before, after = node.params.get(key, MISSING), new.params.get(key, MISSING)
            if before is MISSING and after is MISSING or before == after:
                continue
            out.append(steps.ClearParam(node_id, key) if after is MISSING
                       else steps.SetParam(node_id, key, after))
    out += [steps.Connect(e.src, e.dst, e.dst_port) for e in sorted(new_edges - old_edges)]
    return out


def _places(doc: Document, work: Graph, added: list[str]) -> dict[str, Point]:
    """New blocks in a line after the block the first of them reads, one layer apart in the
    canvas's direction; a group sits where its first member does."""
    leaves = [i for i in added if not work.nodes[i].is_group]
    if not leaves:
        return {}
    chain = _chain(work, leaves)
    feeders = [e.src for e in work.inputs_of(chain[0]) if e.src not in added]
    anchor = doc.position(doc.visible_owner(feeders[0])) if feeders else None
    x, y = anchor if anchor is not None else (0.0, 0.0)
    if doc.direction == "LR":
        step = (BLOCK_W + LAYOUT_GAP[1], 0.0)
    else:
        step = (0.0, BLOCK_H + LAYOUT_GAP[1])
    places: dict[str, Point] = {}
    # Room for a new group's frame and title where the line enters or leaves it.
    room = GROUP_HEADER + 2 * GROUP_PADDING
    extra, parent = 0.0, doc.graph.nodes[feeders[0]].parent if feeders else None
    for k, node_id in enumerate(chain, start=1):
        here = work.nodes[node_id].parent
        if here != parent and (here in added or parent in added):
            extra += room
        parent = here
        shift = (extra, 0.0) if doc.direction == "LR" else (0.0, extra)
        places[node_id] = (x + step[0] * k + shift[0], y + step[1] * k + shift[1])
    for node_id in added:
        node: Node = work.nodes[node_id]
        if node.is_group:
            first = next((m.id for m in work.members(node_id) if m.id in places), None)
            if first is not None:
                places[node_id] = places[first]
    return places


def _chain(work: Graph, leaves: list[str]) -> list[str]:
    """The new blocks in the order data flows through them."""
    inside = set(leaves)
    ready = [i for i in leaves if not any(e.src in inside for e in work.inputs_of(i))]
    order: list[str] = []
    seen: set[str] = set()
    while ready:
        current = ready.pop(0)
        if current in seen:
            continue
        seen.add(current)
        order.append(current)
        ready.extend(e.dst for e in sorted(work.outputs_of(current), key=_edge_key)
                     if e.dst in inside)
    return order + [i for i in leaves if i not in seen]


def _edge_key(edge: Edge) -> tuple[str, int]:
    return (edge.dst, edge.dst_port)


def set_backbone(doc: Document, node_id: str, params: dict[str, Any],
                 section: dict[str, Any] | None, text: str) -> Command | None:
    """A Backbone's recorded parameters (source, cut, shapes, counts) and, when its weights
    changed too, the project's weights section, as one step. None when nothing changes."""
    node = doc.graph.nodes[node_id]
    step_list: list[steps.Step] = [steps.SetParam(node_id, key, value)
                                   for key, value in params.items()
                                   if node.params.get(key, MISSING) != value]
    if section is not None and section != doc.project.weights:
        step_list.append(steps.SetWeights(section))
    return Command(doc, text, step_list) if step_list else None
