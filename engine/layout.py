"""Layered auto-arrange of a graph (Sugiyama style), Qt-free and pure Python.

Groups are laid out from the inside out, so a group's members stay together: an expanded
group is one large box at its parent's level, a collapsed group one block whose members are
placed where they will appear when it is expanded. Inside each group (and at the top):

1. Layers: longest path from the top, then blocks that feed a later layer move down next
   to it when that shortens the edges or keeps them as long (dot's network-simplex ranking
   settles the same way): an inception module's short branch ends beside the Concat, so
   the long edge is the one that fans out from the module's input.
2. Edges that enter the group from outside come from one virtual block above it, edges
   that leave go to one below: the branches a module's input feeds are ordered and spaced
   with that edge in mind, and long edges keep a lane of their own (a chain of dummies).
3. Order within layers: barycentre sweeps with adjacent swaps, starting from the current
   left-to-right order when positions are given (re-laying out keeps what a user sees).
4. Coordinates: Brandes and Köpf's vertical alignment (each block lines up with the median
   of its neighbours, long edges stay straight) and compaction, in four directions whose
   results are balanced, so chains are straight columns and merges sit centred under what
   they merge.

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
SWEEPS = 8
SOURCE, SINK = "\0source", "\0sink"  # where edges from and to outside a group attach


@dataclass
class _Box:
    """A unit at one level: a block, a collapsed group or a whole expanded group."""

    id: str
    width: float
    height: float
    inner: dict[str, Point] = field(default_factory=dict)  # member offsets inside the box
    inner_offset: Point = (0.0, 0.0)  # where members start relative to the box's corner


def arrange(graph: Graph, collapsed: Iterable[str] = (), size: Size = (210.0, 80.0),
            direction: str = "TB", gap: Size = (40.0, 50.0),
            hint: dict[str, Point] | None = None) -> dict[str, Point]:
    """Top-left positions for every node (groups too), laid out in layers.

    size: a block's (width, height); gap: (between neighbours in a layer, between layers);
    direction: "TB" (top to bottom) or "LR" (left to right); hint: current positions, whose
    order across the flow the layout keeps where it costs no crossing.
    """
    if direction not in ("TB", "LR"):
        raise ValueError(f"direction must be 'TB' or 'LR'. Received: {direction!r}")
    flip = direction == "LR"
    # Lay out as top-to-bottom and transpose at the end for left-to-right.
    block = (size[1], size[0]) if flip else size
    across = {k: (p[1] if flip else p[0]) for k, p in (hint or {}).items()}
    job = _Job(graph, set(collapsed), block, gap, across)
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
                 across: dict[str, float]) -> None:
        self.graph = graph
        self.collapsed = collapsed
        self.block = block
        self.gap = gap
        self.across = across
        self.children: dict[str | None, list[str]] = {}
        for node in graph.nodes.values():
            self.children.setdefault(node.parent, []).append(node.id)
        # Each edge joins two units inside the innermost group holding both of its ends;
        # every group it leaves on the way gets an exit, every group it enters an entry.
        self.edges: dict[str | None, list[tuple[str, str]]] = {}
        self.entries: dict[str, list[str]] = {}
        self.exits: dict[str, list[str]] = {}
        for node_id in graph.nodes:
            for edge in graph.inputs_of(node_id):
                up_src, up_dst = self._chain(edge.src), self._chain(edge.dst)
                container, a, b = self._common(up_src, up_dst)
                if a != b:
                    self.edges.setdefault(container, []).append((a, b))
                for unit in up_src:
                    parent = graph.nodes[unit].parent
                    if parent == container:
                        break
                    self.exits.setdefault(parent, []).append(unit)
                for unit in up_dst:
                    parent = graph.nodes[unit].parent
                    if parent == container:
                        break
                    self.entries.setdefault(parent, []).append(unit)

    def _chain(self, node_id: str) -> list[str]:
        """The node and its groups, innermost first."""
        chain = [node_id]
        parent = self.graph.nodes[node_id].parent
        while parent is not None:
            chain.append(parent)
            parent = self.graph.nodes[parent].parent
        return chain

    def _common(self, up_src: list[str], up_dst: list[str]) -> tuple[str | None, str, str]:
        parents = {self.graph.nodes[u].parent: u for u in up_dst}
        for unit in up_src:
            container = self.graph.nodes[unit].parent
            if container in parents:
                return container, unit, parents[container]
        return None, up_src[-1], up_dst[-1]

    def _hint(self, unit: str) -> float | None:
        """Where a unit is across the flow now: its own place, or its members' middle."""
        if unit in self.across and (not self.graph.nodes[unit].is_group
                                    or unit in self.collapsed):
            return self.across[unit]
        inside = [self.across[m.id] for m in self.graph.members(unit)
                  if m.id in self.across] if self.graph.nodes[unit].is_group else []
        if inside:
            return (min(inside) + max(inside)) / 2
        return self.across.get(unit)

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
        if container is not None:
            edges += [(SOURCE, u) for u in dict.fromkeys(self.entries.get(container, []))]
            edges += [(u, SINK) for u in dict.fromkeys(self.exits.get(container, []))]
        hints = {u: h for u in boxes if (h := self._hint(u)) is not None}
        local = _layered(list(boxes), edges, {k: (b.width, b.height) for k, b in boxes.items()},
                         self.gap, hints)
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


