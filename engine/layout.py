"""Layered auto-arrange of a graph (Sugiyama style), Qt-free.

Layers come from the longest path, crossings are reduced by barycentre sweeps with dummy
nodes on long edges, and coordinates are balanced towards each block's neighbours. Groups
are laid out from the inside out, so a group's members stay together: an expanded group is
one large box at its parent's level, a collapsed group one block whose members are placed
where they will appear when it is expanded.

    >>> from engine.graph import Graph
    >>> g = Graph()
    >>> a, b = g.add_node("Input", "in"), g.add_node("Dense", "fc")
    >>> _ = g.connect(a.id, b.id)
    >>> pos = arrange(g, size=(100, 40), gap=(20, 30))
    >>> pos[a.id], pos[b.id]
    ((0.0, 0.0), (0.0, 70.0))
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from engine.graph import Graph

Point = tuple[float, float]
Size = tuple[float, float]

GROUP_PADDING = 16.0  # space between an expanded group's frame and its members
GROUP_HEADER = 26.0  # room for the group's title above its members
DUMMY_WIDTH = 24.0
SWEEPS = 6


@dataclass
class _Box:
    """A unit at one level: a block, a collapsed group or a whole expanded group."""

    id: str
    width: float
    height: float
    inner: dict[str, Point] = field(default_factory=dict)  # member offsets inside the box
    inner_offset: Point = (0.0, 0.0)  # where members start relative to the box's corner


def arrange(graph: Graph, collapsed: Iterable[str] = (), size: Size = (210.0, 80.0),
            direction: str = "TB", gap: Size = (40.0, 50.0)) -> dict[str, Point]:
    """Top-left positions for every node (groups too), laid out in layers.

    size: a block's (width, height); gap: (between neighbours in a layer, between layers);
    direction: "TB" (top to bottom) or "LR" (left to right).
    """
    if direction not in ("TB", "LR"):
        raise ValueError(f"direction must be 'TB' or 'LR'. Received: {direction!r}")
    flip = direction == "LR"
    # Lay out as top-to-bottom and transpose at the end for left-to-right.
    block = (size[1], size[0]) if flip else size
    job = _Job(graph, set(collapsed), block, gap, flip)
    root = job.lay_out_container(None)
    positions = dict(root.inner)
    if flip:
        positions = {k: (y, x) for k, (x, y) in positions.items()}
    return positions


def members_box(positions: dict[str, Point], ids: Iterable[str], size: Size) -> tuple[
        float, float, float, float]:
    """(left, top, right, bottom) around blocks of the given size at the given positions."""
    xs = [positions[i] for i in ids if i in positions]
    if not xs:
        return (0.0, 0.0, 0.0, 0.0)
    return (min(x for x, _ in xs), min(y for _, y in xs),
            max(x for x, _ in xs) + size[0], max(y for _, y in xs) + size[1])


class _Job:
    def __init__(self, graph: Graph, collapsed: set[str], block: Size, gap: Size,
                 flip: bool) -> None:
        self.graph = graph
        self.collapsed = collapsed
        self.block = block
        self.gap = gap
        self.flip = flip
        self.children: dict[str | None, list[str]] = {}
        for node in graph.nodes.values():
            self.children.setdefault(node.parent, []).append(node.id)
        # Each edge joins two units inside the innermost group holding both of its ends.
        self.edges: dict[str | None, list[tuple[str, str]]] = {}
        for node_id in graph.nodes:
            for edge in graph.inputs_of(node_id):
                container, a, b = self._common(edge.src, edge.dst)
                if a != b:
                    self.edges.setdefault(container, []).append((a, b))

    def _chain(self, node_id: str) -> list[str]:
        """The node and its groups, innermost first."""
        chain = [node_id]
        parent = self.graph.nodes[node_id].parent
        while parent is not None:
            chain.append(parent)
            parent = self.graph.nodes[parent].parent
        return chain

    def _common(self, src: str, dst: str) -> tuple[str | None, str, str]:
        up_src, up_dst = self._chain(src), self._chain(dst)
        parents = {self.graph.nodes[u].parent: u for u in up_dst}
        for unit in up_src:
            container = self.graph.nodes[unit].parent
            if container in parents:
                return container, unit, parents[container]
        return None, up_src[-1], up_dst[-1]

    def lay_out_container(self, container: str | None) -> _Box:
        """Lay out the direct children of a group (None: the top level) as one box."""
        graph = self.graph
        children = sorted(self.children.get(container, []), key=_natural)
        boxes: dict[str, _Box] = {}
        for child_id in children:
            if graph.nodes[child_id].is_group:
                inner = self.lay_out_container(child_id)
                if child_id in self.collapsed:
                    box = _Box(child_id, *self.block, inner=inner.inner)
                else:
                    box = _Box(child_id, inner.width + 2 * GROUP_PADDING,
                               inner.height + 2 * GROUP_PADDING + GROUP_HEADER,
                               inner=inner.inner,
                               inner_offset=(GROUP_PADDING, GROUP_PADDING + GROUP_HEADER))
                boxes[child_id] = box
            else:
                boxes[child_id] = _Box(child_id, *self.block)
        edges = list(dict.fromkeys(self.edges.get(container, [])))
        local = _layered(list(boxes), edges, {k: (b.width, b.height) for k, b in boxes.items()},
                         self.gap)
        out = _Box(container or "", 0.0, 0.0)
        right = bottom = 0.0
        for unit_id, (x, y) in local.items():
            box = boxes[unit_id]
            out.inner[unit_id] = (x, y)
            ox, oy = x + box.inner_offset[0], y + box.inner_offset[1]
            if unit_id in self.collapsed and box.inner:
                # Members of a collapsed group sit centred under its block, ready to expand.
                width = max(px for px, _ in box.inner.values()) + self.block[0]
                ox = x + (self.block[0] - width) / 2
            for member, (mx, my) in box.inner.items():
                out.inner[member] = (ox + mx, oy + my)
            right = max(right, x + box.width)
            bottom = max(bottom, y + box.height)
        out.width, out.height = right, bottom
        return out


def _natural(node_id: str) -> tuple[int, str]:
    """n2 before n10."""
    digits = "".join(ch for ch in node_id if ch.isdigit())
    return (int(digits) if digits else 0, node_id)


def _layered(ids: list[str], edges: list[tuple[str, str]], sizes: dict[str, Size],
             gap: Size) -> dict[str, Point]:
    """Top-left positions of boxes in layers, top to bottom, normalised to start at (0, 0)."""
    if not ids:
        return {}
    edges = _acyclic(ids, edges)
    layer = _longest_path_layers(ids, edges)
    # Long edges get dummy nodes so that crossing reduction and spacing account for them.
    succ: dict[str, list[str]] = {i: [] for i in ids}
    pred: dict[str, list[str]] = {i: [] for i in ids}
    width = {i: sizes[i][0] for i in ids}
    dummy_count = 0
    for src, dst in edges:
        prev = src
        for level in range(layer[src] + 1, layer[dst]):
            dummy = f"\0{dummy_count}"
            dummy_count += 1
            layer[dummy] = level
            width[dummy] = DUMMY_WIDTH
            succ[dummy], pred[dummy] = [], []
            succ[prev].append(dummy)
            pred[dummy].append(prev)
            prev = dummy
        succ[prev].append(dst)
        pred[dst].append(prev)
    depth = max(layer.values()) + 1
    layers: list[list[str]] = [[] for _ in range(depth)]
    for node in _dfs_order(ids, succ):
        layers[layer[node]].append(node)
    for node in sorted(set(layer) - set(ids), key=lambda d: int(d[1:])):
        if node not in layers[layer[node]]:
            layers[layer[node]].append(node)
    _reduce_crossings(layers, pred, succ)
    xs = _assign_x(layers, pred, succ, width, gap[0])
    positions: dict[str, Point] = {}
    y = 0.0
    for row in layers:
        height = max((sizes[n][1] for n in row if n in sizes), default=0.0)
        for node in row:
            if node in sizes:
                positions[node] = (xs[node], y)
        y += height + gap[1]
    left = min(x for x, _ in positions.values())
    return {k: (x - left, y) for k, (x, y) in positions.items()}


def _acyclic(ids: list[str], edges: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Drop the edges that close a cycle (found as DFS back edges)."""
    succ: dict[str, list[str]] = {i: [] for i in ids}
    for src, dst in edges:
        succ[src].append(dst)
    state: dict[str, int] = {}
    back: set[tuple[str, str]] = set()
    for root in ids:
        if root in state:
            continue
        stack = [(root, iter(succ[root]))]
        state[root] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                back.add((node, nxt))
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(succ[nxt])))
    return [e for e in edges if e not in back]


