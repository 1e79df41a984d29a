"""run_layer_test: one layer kind checked against the real thing, as Keras's run_layer_test.

Three checks, each usable alone:
- check_rule: the kind's shape rule, trainable/non-trainable counts and MACs against the torch
  module its build makes (MACs against torch's own FLOP counter);
- check_code: the PyTorch code python_code.generate writes for a one-block project computes
  what build_module's module computes, logits too;
- check_onnx: that module exported to ONNX computes the same in onnxruntime.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from engine.backend.build import build_module
from engine.export.onnx_export import export_onnx
from engine.export.parity import check
from engine.export.python_code import class_identifier, generate
from engine.graph import Graph
from engine.layers import REGISTRY
from engine.project import Project
from tests.export.conftest import chain, finish, load_class, randomize

Shapes = Sequence[tuple[int, ...]]
ONNX_TOLERANCE = 1e-4


@dataclass(frozen=True)
class LayerTest:
    module: torch.nn.Module  # what the kind's build made
    shape: tuple[int, ...]  # the rule's output shape
    exporter: str  # the ONNX exporter that matched ("" when onnx was not "matches")


def run_layer_test(kind_id: str, input_shapes: Shapes, params: dict[str, Any] | None = None,
                   *, onnx: Literal["matches", "differs", "skipped"] = "matches") -> LayerTest:
    """All three checks on one case: the rule, the generated code and the ONNX export.
    onnx="differs" asserts that the export does not match (a known bug, so the case turns
    red once it is fixed); "skipped" leaves it out (cases.ONNX_SKIPPED says why)."""
    params = params or {}
    module, shape = check_rule(kind_id, input_shapes, params)
    project = project_for(kind_id, input_shapes, params)
    torch.manual_seed(0)
    built = randomize(build_module(project.graph))
    x = torch.randn((2, *built.input_shape), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = built(x)
    exporter = ""
    with tempfile.TemporaryDirectory() as folder:
        check_code(project, built, x, expected, Path(folder) / "model.py")
        onnx_path = Path(folder) / "model.onnx"
        if onnx == "matches":
            exporter = check_onnx(project, built, x, expected, onnx_path)
        elif onnx == "differs":
            with pytest.raises(AssertionError, match="parity FAILED"):
                check_onnx(project, built, x, expected, onnx_path)
    return LayerTest(module, shape, exporter)


def check_rule(kind_id: str, input_shapes: Shapes, params: dict[str, Any] | None = None
               ) -> tuple[torch.nn.Module, tuple[int, ...]]:
    """Rule vs module: output shape, trainable/non-trainable counts, MACs. Returns the module
    and the rule's output shape."""
    kind = REGISTRY.get(kind_id)
    params = params or {}
    assert kind.check_params(params) == []
    p = kind.resolve(params)
    inputs = [tuple(s) for s in input_shapes]
    out = tuple(kind.shape(inputs, p))
    module = kind.build(inputs, p, out)
    with torch.no_grad(), FlopCounterMode(display=False) as flops:
        y = module(*[torch.randn(2, *s) for s in inputs])
    assert tuple(y.shape) == (2, *out), f"{kind_id} {inputs} {params}: rule says {out}"

    trainable, frozen = kind.params_count(inputs, p, out)
    assert trainable == sum(t.numel() for t in module.parameters() if t.requires_grad)
    assert frozen == sum(b.numel() for name, b in module.named_buffers()
                         if not name.endswith("num_batches_tracked"))
    # torch counts a multiply-accumulate as 2 FLOPs, over a batch of 2.
    assert kind.macs(inputs, p, out) == flops.get_total_flops() // 4
    assert isinstance(kind.describe(p), str)
    return module, out


def torch_refuses(kind_id: str, input_shapes: Shapes, params: dict[str, Any]) -> None:
    """What the rule refuses, torch refuses too (at construction or on the first batch), or
    it makes an empty output (a transposed convolution cropped to 0×0)."""
    kind = REGISTRY.get(kind_id)
    p = kind.resolve(params)
    try:
        module = kind.build([tuple(s) for s in input_shapes], p, None)
        with torch.no_grad():
            y = module(*[torch.randn(2, *s) for s in input_shapes])
    except (RuntimeError, ValueError):
        return
    assert y.numel() == 0, f"{kind_id} {input_shapes} {params}: torch gives {tuple(y.shape)}"


def project_for(kind_id: str, input_shapes: Shapes, params: dict[str, Any]) -> Project:
    """Input -> the block -> Output; a merge gets one branch per input shape."""
    name = f"{kind_id} case"
    if REGISTRY.get(kind_id).arity is None:
        return merge_project(kind_id, input_shapes, params, name)
    (shape,) = input_shapes
    return chain(list(shape), (kind_id, params), name=name)


def merge_project(kind_id: str, input_shapes: Shapes, params: dict[str, Any],
                  name: str) -> Project:
    """The Input, shaped as the first input, feeds the merge directly; each other input is
    made from it by Flatten -> Dense -> Reshape, so the row's shapes meet in that order."""
    g = Graph()
    first = list(input_shapes[0])
    source = g.add_node("Input", "image", {"shape": first})
    flat = source
    if len(first) > 1:
        flat = g.add_node("Flatten", "flattened")
        g.connect(source.id, flat.id)
    branches = [source]
    for i, shape in enumerate(input_shapes[1:], start=1):
        branch = g.add_node("Dense", f"dense{i}", {"units": math.prod(shape)})
        g.connect(flat.id, branch.id)
        if len(shape) > 1:
            reshape = g.add_node("Reshape", f"reshape{i}", {"shape": list(shape)})
            g.connect(branch.id, reshape.id)
            branch = reshape
        branches.append(branch)
    merge = g.add_node(kind_id, "merge", params)
    for branch in branches:
        g.connect(branch.id, merge.id)
    return finish(g, merge.id, name)


def check_code(project: Project, module: torch.nn.Module, x: torch.Tensor,
               expected: torch.Tensor, path: Path) -> None:
    """The generated file, given the module's weights, computes what the module computes
    (expected: the module's output on x)."""
    path.write_text(generate(project), encoding="utf-8")
    generated = load_class(path, class_identifier(project.name))().eval()
    generated.load_state_dict(module.state_dict())
    with torch.no_grad():
        out = generated(x)
        torch.testing.assert_close(out, expected, rtol=0, atol=1e-5)
        # Without a softmax or RBF head the file has no logits method: its forward is them.
        logits = generated.logits(x) if hasattr(generated, "logits") else out
        torch.testing.assert_close(logits, module.logits(x), rtol=0, atol=1e-5)


def check_onnx(project: Project, module: torch.nn.Module, x: torch.Tensor,
               expected: torch.Tensor, path: Path) -> str:
    """The ONNX export matches the module in onnxruntime; returns the exporter used."""
    result = export_onnx(project, module, path)
    report = check(module, result.path, x, expected=expected)
    assert report.passed, report.summary()
    assert report.max_abs_diff <= ONNX_TOLERANCE, report.summary()
    return result.exporter
