"""Weights follow the blocks: statuses from shapes alone, loading what fits, re-initializing
what no longer fits with a warning, and the listing in validate and summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

from engine import weights
from engine.backend.build import build_module
from engine.graph import Graph
from engine.project import Project, load, save

ROOT = Path(__file__).resolve().parents[2]


def small_project() -> Project:
    graph = Graph()
    chain = [("Input", "input", {"shape": [1, 8, 8]}),
             ("Conv2D", "conv", {"filters": 4, "kernel_size": 3}),
             ("BatchNorm", "bn", {}),
             ("ReLU", "relu", {}),
             ("Flatten", "flatten", {}),
             ("Dense", "fc", {"units": 10}),
             ("Output", "output", {"classes": 10})]
    previous = None
    for kind, name, params in chain:
        node = graph.add_node(kind, name=name, params=params)
        if previous is not None:
            graph.connect(previous, node.id)
        previous = node.id
    return Project(graph=graph, name="small")


def stored(tmp_path: Path, seed: int = 0) -> tuple[Project, Path, dict]:
    project = small_project()
    torch.manual_seed(seed)
    module = build_module(project.graph)
    tensors = weights.block_tensors(module)
    path = tmp_path / "small.netdraft"
    weights.save(project, path, tensors, "trained")
    save(project, path)
    return project, path, tensors


def status_of(project: Project) -> dict[str, str]:
    return {item.name: item.status for item in
            weights.statuses(project.graph, project.weights).values()}


def test_stored_weights_fit_until_an_edit_changes_a_block(tmp_path):
    project, _, _ = stored(tmp_path)
    assert status_of(project) == {"conv": "trained", "bn": "trained", "fc": "trained"}
    graph = project.graph
    graph.set_param(graph.by_name("conv").id, "filters", 6)  # conv, bn and fc change shape
    assert status_of(project) == {"conv": "stale", "bn": "stale", "fc": "stale"}
    detail = weights.statuses(graph, project.weights)[graph.by_name("conv").id].detail
    assert detail == "stored weight 4×1×3×3, needs 6×1×3×3"
    graph.set_param(graph.by_name("conv").id, "filters", 4)
    graph.set_param(graph.by_name("conv").id, "padding", "same")  # fc's input grows
    assert status_of(project) == {"conv": "trained", "bn": "trained", "fc": "stale"}


def test_a_new_block_is_fresh_and_a_renamed_one_keeps_its_weights(tmp_path):
    project, _, _ = stored(tmp_path)
    graph = project.graph
    graph.rename(graph.by_name("fc").id, "classifier")
    dense = graph.add_node("Dense", name="extra", params={"units": 10})
    graph.disconnect(graph.inputs_of(graph.by_name("output").id)[0])
    graph.connect(graph.by_name("classifier").id, dense.id)
    graph.connect(dense.id, graph.by_name("output").id)
    assert status_of(project)["classifier"] == "trained"
    assert status_of(project)["extra"] == "fresh"


def test_loader_loads_what_fits_and_reinitializes_what_does_not(tmp_path):
    project, path, tensors = stored(tmp_path)
    graph = project.graph
    fc = graph.by_name("fc").id
    graph.set_param(graph.by_name("conv").id, "padding", "same")
    messages: list[str] = []
    torch.manual_seed(1)
    module = build_module(graph)
    report = weights.load_into(module, graph, project.weights, path, warn=messages.append)
    assert sorted(graph.nodes[i].name for i in report.loaded) == ["bn", "conv"]
    assert report.stale == [fc]
    assert len(messages) == 1 and "'fc'" in messages[0] and "re-initialized" in messages[0]
    conv = getattr(module, module.attr_of[graph.by_name("conv").id])
    assert torch.equal(conv.weight, tensors[graph.by_name("conv").id]["weight"])
    assert getattr(module, module.attr_of[fc]).weight.shape == (10, 256)


def test_a_missing_weights_file_warns_and_starts_fresh(tmp_path):
    project, path, _ = stored(tmp_path)
    (tmp_path / project.weights["file"]).unlink()
    messages: list[str] = []
    module = build_module(project.graph)
    report = weights.load_into(module, project.graph, project.weights, path,
                               warn=messages.append)
    assert not report.loaded and len(report.fresh) == 3
    assert "missing" in messages[0]


def test_validate_and_summary_list_weight_statuses(tmp_path):
    project, path, _ = stored(tmp_path)
    project.graph.set_param(project.graph.by_name("conv").id, "padding", "same")
    save(project, path)
    out = subprocess.run([sys.executable, "main.py", "validate", str(path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr  # stale weights are no problem of the network
    assert "2 trained, 1 stale" in out.stdout and "fc: stored weight 10×144" in out.stdout
    out = subprocess.run([sys.executable, "main.py", "summary", str(path), "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    listed = json.loads(out.stdout)["weights"]
    assert listed["fc"]["status"] == "stale" and listed["conv"] == {"status": "trained"}
    assert load(path).weights["blocks"][project.graph.by_name("fc").id]["source"] == "trained"


def test_projects_without_stored_weights_print_no_weights_lines(tmp_path):
    path = tmp_path / "plain.netdraft"
    save(small_project(), path)
    out = subprocess.run([sys.executable, "main.py", "summary", str(path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert "Weights" not in out.stdout
    assert out.stdout.rstrip().splitlines()[-1].startswith("Activation memory")
