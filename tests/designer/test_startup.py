"""Startup stays light (DESIGN.md rule 5): the designer imports no torch, torchvision, onnx
or pyqtgraph until they are needed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "torchvision", "onnx", "onnxruntime", "pyqtgraph")


def run_python(code: str) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter with an offscreen Qt (its exit is part of the test)."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env=env)


def test_starting_the_designer_imports_nothing_heavy():
    code = ("import sys; from designer.app import build_window, make_app; "
            "app = make_app([]); window = build_window(None); window.show(); "
            "app.processEvents(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            f"{HEAVY!r}))")
    out = run_python(code)
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
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_quitting_after_a_copy_exits_cleanly_and_leaves_a_pasteable_copy():
    """Qt deletes the clipboard's data from a C++ exit handler; data made in Python must be
    handed over before then or the process dies with a segfault on the way out."""
    code = ("from designer.app import build_window, make_app; from designer import clipboard; "
            "app = make_app([]); window = build_window(None); "
            "window.files.open_template('lenet-5'); "
            "window.scene.select_ids([window.doc.graph.by_name('C1').id]); "
            "window.actions_by_name['copy'].trigger(); "
            "clipboard.hand_over_at_exit(); "
            "frag = clipboard.from_mime(app.clipboard().mimeData()); "
            "print(frag['nodes'][0]['name'], app.clipboard().mimeData().hasFormat(clipboard.MIME))")
    out = run_python(code)
    assert out.returncode == 0, out.stderr[-2000:]
    # The plain-text copy (no Netdraft format any more) still pastes as the block.
    assert out.stdout.split() == ["C1", "False"]


def test_a_copy_left_on_the_clipboard_does_not_crash_the_exit():
    code = ("from designer.app import build_window, make_app; "
            "app = make_app([]); window = build_window(None); "
            "window.files.open_template('lenet-5'); "
            "window.scene.select_ids([window.doc.graph.by_name('C1').id]); "
            "window.actions_by_name['copy'].trigger(); print('copied')")
    out = run_python(code)
    assert (out.returncode, out.stdout.strip()) == (0, "copied"), out.stderr[-2000:]
