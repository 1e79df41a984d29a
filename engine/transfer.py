"""Transfer learning as graph edits: cut at a block (Keras's include_top=False), pop the last
layers (Keras's .pop()), put a new head for N classes, and freeze blocks or give them
learning-rate multipliers (lr_mult 0 = frozen, the lecture's trainable = False).

Each function edits the graph only through its public edit methods and returns the ids it
touched, so the designer can wrap a call in one undoable step. Weights follow the blocks by
id: blocks that stay keep theirs, new head blocks start fresh.
"""

from __future__ import annotations

from engine.graph import Graph, GraphEditError
from engine.layers.backbone import backbone
from engine.layers.dense import dense
from engine.layers.pool import global_avg_pool
from engine.layers.regularization import dropout as dropout_kind
from engine.layers.reshape import flatten
from engine.validate import analyze

HEAD_GROUP = "head"


def blocks_named(graph: Graph, name: str) -> list[str]:
    """The leaf ids a name stands for: one block, or every block inside a group."""
    node = graph.by_name(name)
    return [n.id for n in graph.members(node.id)] if node.is_group else [node.id]


def exit_of(graph: Graph, name: str) -> str:
    """The one block whose output leaves a group (or the named block itself)."""
    ids = blocks_named(graph, name)
    if len(ids) == 1:
        return ids[0]
    inside = set(ids)
    exits = [i for i in ids if any(e.dst not in inside for e in graph.outputs_of(i))]
    if len(exits) != 1:
        names = ", ".join(repr(graph.nodes[i].name) for i in exits) or "none"
        raise GraphEditError(f"group {name!r} has {len(exits)} outputs ({names}); cut at one "
                             "block inside it instead")
    return exits[0]


def ancestors(graph: Graph, node_id: str) -> set[str]:
    seen: set[str] = set()
    stack = graph.predecessors(node_id)
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(graph.predecessors(current))
    return seen


def _remove(graph: Graph, ids: list[str]) -> None:
    for node_id in ids:
        graph.remove_node(node_id)
    _drop_empty_groups(graph)


def _drop_empty_groups(graph: Graph) -> None:
    while True:
        empty = [n.id for n in graph.nodes.values() if n.is_group and not graph.children(n.id)]
        if not empty:
            return
        for group_id in empty:
            graph.remove_node(group_id)


def tail(graph: Graph) -> str:
    """The block the network ends with: the Output's input, or the one block nothing reads."""
    outputs = [n.id for n in graph.leaves() if n.kind == "Output"]
    if outputs:
        feeders = graph.predecessors(outputs[0])
        if feeders:
            return feeders[0]
    ends = [n.id for n in graph.leaves() if n.kind != "Output" and not graph.outputs_of(n.id)]
    if len(ends) != 1:
        names = ", ".join(repr(graph.nodes[i].name) for i in ends) or "none"
        raise GraphEditError(f"the network has {len(ends)} open ends ({names}); name the block "
                             "to attach the head to")
    return ends[0]


def cut(graph: Graph, at: str) -> list[str]:
    """Keep ``at`` (a block or a group with one output) and what it depends on; remove every
    other block, the old head and Output included. Returns the removed ids."""
    keep_end = exit_of(graph, at)
    keep = ancestors(graph, keep_end) | {keep_end}
    removed = [n.id for n in graph.leaves() if n.id not in keep]
    _remove(graph, removed)
    return removed


def pop(graph: Graph, count: int = 1) -> list[str]:
    """Remove the Output and the last ``count`` blocks before it, as Keras's model.pop()
    removes the last layers. Returns the removed ids."""
    removed = [n.id for n in graph.leaves() if n.kind == "Output"]
    current = tail(graph)
    for _ in range(count):
        node = graph.nodes[current]
        feeders = graph.predecessors(current)
        if node.kind == "Input" or len(feeders) != 1:
            raise GraphEditError(f"cannot pop {node.kind} '{node.name}': it "
                                 + ("is the Input" if node.kind == "Input" else
                                    f"joins {len(feeders)} branches")
                                 + "; cut at a block before it instead")
        others = {e.dst for e in graph.outputs_of(current)} - set(removed)
        if others:
            names = ", ".join(repr(graph.nodes[i].name) for i in sorted(others))
            raise GraphEditError(f"cannot pop '{node.name}': {names} also read its output")
        removed.append(current)
        current = feeders[0]
    _remove(graph, removed)
    return removed


