"""Save the screenshots of a new user's first minutes for the docs and the README:

- docs/screenshot-welcome.png: the welcome page of a first start;
- docs/screenshot-mnist-keyboard.png: the Keras MNIST CNN typed from File > New with key
  presses only (Ctrl+N, then "input 1x28x28" Enter, "conv 32 3x3 relu" Enter, ...);
- docs/screenshot-googlenet-inception.png: GoogLeNet with its inception3a module expanded.

    QT_QPA_PLATFORM=offscreen .venv/bin/python tools/screenshot_tour.py [OUT_DIR]
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MNIST = ["input 1x28x28", "conv 32 3x3 relu", "maxpool 2", "conv 64 3x3 relu", "maxpool 2",
         "flatten", "dense 64 relu", "dense 10 softmax", "output 10"]


def settle(app, seconds: float = 0.4) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs"
    scratch = Path(tempfile.gettempdir()) / "netdraft-tour"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    os.environ["NETDRAFT_SETTINGS"] = str(scratch / "settings.ini")
    os.environ["NETDRAFT_RECOVERY_DIR"] = str(scratch / "recovery")
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from designer.app import build_window, make_app

    app = make_app([])
    window = build_window(None)  # a first start: no last project
    window.set_theme("light", save=False)
    window.resize(1400, 900)
    window.show()
    window.activateWindow()
    settle(app)
    window.grab().save(str(out / "screenshot-welcome.png"))

    QTest.keyClick(QApplication.focusWidget() or window, Qt.Key.Key_N,
                   Qt.KeyboardModifier.ControlModifier)
    for text in MNIST:
        QTest.keyClicks(QApplication.focusWidget(), text)
        QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
        settle(app, 0.05)
    window.doc.flush()
    window.resize(1500, 1100)
    settle(app, 0.2)
    window.reveal(window.doc.graph.by_name("conv_1").id)
    view = window.view
    view.zoom_by(0.55 / view.zoom())
    view.centerOn(window.scene.blocks[window.doc.graph.by_name("maxpool_1").id])
    settle(app)
    window.grab().save(str(out / "screenshot-mnist-keyboard.png"))

    window.files.open_template("googlenet")
    graph = window.doc.graph
    window.editing.toggle_group(graph.by_name("inception3a").id)
    settle(app)
    window.reveal(graph.by_name("inception3a_branch2_1_conv").id)
    view.zoom_by(0.5 / view.zoom())
    view.centerOn(window.scene.frames[graph.by_name("inception3a").id].rect.center())
    settle(app)
    window.grab().save(str(out / "screenshot-googlenet-inception.png"))
    window.files.autosaver.discard()
    window.doc.undo_stack.setClean()
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
