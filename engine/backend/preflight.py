"""Memory checks before a network is built (DESIGN.md rule 8): the trainer, the exporters and
the importers estimate what they will hold from the analysis and refuse, with the figures
and what the machine has, instead of allocating until the process is killed.

The figures come from engine.memory (torch-free); this module adds the device: a GPU's free
memory (torch.cuda.mem_get_info) besides the RAM that the network is built in first.
"""

from __future__ import annotations

from typing import Any

import torch

from engine.backend.runtime import RunError
from engine.graph import Graph
from engine.memory import (
    NotEnoughMemory,
    available_memory,
    estimate_training_memory,
    optimizer_step_temporaries,
    require,
    training_advice,
)
from engine.validate import BYTES_PER_VALUE, Analysis, analyze

RAM = "this machine's available memory"


def gpu_free(device: torch.device) -> int | None:
    """Free bytes on a CUDA device, None when it cannot say (no CUDA, a driver error)."""
    if device.type != "cuda":
        return None
    try:
        return int(torch.cuda.mem_get_info(device)[0])
    except (RuntimeError, AssertionError, ValueError):
        return None


def check_training(graph: Graph, training: dict[str, Any], device: torch.device,
                   analysis: Analysis | None = None) -> None:
    """Refuse a training run that cannot fit: weights, gradients, optimizer state and the
    activations of one batch (engine.memory.estimate_training_memory) against the GPU's
    free memory on a GPU, else this machine's available memory; on a GPU the weights are
    also checked against the RAM they are built in. Raises RunError (the command line's
    exit 1) with the figures. A graph with problems is left for build_module to report."""
    analysis = analysis or analyze(graph)
    if not analysis.ok:
        return
    estimate = estimate_training_memory(
        analysis, int(training["batch_size"]), str(training["optimizer"]),
        str(training.get("precision", "fp32")), float(training.get("momentum", 0.9)))
    optimizer = str(training["optimizer"])
    parts = {"weights": estimate.weights, "gradients": estimate.gradients,
             "optimizer state": estimate.optimizer_state,
             "the optimizer step's temporaries":
                 optimizer_step_temporaries(optimizer) * estimate.gradients,
             f"activations at batch {estimate.batch_size}": estimate.activations}
    advice = training_advice(analysis, estimate)
    task = "training this network"
    try:
        if device.type == "cuda":
            require(task, {"weights, built here before they move to the GPU":
                           estimate.weights}, available_memory(), RAM, advice)
            require(task, parts, gpu_free(device), f"{device}'s free memory", advice)
        else:
            require(task, parts, available_memory(), RAM, advice)
    except NotEnoughMemory as exc:
        raise RunError(str(exc)) from None


def check_export(analysis: Analysis, onnx: bool, safetensors: bool, batch: int) -> None:
    """Refuse an export that cannot fit in this machine's memory. The network is built
    once (its weights); writing safetensors holds a second copy; an ONNX export holds the
    weights in the exporter's model and again in onnxruntime for the parity check, which
    runs ``batch`` inputs through both PyTorch and onnxruntime."""
    if not analysis.ok or not (onnx or safetensors):
        return
    totals = analysis.totals()
    weights = totals["params"] * BYTES_PER_VALUE
    parts = {"the network's weights": weights}
    if safetensors:
        parts["the safetensors file's copy"] = weights
    if onnx:
        parts["the ONNX model's and onnxruntime's copies"] = 2 * weights
        parts[f"activations for {batch} parity inputs, in PyTorch and onnxruntime"] = \
            2 * totals["memory"] * batch
    require("exporting this network", parts, available_memory(), RAM,
            "Export it on a machine with more memory, or shrink the network (the Python "
            "code needs no weights: --python alone builds none)")


def check_import(what: str, weights: int, copies: int = 2) -> None:
    """Refuse an import whose weights (``weights`` bytes as read, and ``copies`` - 1 more
    while they are converted and saved) cannot fit in this machine's memory. The importers
    infer shapes without running the network, so the weights are what they hold."""
    parts = {"the weights as read": weights,
             "their copies while converted and saved": weights * (copies - 1)}
    require(f"importing {what}", parts, available_memory(), RAM,
            "Import it on a machine with more memory")


__all__ = ["NotEnoughMemory", "check_training", "check_export", "check_import", "gpu_free"]
