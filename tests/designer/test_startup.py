"""Startup stays light (DESIGN.md rule 5): the designer imports no torch, torchvision, onnx
or pyqtgraph until they are needed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "torchvision", "onnx", "onnxruntime", "pyqtgraph")


def test_starting_the_designer_imports_nothing_heavy():
    code = ("import sys; from designer.app import build_window, make_app; "
            "app = make_app([]); window = build_window(None); window.show(); "
            "app.processEvents(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            f"{HEAVY!r}))")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_dialogs_and_editors_wait_until_they_are_needed():
    """The gallery, the parameter editors and the message boxes are not on the way to the
    first painted window."""
    code = ("import sys; from designer.app import build_window, make_app; "
            "app = make_app([]); window = build_window(None); window.show(); "
            "app.processEvents(); "
            "print(sorted(m for m in ('designer.dialogs.gallery', 'designer.editors') "
            "if m in sys.modules))")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
