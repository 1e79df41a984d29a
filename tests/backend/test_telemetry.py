"""Training telemetry: each block's statistics against plain hooks on the same batch, the
flags, and the trainer's `telemetry` events (off by default)."""

from __future__ import annotations

import io
import json
import math
from types import SimpleNamespace

import pytest
import torch

from engine.backend.build import build_module
from engine.backend.data import load_data, target_of
from engine.backend.events import ConsoleSink, JsonlSink, Sink
from engine.backend.optim import Loss, Scorer
from engine.backend.telemetry import Telemetry, flag_of, for_trainer
from engine.backend.train import Trainer, derive_seed
from engine.graph import Graph
from tests.backend.conftest import tiny_graph, tiny_project


def reference_statistics(model, graph, x, y, loss_kind="cross_entropy"):
    """Per block: (mean, std, fraction of zeros, gradient norm) from plain forward hooks
    and the parameters' .grad after one backward pass on (x, y). The head's output is the
    scores the loss sees (the loss skips its softmax)."""
    outputs = {}
    handles = [getattr(model, attr).register_forward_hook(
        lambda m, i, o, node_id=node_id: outputs.__setitem__(node_id, o.detach()))
        for node_id, attr in model.attr_of.items()]
    model.zero_grad(set_to_none=True)
    loss = Loss(loss_kind, model, 10)
    scores = Scorer(model, loss.use_logits)(x)
    outputs.setdefault(model.output_source, scores.detach())
    loss(scores, y).backward()
    for handle in handles:
        handle.remove()
    out = {}
    for node_id, attr in model.attr_of.items():
        o = outputs[node_id]
        grads = [p.grad for p in getattr(model, attr).parameters() if p.grad is not None]
        norm = torch.sqrt(sum((g ** 2).sum() for g in grads)).item() if grads else None
        out[node_id] = (o.mean().item(), o.std(unbiased=False).item(),
                        (o == 0).float().mean().item(), norm)
    return out


def _measured(model, graph, x, y):
    loss = Loss("cross_entropy", model, 10)
    scorer = Scorer(model, loss.use_logits)
    telemetry = Telemetry(model, graph, every=1, scorer=scorer)
    telemetry.arm()
    loss(scorer(x), y).backward()
    return telemetry.collect()["blocks"]


def _chain(*layers):
    graph = Graph()
    prev = None
    for kind, name, params in layers:
        node = graph.add_node(kind, name, params)
        if prev is not None:
            graph.connect(prev, node.id)
        prev = node.id
    return graph


def test_statistics_equal_plain_hooks_on_the_same_batch():
    graph = _chain(("Input", "in", {"shape": [1, 8, 8], "scale": 1 / 255}),
                   ("Conv2D", "conv1", {"filters": 4, "kernel_size": 3, "padding": "same",
                                        "activation": "relu"}),
                   ("Conv2D", "conv2", {"filters": 4, "kernel_size": 3}),
                   ("ReLU", "relu2", {}),
                   ("MaxPool2D", "pool", {"pool_size": 2}),
                   ("Flatten", "flat", {}),
                   ("BatchNorm", "bn", {}),
                   ("Dense", "fc", {"units": 10, "activation": "softmax"}),
                   ("Output", "out", {"classes": 10}))
    torch.manual_seed(0)
    model = build_module(graph)
    model.train()
    x = torch.randint(0, 256, (16, 1, 8, 8), dtype=torch.uint8).float()
    y = torch.randint(0, 10, (16,))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    got = _measured(model, graph, x, y)
    model.load_state_dict(state)  # BatchNorm's running statistics, as before
    want = reference_statistics(model, graph, x, y)
    assert set(got) == set(model.attr_of)
    for node_id, (mean, std, zeros, norm) in want.items():
        entry = got[node_id]
        name = entry["name"]
        assert name == graph.nodes[node_id].name
        assert entry["mean"] == pytest.approx(mean, rel=1e-5, abs=1e-7), name
        assert entry["std"] == pytest.approx(std, rel=1e-5, abs=1e-7), name
        if name in ("conv1", "relu2"):  # an activation relu, a ReLU block
            assert entry["dead"] == pytest.approx(zeros) and 0 < entry["dead"] < 1, name
        else:
            assert entry["dead"] is None, name
        if norm is None:
            assert entry["grad_norm"] is None and entry["flag"] is None, name
        else:
            assert entry["grad_norm"] == pytest.approx(norm, rel=1e-5), name
            assert entry["flag"] is None, name
    assert {e["name"] for e in got.values() if e["grad_norm"] is None} == \
        {"relu2", "pool", "flat"}


def test_hooks_exist_only_while_armed_and_frozen_blocks_have_no_gradient():
    graph = tiny_graph()
    model = build_module(graph)
    conv = next(n.id for n in graph.leaves() if n.name == "conv1")
    for p in model.conv1.parameters():
        p.requires_grad_(False)
    telemetry = Telemetry(model, graph, every=3)
    assert [telemetry.due(s) for s in range(1, 7)] == [False, False, True, False, False, True]
    telemetry.arm()
    assert model.conv1._forward_hooks and model.fc._forward_hooks
    loss = Loss("cross_entropy", model, 10)
    loss(Scorer(model, True)(torch.rand(4, 1, 8, 8) * 255), torch.arange(4)).backward()
    blocks = telemetry.collect()["blocks"]
    assert not model.conv1._forward_hooks and not model.fc._forward_hooks
    assert not model.fc.weight._post_accumulate_grad_hooks
    assert blocks[conv]["grad_norm"] is None and blocks[conv]["flag"] is None
    assert blocks[conv]["mean"] is not None
    assert not Telemetry(model, graph, every=0).due(10)


