"""What the screenshot scripts share: an isolated settings and recovery folder, and waiting on
the event loop until a condition holds (a scan, a run, an export)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def isolate(scratch: Path) -> None:
    """Keep the user's own settings and recovery copies out of the pictures."""
    os.environ.setdefault("NETDRAFT_SETTINGS", str(scratch / "settings.ini"))
    os.environ.setdefault("NETDRAFT_RECOVERY_DIR", str(scratch / "recovery"))


def wait(app, condition, seconds: float) -> bool:
    """Process events until ``condition()`` holds or ``seconds`` pass; its last value."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        if condition():
            return True
        time.sleep(0.02)
    return condition()
