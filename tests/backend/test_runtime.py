"""Device and option choices: each option this machine cannot do is off, with a reason."""

from __future__ import annotations

import pytest
import torch

from engine.backend import runtime
from engine.backend.runtime import RunError, choose_runtime, pick_device


def test_forced_missing_devices_are_refused_with_a_way_out(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RunError, match="no usable CUDA GPU.*--device cpu"):
        pick_device("cuda")
    with pytest.raises(RunError, match="unknown device 'tpu'"):
        pick_device("tpu")
    assert pick_device("cpu") == torch.device("cpu")


def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(runtime, "mps_available", lambda: False)
    assert pick_device("auto").type == "cpu"
    monkeypatch.setattr(runtime, "mps_available", lambda: True)
    assert pick_device("auto").type == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto", local_rank=1) == torch.device("cuda", 1)


def test_options_the_cpu_cannot_do_are_off_with_reasons(monkeypatch):
    cpu = torch.device("cpu")
    rt = choose_runtime(cpu, "fp16", channels_last=True, compile_model=False,
                        image_input=False)
    assert rt.amp_dtype is None and not rt.channels_last
    assert any("fp16 is off" in n for n in rt.notes)
    assert any("channels_last is off: the Input is not an image" in n for n in rt.notes)
    monkeypatch.setattr(runtime, "_cpu_flags", lambda: {"avx2"})
    rt = choose_runtime(cpu, "bf16", channels_last=True, compile_model=False,
                        image_input=True)
    assert rt.amp_dtype is None and rt.channels_last and "bfloat16" in rt.notes[0]
    monkeypatch.setattr(runtime, "_cpu_flags", lambda: {"avx512_bf16"})
    assert choose_runtime(cpu, "bf16", False, False, True).amp_dtype == torch.bfloat16
    monkeypatch.setattr(runtime.shutil, "which", lambda name: None)
    rt = choose_runtime(cpu, "fp32", False, compile_model=True, image_input=True)
    assert not rt.compile and "compile is off: no C++ compiler" in rt.notes[0]