def test_flags_mark_vanishing_and_exploding_gradients():
    assert flag_of(None, 1.0) is None
    assert flag_of(math.inf, 1.0) == flag_of(math.nan, 1.0) == "exploding"
    assert flag_of(5e3, 5e3) == "exploding"
    assert flag_of(1e-8, 1e-8) == "vanishing"      # tiny on its own
    assert flag_of(1e-3, 100.0) == "vanishing"     # tiny beside the largest block
    assert flag_of(0.1, 100.0) is None
    # A loss scaled up a million times explodes every block with weights.
    graph = tiny_graph()
    model = build_module(graph)
    telemetry = Telemetry(model, graph, every=1)
    telemetry.arm()
    loss = Loss("cross_entropy", model, 10)
    (1e6 * loss(Scorer(model, True)(torch.rand(8, 1, 8, 8) * 255),
                torch.arange(8))).backward()
    flags = {e["name"]: e["flag"] for e in telemetry.collect()["blocks"].values()}
    assert flags["fc"] == "exploding" and flags["pool1"] is None


def test_gradients_are_divided_by_the_grad_scaler_scale():
    graph = tiny_graph()
    torch.manual_seed(0)
    model = build_module(graph)
    x, y = torch.rand(8, 1, 8, 8) * 255, torch.arange(8)
    plain = _measured(model, graph, x, y)
    model.zero_grad(set_to_none=True)
    scaler = SimpleNamespace(get_scale=lambda: 1024.0, is_enabled=lambda: True)
    telemetry = Telemetry(model, graph, every=1, scaler=scaler)
    telemetry.arm()
    loss = Loss("cross_entropy", model, 10)
    (1024.0 * loss(Scorer(model, True)(x), y)).backward()
    scaled = telemetry.collect()["blocks"]
    for node_id, entry in plain.items():
        if entry["grad_norm"] is not None:
            assert scaled[node_id]["grad_norm"] == pytest.approx(entry["grad_norm"], rel=1e-5)


def test_compile_switches_telemetry_off_with_a_note():
    graph = tiny_graph()
    model = build_module(graph)
    runtime = SimpleNamespace(compile=True, scaler=None)
    assert for_trainer(model, graph, 10, runtime, True)[0] is None
    assert "compile" in for_trainer(model, graph, 10, runtime, True)[1][0]
    runtime.compile = False
    assert for_trainer(model, graph, 0, runtime, True) == (None, [])
    assert for_trainer(model, graph, 10, runtime, False) == (None, [])
    assert isinstance(for_trainer(model, graph, 10, runtime, True)[0], Telemetry)


# ------------------------------------------------------------------ the trainer
class Events(Sink):
    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []

    def emit(self, event, **fields):
        self.events.append((event, fields))

    def message(self, text):
        pass

    def named(self, name):
        return [f for e, f in self.events if e == name]


def test_trainer_sends_telemetry_every_n_steps_and_none_by_default(tmp_path):
    sink = Events()
    Trainer(tiny_project(epochs=2), run_dir=tmp_path / "off", sink=sink).run()
    assert not sink.named("telemetry")
    project = tiny_project(epochs=2)
    project.training["telemetry_every"] = 4
    sink = Events()
    Trainer(project, run_dir=tmp_path / "on", sink=sink).run()
    steps = sink.named("start")[0]["steps_per_epoch"]
    sent = sink.named("telemetry")
    assert [(t["epoch"] - 1) * steps + t["step"] for t in sent] == \
        list(range(4, 2 * steps + 1, 4))
    assert set(sent[0]["blocks"]) == set(build_module(project.graph).attr_of)
    # The events write as JSON lines, and the console ignores them.
    stream = io.StringIO()
    JsonlSink(stream).emit("telemetry", **sent[0])
    line = json.loads(stream.getvalue())
    assert line["event"] == "telemetry" and line["blocks"] == json.loads(
        json.dumps(sent[0]["blocks"]))
    console = io.StringIO()
    ConsoleSink(console).emit("telemetry", **sent[0])
    assert console.getvalue() == ""


def test_trainer_statistics_equal_hooks_on_the_first_batch(tmp_path):
    """Step 1's telemetry against a reproduction of that step: the same initial weights
    (training.seed), the same first batch of the same shuffle."""
    project = tiny_project(epochs=1)
    project.training["telemetry_every"] = 1
    sink = Events()
    Trainer(project, run_dir=tmp_path / "run", sink=sink).run()
    first = sink.named("telemetry")[0]
    assert (first["epoch"], first["step"]) == (1, 1)
    settings = project.settings("training")
    torch.manual_seed(int(settings["seed"]))
    model = build_module(project.graph)
    model.train()
    data = load_data(project.settings("data"), target_of(project.graph))
    shuffle = torch.Generator().manual_seed(derive_seed(int(settings["seed"]), "shuffle", 0))
    batch = torch.randperm(len(data.train), generator=shuffle)[:int(settings["batch_size"])]
    want = reference_statistics(model, project.graph, data.train.x[batch].float(),
                                data.train.y[batch])
    for node_id, (mean, std, zeros, norm) in want.items():
        entry = first["blocks"][node_id]
        assert entry["mean"] == pytest.approx(mean, rel=1e-4, abs=1e-6)
        assert entry["std"] == pytest.approx(std, rel=1e-4, abs=1e-6)
        if entry["dead"] is not None:
            assert entry["dead"] == pytest.approx(zeros)
        assert (entry["grad_norm"] is None) == (norm is None)
        if norm is not None:
            assert entry["grad_norm"] == pytest.approx(norm, rel=1e-4)
