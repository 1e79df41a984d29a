"""The trainer: exact resume, checkpoints, failures, frozen blocks, losses and metrics."""

from __future__ import annotations

import csv
import signal

import numpy as np
import pytest
import torch

from engine.backend import checkpoint
from engine.backend.events import NullSink, Sink
from engine.backend.runtime import RunError
from engine.backend.train import Trainer
from tests.backend.conftest import tiny_project


class StopAt(Sink):
    """Asks the trainer to stop (as Ctrl+C would) when an event matches."""

    def __init__(self, event: str, epoch: int, step: int | None = None) -> None:
        self.trainer: Trainer | None = None
        self.event, self.epoch, self.step = event, epoch, step

    def emit(self, event, **fields):
        if event == self.event and fields.get("epoch") == self.epoch and (
                self.step is None or fields.get("step", 0) >= self.step):
            self.trainer.request_stop(signal.SIGTERM)

    def message(self, text):
        pass


def _project():
    # Dropout and augmentation make every random stream matter to the final weights.
    project = tiny_project(epochs=2, dropout=0.3, batchnorm=True)
    project.augmentation = {"enabled": True, "rotation_range": 15.0, "zoom_range": 0.1,
                            "random_erasing": 0.3}
    project.training.update(optimizer="sgd", momentum=0.9, schedule="step", step_size=1,
                            gamma=0.5)
    return project


def _weights(run_dir, name="last.pt"):
    return torch.load(run_dir / name, weights_only=True)["model"]


def _stopped_then_resumed(tmp_path, sink, name):
    run = tmp_path / name
    trainer = Trainer(_project(), run_dir=run, sink=sink)
    sink.trainer = trainer
    outcome = trainer.run()
    assert outcome.status == "interrupted" and outcome.exit_code == 143
    resumed = Trainer(_project(), resume=run, sink=NullSink()).run()
    assert resumed.status == "finished" and resumed.epochs_done == 2
    return run


