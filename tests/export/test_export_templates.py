"""Every template exports: ONNX (checker, parity, metadata, a dynamic batch), PyTorch code
(the same outputs with the same weights, ruff-clean, nothing from Netdraft) and safetensors
(the generated module's keys). vgg16 and resnet152 are heavy on two cores: batch 1, slow."""

from __future__ import annotations

import ast
import json

import numpy as np
import onnx
import pytest
import torch
from safetensors.torch import load_file

from engine import templates
from engine.backend.build import build_module
from engine.export.onnx_export import export_onnx
from engine.export.parity import check, generated_inputs, session
from engine.export.python_code import class_identifier, generate
from engine.export.safetensors_export import export_safetensors
from engine.layers import REGISTRY
from tests.export.conftest import load_class, load_module, randomize, ruff

HEAVY = {"vgg16", "resnet152"}
TEMPLATES = [pytest.param(name, marks=[pytest.mark.slow] if name in HEAVY else [])
             for name in templates.ORDER]
STDLIB_AND_TORCH = {"argparse", "gzip", "math", "os", "random", "pathlib", "sys", "torch",
                    "torchvision", "safetensors", "numpy", "PIL", "sklearn"}


def _imported_roots(text: str) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add((node.module or "").split(".")[0])
    return roots


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_exports(name, tmp_path):
    project = templates.open_template(name)
    torch.manual_seed(0)
    module = randomize(build_module(project.graph))
    heavy = name in HEAVY
    pixels = float(project.graph.by_name(_input_name(project)).params.get("scale", 1)) != 1
    # One batch shape throughout: torch on CPU pays for every new shape it sees.
    x = generated_inputs(tuple(module.input_shape), 1 if heavy else 2, pixels)
    with torch.no_grad():
        want = module(x)

    # ONNX: one self-contained file, checker, parity, metadata, the graph's names.
    result = export_onnx(project, module, tmp_path / f"{name}.onnx",
                         batch=1 if heavy else "dynamic")
    assert not result.external_data and sorted(p.name for p in tmp_path.iterdir()) == [
        f"{name}.onnx"]
    model = onnx.load(str(result.path), load_external_data=False)
    onnx.checker.check_model(model)
    report = check(module, result.path, x, expected=want)
    assert report.passed, report.summary()
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["netdraft.project"] == name
    pre = json.loads(meta["preprocessing"])
    given = REGISTRY.get("Input").resolve(project.graph.by_name(_input_name(project)).params)
    assert pre["input_shape"] == list(module.input_shape)
    assert pre["scale"] == pytest.approx(float(given["scale"]))
    assert pre["mean"] == [float(v) for v in str(given["mean"]).split(",") if v.strip()]
    assert pre["std"] == [float(v) for v in str(given["std"]).split(",") if v.strip()]
    assert pre["channel_order"] == given["channel_order"] and pre["applied_in_model"]
    classes = REGISTRY.get("Output").resolve(
        project.graph.by_name(_output_name(project)).params)
    assert json.loads(meta["class_names"]) == [
        c.strip() for c in classes["class_names"].split(",") if c.strip()]
    assert [i.name for i in model.graph.input] == [_input_name(project)]
    assert [o.name for o in model.graph.output] == [_output_name(project)]
    if not heavy:  # the batch axis is free: 1 and 3 images run too
        assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param
        sess = session(result.path)
        feed = sess.get_inputs()[0].name
        one = sess.run(None, {feed: x[:1].numpy()})[0]
        three = sess.run(None, {feed: torch.cat([x, x[:1]]).numpy()})[0]
        assert one.shape[0] == 1 and three.shape[0] == 3
        assert np.abs(one - want[:1].numpy()).max() <= 1e-4
        assert np.abs(three - torch.cat([want, want[:1]]).numpy()).max() <= 1e-4

    # PyTorch code: the same submodule names, outputs and logits; ruff-clean; torch only.
    text = generate(project, source=f"{name}.netdraft")
    path = tmp_path / f"{name.replace('-', '_')}.py"
    path.write_text(text, encoding="utf-8")
    assert _imported_roots(text) <= STDLIB_AND_TORCH
    for isolated in (True, False):
        lint = ruff(path, isolated)
        assert lint.returncode == 0, lint.stdout
    generated = load_class(path, class_identifier(project.name))().eval()

    # safetensors: keys are the generated module's; loading them gives Netdraft's outputs.
    keys = export_safetensors(module, tmp_path / "weights.safetensors", name, [])
    assert sorted(keys) == sorted(generated.state_dict())
    generated.load_state_dict(load_file(str(tmp_path / "weights.safetensors")))
    with torch.no_grad():
        torch.testing.assert_close(generated(x), want, rtol=0, atol=1e-5)
        if hasattr(generated, "logits"):
            torch.testing.assert_close(generated.logits(x), module.logits(x), rtol=0,
                                       atol=1e-5)


def _input_name(project) -> str:
    return next(n.name for n in project.graph.leaves() if n.kind == "Input")


def _output_name(project) -> str:
    return next(n.name for n in project.graph.leaves() if n.kind == "Output")


@pytest.mark.parametrize("name", ["lenet-5", "resnet18"])
def test_generated_training_script_carries_the_project_settings(name, tmp_path):
    project = templates.open_template(name)
    text = generate(project, with_training=True)
    path = tmp_path / "train.py"
    path.write_text(text, encoding="utf-8")
    assert _imported_roots(text) <= STDLIB_AND_TORCH
    for isolated in (True, False):
        lint = ruff(path, isolated)
        assert lint.returncode == 0, lint.stdout
    script = load_module(path)
    assert script.TRAINING == project.settings("training")
    assert script.DATA == project.settings("data")
    assert script.AUGMENTATION == project.settings("augmentation")
    assert callable(script.main)
