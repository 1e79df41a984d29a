"""Measured latency per block: the exported ONNX model (float32, or INT8 with ``int8``) run
in onnxruntime on the CPU with its profiler on; every node's kernel time goes to the block
it was exported from (engine.export.onnx_blocks), next to the block's MACs, so a block that
is slow for its MACs (memory-bound, an awkward shape) stands out.

onnxruntime optimizes the graph when the session starts (fusing a BatchNorm into its
convolution, an activation into the convolution before it, adding layout reorders): the
optimized graph is saved and mapped back, so fused nodes count for the block they were
named after and added nodes for the block that feeds them. A block left with no node of its
own (folded into another) is listed with no time.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.export import ExportError
from engine.export.onnx_blocks import attr_blocks, optimized_blocks
from engine.graph import Graph
from engine.summary import human_count

WARMUP_RUNS = 3
RUNS = 20
SLOW_SHARE = 0.05  # a block below 5 % of the time is not worth a flag
SLOW_FACTOR = 2.0  # ...nor one whose share of the time is under twice its share of MACs


@dataclass
class BlockTime:
    id: str
    name: str
    kind: str
    ms: float  # its kernels' time per run (the faster half of the runs)
    share: float  # of the sum of all blocks' times
    macs: int  # for the whole batch
    nodes: int  # ONNX nodes onnxruntime ran for it (0: folded into another block)
    slow: bool = False

    @property
    def gmacs_per_s(self) -> float:
        return self.macs / (self.ms * 1e6) if self.ms > 0 else 0.0


@dataclass
class Profile:
    batch: int
    runs: int  # the faster half of the runs made, which the times are means over
    precision: str  # "float32" or "int8"
    total_ms: float  # a whole run as onnxruntime's profiler times it
    kernels_ms: float  # all node kernel times per run
    blocks: list[BlockTime]
    providers: list[str]
    warnings: list[str] = field(default_factory=list)

    @property
    def blocks_ms(self) -> float:
        return sum(b.ms for b in self.blocks)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["blocks_ms"] = self.blocks_ms
        for item, block in zip(data["blocks"], self.blocks):
            item["gmacs_per_s"] = block.gmacs_per_s
        return data

    def lines(self) -> list[str]:
        out = [f"{'block':<24} {'kind':<14} {'ms':>9} {'share':>7} {'MACs':>9} "
               f"{'GMAC/s':>8}"]
        for b in sorted(self.blocks, key=lambda b: -b.ms):
            name = b.name if len(b.name) <= 24 else b.name[:23] + "…"
            time = f"{b.ms:9.3f}" if b.nodes else f"{'folded':>9}"
            flag = "  ◀ slow for its MACs" if b.slow else ""
            out.append(f"{name:<24} {b.kind:<14} {time} {100 * b.share:6.1f}% "
                       f"{human_count(b.macs):>9} {b.gmacs_per_s:8.2f}{flag}")
        out.append(f"blocks {self.blocks_ms:.3f} ms of {self.total_ms:.3f} ms per run "
                   f"({self.precision}, batch {self.batch}, mean of the {self.runs} fastest runs, "
                   f"{', '.join(self.providers)}); onnxruntime's own work between nodes: "
                   f"{max(0.0, self.total_ms - self.kernels_ms):.3f} ms")
        return out


def profile_model(onnx_path: str | Path, graph: Graph, attr_of: dict[str, str],
                  macs: dict[str, int], inputs: np.ndarray, *, runs: int = RUNS,
                  precision: str = "float32", weighted: set[str] | None = None) -> Profile:
    """Profile ``onnx_path`` on ``inputs`` (one batch). ``attr_of``: block id -> the
    exported module's attribute (GraphModule.attr_of); ``macs``: block id -> MACs per
    sample; ``weighted``: blocks with parameters, listed even when onnxruntime folds them
    into another (a BatchNorm into its convolution)."""
    import onnx

    weighted = weighted or set()
    blocks = attr_blocks(graph, attr_of)
    original = onnx.load(str(onnx_path))
    events, optimized, providers = _run_profiled(onnx_path, inputs, runs)
    owner = optimized_blocks(original, optimized, blocks)
    runs_seen = _fastest_runs(events, runs)
    per_block, nodes, kernels = _kernel_times(events, runs_seen, owner)
    count = max(1, len(runs_seen))
    batch = int(inputs.shape[0])
    listed = _block_times(graph, macs, weighted, per_block, nodes, batch, count)
    total = statistics.mean(r["dur"] for r in runs_seen) / 1e3 if runs_seen else 0.0
    return Profile(batch, count, precision, total, kernels / count / 1e3, listed, providers)


def _run_profiled(onnx_path: str | Path, inputs: np.ndarray,
                  runs: int) -> tuple[list[dict[str, Any]], Any, list[str]]:
    """Run the model WARMUP_RUNS + ``runs`` times with onnxruntime's profiler on: the
    profiler's events, the graph as onnxruntime optimized it, and its providers."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="netdraft-profile-") as tmp:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "profile")
        options.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        try:
            session = ort.InferenceSession(str(onnx_path), options,
                                           providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's own error types
            raise ExportError(f"onnxruntime cannot run the model: {exc}") from None
        feed = {session.get_inputs()[0].name: inputs.astype(np.float32)}
        for _ in range(WARMUP_RUNS + runs):
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text(encoding="utf-8"))
        optimized = onnx.load(options.optimized_model_filepath)
    return events, optimized, list(session.get_providers())