def test_resume_after_an_epoch_and_mid_epoch_ends_with_the_same_weights(tmp_path):
    whole = tmp_path / "whole"
    Trainer(_project(), run_dir=whole, sink=NullSink()).run()
    expected = _weights(whole)
    after_epoch = _stopped_then_resumed(tmp_path, StopAt("epoch", 1), "after_epoch")
    mid_epoch = _stopped_then_resumed(tmp_path, StopAt("step", 2, step=5), "mid_epoch")
    for run in (after_epoch, mid_epoch):
        got = _weights(run)
        assert set(got) == set(expected)
        for key in expected:
            torch.testing.assert_close(got[key], expected[key], rtol=0, atol=0, msg=key)
    rows = list(csv.DictReader((mid_epoch / "metrics.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert not (mid_epoch / checkpoint.INTERRUPTED).exists()
    # TensorBoard holds the same figures, once per epoch across the interrupted and the
    # resumed process.
    scalars = _tensorboard_scalars(mid_epoch / "tensorboard")
    for key in ("train_loss", "val_accuracy", "lr"):
        steps, values = scalars[key.replace("_", "/", 1)]
        assert steps == [1, 2], key
        assert values == pytest.approx([float(r[key]) for r in rows], rel=1e-5), key


def _tensorboard_scalars(folder) -> dict[str, tuple[list[int], list[float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return {tag: ([e.step for e in events.Scalars(tag)], [e.value for e in events.Scalars(tag)])
            for tag in events.Tags()["scalars"]}


def test_checkpoint_is_plain_data_with_project_and_class_names(tmp_path):
    Trainer(tiny_project(epochs=1), run_dir=tmp_path, sink=NullSink()).run()
    state = torch.load(tmp_path / "best.pt", weights_only=True)
    assert state["class_names"] == [str(i) for i in range(10)]
    assert state["epoch"] == 1 and "tiny" in state["project"]
    assert {"optimizer", "scheduler", "rng", "metrics", "settings"} <= set(state)
    assert len(state["metrics"]["confusion"]) == 10
    assert 0 <= state["metrics"]["val_top5"] <= 1


def test_nan_loss_stops_with_epoch_step_and_advice(tmp_path):
    # NaN in the data itself is refused before training (tests/reliability/test_bad_files.py):
    # here the network overflows on one finite sample, the Input scaling it by 1e38.
    x = np.random.default_rng(0).uniform(0, 1e-3, (64, 1, 8, 8)).astype(np.float32)
    x[40] = 255.0
    np.savez(tmp_path / "bad.npz", x=x, y=np.arange(64) % 10)
    project = tiny_project(dataset=str(tmp_path / "bad.npz"), epochs=1)
    project.graph.set_param(project.graph.by_name("in").id, "scale", 1e38)
    project.data["val_fraction"] = 0.0
    project.training.update(batch_size=16)
    trainer = Trainer(project, run_dir=tmp_path / "run", sink=NullSink())
    with pytest.raises(RunError, match=r"epoch 1, step \d.*lower the learning rate"):
        trainer.run()


def test_frozen_blocks_keep_weights_and_batchnorm_statistics(tmp_path):
    project = tiny_project(epochs=1, batchnorm=True)
    for name in ("conv1", "bn"):
        project.graph.set_param(project.graph.by_name(name).id, "lr_mult", 0.0)
    trainer = Trainer(project, run_dir=tmp_path, sink=NullSink())
    before = {}
    original = trainer._setup

    def setup():
        original()
        before.update({k: v.clone() for k, v in trainer.model.state_dict().items()})

    trainer._setup = setup
    trainer.run()
    after = _weights(tmp_path)
    for key in ("conv1.weight", "bn.weight", "bn.running_mean", "bn.running_var"):
        torch.testing.assert_close(after[key], before[key], rtol=0, atol=0, msg=key)
    assert not torch.equal(after["fc.weight"], before["fc.weight"])


def test_early_stopping_stops_when_nothing_improves(tmp_path):
    project = tiny_project(epochs=6)
    project.training.update(early_stopping=1, monitor="val_accuracy", lr=0.0)
    outcome = Trainer(project, run_dir=tmp_path, sink=NullSink()).run()
    assert outcome.status == "early_stopped" and outcome.epochs_done == 2
    assert outcome.best_epoch == 1


@pytest.mark.parametrize("loss,head", [("nll", "log_softmax"), ("bce", "sigmoid"),
                                       ("mse", "softmax")])
def test_each_output_loss_trains(tmp_path, loss, head):
    project = tiny_project(epochs=3, loss=loss, head=head)
    project.training.update(lr=0.03, optimizer="adam")
    outcome = Trainer(project, run_dir=tmp_path, sink=NullSink()).run()
    first, last = outcome.history[0], outcome.history[-1]
    assert last["train_loss"] < first["train_loss"]
    assert last["val_accuracy"] > 0.2  # ten classes: chance is 0.1


def test_schedules_and_optimizers_run_and_change_the_rate(tmp_path):
    for optimizer, schedule in (("sgd", "cosine"), ("rmsprop", "one_cycle"),
                                ("adamw", "plateau")):
        project = tiny_project(epochs=2)
        project.training.update(optimizer=optimizer, schedule=schedule, nesterov=True,
                                weight_decay=1e-4, label_smoothing=0.1, grad_clip=1.0,
                                patience=0, gamma=0.5)
        outcome = Trainer(project, run_dir=tmp_path / schedule, sink=NullSink()).run()
        lrs = [h["lr"] for h in outcome.history]
        if schedule != "plateau":
            assert lrs[0] != pytest.approx(lrs[1]), (optimizer, schedule, lrs)
        assert all(np.isfinite(h["train_loss"]) for h in outcome.history)


def test_bf16_and_channels_last_path_trains(tmp_path, monkeypatch):
    from engine.backend import runtime

    monkeypatch.setattr(runtime, "_cpu_flags", lambda: {"avx512_bf16"})
    project = tiny_project(epochs=1, batchnorm=True)
    project.training.update(precision="bf16", channels_last=True)
    trainer = Trainer(project, run_dir=tmp_path, sink=NullSink())
    outcome = trainer.run()
    assert trainer.runtime.precision == "bf16" and trainer.runtime.channels_last
    assert np.isfinite(outcome.history[0]["train_loss"])
    assert torch.load(tmp_path / "last.pt", weights_only=True)["model"]["fc.weight"].dtype \
        == torch.float32


def test_out_of_memory_names_the_batch_size_and_a_smaller_one(tmp_path, monkeypatch):
    from engine.backend import train

    def oom(self, x, y, meter):
        raise train.OUT_OF_MEMORY("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(Trainer, "_train_step", oom)
    project = tiny_project(epochs=1)
    with pytest.raises(RunError, match=r"at batch size 64: try --batch-size 32"):
        Trainer(project, run_dir=tmp_path, sink=NullSink()).run()


def test_streamed_folder_trains_and_counts_unreadable_images(tmp_path):
    from tests.backend.test_data import _write_images

    _write_images(tmp_path / "data")
    project = tiny_project(dataset=str(tmp_path / "data"), epochs=1, channels=3, classes=2)
    project.data.update(cache="stream", workers=1, val_fraction=0.0)
    project.training.update(batch_size=4)  # 7 files: no batch of one to drop
    outcome = Trainer(project, run_dir=tmp_path / "run", sink=NullSink()).run()
    assert outcome.status == "finished"
    assert outcome.history[0]["skipped"] == 2  # the truncated png and the garbage jpg
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert state["class_names"] == ["cat", "dog"]


def test_streamed_validation_counts_its_unreadable_images_too(tmp_path):
    from tests.backend.test_data import _write_images

    _write_images(tmp_path / "data")  # 7 files, 2 of them unreadable
    project = tiny_project(dataset=str(tmp_path / "data"), epochs=1, channels=3, classes=2)
    project.data.update(cache="stream", workers=1, val_dataset=str(tmp_path / "data"))
    project.training.update(batch_size=4)
    outcome = Trainer(project, run_dir=tmp_path / "run", sink=NullSink()).run()
    assert outcome.history[0]["skipped"] == 4  # 2 in training, 2 in validation


def test_an_image_too_large_to_decode_safely_is_skipped_as_unreadable(tmp_path, monkeypatch):
    from PIL import Image

    from engine.backend.batching import FileDataset
    from engine.backend.data import Target, load_data
    from tests.backend.test_data import settings

    for name, size in (("cat/small.png", 10), ("dog/small.png", 10), ("dog/huge.png", 40)):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        Image.new("RGB", (size, size)).save(tmp_path / name)
    # Pillow refuses images over twice this many pixels (DecompressionBombError).
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)
    target = Target((3, 8, 8), "RGB", 2, (), "in", "out")
    decoded = load_data(settings(str(tmp_path)), target)
    assert [f for f, _ in decoded.skipped] == [str(tmp_path / "dog" / "huge.png")]
    assert "decompression bomb" in decoded.skipped[0][1]
    streamed = load_data(settings(str(tmp_path), cache="stream"), target).train
    huge = streamed.paths.index(str(tmp_path / "dog" / "huge.png"))
    x, _, error = FileDataset(streamed, target)[huge]
    assert x is None and "decompression bomb" in error[1]
