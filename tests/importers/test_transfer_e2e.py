"""The lecture's develop model approach end to end on CPU: train a small network on 'shapes',
reuse it with its last layer popped, a new head and frozen features, fine-tune on 'digits';
the frozen weights come out bit-identical."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

from engine.graph import Graph
from engine.project import Project, load, save

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> None:
    out = subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]


def source_project() -> Project:
    graph = Graph()
    chain = [("Input", "input", {"shape": [3, 32, 32], "scale": 1 / 255}),
             ("Conv2D", "conv1", {"filters": 8, "padding": "same"}),
             ("BatchNorm", "bn1", {}),
             ("ReLU", "relu1", {}),
             ("MaxPool2D", "pool1", {}),
             ("Conv2D", "conv2", {"filters": 16, "padding": "same"}),
             ("ReLU", "relu2", {}),
             ("GlobalAvgPool", "gap", {}),
             ("Dense", "fc", {"units": 4}),
             ("Output", "output", {"classes": 4})]
    previous = None
    for kind, name, params in chain:
        node = graph.add_node(kind, name=name, params=params)
        if previous is not None:
            graph.connect(previous, node.id)
        previous = node.id
    return Project(graph=graph, name="shapes-source",
                   data={"dataset": "shapes", "samples": 240, "classes": 4},
                   training={"epochs": 1, "batch_size": 32, "lr": 0.01})


def checkpoint_model(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def test_trained_on_shapes_fine_tuned_on_digits_with_frozen_features(tmp_path):
    source = tmp_path / "source.netdraft"
    save(source_project(), source)
    cli("train", str(source), "--data", "shapes", "--epochs", "1", "--device", "cpu",
        "--out", str(tmp_path / "run1"))
    trained = checkpoint_model(tmp_path / "run1" / "last.pt")

    target = tmp_path / "digits.netdraft"
    cli("import", str(tmp_path / "run1"), "--pop", "1", "--head", "10", "--freeze",
        "-o", str(target))
    project = load(target)
    frozen = {n.name for n in project.graph.leaves() if n.params.get("lr_mult") == 0}
    assert frozen == {"conv1", "bn1", "conv2"}

    cli("train", str(target), "--data", "digits", "--epochs", "1", "--device", "cpu",
        "--out", str(tmp_path / "run2"))
    tuned = checkpoint_model(tmp_path / "run2" / "last.pt")
    for name in sorted(frozen):
        keys = [k for k in trained if k.startswith(f"{name}.")]
        assert keys
        for key in keys:  # BatchNorm's running statistics included
            assert torch.equal(tuned[key], trained[key]), key
    assert tuned["head_fc.weight"].shape == (10, 16)