# ------------------------------------------------------------------ layers
def _layered(ids: list[str], edges: list[tuple[str, str]], sizes: dict[str, Size],
             gap: Size, hints: dict[str, float] | None = None) -> dict[str, Point]:
    """Top-left positions of boxes in layers, top to bottom, normalised to start at (0, 0).
    Edges may name SOURCE and SINK: the outside, above and below."""
    if not ids:
        return {}
    virtual = [v for v in (SOURCE, SINK) if any(v in e for e in edges)]
    nodes = ids + virtual
    edges = _acyclic(nodes, [e for e in edges if e[0] != e[1]])
    layer = _layers(nodes, edges)
    succ: dict[str, list[str]] = {i: [] for i in nodes}
    pred: dict[str, list[str]] = {i: [] for i in nodes}
    width = {i: sizes[i][0] if i in sizes else 0.0 for i in nodes}
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
    low = min(layer.values())
    depth = max(layer.values()) - low + 1
    layers: list[list[str]] = [[] for _ in range(depth)]
    for node in _dfs_order(nodes, succ, pred):
        layers[layer[node] - low].append(node)
    if hints:
        _follow_hints(layers, hints, pred)
    _reduce_crossings(layers, pred, succ)
    xs = _assign_x(layers, pred, succ, width, gap[0])
    positions: dict[str, Point] = {}
    y = 0.0
    for row in layers:
        boxes = [n for n in row if n in sizes]
        if not boxes:
            continue  # the virtual source's or sink's own layer
        height = max(sizes[n][1] for n in boxes)
        for node in boxes:
            positions[node] = (xs[node] - width[node] / 2, y)
        y += height + gap[1]
    left = min(x for x, _ in positions.values())
    return {k: (round(x - left, 2), y) for k, (x, y) in positions.items()}


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


