"""Auto-arrange against Graphviz `dot`: edge crossings and drawing width of templates with
every group expanded (what a user sees after expanding all GoogLeNet inception modules or
all ResNet-50 stages and residual blocks).

    python benchmarks/layout.py [TEMPLATE ...]      (default: googlenet resnet50)

Both layouts get the same graph: the same blocks (210×84), the same gaps between neighbours
and between layers, and the groups as clusters (dot keeps a cluster's members together as
we keep a group's). Crossings are counted on the edges as drawn: ours as the canvas draws
them (designer/canvas/edges.py, from an output port to an input port), dot's as its
B-splines; a pair of edges counts once when their curves cross away from the blocks they
share. Width is the extent of the blocks across the flow. Needs `dot` (apt-get install
graphviz); the application itself never does.

The last line is the ratio of our crossings to dot's, summed over the templates (0/0 = 1).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine import templates  # noqa: E402
from engine.graph import Graph  # noqa: E402
from engine.layout import arrange  # noqa: E402

BLOCK_W, BLOCK_H = 210.0, 84.0  # designer/canvas/items.py
GAP = (40.0, 72.0)  # designer/canvas/items.py LAYOUT_GAP
DPI = 72.0  # dot's points per inch
ENDS = 14.0  # a crossing this close to an edge's end is where edges meet at a port

Polyline = list[tuple[float, float]]


# ------------------------------------------------------------------- geometry
def _bezier(p0, p1, p2, p3, steps: int = 16) -> Polyline:
    out = []
    for k in range(steps + 1):
        t = k / steps
        a, b, c, d = (1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t * t * (1 - t), t ** 3
        out.append((a * p0[0] + b * p1[0] + c * p2[0] + d * p3[0],
                    a * p0[1] + b * p1[1] + c * p2[1] + d * p3[1]))
    return out


def _cross(a, b, c, d) -> tuple[float, float] | None:
    """Where segment ab meets segment cd, or None."""
    d1 = (b[0] - a[0], b[1] - a[1])
    d2 = (d[0] - c[0], d[1] - c[1])
    den = d1[0] * d2[1] - d1[1] * d2[0]
    if abs(den) < 1e-12:
        return None
    t = ((c[0] - a[0]) * d2[1] - (c[1] - a[1]) * d2[0]) / den
    u = ((c[0] - a[0]) * d1[1] - (c[1] - a[1]) * d1[0]) / den
    if 0 <= t <= 1 and 0 <= u <= 1:
        return (a[0] + t * d1[0], a[1] + t * d1[1])
    return None


def _box(line: Polyline) -> tuple[float, float, float, float]:
    xs, ys = [p[0] for p in line], [p[1] for p in line]
    return min(xs), min(ys), max(xs), max(ys)


def _near_end(point, line: Polyline) -> bool:
    return any(abs(point[0] - e[0]) + abs(point[1] - e[1]) < ENDS for e in (line[0], line[-1]))


def crossings(edges: list[tuple[str, str, Polyline]]) -> int:
    """Pairs of drawn edges that cross (away from the ports where edges meet)."""
    boxes = [_box(line) for _s, _d, line in edges]
    count = 0
    for i in range(len(edges)):
        for j in range(i + 1, len(edges)):
            a, b = boxes[i], boxes[j]
            if a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1]:
                continue
            if _pair_crosses(edges[i][2], edges[j][2]):
                count += 1
    return count


def _pair_crosses(p: Polyline, q: Polyline) -> bool:
    for k in range(len(p) - 1):
        for m in range(len(q) - 1):
            hit = _cross(p[k], p[k + 1], q[m], q[m + 1])
            if hit is not None and not _near_end(hit, p) and not _near_end(hit, q):
                return True
    return False


# ------------------------------------------------------------------- layouts
def expanded(name: str) -> Graph:
    return templates.open_template(name).graph


def leaf_edges(graph: Graph) -> list[tuple[str, str]]:
    return [(e.src, e.dst) for e in graph.edges]


def ours(graph: Graph) -> tuple[dict[str, tuple[float, float]], list, float]:
    """Our positions (top-left corners), the edges as drawn, and the time arrange took."""
    from PySide6.QtCore import QPointF

    from designer.canvas.edges import edge_path

    start = time.perf_counter()
    pos = arrange(graph, collapsed=[], size=(BLOCK_W, BLOCK_H), direction="TB", gap=GAP)
    seconds = time.perf_counter() - start
    from PySide6.QtCore import QRectF

    leaves = [k for k in graph.nodes if not graph.nodes[k].is_group]
    rects = {k: QRectF(pos[k][0], pos[k][1], BLOCK_W, BLOCK_H) for k in leaves}
    lines = []
    for src, dst in leaf_edges(graph):
        p1 = QPointF(pos[src][0] + BLOCK_W / 2, pos[src][1] + BLOCK_H)
        p2 = QPointF(pos[dst][0] + BLOCK_W / 2, pos[dst][1])
        band = QRectF(p1, p2).normalized().adjusted(-3 * BLOCK_W, 0, 3 * BLOCK_W, 0)
        # What the canvas passes (CanvasScene.obstacles): the blocks between the ends.
        obstacles = [r for k, r in rects.items() if k not in (src, dst) and r.intersects(band)]
        path = edge_path(p1, p2, "TB", obstacles)
        lines.append((src, dst, [(path.pointAtPercent(k / 32).x(),
                                  path.pointAtPercent(k / 32).y()) for k in range(33)]))
    return {k: pos[k] for k in graph.nodes if not graph.nodes[k].is_group}, lines, seconds


def to_dot(graph: Graph) -> str:
    out = ["digraph G {", f"  nodesep={GAP[0] / DPI:.4f}; ranksep={GAP[1] / DPI:.4f};",
           f"  node [shape=box, fixedsize=true, width={BLOCK_W / DPI:.4f}, "
           f"height={BLOCK_H / DPI:.4f}, label=\"\"];"]

    def emit(parent: str | None, indent: str) -> None:
        for node in graph.nodes.values():
            if node.parent != parent:
                continue
            if node.is_group:
                out.append(f"{indent}subgraph \"cluster_{node.id}\" {{")
                emit(node.id, indent + "  ")
                out.append(f"{indent}}}")
            else:
                out.append(f"{indent}\"{node.id}\";")

    emit(None, "  ")
    for src, dst in leaf_edges(graph):
        out.append(f"  \"{src}\" -> \"{dst}\";")
    out.append("}")
    return "\n".join(out)


def dot(graph: Graph) -> tuple[dict[str, tuple[float, float]], list, float]:
    start = time.perf_counter()
    done = subprocess.run(["dot", "-Tjson0"], input=to_dot(graph), capture_output=True,
                          text=True, check=True)
    seconds = time.perf_counter() - start
    data = json.loads(done.stdout)
    top = float(data["bb"].split(",")[3])
    by_gvid: dict[int, str] = {}
    pos: dict[str, tuple[float, float]] = {}
    for obj in data.get("objects", []):
        if "pos" in obj and not obj.get("name", "").startswith("cluster"):
            x, y = (float(v) for v in obj["pos"].split(","))
            pos[obj["name"]] = (x - BLOCK_W / 2, top - y - BLOCK_H / 2)
            by_gvid[obj["_gvid"]] = obj["name"]
    lines = []
    for edge in data.get("edges", []):
        src, dst = by_gvid[edge["tail"]], by_gvid[edge["head"]]
        points = [tuple(float(v) for v in p.split(",")) for p in
                  edge["pos"].replace("e,", "").split()]
        points = [p for p in points if len(p) == 2]
        end = None
        if edge["pos"].startswith("e,"):  # the arrow's tip comes first
            end, points = points[0], points[1:]
        points = [(x, top - y) for x, y in points]
        line: Polyline = []
        for k in range(0, len(points) - 3, 3):
            line.extend(_bezier(*points[k:k + 4]))
        if end is not None:
            line.append((end[0], top - end[1]))
        lines.append((src, dst, line))
    return pos, lines, seconds


def width(pos: dict[str, tuple[float, float]]) -> float:
    return max(x for x, _ in pos.values()) + BLOCK_W - min(x for x, _ in pos.values())


def height(pos: dict[str, tuple[float, float]]) -> float:
    return max(y for _, y in pos.values()) + BLOCK_H - min(y for _, y in pos.values())


def main(argv: list[str]) -> int:
    names = argv or ["googlenet", "resnet50"]
    if shutil.which("dot") is None:
        print("dot not found: apt-get install graphviz")
        return 2
    ours_total = dots_total = 0
    print(f"{'template':<12} {'blocks':>6} {'edges':>5} | {'ours: crossings':>15} "
          f"{'width':>7} {'height':>7} {'ms':>6} | {'dot: crossings':>14} {'width':>7} "
          f"{'height':>7} {'ms':>6}")
    for name in names:
        graph = expanded(name)
        a_pos, a_lines, a_s = ours(graph)
        b_pos, b_lines, b_s = dot(graph)
        a_x, b_x = crossings(a_lines), crossings(b_lines)
        ours_total += a_x
        dots_total += b_x
        print(f"{name:<12} {len(a_pos):>6} {len(a_lines):>5} | {a_x:>15} "
              f"{width(a_pos):>7.0f} {height(a_pos):>7.0f} {a_s * 1000:>6.0f} | {b_x:>14} "
              f"{width(b_pos):>7.0f} {height(b_pos):>7.0f} {b_s * 1000:>6.0f}")
    ratio = 1.0 if ours_total == dots_total == 0 else (
        ours_total / dots_total if dots_total else float("inf"))
    print(f"crossings ours/dot: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
