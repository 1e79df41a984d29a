"""The generated PyTorch file: GraphModule's names, groups as methods where they can be
one call, plain statements for branches and merges, and a training script that runs."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import torch

from engine import templates
from engine.backend.build import build_module
from engine.cli import run
from engine.export.python_code import class_identifier, generate
from engine.graph import Graph
from engine.project import Project, save
from tests.export.conftest import finish, load_class, randomize, ruff


def _same_outputs(project: Project, tmp_path) -> str:
    text = generate(project)
    path = tmp_path / "gen.py"
    path.write_text(text, encoding="utf-8")
    module = randomize(build_module(project.graph))
    generated = load_class(path, class_identifier(project.name))().eval()
    assert sorted(generated.state_dict()) == sorted(module.state_dict())
    generated.load_state_dict(module.state_dict())
    x = torch.rand((2, *module.input_shape))
    with torch.no_grad():
        torch.testing.assert_close(generated(x), module(x), rtol=0, atol=1e-5)
    assert ruff(path, isolated=True).returncode == 0, ruff(path, isolated=True).stdout
    return text


def _branchy() -> tuple[Graph, dict[str, str]]:
    """Input -> stem -> {a -> a2, b} -> Add -> head, with awkward block names."""
    g = Graph()
    ids = {}
    for name, kind, params in [("in", "Input", {"shape": [2, 6, 6]}),
                               ("stem conv", "Conv2D", {"filters": 3, "kernel_size": 1}),
                               ("forward", "ReLU", {}), ("2nd", "Conv2D",
                                                         {"filters": 3, "kernel_size": 3,
                                                          "padding": "same"}),
                               ("b-branch", "Tanh", {}), ("join", "Add", {}),
                               ("unused", "Sigmoid", {})]:
        ids[name] = g.add_node(kind, name, params).id
    for src, dst in [("in", "stem conv"), ("stem conv", "forward"), ("forward", "2nd"),
                     ("stem conv", "b-branch"), ("2nd", "join"), ("b-branch", "join"),
                     ("join", "unused")]:
        g.connect(ids[src], ids[dst])
    return g, ids


def test_names_match_graphmodule_and_dead_blocks_are_built_not_called(tmp_path):
    g, ids = _branchy()
    project = finish(g, ids["join"], name="branchy")
    text = _same_outputs(project, tmp_path)
    attrs = build_module(project.graph).attr_of
    assert attrs[ids["forward"]] == "forward_" and attrs[ids["2nd"]] == "b_2nd"
    assert "self.forward_ = nn.ReLU()" in text
    assert "self.unused = nn.Sigmoid()" in text and "self.unused(" not in text
    assert "x = b_2nd + b_branch" in text or "+ x" in text


def test_groups_become_methods_unless_a_path_leaves_and_returns(tmp_path):
    g, ids = _branchy()
    block = g.group([ids["forward"], ids["2nd"]], name="block")
    text = _same_outputs(finish(g.copy(), ids["join"], name="grouped"), tmp_path)
    assert "def block(self, x):" in text and "= self.block(" in text

    # stem conv -> b-branch goes out of 'loop' and back into it through join.
    g.ungroup(block.id)
    g.group([ids["stem conv"], ids["join"]], name="loop")
    text = _same_outputs(finish(g, ids["join"], name="not convex"), tmp_path)
    assert "def loop(" not in text and "self.stem_conv(" in text


def test_a_group_with_two_outputs_returns_both(tmp_path):
    g, ids = _branchy()
    g.group([ids["stem conv"], ids["forward"]], name="pair")
    text = _same_outputs(finish(g, ids["join"], name="pair"), tmp_path)
    assert "def pair(self, x):" in text
    assert re.search(r"\n        \w+, \w+ = self\.pair\(x\)\n", text)
    assert re.search(r"\n        return \w+, \w+\n", text)


def test_templates_read_like_hand_written_code():
    resnet = generate(templates.open_template("resnet18"))
    assert "        x = self.layer1(x)\n        x = self.layer2(x)\n" in resnet
    assert "    def layer1_0(self, x):" in resnet
    googlenet = generate(templates.open_template("googlenet"))
    assert "x = torch.cat([branch1, branch2, branch3, x], dim=1)" in googlenet
    mnist = generate(templates.open_template("keras-mnist"))
    assert "return F.softmax(self.dense_2(self.features(x)), dim=1)" in mnist
    assert "def logits(self, x):" in mnist


def test_training_script_trains_and_netdraft_reads_its_checkpoint(tmp_path):
    g = Graph()
    prev = g.add_node("Input", "in", {"shape": [1, 8, 8], "scale": 1 / 255})
    for kind, params in [("Conv2D", {"filters": 4, "kernel_size": 3, "activation": "relu"}),
                         ("GlobalAvgPool", {}), ("Dense", {"units": 3,
                                                           "activation": "softmax"})]:
        node = g.add_node(kind, params=params)
        g.connect(prev.id, node.id)
        prev = node
    project = finish(g, prev.id, name="tiny")
    project.data = {"dataset": str(tmp_path / "data.npz"), "val_fraction": 0.25}
    project.training = {"epochs": 2, "batch_size": 16, "optimizer": "sgd", "lr": 0.05,
                        "schedule": "cosine"}
    project.augmentation = {"enabled": True, "horizontal_flip": True, "rotation_range": 10.0}
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", x=rng.integers(0, 256, (48, 8, 8), dtype=np.uint8),
             y=rng.integers(0, 3, 48))
    script = tmp_path / "tiny.py"
    script.write_text(generate(project, with_training=True), encoding="utf-8")
    done = subprocess.run([sys.executable, str(script), "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "epoch 2/2" in done.stdout
    saved = tmp_path / "tiny.netdraft"
    save(project, saved)
    assert run(["export", str(saved), "--weights", str(tmp_path / "run"),
                "--safetensors", str(tmp_path / "w.safetensors")]) == 0