def _layers(ids: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    """Longest path from the top; then, from the bottom up, a block whose edges out are at
    least as many as its edges in moves down to just above its nearest successor (its edges
    get no longer in total: a branch's short chain ends next to the merge it feeds)."""
    pred: dict[str, list[str]] = {i: [] for i in ids}
    succ: dict[str, list[str]] = {i: [] for i in ids}
    for src, dst in edges:
        pred[dst].append(src)
        succ[src].append(dst)
    indegree = {i: len(pred[i]) for i in ids}
    ready = [i for i in ids if indegree[i] == 0]
    layer = {i: 0 for i in ids}
    order: list[str] = []
    while ready:
        node = ready.pop()
        order.append(node)
        for nxt in succ[node]:
            layer[nxt] = max(layer[nxt], layer[node] + 1)
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                ready.append(nxt)
    if SOURCE in layer:  # the outside is above everything in the group
        layer[SOURCE] = min(layer[i] for i in ids if i != SOURCE) - 1
    for node in reversed(order):
        if node in (SOURCE, SINK) or not succ[node]:
            continue
        if len(succ[node]) >= len(pred[node]):
            below = min(layer[s] for s in succ[node]) - 1
            if below > layer[node]:
                layer[node] = below
    if SINK in layer:
        layer[SINK] = max(layer[i] for i in ids if i != SINK) + 1
    return layer


def _dfs_order(ids: list[str], succ: dict[str, list[str]],
               pred: dict[str, list[str]]) -> list[str]:
    """Nodes in depth-first order from the sources, dummies included: a good first ordering
    within layers."""
    order: list[str] = []
    seen: set[str] = set()
    roots = [i for i in ids if not pred[i]] + ids
    for root in roots:
        stack = [root]
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            order.append(node)
            stack.extend(reversed(succ.get(node, [])))
    return order


def _follow_hints(layers: list[list[str]], hints: dict[str, float],
                  pred: dict[str, list[str]]) -> None:
    """Start from the order the blocks have now (dummies follow the block they come from)."""
    for row in layers:
        place: dict[str, float] = {}
        for node in row:
            origin = node
            while origin.startswith("\0") and origin not in (SOURCE, SINK) and pred[origin]:
                origin = pred[origin][0]
            place[node] = hints.get(origin, hints.get(node, float("nan")))
        if all(v == v for v in place.values()):  # every unit has a place: keep its order
            index = {n: k for k, n in enumerate(row)}
            row.sort(key=lambda n: (place[n], index[n]))


# ---------------------------------------------------------------- crossings
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
            centre = _barycentres(layers[i], fixed, pred if down else succ)
            index = {n: k for k, n in enumerate(layers[i])}
            layers[i].sort(key=lambda n: (centre[n], index[n]))
        _transpose(layers, pred, succ)
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


def _transpose(layers: list[list[str]], pred: dict[str, list[str]],
               succ: dict[str, list[str]]) -> None:
    """Swap neighbours in a layer while that removes crossings with the layers around."""
    improved = True
    rounds = 0
    while improved and rounds < 4:
        improved = False
        rounds += 1
        for i, row in enumerate(layers):
            above = {n: k for k, n in enumerate(layers[i - 1])} if i > 0 else {}
            below = {n: k for k, n in enumerate(layers[i + 1])} if i + 1 < len(layers) else {}
            for k in range(len(row) - 1):
                a, b = row[k], row[k + 1]
                now = _pair(a, b, pred, above) + _pair(a, b, succ, below)
                swapped = _pair(b, a, pred, above) + _pair(b, a, succ, below)
                if swapped < now:
                    row[k], row[k + 1] = b, a
                    improved = True


def _pair(a: str, b: str, neighbours: dict[str, list[str]], index: dict[str, int]) -> int:
    """Crossings between a's and b's edges to a layer when a is left of b."""
    ka = [index[m] for m in neighbours[a] if m in index]
    kb = [index[m] for m in neighbours[b] if m in index]
    return sum(1 for x in ka for y in kb if x > y)


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


# --------------------------------------------------------------- coordinates
def _assign_x(layers: list[list[str]], pred: dict[str, list[str]], succ: dict[str, list[str]],
              width: dict[str, float], gap: float) -> dict[str, float]:
    """Centre x of every node: Brandes-Köpf alignments in the four directions, each
    compacted, then balanced (the mean of the two middle candidates of each node)."""
    candidates: list[dict[str, float]] = []
    for vertical in ("down", "up"):
        for horizontal in ("left", "right"):
            rows = layers if vertical == "down" else layers[::-1]
            rows = [row if horizontal == "left" else row[::-1] for row in rows]
            upper = pred if vertical == "down" else succ
            xs = _compact(rows, _align(rows, upper), width, gap)
            if horizontal == "right":
                xs = {n: -x for n, x in xs.items()}
            candidates.append(xs)
    # Align the four to the narrowest one: left ones by their left side, right ones by
    # their right side (as Brandes and Köpf do).
    spans = [(min(c[n] - width[n] / 2 for n in c), max(c[n] + width[n] / 2 for n in c))
             for c in candidates]
    narrowest = min(range(4), key=lambda k: spans[k][1] - spans[k][0])
    for k, c in enumerate(candidates):
        shift = (spans[narrowest][0] - spans[k][0] if k % 2 == 0
                 else spans[narrowest][1] - spans[k][1])
        candidates[k] = {n: x + shift for n, x in c.items()}
    out = {}
    for node in width:
        values = sorted(c[node] for c in candidates)
        out[node] = (values[1] + values[2]) / 2
    _separate(layers, out, width, gap)
    return out


def _align(rows: list[list[str]], upper: dict[str, list[str]]) -> dict[str, str]:
    """Root of each node's vertical block: it lines up with the median of its neighbours in
    the row before, where no earlier alignment in that row crosses it. Long edges (dummy to
    dummy) are aligned first, so they stay straight."""
    root = {n: n for row in rows for n in row}
    align = {n: n for row in rows for n in row}
    for i in range(1, len(rows)):
        index = {n: k for k, n in enumerate(rows[i - 1])}
        taken = -1
        for node in rows[i]:
            ups = sorted((m for m in upper[node] if m in index), key=index.get)
            if not ups:
                continue
            mid = (len(ups) - 1) / 2
            medians = [ups[int(mid)]] if mid.is_integer() else [ups[int(mid)], ups[int(mid) + 1]]
            for m in medians:
                if align[m] == m and index[m] > taken and not _blocked(node, m, rows[i],
                                                                       upper, index):
                    align[m] = node
                    root[node] = root[m]
                    align[node] = root[node]
                    taken = index[m]
                    break
    return root


def _blocked(node: str, m: str, row: list[str], upper: dict[str, list[str]],
             index: dict[str, int]) -> bool:
    """A real block does not align across a dummy-to-dummy segment (a long edge's lane)."""
    if node.startswith("\0") and m.startswith("\0"):
        return False
    k = index[m]
    for other in row:
        if other == node or not other.startswith("\0"):
            continue
        for up in upper[other]:
            if up.startswith("\0") and up in index:
                left_before = row.index(other) < row.index(node)
                if (index[up] > k) == left_before and index[up] != k:
                    return True
    return False


def _compact(rows: list[list[str]], root: dict[str, str], width: dict[str, float],
             gap: float) -> dict[str, float]:
    """Place each vertical block as far left as its left neighbours allow (centre x)."""
    members: dict[str, list[str]] = {}
    for row in rows:
        for n in row:
            members.setdefault(root[n], []).append(n)
    # Constraints between blocks: for neighbours a | b in a row, x[b] >= x[a] + sep.
    after: dict[str, list[tuple[str, float]]] = {r: [] for r in members}
    indegree = {r: 0 for r in members}
    for row in rows:
        for a, b in zip(row, row[1:]):
            ra, rb = root[a], root[b]
            if ra == rb:
                continue
            after[ra].append((rb, (width[a] + width[b]) / 2 + gap))
            indegree[rb] += 1
    x = {r: 0.0 for r in members}
    ready = [r for r in members if indegree[r] == 0]
    while ready:
        r = ready.pop()
        for nxt, sep in after[r]:
            x[nxt] = max(x[nxt], x[r] + sep)
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                ready.append(nxt)
    # Pull each block right towards its right neighbours where it has slack (BK's class
    # shift, simplified): blocks hanging on the left edge join what they connect to.
    before: dict[str, list[tuple[str, float]]] = {r: [] for r in members}
    for r, nexts in after.items():
        for nxt, sep in nexts:
            before[nxt].append((r, sep))
    for r in sorted(members, key=lambda r: -x[r]):
        limits = [x[n] - sep for n, sep in after[r]]
        if limits and not before[r]:
            x[r] = min(limits)
    return {n: x[root[n]] for row in rows for n in row}


def _separate(layers: list[list[str]], x: dict[str, float], width: dict[str, float],
              gap: float) -> None:
    """Balancing may bring neighbours too close: push them apart around their middle."""
    for row in layers:
        for _ in range(len(row)):
            moved = False
            for a, b in zip(row, row[1:]):
                need = (width[a] + width[b]) / 2 + gap - (x[b] - x[a])
                if need > 1e-6:
                    x[a] -= need / 2
                    x[b] += need / 2
                    moved = True
            if not moved:
                break
