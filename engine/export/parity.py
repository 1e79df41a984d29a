"""The parity check: the exported model run in onnxruntime against PyTorch on the same batch.

The report is what the CLI prints after an export and what the designer shows.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

FP32_TOLERANCE = 1e-4
FP16_TOLERANCE = 1e-2


@dataclass
class ParityReport:
    """max_abs_diff: the largest |onnxruntime - torch| over the batch's outputs.

    The check passes when it is at most tolerance × max(1, output_scale): absolute for
    outputs up to 1 (probabilities, normalized scores), relative for larger ones, where
    float32 rounding grows with the values (RBF distances, unnormalized logits).
    """

    max_abs_diff: float
    tolerance: float
    passed: bool
    batch: int
    providers: list[str]
    output_scale: float = 0.0
    inputs: str = "generated"
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def limit(self) -> float:
        return self.tolerance * max(1.0, self.output_scale)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["timings"] = {k: round(v, 3) for k, v in self.timings.items()}
        data["limit"] = self.limit
        return data

    def summary(self) -> str:
        verdict = "ok" if self.passed else "FAILED"
        scale = (f" (outputs up to {self.output_scale:.3g}, limit {self.limit:.1e})"
                 if self.output_scale > 1 else "")
        what = f"{self.inputs} inputs" if self.inputs == "generated" else self.inputs
        return (f"parity {verdict}: max abs difference {self.max_abs_diff:.2e} vs PyTorch "
                f"on a batch of {self.batch} {what}; tolerance "
                f"{self.tolerance:.0e}{scale}; {', '.join(self.providers)}")


def generated_inputs(shape: tuple[int, ...], batch: int, pixels: bool,
                     seed: int = 0) -> torch.Tensor:
    """A reproducible batch: raw 0–255 pixels when the Input scales them, else [0, 1)."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand((batch, *shape), generator=generator)
    return x * 255.0 if pixels else x


def session(model: str | Path | bytes, providers: list[str] | None = None):
    """An onnxruntime session on the CPU unless told otherwise."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    source = str(model) if isinstance(model, Path) else model
    return ort.InferenceSession(source, options,
                                providers=providers or ["CPUExecutionProvider"])


def check(module: torch.nn.Module, model: str | Path | bytes, inputs: torch.Tensor,
          tolerance: float = FP32_TOLERANCE, kind: str = "generated",
          providers: list[str] | None = None,
          expected: torch.Tensor | None = None) -> ParityReport:
    """Run both on ``inputs`` and compare. ``module`` is the float32 PyTorch module;
    ``expected`` is its output when the caller has it already."""
    timings: dict[str, float] = {}
    start = time.perf_counter()
    if expected is None:
        with torch.no_grad():
            expected = module.eval()(inputs)
    expected = expected.float().numpy()
    timings["torch_s"] = time.perf_counter() - start
    start = time.perf_counter()
    sess = session(model, providers)
    timings["session_s"] = time.perf_counter() - start
    feed = {sess.get_inputs()[0].name: inputs.numpy().astype(_numpy_type(sess))}
    start = time.perf_counter()
    got = sess.run(None, feed)[0].astype(np.float32)
    timings["onnxruntime_s"] = time.perf_counter() - start
    if got.shape != expected.shape:
        diff = float("inf")
    else:
        diff = float(np.max(np.abs(got - expected))) if expected.size else 0.0
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    report = ParityReport(diff, tolerance, False, int(inputs.shape[0]), sess.get_providers(),
                          scale, kind, timings)
    report.passed = bool(np.isfinite(diff) and diff <= report.limit)
    return report


def _numpy_type(sess) -> Any:
    return np.float16 if sess.get_inputs()[0].type == "tensor(float16)" else np.float32
