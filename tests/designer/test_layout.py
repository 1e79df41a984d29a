"""engine/layout.py: layers follow the edges, nothing overlaps, groups stay together."""

from __future__ import annotations

from itertools import combinations

from conftest import small_graph

from engine.graph import Graph
from engine.layout import arrange, members_box

SIZE = (210.0, 84.0)


def _boxes(positions, ids):
    return {i: (positions[i][0], positions[i][1], positions[i][0] + SIZE[0],
                positions[i][1] + SIZE[1]) for i in ids}


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def residual_graph(blocks: int = 3) -> Graph:
    g = Graph()
    prev = g.add_node("Input", "in", {"shape": [8, 16, 16]}).id
    for k in range(blocks):
        a = g.add_node("Conv2D", f"a{k}", {"filters": 8, "padding": "same"}).id
        b = g.add_node("Conv2D", f"b{k}", {"filters": 8, "padding": "same"}).id
        add = g.add_node("Add", f"add{k}").id
        g.connect(prev, a)
        g.connect(a, b)
        g.connect(b, add)
        g.connect(prev, add)
        g.group([a, b, add], f"block{k}")
        prev = add
    return g


def test_every_edge_points_down_and_nothing_overlaps():
    g = residual_graph()
    pos = arrange(g, collapsed=[], size=SIZE)
    for edge in g.edges:
        assert pos[edge.src][1] < pos[edge.dst][1]
    boxes = _boxes(pos, [n.id for n in g.leaves()])
    assert not any(_overlap(a, b) for a, b in combinations(boxes.values(), 2))


def test_groups_are_kept_together():
    g = residual_graph()
    pos = arrange(g, collapsed=[], size=SIZE)
    groups = [n for n in g.nodes.values() if n.is_group]
    for group in groups:
        inside = {n.id for n in g.members(group.id)}
        left, top, right, bottom = members_box(pos, inside, SIZE)
        for other in g.leaves():
            if other.id not in inside:
                assert not _overlap((left, top, right, bottom), _boxes(pos, [other.id])[other.id])


def test_collapsed_groups_take_one_block_and_keep_their_members_beneath():
    g = residual_graph()
    groups = [n.id for n in g.nodes.values() if n.is_group]
    pos = arrange(g, collapsed=groups, size=SIZE, gap=(40, 50))
    shown = ["n1", *groups]
    ys = sorted(pos[i][1] for i in shown)
    assert ys == [0.0, 134.0, 268.0, 402.0]  # one block per layer: the groups are compact
    for group in groups:
        for member in g.members(group):
            assert pos[member.id][1] >= pos[group][1]


def test_left_to_right_transposes_and_cycles_do_not_hang():
    g = small_graph()
    g.connect("n6", "n2", 1)  # a loop back: the analysis reports it, the layout copes
    pos = arrange(g, direction="LR", size=SIZE)
    xs = [pos[i][0] for i in ("n1", "n2", "n3", "n4", "n5", "n6")]
    assert xs == sorted(xs) and len(set(xs)) == 6


def test_branches_sit_side_by_side():
    g = Graph()
    src = g.add_node("Input", "in").id
    kids = [g.add_node("Conv2D", f"c{k}").id for k in range(3)]
    for kid in kids:
        g.connect(src, kid)
    pos = arrange(g, size=SIZE)
    assert len({pos[k][1] for k in kids}) == 1
    assert len({pos[k][0] for k in kids}) == 3
