"""What a run tells the world: JSON lines for the designer (--events jsonl, stdout only),
or a progress bar with images/s and ETA on a terminal (stderr). Both get the same events:
start, step, epoch, checkpoint, done, error (docs/training.md describes each)."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

from engine.backend.metrics import finite

PROTOCOL_VERSION = 1


class Sink:
    # Whether the sink shows the start event's notes itself (else the trainer also sends
    # each one to message()).
    shows_notes = False

    def emit(self, event: str, **fields: Any) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def message(self, text: str) -> None:
        """A line for a person (never on stdout in JSON mode)."""
        print(text, file=sys.stderr, flush=True)


class NullSink(Sink):
    """Ranks other than 0 in a multi-process run stay quiet."""

    def emit(self, event: str, **fields: Any) -> None:
        pass

    def message(self, text: str) -> None:
        pass


class JsonlSink(Sink):
    """One JSON object per line, flushed, with ``event`` and ``time`` first."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def emit(self, event: str, **fields: Any) -> None:
        record = {"event": event, "time": round(time.time(), 3)}
        if event == "start":
            record["protocol"] = PROTOCOL_VERSION
        record.update(finite(fields))
        self.stream.write(json.dumps(record, separators=(",", ":")) + "\n")
        self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class ConsoleSink(Sink):
    """A progress bar on a terminal, one line per epoch otherwise (both on stderr)."""

    shows_notes = True

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._bar_shown = False

    def _line(self, text: str) -> None:
        if self._bar_shown:
            self.stream.write("\r\033[K")
            self._bar_shown = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        self._line(text)

    def emit(self, event: str, **f: Any) -> None:
        if event == "start":
            data = f["data"]
            self._line(f"training {f['project']} on {f['device']} ({f['precision']}): "
                       f"{data['train']:,} training and {data['val']:,} validation images, "
                       f"{data['classes']} classes, {f['params']:,} parameters")
            for note in f.get("notes", []):
                self._line(f"note: {note}")
            self._line(f"run folder: {f['run_dir']}")
        elif event == "step" and self.tty:
            width = 30
            done = int(width * f["step"] / max(1, f["steps"]))
            bar = "█" * done + "·" * (width - done)
            self.stream.write(
                f"\r\033[Kepoch {f['epoch']}/{f['epochs']} {bar} {f['step']}/{f['steps']} "
                f"loss {f['loss']:.4f} {f['images_per_s']:,.0f} img/s "
                f"ETA {_clock(f['eta_s'])}")
            self.stream.flush()
            self._bar_shown = True
        elif event == "epoch":
            text = (f"epoch {f['epoch']}/{f['epochs']}: loss {f['train_loss']:.4f} "
                    f"accuracy {f['train_accuracy']:.2%}")
            if f.get("val_loss") is not None:
                text += (f" | val loss {f['val_loss']:.4f} "
                         f"val accuracy {f['val_accuracy']:.2%}")
                if f.get("val_top5") is not None:
                    text += f" top-5 {f['val_top5']:.2%}"
            text += f" | {f['images_per_s']:,.0f} img/s, {f['seconds']:.1f} s"
            if f.get("skipped"):
                text += f", {f['skipped']} unreadable image(s) skipped"
            self._line(text)
        elif event == "checkpoint" and f.get("best"):
            self._line(f"best so far: {f['path']}")
        elif event == "done":
            text = f"{f['status']}: {f['epochs_done']} epoch(s) in {f['seconds']:.1f} s"
            best, monitor = f.get("best_value"), str(f.get("monitor") or "")
            if best is not None:  # None: stopped before the first epoch ended
                shown = f"{best:.2%}" if monitor.endswith("accuracy") else f"{best:.4f}"
                text += f"; best {monitor} {shown} (epoch {f.get('best_epoch')})"
            self._line(f"{text}; checkpoints in {f['run_dir']}")
        elif event == "error" and self._bar_shown:
            # The command line prints the error itself, once: it must start a clean line.
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._bar_shown = False
