"""Save docs/screenshot-augmentation.png: the Augmentation panel with lenet-5's settings
(rotation 10°, shifts 0.1, zoom 0.1, on) previewing four digits, at a bottom dock's size.

    QT_QPA_PLATFORM=offscreen .venv/bin/python tools/screenshot_augmentation.py [OUT]
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from designer import theme
    from designer.document import Document
    from designer.panels.augmentation import AugmentationPanel
    from engine.backend.images import digits
    from engine.templates import open_template

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshot-augmentation.png"
    app = QApplication(theme.start_with_fusion(sys.argv[:1]))
    theme.apply(app, "light")
    panel = AugmentationPanel()
    panel.set_document(Document(open_template("lenet-5")))
    panel.resize(1000, 380)
    panel.show()
    x, y = digits(28, 28)
    panel.set_samples(x[:10].permute(0, 2, 3, 1).numpy(), y[:10].numpy(),
                      [str(d) for d in range(10)])
    loop = QEventLoop()
    panel.redrawn.connect(loop.quit)
    QTimer.singleShot(30000, loop.quit)
    loop.exec()
    app.processEvents()
    if panel.tiles is None:
        print("the preview did not arrive: " + panel.status.text(), file=sys.stderr)
        return 1
    panel.grab().save(str(out))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
