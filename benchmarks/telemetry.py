"""What live telemetry costs the trainer: images per second with it on and off.

    .venv/bin/python benchmarks/telemetry.py [--epochs N] [--repeat N] [--every N]
                                             [--threads N] [--device D]

The default project (the lenet-5 template on digits, batch 64, Adam) trained by
engine.backend.train.Trainer for --epochs epochs, with training.telemetry_every 0 (off) and
--every (10: a `telemetry` event every 10 steps). Images/s are the trainer's own figure
for the training steps of each epoch (validation not counted); the first epoch of every run
is left out as warm-up. Runs alternate off/on --repeat times so the load of a shared
machine falls on both alike. Prints the medians and LAST the ratio "on / off = N×"
(the target is ≥ 0.9×).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import templates  # noqa: E402
from engine.backend.events import Sink  # noqa: E402
from engine.backend.train import Trainer  # noqa: E402


class Rates(Sink):
    """Keeps the images/s of every epoch and counts the telemetry events."""

    def __init__(self) -> None:
        self.rates: list[float] = []
        self.telemetry = 0

    def emit(self, event: str, **fields) -> None:
        if event == "epoch":
            self.rates.append(fields["images_per_s"])
        elif event == "telemetry":
            self.telemetry += 1

    def message(self, text: str) -> None:
        pass


def run(every: int, epochs: int, threads: int, device: str, folder: Path) -> Rates:
    project = templates.open_template("lenet-5")
    project.training.update(epochs=epochs, threads=threads, device=device,
                            telemetry_every=every)
    sink = Rates()
    Trainer(project, run_dir=folder / f"every{every}", sink=sink, overwrite=True).run()
    return sink


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads (1 is steadiest on a shared machine; 0: torch's)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    rates: dict[str, list[float]] = {"off": [], "on": []}
    events = 0
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            for label, every in (("off", 0), ("on", args.every)):
                sink = run(every, args.epochs, args.threads, args.device, Path(tmp))
                rates[label] += sink.rates[1:]
                events += sink.telemetry
    off, on = statistics.median(rates["off"]), statistics.median(rates["on"])
    print(f"lenet-5 on digits, {args.device}, {args.threads or 'default'} thread(s), "
          f"{args.repeat} runs × {args.epochs - 1} timed epochs each way")
    print(f"telemetry off:             {off:10,.0f} images/s (median)")
    print(f"telemetry every {args.every:>3} steps: {on:10,.0f} images/s (median; "
          f"{events // args.repeat} events per run)")
    print(f"on / off = {on / off:.2f}×")


if __name__ == "__main__":
    main()
