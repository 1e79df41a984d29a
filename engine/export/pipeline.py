"""One export run, shared by the CLI and the designer: build the network, load its weights,
write the requested files (and beside a training script the trained or imported weights it
starts from) and check the ONNX model against PyTorch.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from engine.backend.build import BuildError, build_module
from engine.backend.preflight import NotEnoughMemory, check_export
from engine.export import DEFAULT_OPSET, ExportError
from engine.export import weights as weights_io
from engine.export.parity import (
    FP16_TOLERANCE,
    FP32_TOLERANCE,
    ParityReport,
    check,
    generated_inputs,
)
from engine.export.weights import FAILED
from engine.layers import HeadRole
from engine.project import Project
from engine.validate import analyze


@dataclass
class Request:
    onnx: str | None = None
    python: str | None = None
    safetensors: str | None = None
    weights: str | None = None
    opset: int = DEFAULT_OPSET
    batch: str | int = "dynamic"
    fp16: bool = False
    tolerance: float | None = None
    with_training: bool = False
    exporter: str = "auto"
    # The parity check's inputs: None for generated ones, "" for the project's own dataset,
    # else a data spec as `train --data` takes.
    check_data: str | None = None
    # INT8: --onnx OUT is the quantized model; calibrated on the project's validation
    # images, or on the data spec ``calibration``.
    int8: bool = False
    calibration: str | None = None
    per_channel: bool = False
    keep_float: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    weights: str
    warnings: list[str] = field(default_factory=list)
    written: list[dict[str, Any]] = field(default_factory=list)
    parity: ParityReport | None = None
    int8: Any = None  # engine.export.int8.Int8Report

    def to_json(self) -> dict[str, Any]:
        return {"weights": self.weights, "warnings": self.warnings, "written": self.written,
                "parity": self.parity.to_json() if self.parity else None,
                "int8": self.int8.to_json() if self.int8 else None}


def build(project: Project, request: Request | None = None) -> torch.nn.Module:
    """The network, once its memory is known to fit what ``request`` writes."""
    analysis = analyze(project.graph)
    if not analysis.ok:
        listing = "\n".join(f"  - {p}" for p in analysis.problems)
        raise ExportError(f"the network has {len(analysis.problems)} problem(s); fix them "
                          f"before exporting:\n{listing}")
    if request is not None:
        try:
            check_export(analysis, bool(request.onnx), bool(request.safetensors),
                         _parity_batch(request))
        except NotEnoughMemory as exc:
            raise ExportError(str(exc), FAILED) from None
    torch.manual_seed(0)
    try:
        return build_module(project.graph, analysis).eval()
    except BuildError as exc:
        raise ExportError(str(exc)) from None


def run(project: Project, project_path: str | Path | None, request: Request) -> Outcome:
    """Write what ``request`` asks for. Raises ExportError; a failed parity check is
    reported in the outcome (the file stays for inspection) and raised by the caller.

    Python code alone needs no weights: the network is built only when ONNX or safetensors
    are written (a training script's starting weights are safetensors)."""
    training = bool(request.python and request.with_training)
    safetensors = request.safetensors
    if training and not safetensors and _has_weights(project, request):
        # The training script starts from the weights exported: they go beside it.
        safetensors = str(Path(request.python or "").with_suffix(".safetensors"))
    if not (safetensors or request.onnx):
        return _code_only(project, project_path, request)
    module = build(project, replace(request, safetensors=safetensors))
    loaded = weights_io.load(module, project, project_path, request.weights)
    outcome = Outcome(loaded.source, list(loaded.warnings))
    names = loaded.class_names
    if safetensors:
        from engine.export.safetensors_export import export_safetensors

        keys = export_safetensors(module, safetensors, project.name,
                                  names if names is not None else _class_names(project))
        outcome.written.append({"kind": "safetensors", "path": str(safetensors),
                                "tensors": len(keys)})
    if request.python:
        start = safetensors if training else None
        outcome.written.append(_python(project, project_path, request, names, start))
    if request.onnx and request.int8:
        _int8(project, project_path, module, request, names, outcome)
    elif request.onnx:
        _onnx(project, module, request, names, outcome)
    return outcome


def _has_weights(project: Project, request: Request) -> bool:
    """Whether the export holds given or stored weights (weights.load's first two cases)
    rather than fresh ones."""
    if request.weights is not None:
        return str(request.weights).lower() != weights_io.FRESH
    return bool((project.weights or {}).get("blocks"))


def _code_only(project: Project, project_path: str | Path | None,
               request: Request) -> Outcome:
    """Python code alone: no weights are built or loaded; a checkpoint given with
    --weights is read only for the class names it records."""
    names = None
    words = "none: the Python code holds no weights"
    if request.weights is not None and _has_weights(project, request):
        _, names, path = weights_io.read(request.weights)
        words += f" (class names from {path})"
    outcome = Outcome(words)
    if request.python:
        outcome.written.append(_python(project, project_path, request, names, None))
    return outcome


def _parity_batch(request: Request) -> int:
    """How many inputs the parity check runs: 2 for a dynamic batch (so the dynamic axis is
    checked too), REAL_BATCH real images, or the fixed batch."""
    if request.batch != "dynamic":
        return int(request.batch)
    return REAL_BATCH if request.check_data is not None else 2


def _takes_pixels(project: Project) -> bool:
    """Whether the Input scales its data, i.e. expects raw 0–255 pixels."""
    node = next(n for n in project.graph.leaves() if n.kind == "Input")
    return float(node.params.get("scale", 1.0)) != 1.0


def _class_names(project: Project) -> list[str]:
    from engine.export.onnx_export import _output_class_names

    return _output_class_names(project.graph)


def _python(project: Project, project_path: str | Path | None, request: Request,
            names: list[str] | None, start: str | None) -> dict[str, Any]:
    """The model file; its training script (if any) starts from the weights file
    ``start``."""
    from engine.export.python_code import generate
    from engine.export.training_code import start_from

    source = Path(project_path).name if project_path else ""
    text = generate(project, names, with_training=request.with_training, source=source)
    path = Path(request.python or "model.py")
    if start:
        try:  # relative, so the script and its weights can move together
            where = Path(os.path.relpath(start, path.parent)).as_posix()
        except ValueError:  # another drive
            where = str(Path(start).resolve())
        text = start_from(text, where)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return {"kind": "python", "path": str(path), "lines": text.count("\n"),
            "with_training": request.with_training, "starts_from": start}


def _onnx(project: Project, module: torch.nn.Module, request: Request,
          names: list[str] | None, outcome: Outcome) -> None:
    from engine.export.onnx_export import export_onnx

    result = export_onnx(project, module, request.onnx or "model.onnx", opset=request.opset,
                         batch=request.batch, fp16=request.fp16, class_names=names,
                         exporter=request.exporter)
    outcome.written.append({"kind": "onnx", "path": str(result.path), "opset": result.opset,
                            "exporter": result.exporter,
                            "batch": result.batch, "fp16": result.fp16,
                            "bytes": result.size_bytes, "external_data": result.external_data,
                            "input": result.input_name, "output": result.output_name,
                            "seconds": round(result.seconds, 3)})
    tolerance = request.tolerance
    if tolerance is None:
        tolerance = FP16_TOLERANCE if request.fp16 else FP32_TOLERANCE
    batch = _parity_batch(request)
    if request.check_data is None:
        inputs, kind = generated_inputs(tuple(module.input_shape), batch,
                                        _takes_pixels(project)), "generated"
    else:
        inputs, kind = real_inputs(project, request.check_data, batch)
    start = time.perf_counter()
    report = check(module, result.path, inputs, tolerance, kind=kind)
    report.timings = {"export_s": result.seconds,
                      "check_s": time.perf_counter() - start, **report.timings}
    outcome.parity = report


def _int8(project: Project, project_path: str | Path | None, module: torch.nn.Module,
          request: Request, names: list[str] | None, outcome: Outcome) -> None:
    """The float32 model is exported (and checked against PyTorch) in a temporary folder,
    then quantized into the --onnx file and compared with it on the validation images."""
    import tempfile

    from engine.export.int8 import build_int8

    net = validation_network(project, project_path, request.weights)
    if request.calibration is None:
        validation = calibration = image_samples(net, None, "cannot calibrate INT8")
    else:
        calibration = image_samples(net, request.calibration, "cannot calibrate INT8")
        try:
            validation = image_samples(net, None, "cannot measure INT8 accuracy")
        except ExportError:  # no validation part: the accuracy is the calibration set's
            validation = calibration
    target = Path(request.onnx or "model.onnx")
    with tempfile.TemporaryDirectory(prefix="netdraft-export-") as tmp:
        float_path = Path(tmp) / "float32.onnx"
        _onnx(project, module, replace(request, onnx=str(float_path)), names, outcome)
        target.parent.mkdir(parents=True, exist_ok=True)
        report = build_int8(float_path, target, project.graph, module.attr_of, calibration,
                            validation, per_channel=request.per_channel,
                            keep_float=request.keep_float,
                            negate=negate_outputs(net.module))
    written = outcome.written[-1]
    written.update(path=str(target), bytes=report.int8_bytes, int8=True)
    outcome.int8 = report


def negate_outputs(module: torch.nn.Module) -> bool:
    """Whether the model's outputs rank classes smallest first: an RBF head's distances."""
    return getattr(module, "head_role", None) is HeadRole.DISTANCES


MAX_VALIDATION = 5000  # images the INT8 accuracy is measured on


def validation_network(project: Project, project_path: str | Path | None,
                       weights: str | None):
    """evaluate's Network for the run (its data settings, class numbers and loss)."""
    from engine.backend.evaluate import WeightsError, load_network

    given = weights if weights is not None and weights.lower() != weights_io.FRESH else None
    try:
        return load_network(project, given, project_path)
    except (WeightsError, OSError, ValueError) as exc:
        raise ExportError(str(exc), 2) from None


def image_samples(net: Any, spec: str | None, why: str):
    """The validation images the trainer used (or all of ``spec``) as the exported model
    takes them, with their classes: engine.export.int8.Samples."""
    import numpy as np

    from engine.backend.data import DataError
    from engine.backend.evaluate import evaluation_data, samples
    from engine.export.int8 import Samples

    try:
        split, source, part, _skipped = evaluation_data(net, spec or None)
        if len(split) > MAX_VALIDATION:
            split = split.subset(np.arange(MAX_VALIDATION))
        xs, ys = [], []
        for _, x, y, _bad in samples(split, net.target, 64,
                                     int(net.settings["data"]["workers"])):
            if x is not None:
                xs.append(x.float() * net.target.rescale)
                ys.append(y)
    except DataError as exc:
        raise ExportError(f"{why}: {exc}", 2) from None
    if not xs:
        raise ExportError(f"{why}: no image of {source} could be read", 2)
    return Samples(torch.cat(xs).numpy().astype("float32"), torch.cat(ys).numpy(),
                   f"images of {source}" if part == "all" else f"{part} images of {source}")


REAL_BATCH = 16  # real images for a dynamic-batch model: a few of several classes


def real_inputs(project: Project, spec: str, batch: int) -> tuple[torch.Tensor, str]:
    """The first ``batch`` validation images (else training images) of ``spec`` (the
    project's dataset when empty) as the network receives them: decoded, resized to the
    Input's shape, not augmented. Returns them with a description for the report."""
    import numpy as np

    from engine.backend import images
    from engine.backend.data import DataError, load_data, target_of
    from engine.backend.train import effective_settings

    settings = dict(effective_settings(project)["data"])
    if spec:
        settings.update(dataset=spec, val_dataset="")
    try:
        target = target_of(project.graph)
        data = load_data(settings, target)
    except DataError as exc:
        raise ExportError(f"cannot check parity on real data: {exc}", 2) from None
    split, part = (data.val, "validation") if data.val is not None else (data.train, "training")
    count = min(batch, len(split))
    if split.x is not None:
        x = split.x[:count]
    else:
        c, h, w = target.shape
        decoded = []
        for path in split.paths or []:
            try:
                decoded.append(images.decode_image(path, c, h, w, target.order))
            except (OSError, ValueError, SyntaxError):
                continue  # an unreadable file, as training skips it
            if len(decoded) == count:
                break
        if not decoded:
            raise ExportError(f"cannot check parity on real data: no image of {data.source} "
                              "could be read", 2)
        x = torch.from_numpy(np.stack(decoded))
    return x.float(), f"{part} images of {data.source}"