def _longest_path_layers(ids: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    pred: dict[str, list[str]] = {i: [] for i in ids}
    succ: dict[str, list[str]] = {i: [] for i in ids}
    for src, dst in edges:
        pred[dst].append(src)
        succ[src].append(dst)
    indegree = {i: len(pred[i]) for i in ids}
    ready = [i for i in ids if indegree[i] == 0]
    layer = {i: 0 for i in ids}
    while ready:
        node = ready.pop()
        for nxt in succ[node]:
            layer[nxt] = max(layer[nxt], layer[node] + 1)
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                ready.append(nxt)
    return layer


def _dfs_order(ids: list[str], succ: dict[str, list[str]]) -> list[str]:
    """Nodes in depth-first order from the sources: a good first ordering within layers."""
    has_pred = {d for s in ids for d in succ[s]}
    order: list[str] = []
    seen: set[str] = set()
    for root in [i for i in ids if i not in has_pred] + ids:
        stack = [root]
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            if node in succ and not node.startswith("\0"):
                order.append(node)
            stack.extend(reversed(succ.get(node, [])))
    return order


def _reduce_crossings(layers: list[list[str]], pred: dict[str, list[str]],
                      succ: dict[str, list[str]]) -> None:
    best = [row[:] for row in layers]
    best_crossings = _crossings(layers, succ)
    for sweep in range(SWEEPS):
        if best_crossings == 0:
            break
        down = sweep % 2 == 0
        rows = range(1, len(layers)) if down else range(len(layers) - 2, -1, -1)
        for i in rows:
            fixed = layers[i - 1] if down else layers[i + 1]
            layers[i].sort(key=_barycentres(layers[i], fixed, pred if down else succ).get)
        crossings = _crossings(layers, succ)
        if crossings < best_crossings:
            best, best_crossings = [row[:] for row in layers], crossings
    layers[:] = best


def _barycentres(row: list[str], fixed: list[str],
                 neighbours: dict[str, list[str]]) -> dict[str, float]:
    """Mean position of each node's neighbours in the fixed layer (its own when none)."""
    index = {n: k for k, n in enumerate(fixed)}
    out = {}
    for k, node in enumerate(row):
        ks = [index[m] for m in neighbours[node] if m in index]
        out[node] = sum(ks) / len(ks) if ks else float(k)
    return out


def _crossings(layers: list[list[str]], succ: dict[str, list[str]]) -> int:
    total = 0
    for upper, lower in zip(layers, layers[1:]):
        index = {n: k for k, n in enumerate(lower)}
        pairs = sorted((k, index[d]) for k, n in enumerate(upper) for d in succ[n]
                       if d in index)
        # Count inversions of the lower ends (pairs sorted by upper end).
        ends = [b for _, b in pairs]
        total += _inversions(ends)
    return total


def _inversions(values: list[int]) -> int:
    if len(values) < 2:
        return 0
    mid = len(values) // 2
    left, right = values[:mid], values[mid:]
    count = _inversions(left) + _inversions(right)
    left.sort()
    right.sort()
    j = 0
    for value in left:
        while j < len(right) and right[j] < value:
            j += 1
        count += j
    return count


def _assign_x(layers: list[list[str]], pred: dict[str, list[str]], succ: dict[str, list[str]],
              width: dict[str, float], gap: float) -> dict[str, float]:
    """Left x of every node: packed in order, then pulled towards its neighbours' centres."""
    x: dict[str, float] = {}
    for row in layers:
        total = sum(width[n] for n in row) + gap * (len(row) - 1)
        cursor = -total / 2
        for node in row:
            x[node] = cursor
            cursor += width[node] + gap
    for sweep in range(4):
        down = sweep % 2 == 0
        rows = layers[1:] if down else layers[-2::-1]
        for row in rows:
            want = {}
            for node in row:
                others = pred[node] if down else succ[node]
                centres = [x[m] + width[m] / 2 for m in others]
                want[node] = (sum(centres) / len(centres) - width[node] / 2 if centres
                              else x[node])
            _place_row(row, want, width, gap, x)
    return x


def _place_row(row: list[str], want: dict[str, float], width: dict[str, float], gap: float,
               x: dict[str, float]) -> None:
    """Put each node as near its wish as the order and spacing allow."""
    placed: list[float] = []
    for node in row:
        left = want[node]
        if placed:
            prev = row[len(placed) - 1]
            left = max(left, placed[-1] + width[prev] + gap)
        placed.append(left)
    # Pull back to the left where a node was pushed right of its wish.
    for k in range(len(row) - 2, -1, -1):
        limit = placed[k + 1] - gap - width[row[k]]
        placed[k] = min(max(want[row[k]], placed[k]), limit)
    for node, left in zip(row, placed):
        x[node] = left