def add_head(graph: Graph, classes: int, after: str | None = None, dropout: float = 0.0,
             hidden: int = 0) -> list[str]:
    """A new classifier after ``after`` (default: the network's end): GlobalAvgPool when it
    ends with feature maps, optional Dense(hidden, relu) and Dropout, Dense(classes), Output.
    Any old Output is removed first. Returns the new blocks' ids (all in a group 'head')."""
    for node in [n for n in graph.leaves() if n.kind == "Output"]:
        graph.remove_node(node.id)
    start = exit_of(graph, after) if after else tail(graph)
    result = analyze(graph).results.get(start)
    if result is None or result.shape is None:
        raise GraphEditError(f"'{graph.nodes[start].name}' has no known output shape; fix "
                             "the problems before it first")
    plan: list[tuple[str, str, dict]] = []
    if len(result.shape) == 3:
        plan.append((global_avg_pool.id, "head_pool", {}))
    elif len(result.shape) != 1:
        plan.append((flatten.id, "head_flatten", {}))
    if hidden:
        plan.append((dense.id, "head_hidden", {"units": hidden, "activation": "relu"}))
    if dropout:
        plan.append((dropout_kind.id, "head_dropout", {"rate": dropout}))
    plan.append((dense.id, "head_fc", {"units": classes}))
    plan.append(("Output", "output", {"classes": classes}))
    group = graph.add_node("Group", name=graph.unique_name(HEAD_GROUP))
    added = []
    previous = start
    for kind, name, params in plan:
        parent = None if kind == "Output" else group.id
        node = graph.add_node(kind, name=graph.unique_name(name), params=params, parent=parent)
        graph.connect(previous, node.id)
        added.append(node.id)
        previous = node.id
    return added


def weighted_blocks(graph: Graph) -> list[str]:
    analysis = analyze(graph)
    return [i for i in analysis.order
            if analysis.results[i].params > 0 or graph.nodes[i].kind == backbone.id]


def set_lr_mult(graph: Graph, node_ids: list[str], mult: float) -> list[str]:
    for node_id in node_ids:
        graph.set_param(node_id, "lr_mult", float(mult))
    return node_ids


def freeze(graph: Graph, until: str | None = None, mult: float = 0.0,
           keep: tuple[str, ...] = ()) -> list[str]:
    """Give blocks with weights the multiplier ``mult`` (0: frozen): every one but those in
    ``keep`` (ids), or, with ``until``, that block (or group) and everything before it."""
    candidates = weighted_blocks(graph)
    if until is not None:
        end = exit_of(graph, until)
        before = ancestors(graph, end) | {end} | set(blocks_named(graph, until))
        candidates = [i for i in candidates if i in before]
    return set_lr_mult(graph, [i for i in candidates if i not in keep], mult)


# ------------------------------------------------ the designer's one-step edits
def classifier_depth(graph: Graph) -> int:
    """How many blocks before the Output make up the classifier a new head replaces: walking
    back from the end along a single path, every block up to and including the first one
    with weights (the final Dense the lecture pops). 0 when the network ends with features
    (a cut backbone), so the head goes straight after them."""
    outputs = [n.id for n in graph.leaves() if n.kind == "Output"]
    try:
        current = tail(graph)
    except GraphEditError:
        return 0
    weighted = set(weighted_blocks(graph))
    gone = set(outputs)
    depth = 0
    while True:
        node = graph.nodes[current]
        feeders = graph.predecessors(current)
        if node.kind == backbone.id and len(node.params.get("out_shape") or ()) == 1:
            raise GraphEditError(
                f"the classifier is inside the Backbone '{node.name}' (it ends with "
                f"{node.params['out_shape'][0]} scores): cut it before its classifier in the "
                "inspector (e.g. at avgpool), then replace the head")
        if node.kind in ("Input", backbone.id) or len(feeders) != 1:
            return 0
        if {e.dst for e in graph.outputs_of(current)} - gone:
            return 0
        depth += 1
        gone.add(current)
        if current in weighted:
            return depth
        current = feeders[0]


def replace_head(graph: Graph, classes: int, dropout: float = 0.0,
                 hidden: int = 0) -> tuple[list[str], list[str]]:
    """The lecture's ``model.pop()`` then ``Dense(num_classes)``: remove the classifier
    (see classifier_depth) and the Output, put a new head for ``classes``. Returns the
    removed and the added ids."""
    if classes < 1:
        raise GraphEditError(f"a head needs at least 1 class. Received: {classes}")
    depth = classifier_depth(graph)
    removed = pop(graph, depth) if depth else []
    added = add_head(graph, classes, dropout=dropout, hidden=hidden)
    return removed, added


def freeze_boundary(graph: Graph, until: str) -> tuple[list[str], list[str]]:
    """Freeze ``until`` (a block or group) and every block before it; the frozen blocks
    after it train again (lr_mult 1), as a slider between frozen and trained would leave
    them. Returns the frozen and the thawed ids."""
    frozen = freeze(graph, until=until)
    thawed = [i for i in weighted_blocks(graph)
              if i not in frozen and graph.nodes[i].params.get("lr_mult", 1.0) == 0]
    set_lr_mult(graph, thawed, 1.0)
    return frozen, thawed
