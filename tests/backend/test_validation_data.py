"""Augmentation is for training batches only: validation sees the data as it is (rescaled)."""

from __future__ import annotations

import pytest
import torch

from engine.backend.augment import AugmentConfig, Augmenter
from engine.backend.build import build_module
from engine.backend.data import load_data, target_of
from engine.backend.events import NullSink
from engine.backend.optim import Loss, Scorer
from engine.backend.train import Trainer, effective_settings
from tests.backend.conftest import tiny_project

# Strong enough to change the validation loss by a lot, mild enough that the tiny network
# learns through it in two epochs (so its scores depend on what it is shown).
STRONG = {"enabled": True, "rescale": 2.0, "rotation_range": 30.0, "width_shift_range": 0.2,
          "random_erasing": 1.0}


def _evaluate(project, weights, x, y):
    model = build_module(project.graph)
    model.load_state_dict(weights)
    model.eval()
    classes = target_of(project.graph).classes
    loss = Loss("cross_entropy", model, classes)
    with torch.no_grad():
        scores = Scorer(model, loss.use_logits)(x)
    return loss(scores, y).item(), (scores.argmax(1) == y).float().mean().item()


def test_validation_metrics_are_those_of_the_raw_rescaled_validation_data(tmp_path,
                                                                          monkeypatch):
    project = tiny_project(epochs=2)
    project.augmentation = dict(STRONG)
    calls = {"train": 0, "validate": 0}
    phase = ["train"]
    augment, validate = Augmenter.__call__, Trainer._validate

    def counted_augment(self, *args, **kwargs):
        calls[phase[0]] += 1
        return augment(self, *args, **kwargs)

    def marked_validate(self):
        phase[0] = "validate"
        try:
            return validate(self)
        finally:
            phase[0] = "train"

    monkeypatch.setattr(Augmenter, "__call__", counted_augment)
    monkeypatch.setattr(Trainer, "_validate", marked_validate)
    outcome = Trainer(project, run_dir=tmp_path, sink=NullSink()).run()
    assert calls["train"] > 0 and calls["validate"] == 0

    # The final weights on the validation split, loaded afresh and only rescaled, give the
    # reported figures...
    data = load_data(effective_settings(project)["data"], target_of(project.graph),
                     lambda text: None)
    x, y = data.val.x.float(), data.val.y
    weights = torch.load(tmp_path / "last.pt", weights_only=True)["model"]
    loss, accuracy = _evaluate(project, weights, x * STRONG["rescale"], y)
    reported = outcome.history[-1]
    assert reported["val_loss"] == pytest.approx(loss, rel=1e-4)
    assert reported["val_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    # ...which augmented copies (or leaving out the rescale) would not.
    augmented = Augmenter(AugmentConfig.from_settings(STRONG), seed=1)(data.val.x)
    assert abs(_evaluate(project, weights, augmented, y)[0] - loss) > 0.05
    assert abs(_evaluate(project, weights, x, y)[0] - loss) > 0.05
