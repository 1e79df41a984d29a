"""Save the training screenshots of the docs: the whole window with the Data panel after its
scan, with the Training panel mid-run (a real LeNet-5 run on digits, curves streaming, and the
canvas's live block telemetry), and
with the Evaluation panel on that run once stopped, and with the Feature Maps of its C1.

    QT_QPA_PLATFORM=offscreen .venv/bin/python tools/screenshot_training.py [OUT_DIR]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from shots import ROOT, isolate, wait  # noqa: E402


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs"
    scratch = Path(tempfile.mkdtemp(prefix="netdraft-shots-"))
    isolate(scratch)
    from designer.app import make_app
    from designer.main_window import MainWindow
    from engine import project as projects
    from engine import templates

    app = make_app([])
    project = templates.open_template("lenet-5")
    project.training.update({"epochs": 12, "threads": 1, "telemetry_every": 5})
    path = scratch / "lenet-5.netdraft"
    projects.save(project, path)
    window = MainWindow()
    window.resize(1500, 950)
    window.set_theme("light", save=False)
    window.files.open_path(path, ask=False)  # as a user opens it (laid out if crowded)
    window.show()
    window.view.fit()
    window.show_panel("data")
    data = window.data_panel
    if not wait(app, lambda: data.report is not None or bool(data.error), 120):
        print("the scan did not finish", file=sys.stderr)
        return 1
    wait(app, lambda: False, 0.5)
    window.grab().save(str(out / "screenshot-data.png"))
    window.trainer.train()
    panel = window.training_panel
    if not wait(app, lambda: len(panel.ensure_plots().epochs) >= 6, 600):
        print("the run did not reach epoch 6: " + panel.error_label.text(), file=sys.stderr)
        return 1
    wait(app, lambda: False, 0.6)
    window.grab().save(str(out / "screenshot-training.png"))
    # The same run's live block telemetry, at 100 % around C3.
    view = window.view
    view.zoom_by(1.0 / view.zoom())
    view.centerOn(window.scene.blocks[window.doc.graph.by_name("C3").id])
    wait(app, lambda: False, 0.3)
    view.grab().save(str(out / "screenshot-telemetry.png"))
    view.fit()
    window.trainer.stop()
    wait(app, lambda: not window.trainer.running, 60)
    window.show_panel("evaluation")
    evaluation = window.evaluation_panel
    evaluation.refresh_runs()
    evaluation.evaluate_selected()
    if not wait(app, lambda: evaluation.job is None, 300) or evaluation.result is None:
        print("the evaluation failed: " + evaluation.error, file=sys.stderr)
        return 1
    pair = evaluation.result["most_confused"][:1]
    if pair:
        evaluation.show_cell(pair[0]["true"], pair[0]["predicted"])
        evaluation.confusion.selected = (pair[0]["true"], pair[0]["predicted"])
        evaluation.show_cell(None, None)
    wait(app, lambda: False, 0.5)
    window.grab().save(str(out / "screenshot-evaluation.png"))
    window.show_panel("features")
    features = window.features_panel
    window.scene.select_ids([window.doc.graph.by_name("C1").id])
    wait(app, lambda: bool(features.samples), 60)
    features.sample_box.setCurrentIndex(min(12, features.sample_box.count() - 1))
    features.inspect()
    if not wait(app, lambda: features.job is None and features.result is not None, 120):
        print("the feature maps did not come: " + features.error, file=sys.stderr)
        return 1
    wait(app, lambda: False, 0.5)
    window.grab().save(str(out / "screenshot-features.png"))
    window.files.autosaver.discard()
    print(out / "screenshot-data.png", out / "screenshot-training.png",
          out / "screenshot-telemetry.png",
          out / "screenshot-evaluation.png", out / "screenshot-features.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
