"""A form over one settings section (engine/settings.py), generated from its schema.

The values live in the project: an edit is an undoable command (commands.set_setting), and
the form redraws from the document whenever the section changes, undo included.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFormLayout, QLabel, QSizePolicy, QWidget

from designer import commands
from designer.document import Document
from designer.editors import Editor, make_editor
from engine import settings as settings_schema


class SettingsForm(QWidget):
    edited = Signal(str, object)  # key, value, after the command ran

    def __init__(self, section: str, keys: Iterable[str] | None = None,
                 labels: dict[str, str] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.section = section
        self.doc: Document | None = None
        params = {p.name: p for p in settings_schema.SECTIONS[section]}
        self.params = [params[k] for k in (keys or params)]
        self.editors: dict[str, Editor] = {}
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        labels = labels or {}
        for param in self.params:
            editor = make_editor(param, self)
            # Fill the column: a spin box sized to its range's end texts clips "0.001".
            for widget in (editor, *editor.findChildren(QWidget)):
                widget.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            editor.setMinimumWidth(110)
            editor.edited.connect(lambda value, name=param.name: self._edited(name, value))
            editor.refused.connect(lambda reason, name=param.name: self._refused(name, reason))
            label = QLabel(labels.get(param.name, param.name.replace("_", " ")), self)
            label.setToolTip(param.help)
            self.form.addRow(label, editor)
            self.editors[param.name] = editor
        self.reason = QLabel(self)
        self.reason.setWordWrap(True)
        self.reason.setStyleSheet("color: #d12c2c")
        self.reason.hide()
        self.form.addRow(self.reason)

    def set_document(self, doc: Document) -> None:
        if self.doc is not None:
            self.doc.settings_changed.disconnect(self._section_changed)
        self.doc = doc
        doc.settings_changed.connect(self._section_changed)
        self.refresh()

    def _section_changed(self, section: str) -> None:
        if section == self.section:
            self.refresh()

    def refresh(self) -> None:
        values = self.doc.settings(self.section)
        for name, editor in self.editors.items():
            editor.set_value(values.get(name))

    def value(self, key: str) -> Any:
        return self.doc.settings(self.section)[key]

    def _edited(self, name: str, value: Any) -> None:
        self.reason.hide()
        if self.doc is None or self.doc.settings(self.section).get(name) == value:
            return
        commands.execute(self.doc, commands.set_setting(self.doc, self.section, name, value))
        self.edited.emit(name, value)

    def _refused(self, name: str, reason: str) -> None:
        self.reason.setText(f"{name.replace('_', ' ')}: {reason}")
        self.reason.show()
