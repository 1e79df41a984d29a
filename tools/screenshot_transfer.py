"""Save the transfer-learning screenshots of the docs: the Import dialog on torchvision's
ResNet-18 with a weights file, the imported network on the canvas frozen up to layer3 with
a new head for 10 classes, and the Export dialog's parity report after an ONNX export.

The weights are a seeded, randomly initialised ResNet-18 state dict (nothing is downloaded).

    QT_QPA_PLATFORM=offscreen .venv/bin/python tools/screenshot_transfer.py [OUT_DIR]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from shots import ROOT, isolate, wait  # noqa: E402


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs"
    # A short, plain folder: its paths show in the dialogs.
    scratch = Path(tempfile.gettempdir()) / "netdraft-demo"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    isolate(scratch)
    import torch
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QFileDialog
    from torchvision import models

    from designer.app import make_app
    from designer.main_window import MainWindow
    from engine.data_fit import DataFacts

    torch.manual_seed(0)
    weights = scratch / "downloads" / "resnet18-f37072fd.pth"
    weights.parent.mkdir()
    torch.save(models.resnet18(weights=None).state_dict(), weights)
    target = scratch / "pets.netdraft"
    QFileDialog.getSaveFileName = staticmethod(lambda *a, **k: (str(target), ""))

    app = make_app([])
    window = MainWindow()
    window.resize(1600, 1100)
    window.restore_layout()
    window.set_theme("light", save=False)
    window.files.open_template("lenet-5")
    window.show()
    app.processEvents()

    # 1. The Import dialog.
    dialog = window.transfer.open_import()
    assert wait(app, lambda: dialog.models.topLevelItemCount() > 0, 60)
    dialog.search.setText("resnet")
    dialog.select_network("resnet18")
    dialog.search.setText("res")
    dialog.weights.edit.setText(str(weights))
    dialog.input_shape.setText("3, 224, 224")
    dialog.resize(640, 560)
    app.processEvents()
    dialog.grab().save(str(out / "screenshot-import.png"))
    dialog.import_button.click()
    assert wait(app, lambda: not dialog.isVisible(), 180), dialog.error.text()

    # 2. Frozen up to layer3, a new head for the data's 10 classes.
    doc = window.doc
    graph = doc.graph
    names = ("cat", "dog", "rabbit", "hamster", "parrot", "goldfish", "turtle", "horse",
             "cow", "sheep")
    doc.set_data_facts(DataFacts("pets", (3, 224, 224), names))
    doc.flush()
    window.transfer.freeze_up_to(graph.by_name("layer3").id)
    window.transfer.replace_head(10, class_names=list(names))
    doc.flush()
    window.show_panel("training")
    window.resizeDocks([window.docks["training"]], [230], Qt.Orientation.Vertical)
    window.reveal(graph.by_name("layer3").id)
    app.processEvents()
    view = window.view
    view.zoom_by(0.56 / view.zoom())
    view.centerOn(window.scene.item_for(graph.by_name("avgpool").id))
    app.processEvents()
    wait(app, lambda: False, 0.5)
    window.grab().save(str(out / "screenshot-transfer.png"))

    # 3. Export to ONNX: the parity report.
    window.files.save()
    export = window.transfer.open_export()
    export.onnx_path.edit.setText(str(scratch / "export" / "pets.onnx"))
    export.python.setChecked(True)
    export.python_path.edit.setText(str(scratch / "export" / "pets.py"))
    export.with_training.setChecked(True)
    export.resize(680, 760)
    export.export_button.click()
    assert wait(app, lambda: export.job is None, 300)
    assert export.outcome is not None, export.failure
    app.processEvents()
    export.grab().save(str(out / "screenshot-export.png"))
    window.files.autosaver.discard()
    print(f"wrote {out}/screenshot-import.png, screenshot-transfer.png, "
          "screenshot-export.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
