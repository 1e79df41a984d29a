"""How fast Netdraft learns every block's shape and counts, against torch's own way.

    .venv/bin/python benchmarks/validation.py [--repeat N]

Netdraft: a full analyze() of the resnet152 template (~520 blocks) and of a 2,000-block chain,
and one edit re-analysed by a live Analysis (set_param near the start and near the end of the
chain). torch: torchvision's resnet152 built on the meta device and a meta tensor run through
it, which gives the same shapes without allocating or computing anything. Prints medians of
wall-clock and CPU time, and LAST the ratio "meta forward / netdraft full analysis = N×"
(resnet152 on both sides, CPU time: on a shared machine other people's load inflates wall
clocks at random; CPU time counts only this process, and the wall-clock ratio follows it).
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

Times = tuple[float, float]  # median seconds: (wall clock, CPU time of this process)


def median_time(fn: Callable[[], object], repeat: int) -> Times:
    """Median times of fn(), after one warm-up call."""
    return interleaved([(fn, repeat)], 1)[0]


def interleaved(fns: list[tuple[Callable[[], object], int]], rounds: int) -> list[Times]:
    """Median times of each fn, measured in rounds (each round runs every fn its given number
    of times) so that the load of a shared machine falls on all of them alike."""
    samples: list[list[Times]] = [[] for _ in fns]
    for fn, _ in fns:
        fn()  # warm-up
    for _ in range(rounds):
        for (fn, runs), bucket in zip(fns, samples):
            for _ in range(runs):
                wall, cpu = time.perf_counter(), time.process_time()
                fn()
                bucket.append((time.perf_counter() - wall, time.process_time() - cpu))
    return [(statistics.median(w for w, _ in b), statistics.median(c for _, c in b))
            for b in samples]


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


def edit_time(graph: Graph, node_id: str, repeat: int) -> tuple[Times, int]:
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

    def ms(times: Times, digits: int = 2) -> str:
        return f"{times[0] * 1000:.{digits}f} ms wall, {times[1] * 1000:.{digits}f} ms CPU"

    print(f"netdraft full analysis, resnet152 template ({blocks} blocks): {ms(full_resnet)}")
    print(f"netdraft full analysis, {len(ids)}-block chain: {ms(full_chain)}")
    print(f"netdraft one edit near the start of the chain: {ms(near_start, 3)} "
          f"({start_count} blocks recomputed)")
    print(f"netdraft one edit near the end of the chain: {ms(near_end, 3)} "
          f"({end_count} blocks recomputed)")
    print(f"torch meta resnet152, construction + forward: {ms(meta_total, 1)}")
    print(f"torch meta resnet152, forward only: {ms(meta_forward, 1)}")
    print(f"meta construction + forward / netdraft full analysis = "
          f"{meta_total[1] / full_resnet[1]:.0f}× (wall clock: "
          f"{meta_total[0] / full_resnet[0]:.0f}×)")
    print(f"meta forward / netdraft full analysis = {meta_forward[1] / full_resnet[1]:.0f}× "
          f"(wall clock: {meta_forward[0] / full_resnet[0]:.0f}×)")


if __name__ == "__main__":
    main()
