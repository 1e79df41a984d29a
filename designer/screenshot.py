"""Screenshots of the main window for the docs (QT_QPA_PLATFORM=offscreen works):

    python -m designer.screenshot lenet-5 docs/screenshot-lenet5.png --fit --select C3
    python -m designer.screenshot resnet50 docs/screenshot-resnet50.png --fit --select layer3
    python -m designer.screenshot resnet50 docs/screenshot-resnet50-expanded.png \
        --expand layer1 --expand layer1_0 --select layer1_0_conv2 --zoom 0.75

Without --fit or --zoom the view is the one a user gets on opening the network.
"""

from __future__ import annotations

import argparse
import os
import tempfile

from PySide6.QtCore import QTimer


def main() -> int:
    parser = argparse.ArgumentParser(description="Save a screenshot of the designer.")
    parser.add_argument("template")
    parser.add_argument("out")
    parser.add_argument("--expand", action="append", default=[], help="group to expand")
    parser.add_argument("--select", help="block to select (shown in the inspector)")
    parser.add_argument("--fit", action="store_true", help="fit the whole network in view")
    parser.add_argument("--zoom", type=float, help="zoom on the selected block instead")
    parser.add_argument("--theme", choices=("light", "dark"), default="light")
    parser.add_argument("--size", default="1600x1000")
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="netdraft-shot-")
    os.environ.setdefault("NETDRAFT_SETTINGS", os.path.join(scratch, "settings.ini"))
    os.environ.setdefault("NETDRAFT_RECOVERY_DIR", scratch)
    from designer.app import make_app
    from designer.main_window import MainWindow

    app = make_app([])
    window = MainWindow()
    width, height = (int(v) for v in args.size.split("x"))
    window.resize(width, height)
    window.restore_layout()
    window.set_theme(args.theme, save=False)
    window.files.open_template(args.template)
    window.show()
    graph = window.doc.graph
    for name in args.expand:
        window.editing.toggle_group(graph.by_name(name).id)
    window.doc.undo_stack.setClean()

    def shoot() -> None:
        view = window.view
        if args.select:
            window.reveal(graph.by_name(args.select).id)
        if args.fit:
            view.fit()
        elif args.zoom:
            view.zoom_by(args.zoom / view.zoom())
            if args.select:
                view.centerOn(window.scene.item_for(graph.by_name(args.select).id))
        app.processEvents()
        window.grab().save(args.out)
        window.files.autosaver.discard()
        app.quit()

    QTimer.singleShot(300, shoot)
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
