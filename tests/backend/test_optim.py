"""Optimizers, learning-rate schedules and losses: the settings reach torch and do what
they say."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine import settings
from engine.backend.build import apply_freezing, build_module
from engine.backend.events import NullSink
from engine.backend.optim import Loss, Schedule, make_optimizer
from engine.backend.runtime import RunError
from engine.backend.train import Trainer
from tests.backend.conftest import tiny_graph, tiny_project


def _cfg(**values):
    return {**settings.defaults("training"), **values}


def _groups(*mults):
    """One single-weight parameter group per multiplier."""
    return [{"params": [torch.nn.Parameter(torch.ones(1))], "lr_mult": m} for m in mults]


def _rates(optimizer, schedule, monitored, batches=0):
    """The learning rate each epoch runs at, stepping the schedule as the trainer does."""
    rates = []
    for value in monitored:
        rates.append(optimizer.param_groups[0]["lr"])
        for _ in range(batches):
            optimizer.step()
            schedule.after_batch()
        schedule.after_epoch(value)
    return rates


# ------------------------------------------------------------------ schedules
def test_step_schedule_multiplies_the_rate_by_gamma_every_step_size_epochs():
    cfg = _cfg(optimizer="sgd", lr=0.1, schedule="step", step_size=3, gamma=0.1)
    opt = make_optimizer(_groups(1.0), cfg)
    rates = _rates(opt, Schedule(opt, cfg, 9, 5, "min"), [1.0] * 9, batches=5)
    assert rates == pytest.approx([0.1] * 3 + [0.01] * 3 + [0.001] * 3)


def test_plateau_lowers_the_rate_once_patience_epochs_pass_without_improvement():
    cfg = _cfg(lr=0.1, schedule="plateau", patience=2, gamma=0.5)
    opt = make_optimizer(_groups(1.0), cfg)
    # The value improves at epoch 2, then not for 3 epochs: torch's ReduceLROnPlateau
    # tolerates `patience` of them and lowers the rate at the end of the next one.
    losses = [1.0, 0.9, 0.95, 0.91, 0.92, 0.93, 0.8, 0.85]
    rates = _rates(opt, Schedule(opt, cfg, 8, 5, "min"), losses)
    assert rates == pytest.approx([0.1] * 5 + [0.05] * 3)
    # Monitoring accuracy, higher is better: a rising value never lowers the rate.
    opt = make_optimizer(_groups(1.0), cfg)
    rates = _rates(opt, Schedule(opt, cfg, 6, 5, "max"), [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    assert rates == pytest.approx([0.1] * 6)
    opt = make_optimizer(_groups(1.0), cfg)
    rates = _rates(opt, Schedule(opt, cfg, 6, 5, "max"), [0.5, 0.4, 0.4, 0.4, 0.3, 0.3])
    assert rates == pytest.approx([0.1] * 4 + [0.05] * 2)


@pytest.mark.parametrize("schedule", ["step", "cosine", "one_cycle", "plateau"])
def test_schedules_keep_each_blocks_lr_multiplier(schedule):
    cfg = _cfg(lr=0.2, schedule=schedule, step_size=1, gamma=0.5, patience=0)
    opt = make_optimizer(_groups(1.0, 0.1), cfg)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.2, 0.02])
    sched = Schedule(opt, cfg, 4, 3, "min")
    first = opt.param_groups[0]["lr"]
    for _ in range(2):
        _rates(opt, sched, [1.0], batches=3)
        fast, slow = (g["lr"] for g in opt.param_groups)
        assert slow == pytest.approx(0.1 * fast)
    assert fast != pytest.approx(first)  # the schedule did move the rate


def test_a_blocks_lr_mult_sets_its_parameter_groups_rate():
    graph = tiny_graph()
    graph.set_param(graph.by_name("conv1").id, "lr_mult", 0.1)
    model = build_module(graph)
    opt = make_optimizer(apply_freezing(graph, model), _cfg(lr=0.03))
    rate = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    assert rate[id(model.conv1.weight)] == pytest.approx(0.003)
    assert rate[id(model.conv1.bias)] == pytest.approx(0.003)
    assert rate[id(model.fc.weight)] == pytest.approx(0.03)


# ----------------------------------------------------------------- optimizers
@pytest.mark.parametrize("name,kind", [("sgd", torch.optim.SGD), ("adam", torch.optim.Adam),
                                       ("adamw", torch.optim.AdamW),
                                       ("rmsprop", torch.optim.RMSprop)])
def test_optimizer_settings_reach_every_parameter_group(name, kind):
    opt = make_optimizer(_groups(1.0, 0.5), _cfg(optimizer=name, lr=0.01, momentum=0.8,
                                                 nesterov=name == "sgd",
                                                 weight_decay=3e-4))
    assert type(opt) is kind
    for group in opt.param_groups:
        assert group["weight_decay"] == 3e-4
        if name in ("sgd", "rmsprop"):
            assert group["momentum"] == 0.8
        if name == "sgd":
            assert group["nesterov"] is True


def _sgd_steps(steps, **cfg):
    """The parameter after SGD steps on the loss w (a constant gradient of 1)."""
    groups = _groups(1.0)
    w = groups[0]["params"][0]
    opt = make_optimizer(groups, _cfg(optimizer="sgd", lr=0.1, **cfg))
    for _ in range(steps):
        opt.zero_grad()
        w.sum().backward()
        opt.step()
    return w.item()


def test_sgd_momentum_nesterov_and_weight_decay_change_the_steps():
    assert _sgd_steps(2, momentum=0.0) == pytest.approx(1 - 0.2)
    # Momentum 0.9: the second step is 1.9 gradients long.
    assert _sgd_steps(2, momentum=0.9) == pytest.approx(1 - 0.1 - 0.19)
    # Nesterov looks ahead: already the first step is g + 0.9·g.
    assert _sgd_steps(1, momentum=0.9, nesterov=True) == pytest.approx(1 - 0.19)
    # L2 weight decay adds wd·w to the gradient.
    assert _sgd_steps(1, momentum=0.0, weight_decay=0.5) == pytest.approx(1 - 0.1 * 1.5)


@pytest.mark.parametrize("groups,cfg,message", [
    ([], {}, "every block is frozen"),
    (None, {"optimizer": "sgd", "momentum": 0.0, "nesterov": True}, "needs momentum > 0"),
    (None, {"optimizer": "lbfgs"}, "unknown optimizer 'lbfgs'"),
])
def test_impossible_optimizer_settings_are_refused(groups, cfg, message):
    with pytest.raises(RunError, match=message):
        make_optimizer(_groups(1.0) if groups is None else groups, _cfg(**cfg))


# ---------------------------------------------------------------------- losses
def _scores(n=32, classes=10):
    """Confident logits, mostly right: where smoothing changes the loss most."""
    gen = torch.Generator().manual_seed(0)
    y = torch.randint(0, classes, (n,), generator=gen)
    logits = torch.randn(n, classes, generator=gen) + 5 * F.one_hot(y, classes)
    return logits, y


def _smoothed(logits, y, eps):
    """Cross-entropy against (1 − ε)·one-hot + ε/K, written out."""
    logp = F.log_softmax(logits, dim=1)
    target = F.one_hot(y, logits.shape[1]).float() * (1 - eps) + eps / logits.shape[1]
    return -(target * logp).sum(1).mean()


def test_label_smoothing_gives_the_smoothed_cross_entropy():
    logits, y = _scores()
    model = build_module(tiny_graph())
    plain = Loss("cross_entropy", model, 10)(logits, y)
    smoothed = Loss("cross_entropy", model, 10, label_smoothing=0.2)(logits, y)
    torch.testing.assert_close(plain, F.cross_entropy(logits, y))
    torch.testing.assert_close(smoothed, _smoothed(logits, y, 0.2))
    assert abs(smoothed - plain) > 0.1


def test_label_smoothing_on_log_probabilities_for_the_nll_loss():
    logits, y = _scores()
    logp = F.log_softmax(logits, dim=1)
    model = build_module(tiny_graph(head="log_softmax", loss="nll"))
    torch.testing.assert_close(Loss("nll", model, 10)(logp, y), F.nll_loss(logp, y))
    smoothed = Loss("nll", model, 10, label_smoothing=0.2)(logp, y)
    torch.testing.assert_close(smoothed, F.cross_entropy(logits, y, label_smoothing=0.2))
    torch.testing.assert_close(smoothed, _smoothed(logits, y, 0.2))


@pytest.mark.parametrize("loss,head", [("bce", "sigmoid"), ("mse", "softmax")])
def test_label_smoothing_is_refused_where_the_loss_has_none(loss, head):
    model = build_module(tiny_graph(head=head, loss=loss))
    Loss(loss, model, 10, label_smoothing=0.0)
    with pytest.raises(RunError, match=rf"not to the Output's {loss}.*Received: "
                                       r"label_smoothing 0\.1"):
        Loss(loss, model, 10, label_smoothing=0.1)


@pytest.mark.parametrize("loss,head", [("cross_entropy", "softmax"), ("nll", "log_softmax")])
def test_the_trainer_reports_the_smoothed_loss(tmp_path, loss, head):
    # At lr 0 the weights stay as they start, so the epoch's training loss is the smoothed
    # loss of the saved weights on the training data.
    project = tiny_project(epochs=1, loss=loss, head=head)
    project.data["val_fraction"] = 0.0
    project.training.update(lr=0.0, label_smoothing=0.3)
    trainer = Trainer(project, run_dir=tmp_path, sink=NullSink())
    outcome = trainer.run()
    model = build_module(project.graph)
    model.load_state_dict(torch.load(tmp_path / "last.pt", weights_only=True)["model"])
    x, y = trainer.data.train.x, trainer.data.train.y
    with torch.no_grad():
        logits = model.logits(x.float())
    assert outcome.history[0]["train_loss"] == pytest.approx(
        _smoothed(logits, y, 0.3).item(), rel=1e-5)


# ------------------------------------------------------------ gradient clipping
def _one_step_change(tmp_path, clip):
    """How far one SGD step at lr 1 moves all the weights, as one vector's norm."""
    x = np.random.default_rng(0).uniform(0, 255, (32, 1, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "data.npz", x=x, y=np.arange(32) % 10)
    project = tiny_project(dataset=str(tmp_path / "data.npz"), epochs=1)
    project.data["val_fraction"] = 0.0
    project.training.update(optimizer="sgd", momentum=0.0, lr=1.0, grad_clip=clip)
    trainer = Trainer(project, run_dir=tmp_path / f"clip{clip}", sink=NullSink())
    before = {}
    setup = trainer._setup

    def remember_initial_weights():
        setup()
        before.update({k: v.clone() for k, v in trainer.model.state_dict().items()})

    trainer._setup = remember_initial_weights
    trainer.run()
    assert trainer.steps == 1
    after = trainer.model.state_dict()
    return torch.cat([(after[k] - before[k]).flatten() for k in before]).norm().item()


def test_gradient_clipping_bounds_the_step(tmp_path):
    free = _one_step_change(tmp_path, 0.0)
    clipped = _one_step_change(tmp_path, 0.05)
    assert free > 0.2
    assert clipped == pytest.approx(0.05, rel=1e-3)
