"""The real window on a real (virtual) X display: open lenet-5, take a screenshot, and check
that the blocks and their labels are drawn."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, sys
sys.path.insert(0, {root!r})
from PySide6.QtCore import QPoint, QTimer
from PySide6.QtGui import QGuiApplication, QColor
from designer.app import build_window, make_app

app = make_app([])
window = build_window(None)  # a first start: the welcome page
window.files.open_template("lenet-5")
window.resize(1400, 900)
window.show()

def shoot():
    window.view.zoom_by(1.0 / window.view.zoom())
    c1 = window.scene.blocks[window.doc.graph.by_name("C1").id]
    window.view.centerOn(c1)
    app.processEvents()
    shot = QGuiApplication.primaryScreen().grabWindow(0)
    shot.save({png!r})
    image = shot.toImage()
    view = window.view
    rect = view.mapFromScene(c1.sceneBoundingRect()).boundingRect()
    top_left = view.viewport().mapToGlobal(rect.topLeft())
    background = QColor(image.pixel(top_left.x() - 30, top_left.y() - 30))
    dark = inked = 0
    for x in range(rect.width()):
        for y in range(rect.height()):
            color = QColor(image.pixel(top_left.x() + x, top_left.y() + y))
            dark += color.lightness() < 90
            inked += color != background
    names = sorted(window.doc.graph.nodes[i].name for i, item in window.scene.blocks.items()
                   if item.isVisible())
    labels = sorted({{e.label() for e in window.scene.edges.values() if e.isVisible()}})
    print(json.dumps({{"platform": QGuiApplication.platformName(), "names": names,
                      "labels": labels, "dark": dark, "inked": inked,
                      "area": rect.width() * rect.height()}}), flush=True)
    window.files.autosaver.discard()
    app.quit()

QTimer.singleShot(800, shoot)
app.exec()
"""


@pytest.mark.timeout(120)
def test_the_real_window_draws_lenet5_under_xvfb(tmp_path):
    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run is not installed (apt-get install xvfb libxcb-icccm4 "
                    "libxcb-keysyms1); the offscreen tests cover the rest")
    png = tmp_path / "lenet5.png"
    script = tmp_path / "shoot.py"
    script.write_text(SCRIPT.format(root=str(ROOT), png=str(png)))
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    env["QT_QPA_PLATFORM"] = "xcb"
    out = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", sys.executable,
                          str(script)], capture_output=True, text=True, timeout=100, env=env)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no report from the window:\n{out.stdout}\n{out.stderr[-3000:]}"
    report = json.loads(lines[-1])
    assert report["platform"] == "xcb"
    assert {"In", "C1", "S2", "C3", "S4", "C5", "F6", "Out"} <= set(report["names"])
    assert {"6×28×28", "6×14×14", "16×10×10", "120×1×1", "84"} <= set(report["labels"])
    # The C1 block is drawn with text on it, not left blank.
    assert report["inked"] > report["area"] * 0.5
    assert report["dark"] > 150
    assert png.stat().st_size > 20_000
