"""Where the designer keeps its preferences (QSettings): recent files, window geometry, dock
layout, theme. NETDRAFT_SETTINGS names an .ini file instead (tests use a temporary one)."""

from __future__ import annotations

import os

from PySide6.QtCore import QSettings

MAX_RECENT = 10


def store() -> QSettings:
    path = os.environ.get("NETDRAFT_SETTINGS")
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "Netdraft",
                     "Netdraft")


def recent_files() -> list[str]:
    value = store().value("recent", [])
    if isinstance(value, str):
        value = [value]
    return [str(v) for v in value or []]


def add_recent(path: str) -> list[str]:
    files = [path] + [p for p in recent_files() if p != path]
    files = files[:MAX_RECENT]
    store().setValue("recent", files)
    return files


def theme_choice() -> str:
    return str(store().value("theme", "system"))


def set_theme_choice(choice: str) -> None:
    store().setValue("theme", choice)


def _text(key: str) -> str:
    value = store().value(key, "")
    return str(value) if value else ""


def last_project() -> str:
    """The project file open when the window last closed (or was last saved), or ""."""
    return _text("last_project")


def set_last_project(path: str) -> None:
    store().setValue("last_project", path)


def last_folder() -> str:
    """The folder a project was last opened from or saved to, or ""."""
    return _text("last_folder")


def set_last_folder(path: str) -> None:
    store().setValue("last_folder", path)


def last_template() -> str:
    return _text("last_template")


def set_last_template(name: str) -> None:
    store().setValue("last_template", name)
