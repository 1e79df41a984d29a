"""How faithfully torchvision's classification networks come through Netdraft.

For each network: random, seeded weights (BatchNorm statistics from a batch of random images,
so activations keep a trained network's scale) saved as a state dict; then, as a user would,
`main.py import torchvision:NAME --weights F` (again with --keep-unknown when refused) and
`main.py export --onnx`; the ONNX file run in onnxruntime is compared with torchvision's own
output (largest difference relative to the largest output), and the ONNX file is imported back
(`main.py import OUT.onnx`, with --keep-unknown when refused). Any traceback is a defect.

    .venv/bin/python benchmarks/torchvision_coverage.py [NAME ...] [--all]

Without names: the networks the coverage table in docs/transfer-learning.md lists. --all:
every classification network torchvision has (hours on two cores, gigabytes for the large
ones). Prints one row per network and the tally last.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ("alexnet", "convnext_tiny", "densenet121", "efficientnet_b0", "efficientnet_v2_s",
           "googlenet", "inception_v3", "maxvit_t", "mnasnet0_5", "mobilenet_v2",
           "mobilenet_v3_small", "regnet_x_400mf", "regnet_y_400mf", "resnet18",
           "resnext50_32x4d", "shufflenet_v2_x1_0", "squeezenet1_1", "swin_t", "vgg11_bn",
           "vit_b_16", "wide_resnet50_2")
# The smallest input each takes (the transformers are built for 224; Inception v3 needs 75).
SIZES = {"inception_v3": 80, "vit_b_16": 224, "vit_b_32": 224, "vit_l_16": 224,
         "vit_l_32": 224, "vit_h_14": 224, "swin_t": 224, "swin_s": 224, "swin_b": 224,
         "swin_v2_t": 256, "swin_v2_s": 256, "swin_v2_b": 256, "maxvit_t": 224}
TOLERANCE = 1e-4
# Images the BatchNorm statistics come from. With 4, EfficientNetV2-S's last stages (2×2 maps
# at 64×64) had 16 values a channel: on any other image its activations grew ~1.4× a block to
# ~5e3 and float32 rounding alone moved its output by 1e-1 (docs/transfer-learning.md).
CALIBRATION_IMAGES = 32
MEAN, STD = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])


def random_model(name: str, size: int) -> torch.nn.Module:
    """Seeded random weights; each BatchNorm's statistics are those of its own input in one
    pass in eval mode, so every normalized activation is O(1), as in a trained network
    (statistics from a training-mode pass let EfficientNet's outputs grow to ~1e5, where
    float rounding alone differs by more than the tolerance), on images it was not
    calibrated on as well: enough of them that every channel's statistics hold for others."""
    from torchvision import models

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = models.get_model(name, weights=None).eval()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]

    def calibrate(m: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        x = inputs[0].transpose(0, 1).flatten(1)
        m.running_mean.copy_(x.mean(1))
        var = x.var(1)
        m.running_var.copy_(var.clamp_min(var.mean().item() * 0.1))

    with torch.no_grad():
        for m in model.modules():  # ViT's head starts at zero: every output would be 0
            if isinstance(m, torch.nn.Linear) and not m.weight.any():
                torch.nn.init.normal_(m.weight, std=m.in_features ** -0.5)
        for m in norms:
            m.weight.uniform_(0.5, 1.5)
            m.bias.normal_(0.0, 0.2)
        _scale_convnext(model)
        if norms:  # the transformers have none, and 32 images at 224×224 take a while
            hooks = [m.register_forward_pre_hook(calibrate) for m in norms]
            pixels = torch.rand(CALIBRATION_IMAGES, 3, size, size,
                                generator=torch.Generator().manual_seed(2))
            model((pixels - MEAN.view(3, 1, 1)) / STD.view(3, 1, 1))
            for hook in hooks:
                hook.remove()
    return model


def _scale_convnext(model: torch.nn.Module) -> None:
    """ConvNeXt's layer scales start at 1e-6: every block would add almost nothing and an
    error in one go unseen. They and its LayerNorms get O(1) random values instead."""
    blocks = [m for m in model.modules() if isinstance(getattr(m, "layer_scale", None),
                                                       torch.nn.Parameter)]
    if not blocks:
        return
    for m in blocks:
        m.layer_scale.uniform_(0.5, 1.5)
    for m in model.modules():
        if isinstance(m, torch.nn.LayerNorm):
            m.weight.uniform_(0.5, 1.5)
            m.bias.normal_(0.0, 0.2)


def cli(*args: str) -> tuple[int, str]:
    result = subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, capture_output=True,
                            text=True)
    return result.returncode, (result.stderr + result.stdout).strip()


