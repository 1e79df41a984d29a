"""Where and how the network runs: the device, mixed precision, channels-last and
torch.compile — each switched off, with the reason logged, where this machine or device
cannot do it."""

from __future__ import annotations

import contextlib
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch


class RunError(RuntimeError):
    """A run that cannot start or go on; the message is for the person."""


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def pick_device(name: str = "auto", local_rank: int | None = None) -> torch.device:
    """auto: CUDA, then MPS, then CPU. A forced device that is missing is an error."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank or 0)
        return torch.device("mps") if mps_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise RunError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RunError("--device cuda: this machine has no usable CUDA GPU (or this "
                           "torch build has no CUDA); use --device cpu or auto")
        index = device.index if device.index is not None else (local_rank or 0)
        if index >= torch.cuda.device_count():
            raise RunError(f"--device {name}: there are {torch.cuda.device_count()} GPU(s), "
                           f"numbered from 0")
        return torch.device("cuda", index)
    if device.type == "mps" and not mps_available():
        raise RunError("--device mps: Apple's Metal backend is not available here")
    if device.type not in ("cpu", "cuda", "mps"):
        raise RunError(f"unsupported device {name!r}; use auto, cpu, cuda or mps")
    return device


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def compile_blocker(device: torch.device) -> str | None:
    """Why torch.compile cannot run here, or None."""
    dynamo = getattr(torch, "_dynamo", None)
    if dynamo is None or not hasattr(torch, "compile"):
        return "this torch has no torch.compile"
    try:
        from torch._dynamo.eval_frame import is_dynamo_supported

        if not is_dynamo_supported():
            return f"torch.compile does not support Python {sys.version.split()[0]} here"
    except ImportError:
        pass
    if device.type == "cuda":
        try:
            from torch.utils._triton import has_triton
        except ImportError:
            return "Triton is not installed"
        if not has_triton():
            return "Triton is not installed or does not support this GPU"
    elif device.type == "cpu":
        if not any(shutil.which(c) for c in ("g++", "c++", "clang++")):
            return "no C++ compiler (g++ or clang++) for the CPU backend"
    else:
        return f"torch.compile is not supported on {device.type} here"
    return None


@dataclass
class Runtime:
    device: torch.device
    amp_dtype: torch.dtype | None = None
    scaler: torch.amp.GradScaler | None = None
    channels_last: bool = False
    compile: bool = False
    notes: list[str] = field(default_factory=list)

    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    @property
    def precision(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.amp_dtype]


def choose_runtime(device: torch.device, precision: str, channels_last: bool,
                   compile_model: bool, image_input: bool) -> Runtime:
    """The options asked for, less those this device cannot do (with the reason why)."""
    rt = Runtime(device)
    if precision == "bf16":
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            rt.notes.append("bf16 is off: this GPU has no bfloat16 support; try fp16")
        elif device.type == "cpu" and not ({"avx512_bf16", "amx_bf16"} & _cpu_flags()):
            rt.notes.append("bf16 is off: this CPU has no native bfloat16 (avx512_bf16 or "
                            "amx_bf16), so it would run slower than fp32")
        else:
            rt.amp_dtype = torch.bfloat16
    elif precision == "fp16":
        if device.type == "cpu":
            rt.notes.append("fp16 is off: float16 mixed precision needs a GPU; on CPU use "
                            "bf16 where the CPU supports it")
        else:
            rt.amp_dtype = torch.float16
            if device.type == "cuda":
                rt.scaler = torch.amp.GradScaler("cuda")
    if channels_last:
        if not image_input:
            rt.notes.append("channels_last is off: the Input is not an image (C×H×W)")
        else:
            rt.channels_last = True
    if compile_model:
        reason = compile_blocker(device)
        if reason:
            rt.notes.append(f"compile is off: {reason}")
        else:
            rt.compile = True
    return rt
