"""The GPU half of benchmarks/gpu.sh (which checks for an NVIDIA GPU first).

Netdraft: the resnet50 template trained by engine.backend.train.Trainer on the 'synthetic'
dataset (random uint8 pixels held on the GPU) with precision bf16 and channels_last, compile
off and on. Baseline: torchvision's resnet50 in a hand-written loop (uint8 batch -> float ->
normalize -> forward/backward/SGD step) with the same autocast and memory format. Model FLOP
utilization = 3 × 2 × forward MACs per image × images/s / the GPU's dense bf16 peak.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import templates  # noqa: E402
from engine.backend.events import NullSink  # noqa: E402
from engine.backend.train import Trainer  # noqa: E402
from engine.validate import analyze  # noqa: E402

# Dense (no sparsity) bf16 tensor-core peaks in TFLOP/s, from the vendors' data sheets.
PEAK_BF16 = (("H200", 989.0), ("H100 PCIe", 756.0), ("H100", 989.0), ("GH200", 989.0),
             ("A100", 312.0), ("A800", 312.0), ("L40S", 362.0), ("L40", 181.0),
             ("L4", 121.0), ("A10G", 70.0), ("A10", 125.0), ("RTX 4090", 165.0),
             ("RTX 3090", 71.0), ("B200", 2250.0))


def peak_tflops(name: str) -> float | None:
    for key, value in PEAK_BF16:
        if key in name:
            return value
    return None


def netdraft(project, args, compile_model: bool) -> float:
    samples = args.batch * args.steps
    overrides = {
        "data": {"dataset": "synthetic", "samples": samples, "val_fraction": 0.0},
        "augmentation": {"enabled": False},
        "training": {"epochs": args.epochs, "batch_size": args.batch, "optimizer": "sgd",
                     "lr": 0.1, "momentum": 0.9, "precision": args.precision,
                     "channels_last": True, "compile": compile_model},
    }
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(project, overrides, run_dir=run_dir, sink=NullSink(),
                          device=args.device)
        outcome = trainer.run()
    for note in trainer.notes:
        print(f"  note: {note}")
    return outcome.history[-1]["images_per_s"]  # the last epoch: compiled and warm


def plain(args, compile_model: bool) -> float:
    import torchvision

    device = torch.device(args.device)
    torch.manual_seed(0)
    model = torchvision.models.resnet50().to(device, memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    step_model = torch.compile(model) if compile_model else model
    x_all = torch.randint(0, 256, (args.batch * args.steps, 3, 224, 224), dtype=torch.uint8,
                          device=device)
    y_all = torch.randint(0, 1000, (len(x_all),), device=device)
    mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1) * 255
    std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, 3, 1, 1) * 255
    dtype = torch.bfloat16 if args.precision == "bf16" else torch.float16

    def epoch() -> float:
        torch.cuda.synchronize()
        start = time.perf_counter()
        order = torch.randperm(len(x_all), device=device)
        for b in range(args.steps):
            idx = order[b * args.batch:(b + 1) * args.batch]
            x = ((x_all[idx].float() - mean) / std).contiguous(
                memory_format=torch.channels_last)
            with torch.autocast("cuda", dtype=dtype):
                loss = F.cross_entropy(step_model(x), y_all[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        torch.cuda.synchronize()
        return len(x_all) / (time.perf_counter() - start)

    rates = [epoch() for _ in range(args.epochs)]
    return rates[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20, help="steps per epoch")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--precision", choices=("bf16", "fp16"), default="bf16")
    parser.add_argument("--template", default="resnet50")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--peak-tflops", type=float, default=None)
    parser.add_argument("--skip-compile", action="store_true")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("benchmarks/gpu.py: torch sees no CUDA GPU (torch.cuda.is_available() is "
                 "False); run it on a machine with an NVIDIA GPU and a CUDA build of torch")
    name = torch.cuda.get_device_name(torch.device(args.device))
    peak = args.peak_tflops or peak_tflops(name)
    project = templates.open_template(args.template)
    macs = analyze(project.graph).totals()["macs"]
    flops_per_image = 3 * 2 * macs  # forward + backward ≈ 3 forwards; 2 FLOPs per MAC
    print(f"{name}: {args.template} {macs / 1e9:.2f} GMACs/image, batch {args.batch}, "
          f"{args.precision}, channels_last, peak {peak or '?'} TFLOP/s bf16")
    ratios = []
    for compile_model in ((False,) if args.skip_compile else (False, True)):
        ours = netdraft(project, args, compile_model)
        theirs = plain(args, compile_model)
        word = "compile on " if compile_model else "compile off"
        for label, rate in (("netdraft trainer", ours), ("torchvision loop", theirs)):
            mfu = f"{flops_per_image * rate / (peak * 1e12):.1%}" if peak else "?"
            print(f"{word}  {label}: {rate:>8,.0f} img/s  MFU {mfu}")
        ratios.append(f"{word.strip()} {ours / theirs:.2f}×")
    print("ratio netdraft / torchvision: " + ", ".join(ratios))


if __name__ == "__main__":
    main()