def _import(source: str, out: Path, *extra: str) -> tuple[str, str]:
    """(verdict, message): blocks, backbone, refused or TRACEBACK."""
    code, text = cli("import", source, *extra, "-o", str(out))
    if "Traceback" in text:
        return "TRACEBACK", text.splitlines()[-1]
    if code == 0:
        return "blocks", ""
    code, kept = cli("import", source, *extra, "--keep-unknown", "-o", str(out))
    if "Traceback" in kept:
        return "TRACEBACK", kept.splitlines()[-1]
    return ("backbone", text.splitlines()[-1]) if code == 0 else ("refused", kept)


def measure(name: str, folder: Path) -> dict[str, object]:
    start = time.perf_counter()
    size = SIZES.get(name, 64)
    model = random_model(name, size)
    weights = folder / f"{name}.pth"
    torch.save(model.state_dict(), weights)
    project = folder / f"{name}.netdraft"
    verdict, message = _import(f"torchvision:{name}", project, "--weights", str(weights),
                               "--input-shape", f"3,{size},{size}")
    row: dict[str, object] = {"model": name, "verdict": verdict, "torch diff": "",
                              "onnx diff": "", "blocks": "", "onnx import": "", "note": message}
    pixels = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(1)) * 255
    with torch.no_grad():  # as the Input block computes it, to the last bit
        expected = model((pixels * (1 / 255) - MEAN.view(3, 1, 1)) / STD.view(3, 1, 1)).numpy()
    row["note"] = str(row["note"]).replace(str(folder) + "/", "")
    if verdict in ("blocks", "backbone"):
        row["blocks"], row["torch diff"] = _built(project, pixels, expected)
        onnx_file = folder / f"{name}.onnx"
        code, text = cli("export", str(project), "--onnx", str(onnx_file))
        if not onnx_file.exists():
            row["onnx diff"] = "TRACEBACK" if "Traceback" in text else "no ONNX"
            row["note"] = text.splitlines()[-1] if text else ""
        else:
            row["onnx diff"] = f"{_onnx_difference(onnx_file, pixels, expected):.1e}"
            row["onnx import"], note = _import(str(onnx_file), folder / f"{name}-onnx.netdraft")
            if row["onnx import"] == "refused" or not row["note"]:
                row["note"] = note.replace(str(folder) + "/", "")
    row["time"] = f"{time.perf_counter() - start:.0f} s"
    return row


def _relative(ours: np.ndarray, expected: np.ndarray) -> float:
    return float(np.abs(ours - expected).max() / max(np.abs(expected).max(), 1e-12))


def _built(project: Path, pixels: torch.Tensor, expected: np.ndarray) -> tuple[int, str]:
    """(blocks, relative difference) of the project's network built by Netdraft."""
    from engine import weights
    from engine.backend.build import build_module
    from engine.project import load

    loaded = load(project)
    module = build_module(loaded.graph).eval()
    weights.load_into(module, loaded.graph, loaded.weights, project)
    with torch.no_grad():
        ours = module(pixels).numpy()
    return len(loaded.graph.leaves()), f"{_relative(ours, expected):.1e}"


def _onnx_difference(onnx_file: Path, pixels: torch.Tensor, expected: np.ndarray) -> float:
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    ours = session.run(None, {session.get_inputs()[0].name: pixels.numpy()})[0]
    return _relative(ours, expected)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*")
    parser.add_argument("--all", action="store_true")
    args = parser.parse_args()
    names = args.names or list(DEFAULT)
    if args.all:
        from torchvision import models

        names = models.list_models(module=models)
    columns = ("model", "verdict", "torch diff", "onnx diff", "blocks", "onnx import", "time",
               "note")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            row = measure(name, Path(tmp))
            rows.append(row)
            note = str(row["note"])
            row["note"] = note if len(note) <= 90 else note[:87] + "..."
            print("| " + " | ".join(str(row.get(c, "")) for c in columns) + " |", flush=True)
    faithful = sum(_within(r["torch diff"]) for r in rows)
    exported = sum(_within(r["onnx diff"]) for r in rows)
    blocks = sum(r["verdict"] == "blocks" for r in rows)
    tracebacks = sum("TRACEBACK" in " ".join(map(str, r.values())) for r in rows)
    print(f"\n{len(rows)} networks: {blocks} as blocks, "
          f"{sum(r['verdict'] == 'backbone' for r in rows)} as one Backbone, "
          f"{sum(r['verdict'] == 'refused' for r in rows)} refused; within {TOLERANCE:g} of "
          f"torchvision: {faithful} built by Netdraft, {exported} through ONNX; "
          f"tracebacks: {tracebacks}")


def _within(value: object) -> bool:
    try:
        return float(str(value)) <= TOLERANCE
    except ValueError:
        return False


if __name__ == "__main__":
    main()
