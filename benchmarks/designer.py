"""Designer speed, offscreen, each measurement in fresh processes (median of several runs).

    python benchmarks/designer.py [--runs 5] [--nndesigner-python PATH] [--only a] [--app-filter]

(a) cold start of `python main.py` to the first painted window (a first start: the welcome page), next to a
    bare PySide6 window and to nndesigner 0.2.0 (a PySide6 network designer from PyPI) when
    its interpreter is given (--nndesigner-python or NNDESIGNER_PYTHON; install it apart, e.g.
    `python -m venv /tmp/nnd-venv && /tmp/nnd-venv/bin/pip install nndesigner==0.2.0`);
(b) opening the resnet152 template to the painted canvas;
(c) one parameter edit on a 1,000-block graph to repainted shapes (and panels);
(d) panning a zoomed-out 1,000-block view: time per frame.
The last line is the cold-start ratio against the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# This file is named like the designer package: import that, not this script.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
HEAVY = ("torch", "torchvision", "onnx", "onnxruntime", "pyqtgraph")
DEFAULT_NND = "/tmp/nnd-venv/bin/python"


# --------------------------------------------------------------- child modes
def first_paint(target: str, args: list[str]) -> None:
    """Run a Qt program and print the wall time of its first painted window, then quit."""
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication

    original_exec = QApplication.exec

    class Painted(QObject):
        seen = False

        def eventFilter(self, obj, event):  # noqa: N802
            if not Painted.seen and event.type() == QEvent.Type.Paint:
                Painted.seen = True
                QTimer.singleShot(0, done)  # after the whole window has been painted
            return False

    def done():
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)
        print(json.dumps({"painted": time.time(), "heavy": heavy}), flush=True)
        QApplication.instance().quit()

    def patched_exec(*_args):
        app = QApplication.instance()
        painted = Painted(app)
        # Watch the windows already shown: an application-wide filter makes PySide wrap every
        # object that receives an event (looking up the type of each one Qt made), which
        # cost the bare window ~60 ms that no program pays (--app-filter measures that way).
        windows = [] if os.environ.get("BENCH_APP_FILTER") else [
            w for w in app.topLevelWidgets() if w.isVisible()]
        for watched in windows or [app]:
            watched.installEventFilter(painted)
        return original_exec()

    QApplication.exec = patched_exec
    sys.argv = [target, *args]
    if target == "bare":
        from PySide6.QtWidgets import QLabel, QMainWindow

        app = QApplication(sys.argv)
        window = QMainWindow()
        window.setCentralWidget(QLabel("bare PySide6 window"))
        window.resize(1200, 800)
        window.show()
        app.exec()
        return
    import runpy

    if target.endswith(".py"):
        sys.path.insert(0, str(Path(target).resolve().parent))
        runpy.run_path(target, run_name="__main__")
    else:
        runpy.run_module(target, run_name="__main__", alter_sys=True)


def _window():
    from designer.app import make_app
    from designer.main_window import MainWindow

    app = make_app([])
    window = MainWindow()
    window.resize(1400, 900)
    return app, window


def open_resnet152() -> None:
    from designer.document import Document
    from engine.project import Project

    app, window = _window()
    window.set_document(Document(Project()))
    window.show()
    app.processEvents()
    start = time.perf_counter()
    window.files.open_template("resnet152")
    window.view.viewport().repaint()
    app.processEvents()
    elapsed = time.perf_counter() - start
    print(json.dumps({"seconds": elapsed, "blocks": len(window.doc.graph.leaves())}))


def big_graph(stages: int = 249):
    """1,000 blocks: Input, then stages of conv → batchnorm → relu → add (a residual around
    them), then global pooling, dense and output."""
    from engine.graph import Graph

    g = Graph()
    prev = g.add_node("Input", "input", {"shape": [16, 32, 32]}).id
    for k in range(stages):
        conv = g.add_node("Conv2D", f"conv{k}", {"filters": 16, "padding": "same"}).id
        bn = g.add_node("BatchNorm", f"bn{k}").id
        relu = g.add_node("ReLU", f"relu{k}").id
        add = g.add_node("Add", f"add{k}").id
        g.connect(prev, conv)
        g.connect(conv, bn)
        g.connect(bn, relu)
        g.connect(relu, add)
        g.connect(prev, add)
        prev = add
    pool = g.add_node("GlobalAvgPool", "pool").id
    dense = g.add_node("Dense", "fc", {"units": 10}).id
    out = g.add_node("Output", "out", {"classes": 10}).id
    g.connect(prev, pool)
    g.connect(pool, dense)
    g.connect(dense, out)
    return g


def _big_window():
    from designer.document import Document
    from designer.files import with_layout
    from engine.project import Project

    app, window = _window()
    window.set_document(Document(with_layout(Project(graph=big_graph(), name="big"))))
    window.show()
    app.processEvents()
    return app, window


def edit_big() -> None:
    """Median time from a parameter edit to the canvas, summary, problems and status bar
    repainted: the command, one flush of the analysis and the resulting paint."""
    from designer import commands

    app, window = _big_window()
    doc = window.doc
    view = window.view
    results = {}
    for label, key, values in (("kernel", "kernel_size", (5, 3)),
                               ("filters", "filters", (24, 16))):
        conv = doc.graph.by_name("conv120").id
        window.scene.select_ids([conv])
        view.centerOn(window.scene.blocks[conv])
        view.viewport().repaint()
        app.processEvents()
        times, cpu, full = [], [], []
        for i in range(30):
            value = values[i % 2]
            start, start_cpu = time.perf_counter(), time.process_time()
            commands.execute(doc, commands.set_param(doc, conv, key, value))
            doc.flush()
            app.processEvents()  # paints what changed
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
            start = time.perf_counter()
            view.viewport().repaint()
            full.append(time.perf_counter() - start)
            doc.undo_stack.clear()
        results[label] = statistics.median(times)
        results[label + "_cpu"] = statistics.median(cpu)
        results[label + "_full_repaint"] = statistics.median(full)
    results["blocks"] = len(doc.graph.nodes)
    print(json.dumps(results))


def pan_big() -> None:
    """Median frame time while panning with the scroll bars (Qt moves the pixels and paints
    the strip that comes into view) at two zoomed-out levels: 0.05 (boxes only) and 0.2
    (boxes with names); and a whole-viewport repaint with all 1,000 blocks in view."""
    app, window = _big_window()
    view = window.view
    out = {}
    for label, zoom in (("boxes", 0.05), ("names", 0.2)):
        view.fit()
        view.zoom_by(zoom / view.zoom())
        bar = view.verticalScrollBar()
        bar.setValue(bar.minimum())
        view.viewport().repaint()
        app.processEvents()
        times = []
        for _ in range(60):
            start = time.perf_counter()
            bar.setValue(bar.value() + 40)
            app.processEvents()
            times.append(time.perf_counter() - start)
        out[label] = statistics.median(times)
    view.fit()
    view.viewport().repaint()
    times = []
    for _ in range(10):
        start = time.perf_counter()
        view.viewport().repaint()
        times.append(time.perf_counter() - start)
    out["all_repaint"] = statistics.median(times)
    out["all_zoom"] = view.zoom()
    print(json.dumps(out))


# -------------------------------------------------------------- the parent
def _child(args: list[str], python: str = sys.executable, timeout: float = 120) -> dict:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env.setdefault("NETDRAFT_RECOVERY_DIR", "/tmp/netdraft-bench-recovery")
    env.setdefault("NETDRAFT_SETTINGS", "/tmp/netdraft-bench-settings.ini")
    start = time.time()
    out = subprocess.run([python, str(Path(__file__).resolve()), *args], capture_output=True,
                         text=True, timeout=timeout, cwd=ROOT, env=env)
    for line in reversed(out.stdout.splitlines()):
        if line.startswith("{"):
            data = json.loads(line)
            if "painted" in data:
                data["seconds"] = data["painted"] - start
            return data
    raise RuntimeError(f"{' '.join(args)} printed no result:\n{out.stderr[-2000:]}")


def _median(runs: int, args: list[str], key: str = "seconds", python: str = sys.executable):
    results = [_child(args, python) for _ in range(runs)]
    return statistics.median(r[key] for r in results), results[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--nndesigner-python", default=os.environ.get("NNDESIGNER_PYTHON"))
    parser.add_argument("--only", choices=("a",), help="run part (a) alone: the cold starts")
    parser.add_argument("--app-filter", action="store_true",
                        help="(a): detect the first paint with an application-wide event filter "
                             "(the way of earlier measurements; it slows every program down)")
    parser.add_argument("--child", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.child:
        mode, rest = args.child[0], args.child[1:]
        if mode != "first-paint":
            sys.path.insert(0, str(ROOT))
        if mode == "first-paint":
            first_paint(rest[0], rest[1:])
        else:
            {"resnet152": open_resnet152, "edit": edit_big, "pan": pan_big}[mode]()
        return 0
    runs = args.runs
    if args.app_filter:
        os.environ["BENCH_APP_FILTER"] = "1"  # the children inherit it
    # An installed package has compiled bytecode; this checkout may not (PYTHONDONTWRITEBYTECODE).
    subprocess.run([sys.executable, "-m", "compileall", "-q", "designer", "engine", "main.py"],
                   cwd=ROOT, check=False, capture_output=True)
    print(f"Netdraft designer benchmarks, offscreen, median of {runs} fresh processes, "
          f"{os.cpu_count()} CPU cores")
    bare, _ = _median(runs, ["--child", "first-paint", "bare"])
    print(f"(a) bare PySide6 window, first paint:         {bare:6.3f} s")
    ours, last = _median(runs, ["--child", "first-paint", str(ROOT / "main.py")])
    print(f"(a) python main.py (welcome page), first paint:{ours:6.3f} s   (target < 0.6 s)")
    print(f"    heavy modules imported at start: {', '.join(last['heavy']) or 'none'}")
    if args.only == "a":
        print(f"ratio cold start netdraft / bare PySide6 window: {ours / bare:.2f}   "
              f"(load average {os.getloadavg()[0]:.2f})")
        return 0
    nnd_python = args.nndesigner_python or (DEFAULT_NND if Path(DEFAULT_NND).exists()
                                            else None)
    theirs = None
    if nnd_python and Path(nnd_python).exists():
        try:
            theirs, _ = _median(runs, ["--child", "first-paint", "nndesigner"],
                                python=nnd_python)
            print(f"(a) nndesigner 0.2.0, first paint:            {theirs:6.3f} s")
        except (RuntimeError, subprocess.TimeoutExpired) as err:
            print(f"(a) nndesigner could not be started with {nnd_python}: {err}")
    else:
        print("(a) nndesigner 0.2.0 is MISSING: give its interpreter with --nndesigner-python "
              "or NNDESIGNER_PYTHON (pip install nndesigner==0.2.0 in a separate venv)")
    resnet, info = _median(runs, ["--child", "resnet152"])
    print(f"(b) open resnet152 ({info['blocks']} blocks) to painted canvas: {resnet:6.3f} s"
          "   (target < 1 s)")
    edits = [_child(["--child", "edit"]) for _ in range(max(1, runs // 2))]

    def ms(items, key):
        return statistics.median(e[key] for e in items) * 1000

    print(f"(c) parameter edit on {edits[0]['blocks']} blocks to repainted shapes: "
          f"{ms(edits, 'kernel'):5.1f} ms (kernel size)   {ms(edits, 'filters'):5.1f} ms "
          "(filters: every block downstream changes)   (target < 16 ms)")
    print(f"    CPU time of this process (the machine is shared): {ms(edits, 'kernel_cpu'):5.1f} ms "
          f"and {ms(edits, 'filters_cpu'):5.1f} ms; whole-viewport repaint after it: "
          f"{ms(edits, 'kernel_full_repaint'):5.1f} ms")
    pans = [_child(["--child", "pan"]) for _ in range(max(1, runs // 2))]
    print(f"(d) panning a zoomed-out 1,000-block view: {ms(pans, 'boxes'):5.1f} ms per frame at "
          f"zoom 0.05, {ms(pans, 'names'):5.1f} ms at zoom 0.2   (target < 16 ms)")
    print(f"    repainting all 1,000 blocks at once (zoom {pans[0]['all_zoom']:.3f}): "
          f"{ms(pans, 'all_repaint'):5.1f} ms")
    if theirs is not None:
        print(f"ratio cold start nndesigner 0.2.0 / netdraft: {theirs / ours:.2f}")
    else:
        print(f"ratio cold start netdraft / bare PySide6 window (nndesigner missing): "
              f"{ours / bare:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
