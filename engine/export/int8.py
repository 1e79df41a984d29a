"""INT8 ONNX: static quantization with onnxruntime.quantization (QDQ format), calibrated on
real images, and what it costs: accuracy and top-1 agreement against the float32 model on
the same validation images, file sizes and onnxruntime CPU latency at batch 1 and 32.

Blocks that quantize badly are found by quantizing each weighted block alone and measuring
the largest change of the model's output; ``keep_float`` leaves named blocks in float32.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from engine.export import ExportError
from engine.export.onnx_blocks import attr_blocks, node_blocks
from engine.graph import Graph

MIN_CALIBRATION = 16  # fewer images give ranges set by a handful of samples
MAX_CALIBRATION = 256
SENSITIVITY_SAMPLES = 64  # images the per-block output error is measured on
LATENCY_BATCHES = (1, 32)
LATENCY_RUNS = 15
WORST_SHOWN = 3
WEIGHTED_OPS = {"Conv", "ConvTranspose", "Gemm", "MatMul"}


@dataclass
class Samples:
    """Images as the ONNX model takes them (float32, N×C×H×W) and their true classes."""

    x: np.ndarray
    y: np.ndarray
    description: str


@dataclass
class Int8Report:
    calibration: str
    calibration_samples: int
    validation: str
    validation_samples: int
    float32_accuracy: float
    int8_accuracy: float
    agreement: float
    float32_bytes: int
    int8_bytes: int
    latency_ms: dict[str, dict[str, float]]  # precision -> batch -> median ms
    per_channel: bool
    kept_float: list[str] = field(default_factory=list)
    sensitivity: list[dict[str, Any]] = field(default_factory=list)  # worst first
    seconds: float = 0.0

    @property
    def difference(self) -> float:
        """INT8 minus float32 accuracy, in points."""
        return 100.0 * (self.int8_accuracy - self.float32_accuracy)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["difference_points"] = round(self.difference, 3)
        data["size_ratio"] = round(self.int8_bytes / max(1, self.float32_bytes), 4)
        data["latency_ratio"] = {b: round(self.latency_ms["int8"][b]
                                          / max(1e-9, self.latency_ms["float32"][b]), 4)
                                 for b in self.latency_ms["int8"]}
        data["seconds"] = round(self.seconds, 2)
        return data

    def lines(self) -> list[str]:
        f32, i8 = self.latency_ms["float32"], self.latency_ms["int8"]
        out = [f"INT8 (QDQ, {'per-channel' if self.per_channel else 'per-tensor'} weights) "
               f"calibrated on {self.calibration_samples} {self.calibration}",
               f"accuracy on {self.validation_samples} {self.validation}: float32 "
               f"{100 * self.float32_accuracy:.2f}%, INT8 {100 * self.int8_accuracy:.2f}% "
               f"({self.difference:+.2f} points); top-1 agreement "
               f"{100 * self.agreement:.2f}%",
               f"file: float32 {self.float32_bytes / 1e6:.2f} MB, INT8 "
               f"{self.int8_bytes / 1e6:.2f} MB "
               f"({self.int8_bytes / max(1, self.float32_bytes):.2f}×)"]
        for batch in f32:
            out.append(f"onnxruntime CPU latency, batch {batch}: float32 {f32[batch]:.3f} ms, "
                       f"INT8 {i8[batch]:.3f} ms ({i8[batch] / max(1e-9, f32[batch]):.2f}×)")
        if self.kept_float:
            out.append(f"kept in float32: {', '.join(self.kept_float)}")
        if self.sensitivity:
            worst = "; ".join(f"{s['kind']} '{s['block']}' {s['error']:.3g}"
                              for s in self.sensitivity[:WORST_SHOWN])
            out.append(f"blocks that quantize worst (largest output change when only that "
                       f"block is INT8): {worst}; --keep-float BLOCK leaves one in float32")
        return out


class _Reader:
    """onnxruntime's CalibrationDataReader over batches of an array."""

    def __init__(self, name: str, x: np.ndarray, batch: int = 32) -> None:
        self._feeds = iter([{name: x[i:i + batch]} for i in range(0, len(x), batch)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)

    def __iter__(self):
        return self

    def __next__(self):
        item = self.get_next()
        if item is None:
            raise StopIteration
        return item


def session(path: str | Path):
    from engine.export.parity import session as make

    return make(Path(path))


def outputs(sess, x: np.ndarray, batch: int = 64) -> np.ndarray:
    """The model's first output over ``x``, in batches."""
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: x[i:i + batch]})[0]
                           for i in range(0, len(x), batch)])


def latency_ms(sess, x: np.ndarray, batch: int, runs: int = LATENCY_RUNS) -> float:
    """Median wall time of one run on ``batch`` images (repeated from ``x``), after two
    warm-up runs."""
    feed = {sess.get_inputs()[0].name: np.resize(x, (batch, *x.shape[1:])).astype(np.float32)}
    for _ in range(2):
        sess.run(None, feed)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        sess.run(None, feed)
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def preprocess(float_path: Path, out: Path) -> None:
    """onnxruntime's recommended step before quantization: shape inference and graph
    optimizations (BatchNorm folded into the convolution before it)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    quant_pre_process(str(float_path), str(out), skip_symbolic_shape=False)


def quantize(prepared: Path, out: Path, calibration: np.ndarray, *, per_channel: bool,
             exclude: list[str] | None = None, only: list[str] | None = None) -> None:
    """Static QDQ quantization: uint8 activations, int8 weights, min/max calibration."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    name = onnx.load(str(prepared), load_external_data=False).graph.input[0].name
    quantize_static(str(prepared), str(out), _Reader(name, calibration),
                    quant_format=QuantFormat.QDQ, per_channel=per_channel,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax,
                    nodes_to_exclude=exclude or [], nodes_to_quantize=only)


