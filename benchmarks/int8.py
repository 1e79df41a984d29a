"""INT8 against float32 ONNX on two trained networks: lenet-5 on digits and a resnet18-template
variant (Input 3×64×64, Output 4 classes) on shapes.

    .venv/bin/python benchmarks/int8.py [--work DIR] [--epochs-lenet 8] [--epochs-resnet 4]
                                        [--per-channel]

Each network is trained with `main.py train` (skipped when DIR already holds a run), then
exported as `main.py export FILE --weights RUN --onnx OUT --int8` does
(engine.export.pipeline.run): float32 accuracy, INT8 accuracy and their difference, top-1
agreement on the run's validation images, file sizes and onnxruntime CPU latency (median of
15 runs) at batch 1 and 32. Targets: accuracy within 1 point, latency at batch 32 ≤ 0.6×,
file ≤ 0.3×. The ratio printed LAST is the resnet18 variant's INT8 / float32 latency at
batch 32 (below 1: INT8 is faster).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine import project as project_io  # noqa: E402
from engine import templates  # noqa: E402
from engine.export.pipeline import Request, run  # noqa: E402


def lenet(folder: Path, epochs: int) -> Path:
    project = templates.open_template("lenet-5")
    project.data = {"dataset": "digits", "val_fraction": 0.2}
    project.training = {**project.training, "epochs": epochs}
    path = folder / "lenet5.netdraft"
    project_io.save(project, path)
    return path


def resnet(folder: Path, epochs: int) -> Path:
    project = templates.open_template("resnet18")
    for node in project.graph.leaves():
        if node.kind == "Input":
            project.graph.set_param(node.id, "shape", [3, 64, 64])
        elif node.kind == "Output":
            project.graph.set_param(node.id, "classes", 4)
        elif node.kind == "Dense":  # the classifier head
            project.graph.set_param(node.id, "units", 4)
    project.data = {"dataset": "shapes", "samples": 2000, "classes": 4, "val_fraction": 0.2}
    project.augmentation = {}
    project.training = {"optimizer": "adam", "lr": 0.001, "batch_size": 64,
                        "epochs": epochs}
    path = folder / "resnet18-shapes.netdraft"
    project_io.save(project, path)
    return path


def trained(path: Path) -> Path:
    out = path.with_suffix(".run")
    if not (out / "best.pt").exists() and not (out / "last.pt").exists():
        subprocess.run([sys.executable, str(ROOT / "main.py"), "train", str(path), "--out",
                        str(out)], check=True, stdout=subprocess.DEVNULL)
    return out


def measure(path: Path, per_channel: bool):
    project = project_io.load(path)
    request = Request(onnx=str(path.with_suffix(".int8.onnx")), weights=str(trained(path)),
                      int8=True, per_channel=per_channel)
    return run(project, path, request).int8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", default="/tmp/netdraft-int8-bench")
    parser.add_argument("--epochs-lenet", type=int, default=8)
    parser.add_argument("--epochs-resnet", type=int, default=4)
    parser.add_argument("--per-channel", action="store_true")
    args = parser.parse_args()
    folder = Path(args.work)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, path in (("lenet-5 / digits", lenet(folder, args.epochs_lenet)),
                       ("resnet18 3×64×64 / shapes", resnet(folder, args.epochs_resnet))):
        report = measure(path, args.per_channel)
        rows.append((name, report))
        print(f"== {name}")
        for line in report.lines():
            print(f"   {line}")
    print()
    print("| network | float32 acc | INT8 acc | Δ points | agreement | size ratio "
          "| latency b1 f32 / INT8 ms | latency b32 f32 / INT8 ms | b32 ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in rows:
        f32, i8 = r.latency_ms["float32"], r.latency_ms["int8"]
        print(f"| {name} | {100 * r.float32_accuracy:.2f}% | {100 * r.int8_accuracy:.2f}% | "
              f"{r.difference:+.2f} | {100 * r.agreement:.2f}% | "
              f"{r.int8_bytes / r.float32_bytes:.2f}× | {f32['1']:.3f} / {i8['1']:.3f} | "
              f"{f32['32']:.2f} / {i8['32']:.2f} | {i8['32'] / f32['32']:.2f}× |")
    last = rows[-1][1]
    print(f"{last.latency_ms['int8']['32'] / last.latency_ms['float32']['32']:.3f}")


if __name__ == "__main__":
    main()
