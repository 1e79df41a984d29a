"""The training loop shared by the command line, the designer (through `main.py train
--events jsonl`) and torchrun multi-process runs.

Reproducible by construction: each epoch's shuffle, augmentation and dropout draw from seeds
derived from (seed, epoch, rank), so --resume continues exactly — from an epoch boundary
(last.pt) or from the middle of one (interrupted.pt keeps the step and generator states).
"""

from __future__ import annotations

import hashlib
import json
import math
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from engine import atomic
from engine import project as project_io
from engine import settings as settings_schema
from engine.backend import checkpoint, distributed, run_folder, telemetry
from engine.backend.augment import AugmentConfig, Augmenter
from engine.backend.batching import batches, place
from engine.backend.build import apply_freezing, build_module, frozen_modules
from engine.backend.data import DataBundle, Target, load_data, target_of
from engine.backend.events import ConsoleSink, NullSink, Sink
from engine.backend.metrics import Meter, MetricsLog, Tracker, finite
from engine.backend.optim import Loss, Schedule, Scorer, make_optimizer, output_loss
from engine.backend.preflight import check_training
from engine.backend.runtime import RunError, Runtime, choose_runtime, pick_device
from engine.project import Project
from engine.weights import load_into

STEP_EVENT_INTERVAL = 0.2  # seconds between step events
SYNC_STEPS = 10  # with several processes, steps between agreeing on stopping and on the loss
EXIT_OK, EXIT_FAILED, EXIT_SIGINT, EXIT_SIGTERM = 0, 1, 130, 143
OUT_OF_MEMORY = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)


class AgreedError(RunError):
    """A failure that every rank of a multi-process run raises together, at the same step
    with the same message (a non-finite loss): rank 0 reports it, the others exit quietly."""


