"""Shared by every test folder: Qt runs offscreen, before anything imports Qt."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
