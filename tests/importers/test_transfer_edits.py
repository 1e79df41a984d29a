"""Transfer-learning edits (cut, pop, head, freeze) on graphs and through `main.py import`,
and reusing a Netdraft run's checkpoint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from importer_helpers import random_model, save_state

from engine import transfer, weights
from engine.backend.build import apply_freezing, build_module
from engine.graph import Graph, GraphEditError
from engine.project import Project, load
from engine.validate import analyze

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def features_net() -> Graph:
    """input → [features: conv1 → relu1 → pool → conv2 → relu2] → gap → fc → output."""
    graph = Graph()
    group = graph.add_node("Group", name="features")
    chain = [("Input", "input", {"shape": [3, 16, 16]}, None),
             ("Conv2D", "conv1", {"filters": 8, "padding": "same"}, group.id),
             ("ReLU", "relu1", {}, group.id),
             ("MaxPool2D", "pool", {}, group.id),
             ("Conv2D", "conv2", {"filters": 16}, group.id),
             ("ReLU", "relu2", {}, group.id),
             ("GlobalAvgPool", "gap", {}, None),
             ("Dense", "fc", {"units": 4}, None),
             ("Output", "output", {"classes": 4}, None)]
    previous = None
    for kind, name, params, parent in chain:
        node = graph.add_node(kind, name=name, params=params, parent=parent)
        if previous is not None:
            graph.connect(previous, node.id)
        previous = node.id
    return graph


def names(graph: Graph) -> list[str]:
    return [graph.nodes[i].name for i in analyze(graph).order]


def test_cut_at_a_group_keeps_it_and_what_feeds_it():
    graph = features_net()
    transfer.cut(graph, "features")
    assert names(graph) == ["input", "conv1", "relu1", "pool", "conv2", "relu2"]
    transfer.add_head(graph, 10, dropout=0.3)
    assert names(graph)[-4:] == ["head_pool", "head_dropout", "head_fc", "output"]
    assert analyze(graph).ok and graph.lint() == []


def test_pop_removes_the_last_layers_like_keras():
    graph = features_net()
    removed = transfer.pop(graph, 2)
    assert {graph_name for graph_name in names(graph)} == {"input", "conv1", "relu1", "pool",
                                                           "conv2", "relu2"}
    assert len(removed) == 3  # the Output, fc and gap
    head = transfer.add_head(graph, 3)
    assert [graph.nodes[i].kind for i in head] == ["GlobalAvgPool", "Dense", "Output"]
    with pytest.raises(GraphEditError, match="is the Input"):
        transfer.pop(graph, 9)


def test_freeze_until_a_block_and_freeze_all_but_the_head():
    graph = features_net()
    frozen = transfer.freeze(graph, until="conv1")
    assert [graph.nodes[i].name for i in frozen] == ["conv1"]
    graph = features_net()
    transfer.pop(graph, 1)
    head = transfer.add_head(graph, 10)
    frozen = transfer.freeze(graph, keep=tuple(head))
    assert sorted(graph.nodes[i].name for i in frozen) == ["conv1", "conv2"]
    module = build_module(graph)
    apply_freezing(graph, module)
    trainable = {name.split(".")[0] for name, p in module.named_parameters() if p.requires_grad}
    assert trainable == {"head_fc"}


def test_unknown_names_and_groups_with_two_outputs_are_refused():
    graph = features_net()
    with pytest.raises(GraphEditError, match="no node named 'layer9'"):
        transfer.cut(graph, "layer9")
    graph.set_parent(graph.by_name("gap").id, graph.by_name("features").id)
    extra = graph.add_node("Flatten", name="side")
    graph.connect(graph.by_name("relu1").id, extra.id)
    with pytest.raises(GraphEditError, match="has 2 outputs"):
        transfer.cut(graph, "features")


def test_cli_import_cut_head_freeze_on_resnet18(tmp_path):
    model = random_model("resnet18")
    weights_file = save_state(model, tmp_path / "r18.pth")
    output = tmp_path / "pets.netdraft"
    out = cli("import", "torchvision:resnet18", "--weights", str(weights_file),
              "--input-shape", "3,64,64", "--cut", "layer4", "--head", "10",
              "--freeze-until", "layer3", "--lr-mult", "layer4=0.1", "-o", str(output))
    assert out.returncode == 0, out.stderr
    assert "40 imported, 1 fresh" in out.stdout and "head_fc" in out.stdout
    project = load(output)
    graph = project.graph
    assert not any(n.kind == "Output" and n.params["classes"] == 1000 for n in graph.leaves())
    assert graph.by_name("layer3_1_conv2").params["lr_mult"] == 0.0
    assert graph.by_name("layer4_0_conv1").params["lr_mult"] == 0.1
    assert "lr_mult" not in graph.by_name("head_fc").params
    assert cli("validate", str(output)).returncode == 0
    module = build_module(graph)
    report = weights.load_into(module, graph, project.weights, output)
    assert len(report.loaded) == 40 and not report.stale
    conv = getattr(module, module.attr_of[graph.by_name("layer4_1_conv2").id])
    assert torch.equal(conv.weight, model.layer4[1].conv2.weight)
    groups = {g["lr_mult"]: len(g["params"]) for g in apply_freezing(graph, module)}
    assert set(groups) == {0.1, 1.0}


def test_cli_reports_a_bad_cut_name_and_writes_nothing(tmp_path):
    output = tmp_path / "x.netdraft"
    out = cli("import", "torchvision:squeezenet1_1", "--input-shape", "3,64,64", "--cut",
              "layer9", "-o", str(output))
    assert out.returncode == 2 and "no node named 'layer9'" in out.stderr
    assert "Traceback" not in out.stderr and not output.exists()


def fake_run(tmp_path: Path) -> tuple[Path, Project, dict]:
    """A run directory as the trainer writes one: best.pt with the model's state dict (by
    submodule name) and the project as JSON text."""
    project = Project(graph=features_net(), name="shapes")
    torch.manual_seed(0)
    module = build_module(project.graph)
    run = tmp_path / "run"
    run.mkdir()
    torch.save({"format": "netdraft-checkpoint", "version": 1, "epoch": 3,
                "model": module.state_dict(), "project": json.dumps(project.to_json()),
                "metrics": {"val_accuracy": 0.9}}, run / "best.pt")
    return run, project, module.state_dict()


def test_cli_reuses_a_run_pops_and_freezes(tmp_path):
    run, _, state = fake_run(tmp_path)
    output = tmp_path / "digits.netdraft"
    out = cli("import", str(run), "--pop", "1", "--head", "10", "--freeze", "-o", str(output))
    assert out.returncode == 0, out.stderr
    assert "2 trained, 1 fresh" in out.stdout
    project = load(output)
    graph = project.graph
    assert graph.by_name("conv2").params["lr_mult"] == 0.0
    assert graph.by_name("output").params["classes"] == 10
    module = build_module(graph)
    weights.load_into(module, graph, project.weights, output)
    assert torch.equal(module.conv1.weight, state["conv1.weight"])


def test_a_file_that_is_no_checkpoint_is_refused(tmp_path):
    path = tmp_path / "plain.pt"
    torch.save({"fc.weight": torch.zeros(2, 2)}, path)
    out = cli("import", str(path), "-o", str(tmp_path / "x.netdraft"))
    assert out.returncode == 2 and "not a Netdraft checkpoint" in out.stderr
