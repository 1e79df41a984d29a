"""ONNX export plus parity check for a template (resnet50), and onnxruntime against torch
eager inference latency on the CPU, in the same run.

    .venv/bin/python benchmarks/export.py [--template resnet50] [--repeat 3] [--threads 2]
                                          [--exporter auto|torchscript|dynamo]

Export: engine.export.pipeline.run as `python main.py export FILE --onnx OUT` runs it (build,
fresh weights, ONNX file, onnx.checker, parity on a batch of 2 in onnxruntime). The first
run in the process is "cold" (the exporter's one-time imports and warm-up included); the
next --repeat runs are "warm". Latency: the same network, torch eager (eval, no_grad) and an
onnxruntime CPU session, median of several runs at batch 1 and 32 after a warm-up run, with
1 thread each and then --threads each. On a shared 2-core machine under load, 2 OpenMP
threads make torch eager erratic (resnet50 at batch 1: ~2.6 s instead of ~0.18 s), so the
ratio printed LAST is the 1-thread one at batch 1: torch eager / onnxruntime (above 1:
onnxruntime is faster).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import templates  # noqa: E402
from engine.export.parity import generated_inputs  # noqa: E402
from engine.export.pipeline import Request, build, run  # noqa: E402


def timed_export(project, out: Path, exporter: str) -> tuple[float, float, float, str]:
    """(whole run, export, parity check) seconds and the exporter that wrote the file."""
    start = time.perf_counter()
    outcome = run(project, None, Request(onnx=str(out), exporter=exporter))
    total = time.perf_counter() - start
    report = outcome.parity
    assert report is not None and report.passed, report and report.summary()
    return (total, report.timings["export_s"], report.timings["check_s"],
            outcome.written[0]["exporter"])


def latency(fn, runs: int) -> float:
    fn()  # warm-up: the first call at a shape pays for kernel selection
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", default="resnet50")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--exporter", default="auto",
                        choices=("auto", "torchscript", "dynamo"))
    args = parser.parse_args()
    project = templates.open_template(args.template)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{args.template}.onnx"
        runs = [timed_export(project, path, args.exporter) for _ in range(1 + args.repeat)]
        cold, warm = runs[0], runs[1:]
        print(f"{args.template}: export + check, cold: {cold[0]:.2f} s "
              f"(export {cold[1]:.2f} s, check {cold[2]:.2f} s, {cold[3]} exporter)")
        print(f"{args.template}: export + check, warm median of {len(warm)}: "
              f"{statistics.median(r[0] for r in warm):.2f} s (export "
              f"{statistics.median(r[1] for r in warm):.2f} s, check "
              f"{statistics.median(r[2] for r in warm):.2f} s)")

        module = build(project)
        ratios = {}
        for threads in sorted({1, args.threads}):
            ratios[threads] = latencies(module, path, threads)
    for threads, by_batch in ratios.items():
        print(f"ratio torch eager / onnxruntime latency, {threads} thread(s), batch 32: "
              f"{by_batch[32]:.2f}")
    print(f"ratio torch eager / onnxruntime latency, 1 thread, batch 1: {ratios[1][1]:.2f}")


def latencies(module: torch.nn.Module, path: Path, threads: int) -> dict[int, float]:
    """torch eager / onnxruntime latency by batch size, both on ``threads`` threads."""
    import onnxruntime as ort

    torch.set_num_threads(threads)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = sess.get_inputs()[0].name
    ratios = {}
    for batch, repeats in ((1, 15), (32, 3)):
        x = generated_inputs(tuple(module.input_shape), batch, pixels=True)
        array = x.numpy()

        def eager(x=x):
            with torch.no_grad():
                module(x)

        torch_s = latency(eager, repeats)
        ort_s = latency(lambda array=array: sess.run(None, {feed: array}), repeats)
        ratios[batch] = torch_s / ort_s
        print(f"latency at batch {batch}, {threads} thread(s): torch eager "
              f"{torch_s * 1e3:.1f} ms, onnxruntime {ort_s * 1e3:.1f} ms")
    return ratios


if __name__ == "__main__":
    main()
