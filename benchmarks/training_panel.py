"""Does the Training panel keep the window responsive while a run streams its events?

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/training_panel.py [--repeat N]
        [--events FILE] [--speed 10]

1. A real run's events: `main.py train` on LeNet-5 / digits (3 epochs, --events jsonl) is
   recorded once (or read from --events FILE, one JSON object per line with its time).
2. The replay feeds those lines to the designer's TrainingProcess at --speed × their real
   pace, through the same parsing and signals as a live run, while a 10 ms QTimer measures
   the longest gap between its ticks: the longest the GUI thread was blocked. Once with the
   Training panel open (progress, curves, log) and once with the panel closed (events
   parsed, nobody showing them): the baseline.
3. A 100,000-step run streamed as fast as the panel takes it: the curves' redraw time at
   the end and how many points they hold (bounded buffers keep memory flat).

Prints medians of --repeat replays and LAST the ratio of longest gaps (open / closed).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def record_events(folder: Path) -> list[tuple[float, str]]:
    from engine import project as projects
    from engine import templates

    project = templates.open_template("lenet-5")
    # Small batches make many steps, so the replay streams step events at the trainer's
    # full rate (one every 0.2 s) for about a minute of real time.
    project.training.update({"epochs": 40, "batch_size": 8, "threads": 1})
    path = folder / "lenet.netdraft"
    projects.save(project, path)
    out = subprocess.run([sys.executable, str(ROOT / "main.py"), "train", str(path),
                          "--events", "jsonl", "--out", str(folder / "run")],
                         capture_output=True, text=True, check=True)
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    return [(json.loads(line)["time"], line) for line in lines]


def replay(events: list[tuple[float, str]], speed: float, panel_open: bool) -> float:
    """The longest gap (ms) between 10 ms timer ticks while the events are fed."""
    from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer

    from designer.document import Document
    from designer.panels.training import TrainingPanel
    from designer.training_process import TrainingProcess
    from engine import templates

    process = TrainingProcess()
    panel = None
    if panel_open:
        panel = TrainingPanel()
        panel.set_document(Document(templates.open_template("lenet-5")))
        panel.resize(1100, 380)
        panel.show()
        panel.on_shown()
        panel.begin("runs/replay")
        process.event.connect(panel.on_event)
        process.log_line.connect(panel.add_log)
    settle = QEventLoop()  # opening the panel (first layout and paint) is not streaming
    QTimer.singleShot(300, settle.quit)
    settle.exec()
    start = events[0][0]
    schedule = [((t - start) / speed, line) for t, line in events]
    clock = QElapsedTimer()
    gaps: list[float] = []
    last = [0.0]
    loop = QEventLoop()
    index = [0]

    def tick() -> None:
        now = clock.nsecsElapsed() / 1e6
        gaps.append(now - last[0])
        last[0] = now
        while index[0] < len(schedule) and schedule[index[0]][0] * 1000 <= now:
            process.feed(schedule[index[0]][1])
            index[0] += 1
        if index[0] >= len(schedule):
            loop.quit()

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    clock.start()
    timer.start()
    loop.exec()
    timer.stop()
    if panel is not None:
        panel.close()
        panel.deleteLater()
    return max(gaps[1:]) if len(gaps) > 1 else 0.0


def long_run(steps: int = 100_000) -> tuple[float, int, float]:
    """(seconds to feed, points held, ms for the final redraw) for a run of ``steps``."""
    from designer.document import Document
    from designer.panels.training import TrainingPanel
    from engine import templates

    panel = TrainingPanel()
    panel.set_document(Document(templates.open_template("lenet-5")))
    panel.resize(1100, 380)
    panel.show()
    panel.on_shown()
    panel.begin("runs/long")
    per_epoch = 1000
    started = time.perf_counter()
    for i in range(1, steps + 1):
        epoch, step = divmod(i - 1, per_epoch)
        panel.on_event({"event": "step", "epoch": epoch + 1, "epochs": steps // per_epoch,
                        "step": step + 1, "steps": per_epoch, "loss": 2.0 / (1 + i / 5000),
                        "lr": 0.001, "images_per_s": 5000.0, "eta_s": 10.0})
        if step + 1 == per_epoch:
            panel.on_event({"event": "epoch", "epoch": epoch + 1, "train_loss": 0.5,
                            "val_loss": 0.6, "train_accuracy": 0.9, "val_accuracy": 0.88,
                            "lr": 0.001})
    fed = time.perf_counter() - started
    panel.plots.redraw()
    # One more step, then the redraw every later step costs (at most ten a second).
    panel.on_event({"event": "step", "epoch": steps // per_epoch, "epochs": steps // per_epoch,
                    "step": per_epoch, "steps": per_epoch, "loss": 0.1, "lr": 0.001,
                    "images_per_s": 5000.0, "eta_s": 0.0})
    t0 = time.perf_counter()
    panel.plots.redraw()
    redraw_ms = (time.perf_counter() - t0) * 1000
    held = panel.plots.step_loss.size
    panel.close()
    return fed, held, redraw_ms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--speed", type=float, default=10.0)
    parser.add_argument("--events", type=Path, help="a recorded --events jsonl stdout")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    scratch = Path(tempfile.mkdtemp(prefix="netdraft-bench-"))
    os.environ.setdefault("NETDRAFT_SETTINGS", str(scratch / "settings.ini"))
    from designer.app import make_app

    make_app([])
    if args.events:
        lines = [ln for ln in args.events.read_text().splitlines() if ln.strip()]
        events = [(json.loads(ln)["time"], ln) for ln in lines]
    else:
        print("recording a real run (LeNet-5, digits, 40 epochs of batch 8)…", flush=True)
        events = record_events(scratch)
    span = events[-1][0] - events[0][0]
    print(f"{len(events)} events over {span:.1f} s, replayed at {args.speed:g}× "
          f"({span / args.speed:.1f} s each)")
    replay(events, args.speed, True)  # warm-up: pyqtgraph's first plots
    opened, closed = [], []
    for _ in range(args.repeat):
        opened.append(replay(events, args.speed, True))
        closed.append(replay(events, args.speed, False))
    fed, held, redraw = long_run()
    print(f"100,000 steps fed in {fed:.1f} s; the loss curve holds {held:,} points; "
          f"a redraw then takes {redraw:.1f} ms")
    med_open, med_closed = statistics.median(opened), statistics.median(closed)
    print("longest GUI gap, panel open:   " + ", ".join(f"{g:.1f}" for g in opened)
          + f" ms (median {med_open:.1f})")
    print("longest GUI gap, panel closed: " + ", ".join(f"{g:.1f}" for g in closed)
          + f" ms (median {med_closed:.1f})")
    print(f"ratio open/closed longest gap: {med_open / med_closed:.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