def derive_seed(*parts: Any) -> int:
    """A stable 63-bit seed from any parts (Python's hash() changes between runs)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def effective_settings(project: Project, overrides: dict[str, dict[str, Any]] | None = None,
                       base: dict[str, dict[str, Any]] | None = None) -> dict[str, dict]:
    """Each settings section: schema defaults, then the project's (or a checkpoint's)
    values, then the overrides (command-line flags)."""
    out = {}
    for section in settings_schema.SECTIONS:
        values = dict(base[section]) if base and section in base else project.settings(section)
        values.update((overrides or {}).get(section, {}))
        out[section] = values
    return out


@dataclass
class Outcome:
    status: str                 # finished, early_stopped, interrupted
    exit_code: int
    run_dir: Path | None
    epochs_done: int
    best_epoch: int | None = None
    best_value: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


class Trainer:
    def __init__(self, project: Project, overrides: dict[str, dict[str, Any]] | None = None,
                 run_dir: str | Path | None = None, resume: str | Path | None = None,
                 sink: Sink | None = None, device: str | None = None,
                 project_path: str | Path | None = None, overwrite: bool = False) -> None:
        """``overwrite``: start a new run in a folder that already holds one (refused
        otherwise, so that a run's checkpoints and metrics are never replaced unasked)."""
        self.project_path = project_path  # stored weights are found beside the project file
        self.world = distributed.from_environment()
        self.sink = (sink or ConsoleSink()) if self.world.main else NullSink()
        self.resume_state: dict[str, Any] | None = None
        self.overwrite = overwrite
        self._lock: run_folder.RunLock | None = None
        base = None
        if resume is not None:
            source = Path(resume)
            folder = source if source.is_dir() else source.parent
            if self.world.main:
                run_folder.check(folder)  # before anything in it is read
            path, self.resume_state = checkpoint.load_for_resume(source, self.sink.message)
            snapshot = project_io.loads(self.resume_state["project"], f"{path} (project)")
            if snapshot.graph != project.graph:
                self.sink.message(f"note: resuming the network saved in {path.name}; the "
                                  f"project file's network differs and is not used")
            project, base = snapshot, self.resume_state["settings"]
            run_dir = run_dir or folder
        self.project = project
        self.settings = effective_settings(project, overrides, base)
        self.device_name = device
        self.run_dir = Path(run_dir) if run_dir else run_folder.default_run_dir(project.name)
        self.stop_signal: int | None = None
        self._stop_requested = False

    # ----------------------------------------------------------------- control
    def request_stop(self, signum: int = signal.SIGINT) -> None:
        """Stop at the next step and write a checkpoint (signal handlers call this)."""
        self.stop_signal = signum
        self._stop_requested = True

    def _install_signals(self) -> dict[int, Any]:
        previous = {}

        def handler(signum, frame):
            if self._stop_requested and signum == signal.SIGINT:
                raise KeyboardInterrupt  # a second Ctrl+C: stop now
            self.sink.message("stopping after this step; writing a checkpoint "
                              "(press Ctrl+C again to stop at once)")
            self.request_stop(signum)

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                previous[sig] = signal.signal(sig, handler)
            except ValueError:  # not the main thread (e.g. a test runner's worker)
                pass
        return previous

    # --------------------------------------------------------------------- run
    def run(self) -> Outcome:
        """Train; raises RunError (and the data, build and checkpoint errors) on failure.

        With several processes a failure ends every rank and is told once: one that all
        ranks raise together (AgreedError) by rank 0, one that a single rank meets (out of
        memory, a bug) by that rank, whose peers see their next collective fail. A rank
        that does not tell raises SystemExit(1) instead, so that nothing is printed twice.
        """
        previous = self._install_signals()
        threads = torch.get_num_threads()
        failed = True
        try:
            outcome = self._run()
            failed = False
            return outcome
        except Exception as exc:
            if self.world.enabled and isinstance(exc, AgreedError) and not self.world.main:
                raise SystemExit(EXIT_FAILED) from None
            if self.world.enabled and distributed.peer_failed(exc):
                if not self.world.main:
                    raise SystemExit(EXIT_FAILED) from None
                raise RunError("another process of this run failed (it prints its error); "
                               "this one stops with it") from None
            raise
        finally:
            if self._lock is not None:
                self._lock.release()
                self._lock = None
            for sig, old in previous.items():
                signal.signal(sig, old)
            torch.set_num_threads(threads)  # training.threads is for this run only
            distributed.shutdown(self.world, failed)

    def _claim_folder(self) -> None:
        """Rank 0, once the run folder exists: refuse one with links out of it, lock it
        (refused while another trainer holds it), refuse a new run over an old one unless
        ``overwrite``, and remove the temporary files of a killed trainer."""
        if not self.world.main or self._lock is not None:
            return
        run_folder.check(self.run_dir)
        if not self.run_dir.is_dir():
            return
        lock = run_folder.RunLock(self.run_dir)
        lock.acquire()
        self._lock = lock
        if self.resume_state is None and not self.overwrite:
            run_folder.check_new_run(self.run_dir)
        for path in run_folder.remove_stray_temps(self.run_dir):
            self.sink.message(f"note: removed {path.name}, left by a trainer that was "
                              f"stopped while writing")

    def _setup(self) -> None:
        t = self.settings["training"]
        world = self.world
        self.device = pick_device(self.device_name or t["device"],
                                  world.local_rank if world.enabled else None)
        distributed.init(world, self.device)
        if int(t["threads"]):
            torch.set_num_threads(int(t["threads"]))
        graph = self.project.graph
        self.target: Target = target_of(graph)
        torch.manual_seed(int(t["seed"]))
        check_training(graph, t, self.device)  # refuses what cannot fit, before allocating
        self.model = build_module(graph)
        if self.project.weights and self.resume_state is None:
            # Imported or previously trained weights (transfer learning) start the run.
            load_into(self.model, graph, self.project.weights, self.project_path,
                      warn=self.sink.message)
        self.groups = apply_freezing(graph, self.model)
        self.frozen = frozen_modules(graph, self.model)
        self.data: DataBundle = load_data(self.settings["data"], self.target, self.sink.message)
        self.train_split = place(self.data.train, self.device)
        self.val_split = place(self.data.val, self.device) if self.data.val else None
        self.runtime: Runtime = choose_runtime(self.device, t["precision"], t["channels_last"],
                                               t["compile"], self.target.is_image)
        self.model.to(self.device)
        if self.runtime.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.loss = Loss(output_loss(graph), self.model, self.target.classes,
                         float(t["label_smoothing"]))
        self.scorer = Scorer(self.model, self.loss.use_logits)
        net: torch.nn.Module = self.scorer
        if world.enabled:
            from torch.nn.parallel import DistributedDataParallel

            net = DistributedDataParallel(
                net, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        if self.runtime.compile:
            net = torch.compile(net)
        self.net = net
        self.optimizer = make_optimizer(self.groups, t)
        self.batch_size = int(t["batch_size"])
        local = math.ceil(len(self.train_split) / world.size)
        self.steps = math.ceil(local / self.batch_size)
        if local % self.batch_size == 1 and local > 1:
            self.steps -= 1
        self.epochs = int(t["epochs"])
        self.tracker = Tracker(t["monitor"])
        self.schedule = Schedule(self.optimizer, t, self.epochs, self.steps, self.tracker.mode)
        self.augmenter = Augmenter(AugmentConfig.from_settings(self.settings["augmentation"]),
                                   0, self.device, self.data.pixel_max)
        self.seed = int(t["seed"])
        self.telemetry, telemetry_notes = telemetry.for_trainer(
            self.model, graph, int(t.get("telemetry_every", 0)), self.runtime, world.main,
            self.scorer)
        self.notes = (list(self.runtime.notes) + self.data.notes + self._input_notes()
                      + telemetry_notes)

    def _input_notes(self) -> list[str]:
        notes = []
        aug = self.augmenter.config
        if aug.rescale != 1.0:
            notes.append("augmentation.rescale is applied to training and validation data "
                         "but is not part of exported models; the Input's scale is")
        if aug.active and not self.target.is_image:
            notes.append("augmentation needs image inputs; only rescale applies here")
        return notes

    def _run(self) -> Outcome:
        started = time.perf_counter()
        start_epoch, skip_steps = self._prepare()
        self._announce(start_epoch)
        history: list[dict[str, Any]] = []
        status, exit_code, epoch = self._train_epochs(start_epoch, skip_steps, history)
        if self.world.main:
            self.metrics_log.close()
        self.sink.emit("done", status=status, run_dir=str(self.run_dir), epochs_done=epoch,
                       seconds=time.perf_counter() - started, monitor=self.tracker.monitor,
                       best_value=self.tracker.best, best_epoch=self.tracker.best_epoch,
                       best=str(self.run_dir / checkpoint.BEST), last=str(self.run_dir /
                                                                          checkpoint.LAST))
        return Outcome(status, exit_code, self.run_dir, epoch, self.tracker.best_epoch,
                       self.tracker.best, history)

    def _prepare(self) -> tuple[int, int]:
        """Claim the folder, build everything, restore a resumed run's state and open the
        metrics log; the epoch and the step to start from."""
        self._claim_folder()  # an existing folder: before the data is read
        self._setup()
        world = self.world
        start_epoch, skip_steps = 0, 0
        if self.resume_state is not None:
            start_epoch, skip_steps = self._restore(self.resume_state)
        if world.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._claim_folder()
            if self.resume_state is None:
                run_folder.clear_run(self.run_dir)  # only an --overwrite run finds one
            self.metrics_log = MetricsLog(self.run_dir, start_epoch, self.data.class_names,
                                          self.sink.message)
        return start_epoch, skip_steps

    def _announce(self, start_epoch: int) -> None:
        """The start event, with everything a viewer shows before the first step."""
        world, sink = self.world, self.sink
        params = sum(p.numel() for p in self.model.parameters())
        sink.emit("start", project=self.project.name, run_dir=str(self.run_dir),
                  device=str(self.device), world_size=world.size,
                  precision=self.runtime.precision, channels_last=self.runtime.channels_last,
                  compile=self.runtime.compile, epochs=self.epochs, start_epoch=start_epoch + 1,
                  steps_per_epoch=self.steps, batch_size=self.batch_size, params=params,
                  data=self.data.report(), class_names=self.data.class_names,
                  notes=self.notes, settings=self.settings)
        for note in self.notes:
            if not sink.shows_notes:
                sink.message(f"note: {note}")

    def _train_epochs(self, start_epoch: int, skip_steps: int,
                      history: list[dict[str, Any]]) -> tuple[str, int, int]:
        """The epochs until the last, a stop or early stopping, each one's metrics appended
        to ``history``; (status, exit code, epochs done)."""
        status, exit_code, epoch = "finished", EXIT_OK, start_epoch
        try:
            for epoch in range(start_epoch, self.epochs):
                metrics = self._epoch(epoch, skip_steps if epoch == start_epoch else 0)
                if metrics is None:  # stopped mid-epoch; interrupted.pt is written
                    status = "interrupted"
                    exit_code = EXIT_SIGTERM if self.stop_signal == signal.SIGTERM \
                        else EXIT_SIGINT
                    break
                history.append(metrics)
                if self._stop_now():
                    status = "interrupted"
                    exit_code = EXIT_SIGTERM if self.stop_signal == signal.SIGTERM \
                        else EXIT_SIGINT
                    epoch += 1
                    break
                early = int(self.settings["training"]["early_stopping"])
                if early and self.tracker.bad_epochs >= early:
                    status = "early_stopped"
                    self.sink.message(f"early stopping: {self.tracker.monitor} has not "
                                      f"improved for {early} epoch(s)")
                    epoch += 1
                    break
            else:
                epoch = self.epochs
        except OUT_OF_MEMORY:
            raise RunError(
                f"out of {self.device.type.upper()} memory at batch size {self.batch_size}: "
                f"try --batch-size {max(1, self.batch_size // 2)}, precision bf16 or fp16, "
                f"or a smaller Input") from None
        return status, exit_code, epoch

    def _stop_now(self) -> bool:
        return distributed.any_rank(self._stop_requested, self.world, self._flag_device())

    def _flag_device(self) -> torch.device:
        return self.device if self.device.type == "cuda" else torch.device("cpu")

    # ------------------------------------------------------------------ epochs
    def _epoch(self, epoch: int, skip: int) -> dict[str, Any] | None:
        """One epoch from step ``skip``: its metrics, or None when stopped mid-epoch."""
        t0 = time.perf_counter()
        order, meter = self._begin_epoch(epoch, skip)
        counts = self._train_steps(epoch, skip, order, meter, t0)
        if counts is None:
            return None
        train_seconds = time.perf_counter() - t0
        seen, skipped = counts
        return self._end_epoch(epoch, meter, seen, skipped, t0, train_seconds)

    def _begin_epoch(self, epoch: int, skip: int) -> tuple[torch.Tensor, Meter]:
        """This rank's sample order and a fresh meter; the epoch's seeds, or the generator
        states of an interrupted epoch resumed at step ``skip``."""
        world = self.world
        shuffle = torch.Generator().manual_seed(derive_seed(self.seed, "shuffle", epoch))
        order = distributed.shard(torch.randperm(len(self.train_split), generator=shuffle),
                                  world)
        meter = Meter(self.target.classes, self.device)
        if skip:
            meter.load(self.resume_state["meter"])
            checkpoint.set_rng_state(self.resume_state["rng"])
            self.augmenter.set_state(self.resume_state["augment_rng"])
        else:
            torch.manual_seed(derive_seed(self.seed, "epoch", epoch, world.rank))
            self.augmenter.reseed(derive_seed(self.seed, "augment", epoch, world.rank))
        self.net.train()
        for module in self.frozen:
            module.eval()
        return order, meter

    def _train_steps(self, epoch: int, skip: int, order: torch.Tensor, meter: Meter,
                     t0: float) -> tuple[int, int] | None:
        """The epoch's steps from ``skip``: (images trained on, unreadable files skipped), or
        None when a stop was asked for (interrupted.pt is then written)."""
        world = self.world
        losses = torch.zeros(self.steps, device=self.device)
        last_emit, emitted_step, seen, skipped = time.perf_counter(), skip, 0, 0
        checked = skip  # the losses of the steps before this one are finite
        check_every_step = self.device.type == "cpu"
        step = skip
        for step, (x, y, bad) in enumerate(
                batches(self.train_split, order, self.batch_size, self.device, self.target,
                        int(self.settings["data"]["workers"]), skip, drop_single=True),
                start=skip):
            if not world.enabled:
                stop = self._stop_requested
            elif step % SYNC_STEPS == 0:  # every rank, at the same steps
                stop, checked = self._check_losses(losses, checked, step, epoch), step
            else:
                stop = False
            if stop:
                self._save_interrupted(epoch, step, meter)
                return None
            skipped += len(bad)
            if x.shape[0] == 0:
                continue
            measured = self.telemetry is not None and self.telemetry.start(
                epoch * self.steps + step + 1)
            loss = self._train_step(x, y, meter)
            if measured:
                self.sink.emit("telemetry", epoch=epoch + 1, step=step + 1,
                               **self.telemetry.collect())
            losses[step] = loss.detach()
            seen += x.shape[0]
            now = time.perf_counter()
            emit = now - last_emit >= STEP_EVENT_INTERVAL or step == self.steps - 1
            if not world.enabled and (
                    emit or (check_every_step and not math.isfinite(loss.item()))):
                self._check_losses(losses, checked, step + 1, epoch)
                checked = step + 1
            if emit:
                self._emit_step(epoch, step, skip, losses, emitted_step, meter, seen, t0)
                last_emit, emitted_step = now, step + 1
        self._check_losses(losses, checked, step + 1, epoch)
        return seen, skipped

    def _end_epoch(self, epoch: int, meter: Meter, seen: int, skipped: int, t0: float,
                   train_seconds: float) -> dict[str, Any]:
        """Validate, sum every rank's counts, track the monitored value, step the schedule,
        and report and save the epoch."""
        world = self.world
        distributed.broadcast_buffers(self.model, world)
        val_meter, val_skipped = self._validate()
        skipped += val_skipped
        counts = torch.tensor([float(seen), float(skipped)], dtype=torch.float64,
                              device=self._flag_device())
        distributed.sum_all(meter.state() + (val_meter.state() if val_meter else [])
                            + [counts], world)
        metrics = meter.result("train")
        if val_meter is not None:
            metrics.update(val_meter.result("val"))
        group = self.optimizer.param_groups[0]
        metrics.update(epoch=epoch + 1, epochs=self.epochs,
                       lr=group["lr"] / group["lr_mult"] if group["lr_mult"] else group["lr"],
                       seconds=time.perf_counter() - t0,
                       images_per_s=counts[0].item() / max(train_seconds, 1e-9),
                       skipped=int(counts[1].item()))
        improved = self.tracker.update(epoch + 1, metrics)
        self.schedule.after_epoch(metrics[self.tracker.key(metrics)])
        metrics.update(best_epoch=self.tracker.best_epoch, improved=improved)
        self.sink.emit("epoch", **metrics)
        if self.world.main:
            self.metrics_log.write(epoch + 1, metrics)
            self._save_epoch(epoch, metrics, improved)
        return metrics

    def _train_step(self, x: torch.Tensor, y: torch.Tensor, meter: Meter) -> torch.Tensor:
        rt = self.runtime
        x = self.augmenter(x)
        if rt.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        with rt.autocast():
            scores = self.net(x)
        loss = self.loss(scores, y)
        self.optimizer.zero_grad(set_to_none=True)
        clip = float(self.settings["training"]["grad_clip"])
        if rt.scaler is not None:
            rt.scaler.scale(loss).backward()
            if clip:
                rt.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
            rt.scaler.step(self.optimizer)
            rt.scaler.update()
        else:
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
            self.optimizer.step()
        self.schedule.after_batch()
        with torch.no_grad():
            meter.update(loss, self.loss.predictions(scores.detach().float()), y)
        return loss

    def _check_losses(self, losses: torch.Tensor, start: int, stop: int, epoch: int) -> bool:
        """Raise AgreedError at the first non-finite loss of steps start … stop - 1 (from 0).

        With several processes every rank calls this at the same steps and decides together
        in one small all-reduce, which also carries the stop request: each raises for the
        earliest bad step of any rank, so all stop there with the same message. Returns
        whether any rank asked to stop."""
        window = losses[start:stop]
        bad = (~torch.isfinite(window)).nonzero()
        first = (start + int(bad[0]), window[int(bad[0])].item()) if len(bad) else None
        stop_now = self._stop_requested
        if self.world.enabled:
            stop_now, first = distributed.agree_on_losses(stop_now, first, self.world,
                                                          self._flag_device())
        if first is not None:
            lr = float(self.settings["training"]["lr"])
            raise AgreedError(f"the loss became {first[1]} at epoch {epoch + 1}, step "
                              f"{first[0] + 1}: lower the learning rate (now {lr:g}; try "
                              f"{lr / 10:g}), set training.grad_clip, or check the Input's "
                              f"scale")
        return stop_now

    def _emit_step(self, epoch: int, step: int, skip: int, losses: torch.Tensor, since: int,
                   meter: Meter, seen: int, t0: float) -> None:
        if not self.world.main:
            return
        elapsed = time.perf_counter() - t0
        done_steps = step + 1
        per_step = elapsed / max(1, done_steps - skip)
        remaining = (self.steps - done_steps) + (self.epochs - epoch - 1) * self.steps
        group = self.optimizer.param_groups[0]
        self.sink.emit("step", epoch=epoch + 1, epochs=self.epochs, step=done_steps,
                       steps=self.steps, loss=losses[since:step + 1].mean().item(),
                       accuracy=meter.running_accuracy(),
                       lr=group["lr"] / group["lr_mult"] if group["lr_mult"] else group["lr"],
                       images_per_s=seen * self.world.size / max(elapsed, 1e-9),
                       eta_s=per_step * remaining)

    def _validate(self) -> tuple[Meter | None, int]:
        """This rank's validation metrics, and how many unreadable files it skipped."""
        if self.val_split is None:
            return None, 0
        meter = Meter(self.target.classes, self.device, confusion=True)
        order = distributed.shard(torch.arange(len(self.val_split)), self.world, pad=False)
        self.scorer.eval()
        skipped = 0
        with torch.no_grad(), self.runtime.autocast():
            for x, y, bad in batches(self.val_split, order, self.batch_size, self.device,
                                     self.target, int(self.settings["data"]["workers"])):
                skipped += len(bad)
                if x.shape[0] == 0:
                    continue
                x = self.augmenter.rescale(x)
                if self.runtime.channels_last and x.dim() == 4:
                    x = x.contiguous(memory_format=torch.channels_last)
                scores = self.scorer(x)
                meter.update(self.loss(scores, y),
                             self.loss.predictions(scores.float()), y)
        return meter, skipped

    # ------------------------------------------------------------- checkpoints
    def _state(self, epoch: int, step: int) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.schedule.state_dict(),
            "scaler": self.runtime.scaler.state_dict() if self.runtime.scaler else {},
            "epoch": epoch, "step": step,
            "tracker": self.tracker.state(),
            "rng": checkpoint.rng_state(),
            "augment_rng": self.augmenter.get_state(),
            "class_names": list(self.data.class_names),
            "project": json.dumps(self.project.to_json()),
            "settings": self.settings,
            "world_size": self.world.size,
        }

    def _save_epoch(self, epoch: int, metrics: dict[str, Any], improved: bool) -> None:
        state = self._state(epoch + 1, 0)
        state["metrics"] = finite(metrics)
        last = checkpoint.save(self.run_dir / checkpoint.LAST, state)
        (self.run_dir / checkpoint.INTERRUPTED).unlink(missing_ok=True)
        self.sink.emit("checkpoint", path=str(last), epoch=epoch + 1, kind="last", best=False)
        if improved:
            # Its own atomic copy: a kill mid-copy leaves the previous best.pt whole.
            best = atomic.copy(last, self.run_dir / checkpoint.BEST)
            self.sink.emit("checkpoint", path=str(best), epoch=epoch + 1, kind="best",
                           best=True)

    def _save_interrupted(self, epoch: int, step: int, meter: Meter) -> None:
        if not self.world.main:
            return
        state = self._state(epoch, step)
        state["meter"] = meter.state()[0].cpu()
        state["metrics"] = {}
        path = checkpoint.save(self.run_dir / checkpoint.INTERRUPTED, state)
        self.sink.emit("checkpoint", path=str(path), epoch=epoch, step=step,
                       kind="interrupted", best=False)

    def _restore(self, state: dict[str, Any]) -> tuple[int, int]:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["scheduler"])
        if self.runtime.scaler is not None and state.get("scaler"):
            self.runtime.scaler.load_state_dict(state["scaler"])
        self.tracker.load(state["tracker"])
        if state.get("world_size", 1) != self.world.size and state.get("step"):
            raise RunError(f"this checkpoint stopped mid-epoch in a run of "
                           f"{state['world_size']} process(es); resume it with as many")
        return int(state["epoch"]), int(state.get("step", 0))


def train(project: Project, **kwargs: Any) -> Outcome:
    """Train a project; keyword arguments as Trainer's."""
    return Trainer(project, **kwargs).run()