def _fastest_runs(events: list[dict[str, Any]], runs: int) -> list[dict[str, Any]]:
    """The profiler's events of the faster half of the last ``runs`` runs."""
    runs_seen = [e for e in events if e.get("cat") == "Session" and e["name"] == "model_run"]
    runs_seen = sorted(runs_seen, key=lambda r: r["ts"])[-runs:]
    # The faster half of the runs, so runs slowed by another process on the machine do
    # not count; blocks' and whole runs' times are means over the same runs, so they add up.
    return sorted(runs_seen, key=lambda r: r["dur"])[:max(1, (len(runs_seen) + 1) // 2)]


def _kernel_times(events: list[dict[str, Any]], runs_seen: list[dict[str, Any]],
                  owner: dict[str, str]) -> tuple[dict[str, float], dict[str, set[str]], float]:
    """Over ``runs_seen``: each block's kernel time (µs), the ONNX nodes it ran, and the
    time of all kernels."""
    per_block: dict[str, float] = {}
    nodes: dict[str, set[str]] = {}
    kernels = 0.0
    for event in events:
        if event.get("cat") != "Node" or not event["name"].endswith("_kernel_time"):
            continue
        if not any(r["ts"] <= event["ts"] <= r["ts"] + r["dur"] for r in runs_seen):
            continue  # a warm-up run or a slow one
        name = event["name"].removesuffix("_kernel_time")
        kernels += event["dur"]
        block = owner.get(name) or _owner_by_prefix(name, owner)
        if block is not None:
            per_block[block] = per_block.get(block, 0.0) + event["dur"]
            nodes.setdefault(block, set()).add(name)
    return per_block, nodes, kernels


def _block_times(graph: Graph, macs: dict[str, int], weighted: set[str],
                 per_block: dict[str, float], nodes: dict[str, set[str]], batch: int,
                 count: int) -> list[BlockTime]:
    """Each block that does work, in the graph's order, with its time per run, its share,
    and whether it is slow for its MACs."""
    total_blocks = sum(per_block.values()) or 1.0
    total_macs = sum(macs.values()) or 1
    listed = []
    for node in graph.leaves():
        if node.id not in per_block and not macs.get(node.id) and node.id not in weighted:
            continue  # no work: the Output, a Dropout, an Input without preprocessing
        us = per_block.get(node.id, 0.0)
        share = us / total_blocks
        block_macs = int(macs.get(node.id, 0)) * batch
        slow = share >= SLOW_SHARE and share > SLOW_FACTOR * (block_macs / batch) / total_macs
        listed.append(BlockTime(node.id, node.name, node.kind, us / count / 1e3, share,
                                block_macs, len(nodes.get(node.id, ())), slow))
    return listed


def _owner_by_prefix(name: str, owner: dict[str, str]) -> str | None:
    best = max((k for k in owner if k and name.startswith(k)), key=len, default=None)
    return owner[best] if best is not None else None


def profile(project: Any, project_path: str | Path | None, *, weights: str | None = None,
            batch: int = 1, int8: bool = False, runs: int = RUNS) -> Profile:
    """Export ``project`` (with ``weights``, as `export` chooses them) to a temporary ONNX
    file, quantize it with ``int8`` (calibrated on the validation images, else on generated
    inputs), and profile it on a batch of ``batch`` generated inputs."""
    from engine.export import weights as weights_io
    from engine.export.onnx_export import export_onnx
    from engine.export.parity import generated_inputs
    from engine.export.pipeline import _takes_pixels, build
    from engine.validate import analyze

    module = build(project)
    loaded = weights_io.load(module, project, project_path, weights)
    warnings = list(loaded.warnings)
    shape = tuple(module.input_shape)
    pixels = _takes_pixels(project)
    inputs = generated_inputs(shape, batch, pixels).numpy()
    with tempfile.TemporaryDirectory(prefix="netdraft-profile-") as tmp:
        path = Path(tmp) / "model.onnx"
        export_onnx(project, module, path)
        if int8:
            path = _quantized(project, project_path, weights, module, path, pixels, warnings)
        analysis = analyze(project.graph)
        macs = {node_id: result.macs for node_id, result in analysis.results.items()}
        weighted = {node_id for node_id, r in analysis.results.items() if r.params}
        result = profile_model(path, project.graph, module.attr_of, macs, inputs, runs=runs,
                               precision="int8" if int8 else "float32", weighted=weighted)
    result.warnings = warnings
    return result


def _quantized(project: Any, project_path: str | Path | None, weights: str | None,
               module: Any, path: Path, pixels: bool, warnings: list[str]) -> Path:
    from engine.export.int8 import MAX_CALIBRATION, preprocess, quantize
    from engine.export.parity import generated_inputs
    from engine.export.pipeline import image_samples, validation_network

    try:
        net = validation_network(project, project_path, weights)
        calibration = image_samples(net, None, "no validation images").x[:MAX_CALIBRATION]
    except ExportError as exc:
        warnings.append(f"INT8 calibrated on generated inputs ({exc}): its timing holds, "
                        "its accuracy would not")
        calibration = generated_inputs(tuple(module.input_shape), 64, pixels).numpy()
    prepared, out = path.with_name("prepared.onnx"), path.with_name("model.int8.onnx")
    try:
        preprocess(path, prepared)
        quantize(prepared, out, calibration, per_channel=False)
    except Exception as exc:  # onnxruntime raises several types
        raise ExportError(f"onnxruntime could not quantize the model: {exc}") from None
    return out
