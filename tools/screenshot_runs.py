"""Save docs/screenshot-runs.png: the Run History panel at a bottom dock's size, three runs
of lenet-5 selected and overlaid (learning rates 0.01, 0.001 and 0.001 with augmentation),
beside an early-stopped and a failed run. The run folders are written to a scratch folder
as the trainer would leave them (run.json, metrics.csv, checkpoints).

    QT_QPA_PLATFORM=offscreen .venv/bin/python tools/screenshot_runs.py [OUT]
"""

from __future__ import annotations

import datetime
import math
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEADER = ("epoch,train_loss,train_accuracy,train_top5,val_loss,val_accuracy,val_top5,lr,"
          "seconds,images_per_s")


def write_run(runs_dir: Path, stamp: str, *, status: str, epochs: int, done: int,
              lr: float, speed: float, augment: bool = False,
              device: str = "cuda:0") -> None:
    """A run whose curves approach their plateau at ``speed``; augmented runs train
    slower but validate better."""
    from engine.runs import write_record

    folder = runs_dir / f"lenet-5-{stamp}"
    folder.mkdir(parents=True)
    lines, best = [HEADER], (None, None)
    for e in range(1, done + 1):
        fall = math.exp(-speed * e)
        train_loss = 0.04 + 0.9 * fall + (0.03 if augment else 0.0)
        val_loss = 0.07 + 0.85 * fall - (0.02 if augment else 0.0) + 0.004 * e * (not augment)
        val_acc = 0.985 - 0.6 * fall + (0.004 if augment else 0.0)
        train_acc = min(0.999, val_acc + (0.002 if augment else 0.01))
        lines.append(f"{e},{train_loss:.4f},{train_acc:.4f},,{val_loss:.4f},{val_acc:.4f},,"
                     f"{lr * (0.1 if e > 8 else 1):g},3.1,19200")
        if best[0] is None or val_acc > best[0]:
            best = (val_acc, e)
    (folder / "metrics.csv").write_text("\n".join(lines) + "\n")
    if done:
        (folder / "last.pt").write_bytes(b"")
        (folder / "best.pt").write_bytes(b"")
    started = datetime.datetime.strptime(stamp, "%Y%m%d-%H%M%S").timestamp()
    write_record(folder, {
        "format": "netdraft-run", "version": 1, "project": "lenet-5", "started": started,
        "ended": started + 3.1 * done + 5, "status": status, "device": device,
        "epochs": epochs, "epochs_done": done, "monitor": "val_accuracy",
        "best_value": best[0], "best_epoch": best[1],
        "message": "CUDA out of memory: lower the batch size" if status == "failed" else "",
        "settings": {"data": {"dataset": "digits"},
                     "augmentation": ({"enabled": True, "rotation_range": 10.0,
                                       "zoom_range": 0.1} if augment else {}),
                     "training": {"epochs": epochs, "lr": lr, "optimizer": "adam",
                                  "batch_size": 128 if status != "failed" else 4096,
                                  "schedule": "step", "step_size": 8,
                                  "monitor": "val_accuracy"}},
    })


def main() -> int:
    from PySide6.QtCore import QItemSelectionModel

    from designer.app import make_app
    from designer.document import Document
    from designer.panels.runs import RunsPanel
    from engine import project as project_io
    from engine.templates import open_template

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshot-runs.png"
    scratch = Path(tempfile.mkdtemp(prefix="netdraft-runs-shot-"))
    project = open_template("lenet-5")
    path = project_io.save(project, scratch / "lenet-5.netdraft")
    runs = scratch / "runs"
    write_run(runs, "20250304-091500", status="finished", epochs=12, done=12, lr=0.01,
              speed=0.9)
    write_run(runs, "20250304-101200", status="finished", epochs=12, done=12, lr=0.001,
              speed=0.45)
    write_run(runs, "20250305-143000", status="early_stopped", epochs=20, done=14, lr=0.001,
              speed=0.4, augment=True)
    write_run(runs, "20250305-160500", status="failed", epochs=12, done=0, lr=0.001,
              speed=0.5)
    write_run(runs, "20250303-170000", status="finished", epochs=3, done=3, lr=0.001,
              speed=0.45, device="cpu")

    app = make_app([])
    panel = RunsPanel()
    panel.set_document(Document(project, path))
    panel.resize(1100, 380)
    panel.show()
    app.processEvents()
    model = panel.table.selectionModel()
    for row in (1, 2, 3):  # the three finished or early-stopped GPU runs
        model.select(panel.table.model().index(row, 0),
                     QItemSelectionModel.SelectionFlag.Select
                     | QItemSelectionModel.SelectionFlag.Rows)
    for _ in range(5):
        app.processEvents()
    panel.grab().save(str(out))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
