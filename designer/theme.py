"""Light and dark themes: the application palette and the canvas colours.

"system" follows the platform's colour scheme (and its changes); "light" and "dark" force one.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

CHOICES = ("system", "light", "dark")


@dataclass(frozen=True)
class CanvasColors:
    background: QColor
    grid: QColor
    block: QColor
    block_border: QColor
    group: QColor
    group_frame: QColor
    text: QColor
    muted: QColor
    accent: QColor
    selection: QColor
    problem: QColor
    unknown: QColor
    edge: QColor
    label_bg: QColor
    bar: QColor
    port: QColor


LIGHT = CanvasColors(
    background=QColor("#f6f7f9"), grid=QColor("#e6e8ec"), block=QColor("#ffffff"),
    block_border=QColor("#9aa3ad"), group=QColor("#eef3fb"), group_frame=QColor("#8fa8cc"),
    text=QColor("#1d232a"), muted=QColor("#5b6670"), accent=QColor("#2f6fd6"),
    selection=QColor("#2f6fd6"), problem=QColor("#d12c2c"), unknown=QColor("#b08a1e"),
    edge=QColor("#6d7883"), label_bg=QColor(246, 247, 249, 230), bar=QColor("#5c9ded"),
    port=QColor("#4a5663"))

DARK = CanvasColors(
    background=QColor("#1e2125"), grid=QColor("#282c31"), block=QColor("#2b3036"),
    block_border=QColor("#5d6772"), group=QColor("#26303d"), group_frame=QColor("#58739a"),
    text=QColor("#e7eaee"), muted=QColor("#a3adb8"), accent=QColor("#6ea8ff"),
    selection=QColor("#6ea8ff"), problem=QColor("#ff5c5c"), unknown=QColor("#e0b84a"),
    edge=QColor("#8d98a4"), label_bg=QColor(30, 33, 37, 230), bar=QColor("#4f8fe0"),
    port=QColor("#c2cad3"))

_current = LIGHT


def colors() -> CanvasColors:
    return _current


def system_is_dark() -> bool:
    hints = QGuiApplication.styleHints()
    return hints.colorScheme() == Qt.ColorScheme.Dark


def resolve(choice: str) -> str:
    """'light' or 'dark' for a setting of system/light/dark."""
    if choice in ("light", "dark"):
        return choice
    return "dark" if system_is_dark() else "light"


_fusion = False  # the application's style is Fusion already


def start_with_fusion(argv: list[str]) -> list[str]:
    """Arguments for a new QApplication that make Fusion its style from the start: cheaper
    than switching to it later (PySide creates QStyle's enums, ~9 ms, whenever Python sees
    a QStyle, which setStyle() returns)."""
    global _fusion
    _fusion = True
    return [*argv, "-style", "fusion"]


def apply(app: QApplication, choice: str) -> str:
    """Set the application palette and canvas colours; returns the theme applied."""
    global _current, _fusion
    name = resolve(choice)
    if not _fusion:
        app.setStyle("Fusion")
        _fusion = True
    app.setPalette(_dark_palette() if name == "dark" else _light_palette())
    _current = DARK if name == "dark" else LIGHT
    return name


def _light_palette() -> QPalette:
    """Fusion's standard palette (Qt 6.11), whatever the platform's theme says."""
    palette = QPalette()
    roles = {
        "Window": "#efefef", "WindowText": "#000000", "Base": "#ffffff",
        "AlternateBase": "#f7f7f7", "ToolTipBase": "#ffffdc", "ToolTipText": "#000000",
        "Text": "#000000", "Button": "#efefef", "ButtonText": "#000000",
        "BrightText": "#ffffff", "Light": "#ffffff", "Midlight": "#cacaca", "Dark": "#9f9f9f",
        "Mid": "#b8b8b8", "Shadow": "#767676", "Highlight": "#308cc6",
        "HighlightedText": "#ffffff", "Link": "#0000ff", "LinkVisited": "#ff00ff",
        "Accent": "#308cc6", "PlaceholderText": "#80000000",
    }
    for role, color in roles.items():
        palette.setColor(getattr(QPalette.ColorRole, role), QColor(color))
    disabled = {"WindowText": "#bebebe", "Text": "#bebebe", "ButtonText": "#bebebe",
                "Base": "#efefef", "Dark": "#bebebe", "Shadow": "#b1b1b1",
                "Highlight": "#919191", "Accent": "#919191"}
    for role, color in disabled.items():
        palette.setColor(QPalette.ColorGroup.Disabled, getattr(QPalette.ColorRole, role),
                         QColor(color))
    return palette


def _dark_palette() -> QPalette:
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: "#2b2f34", QPalette.ColorRole.WindowText: "#e7eaee",
        QPalette.ColorRole.Base: "#1f2226", QPalette.ColorRole.AlternateBase: "#272b30",
        QPalette.ColorRole.ToolTipBase: "#30353b", QPalette.ColorRole.ToolTipText: "#e7eaee",
        QPalette.ColorRole.Text: "#e7eaee", QPalette.ColorRole.Button: "#33383e",
        QPalette.ColorRole.ButtonText: "#e7eaee", QPalette.ColorRole.BrightText: "#ff6b6b",
        QPalette.ColorRole.Link: "#6ea8ff", QPalette.ColorRole.Highlight: "#3d6fb8",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.PlaceholderText: "#8b949e",
    }
    for role, color in roles.items():
        palette.setColor(role, QColor(color))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText,
                 QPalette.ColorRole.WindowText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7a828b"))
    return palette
