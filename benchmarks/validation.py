"""How fast Netdraft learns every block's shape and counts, against torch's own way.

    .venv/bin/python benchmarks/validation.py [--repeat N]

Netdraft: a full analyze() of the resnet152 template (~520 blocks) and of a 2,000-block chain,
and one edit re-analysed by a live Analysis (set_param near the start and near the end of the
chain). torch: torchvision's resnet152 built on the meta device and a meta tensor run through
it, which gives the same shapes without allocating or computing anything. Prints medians, and
LAST the ratio "meta forward / netdraft full analysis = N×" (resnet152 both sides).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import templates  # noqa: E402
from engine.graph import Graph  # noqa: E402
from engine.validate import Analysis, analyze  # noqa: E402


def median_time(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of fn() in seconds, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def chain_graph(blocks: int = 2000) -> tuple[Graph, list[str]]:
    """Input → (Conv2D same, BatchNorm, ReLU) × n → GlobalAvgPool → Dense → Output."""
    g = Graph()
    ids = [g.add_node("Input", name="input", params={"shape": [16, 32, 32]}).id]

    def add(kind: str, **params: object) -> None:
        ids.append(g.add_node(kind, params=params).id)
        g.connect(ids[-2], ids[-1])

    unit = [("Conv2D", {"filters": 16, "padding": "same", "bias": False}), ("BatchNorm", {}),
            ("ReLU", {})]
    while len(ids) < blocks - 3:
        kind, params = unit[(len(ids) - 1) % 3]
        add(kind, **params)
    add("GlobalAvgPool")
    add("Dense", units=10)
    add("Output", classes=10)
    return g, ids


def edit_time(graph: Graph, node_id: str, repeat: int) -> tuple[float, int]:
    """Median time of one set_param + update() on a live analysis; blocks recomputed."""
    live = Analysis(graph, live=True)
    computed = []
    original = live._compute

    def counting(node):
        computed.append(node.id)
        return original(node)

    live._compute = counting  # type: ignore[method-assign]
    values = iter([32, 16] * (repeat + 2))

    def one_edit() -> None:
        graph.set_param(node_id, "filters", next(values))
        live.update()

    seconds = median_time(one_edit, repeat)
    live.close()
    return seconds, len(computed) // (repeat + 1)


def torch_meta() -> tuple[Callable[[], object], Callable[[], object]]:
    """(build + forward, forward only) of torchvision's resnet152 on the meta device."""
    import torch
    from torchvision.models import resnet152

    x = torch.empty(1, 3, 224, 224, device="meta")

    def build() -> torch.nn.Module:
        with torch.device("meta"):
            return resnet152(weights=None).eval()

    def build_and_forward() -> None:
        with torch.no_grad():
            build()(x)

    model = build()

    def forward() -> None:
        with torch.no_grad():
            model(x)

    return build_and_forward, forward


def interleaved(fns: list[tuple[Callable[[], object], int]], rounds: int) -> list[float]:
    """Median seconds of each fn, timed in rounds (each round runs every fn its given number
    of times) so that the load of a shared machine falls on all of them alike."""
    times: list[list[float]] = [[] for _ in fns]
    for fn, _ in fns:
        fn()  # warm-up
    for _ in range(rounds):
        for (fn, runs), bucket in zip(fns, times):
            for _ in range(runs):
                start = time.perf_counter()
                fn()
                bucket.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=11)
    repeat = parser.parse_args().repeat
    resnet = templates.open_template("resnet152").graph
    chain, ids = chain_graph()
    blocks = len(resnet.leaves())
    convs = [i for i in ids if chain.nodes[i].kind == "Conv2D"]
    near_start, start_count = edit_time(chain, convs[0], repeat * 10)
    near_end, end_count = edit_time(chain, convs[-2], repeat * 10)
    full_chain = median_time(lambda: analyze(chain), max(3, repeat // 3))
    meta_total_fn, meta_forward_fn = torch_meta()
    full_resnet, meta_forward, meta_total = interleaved(
        [(lambda: analyze(resnet), 5), (meta_forward_fn, 1), (meta_total_fn, 1)], repeat)

    ms = 1000
    print(f"netdraft full analysis, resnet152 template ({blocks} blocks): "
          f"{full_resnet * ms:.2f} ms")
    print(f"netdraft full analysis, {len(ids)}-block chain: {full_chain * ms:.2f} ms")
    print(f"netdraft one edit near the start of the chain: {near_start * ms:.3f} ms "
          f"({start_count} blocks recomputed)")
    print(f"netdraft one edit near the end of the chain:   {near_end * ms:.3f} ms "
          f"({end_count} blocks recomputed)")
    print(f"torch meta resnet152, construction + forward: {meta_total * ms:.1f} ms")
    print(f"torch meta resnet152, forward only: {meta_forward * ms:.1f} ms")
    print(f"meta construction + forward / netdraft full analysis = "
          f"{meta_total / full_resnet:.0f}×")
    print(f"meta forward / netdraft full analysis = {meta_forward / full_resnet:.0f}×")


if __name__ == "__main__":
    main()