def predictions(scores: np.ndarray, negate: bool) -> np.ndarray:
    """Top-1 classes from a model's outputs (negated distances for an RBF head)."""
    return np.argmax(-scores if negate else scores, axis=1)


def check_calibration(samples: Samples) -> None:
    if len(samples.x) < MIN_CALIBRATION:
        raise ExportError(f"the calibration set is too small: {len(samples.x)} image(s) of "
                          f"{samples.description}; INT8 calibration needs at least "
                          f"{MIN_CALIBRATION}. Give --calibration SPEC with more images",
                          2)


def block_nodes(model: onnx.ModelProto, graph: Graph, attr_of: dict[str, str]
                ) -> dict[str, list[str]]:
    """block id -> its ONNX node names."""
    owner = node_blocks(model, attr_blocks(graph, attr_of))
    out: dict[str, list[str]] = {}
    for node_name, block in owner.items():
        out.setdefault(block, []).append(node_name)
    return out


def resolve_keep_float(graph: Graph, names: list[str]) -> list[str]:
    """Block ids of the names --keep-float gives; an unknown name is a usage error."""
    by_name = {n.name: n.id for n in graph.leaves()}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ExportError(f"--keep-float: no block named {', '.join(map(repr, unknown))}. "
                          f"Blocks: {', '.join(by_name)}", 2)
    return [by_name[n] for n in names]


def build_int8(float_path: Path, out: Path, graph: Graph, attr_of: dict[str, str],
               calibration: Samples, validation: Samples, *, per_channel: bool = False,
               keep_float: list[str] | None = None, negate: bool = False,
               sensitivity: bool = True) -> Int8Report:
    """Quantize ``float_path`` into ``out`` and measure what it costs."""
    start = time.perf_counter()
    check_calibration(calibration)
    calib = calibration.x[:MAX_CALIBRATION]
    kept = resolve_keep_float(graph, keep_float or [])
    with tempfile.TemporaryDirectory(prefix="netdraft-int8-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        try:
            preprocess(float_path, prepared)
        except Exception as exc:  # onnxruntime raises several types
            raise ExportError(f"onnxruntime could not prepare the model for quantization: "
                              f"{exc}") from None
        nodes = block_nodes(onnx.load(str(prepared)), graph, attr_of)
        exclude = [n for block in kept for n in nodes.get(block, [])]
        try:
            quantize(prepared, out, calib, per_channel=per_channel, exclude=exclude)
        except Exception as exc:
            raise ExportError(f"onnxruntime could not quantize the model: {exc}") from None
        _copy_metadata(float_path, out)
        worst = _sensitivity(prepared, Path(tmp), graph, nodes, calib, validation.x,
                             per_channel) if sensitivity else []
    f32, i8 = session(float_path), session(out)
    ref, got = outputs(f32, validation.x), outputs(i8, validation.x)
    p32, p8 = predictions(ref, negate), predictions(got, negate)
    latency = {"float32": {}, "int8": {}}
    for batch in LATENCY_BATCHES:
        latency["float32"][str(batch)] = latency_ms(f32, validation.x, batch)
        latency["int8"][str(batch)] = latency_ms(i8, validation.x, batch)
    return Int8Report(
        calibration.description, len(calib), validation.description, len(validation.x),
        float(np.mean(p32 == validation.y)), float(np.mean(p8 == validation.y)),
        float(np.mean(p32 == p8)), float_path.stat().st_size, out.stat().st_size, latency,
        per_channel, [graph.nodes[b].name for b in kept], worst,
        time.perf_counter() - start)


def _copy_metadata(source: Path, target: Path) -> None:
    """The float model's metadata (class names, preprocessing) on the INT8 file too."""
    meta = {p.key: p.value for p in onnx.load(str(source), load_external_data=False)
            .metadata_props}
    model = onnx.load(str(target))
    have = {p.key for p in model.metadata_props}
    for key, value in meta.items():
        if key not in have:
            model.metadata_props.add(key=key, value=value)
    meta_quant = model.metadata_props.add()
    meta_quant.key, meta_quant.value = "netdraft.quantization", "int8 static QDQ"
    onnx.save_model(model, str(target))


def _sensitivity(prepared: Path, tmp: Path, graph: Graph, nodes: dict[str, list[str]],
                 calib: np.ndarray, x: np.ndarray, per_channel: bool) -> list[dict[str, Any]]:
    """Each weighted block quantized alone: the largest |change| of the model's output on
    the first SENSITIVITY_SAMPLES images, worst first."""
    model = onnx.load(str(prepared))
    ops = {n.name: n.op_type for n in model.graph.node}
    x = x[:SENSITIVITY_SAMPLES]
    ref = outputs(session(prepared), x)
    scale = max(1e-12, float(np.max(np.abs(ref))))
    found = []
    for block, names in nodes.items():
        weighted = [n for n in names if ops.get(n) in WEIGHTED_OPS]
        if not weighted or block not in graph.nodes:
            continue
        alone = tmp / f"alone-{block}.onnx"
        try:
            quantize(prepared, alone, calib[:64], per_channel=per_channel, only=names)
        except Exception:  # noqa: BLE001 - a block that cannot be quantized alone is skipped
            continue
        error = float(np.max(np.abs(outputs(session(alone), x) - ref)))
        node = graph.nodes[block]
        found.append({"block": node.name, "kind": node.kind, "error": error,
                      "relative": error / scale})
        alone.unlink()
    return sorted(found, key=lambda s: -s["error"])
