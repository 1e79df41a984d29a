"""One editor widget per parameter type of the schema (engine.layers.base.Param).

An editor shows a value and emits ``edited(value)`` with a parsed value, or ``refused(reason)``
when what was typed does not fit the schema; it never stores the value anywhere else.
"""

from __future__ import annotations

import re
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from engine.layers import Param

INT_LIMIT = 2**31 - 1


def refusal(param: Param, value: Any) -> str | None:
    """Why a value is refused, naming the parameter ("filters must be ≥ 1. Received: 0"),
    or None when it fits the schema."""
    reason = param.check(value)
    if reason is None:
        return None
    bound = re.match(r"expected (?:an integer|a number) ([≥≤] \S+)$", reason)
    if bound:
        reason = f"{param.name} must be {bound.group(1)}"
    else:
        reason = f"{param.name}: {reason}"
    return f"{reason}. Received: {format_value(value) if value is not None else 'nothing'}"


class Editor(QWidget):
    edited = Signal(object)
    refused = Signal(str)
    cleared = Signal()  # the field shows a value the schema accepts again

    def __init__(self, param: Param, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.param = param
        self.value: Any = None  # the model's value as last shown (or just submitted)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.setToolTip(param.help)

    def set_value(self, value: Any) -> None:
        raise NotImplementedError

    def submit(self, value: Any) -> None:
        reason = refusal(self.param, value)
        if reason:
            self.refused.emit(reason)
        else:
            self.value = value  # what the model will hold: its refresh is no reset
            self.cleared.emit()
            self.edited.emit(value)


class _SpinBox(QSpinBox):
    """A spin box that says why a typed number is refused: Qt's own only ignores one
    outside its range, silently."""

    out_of_range = Signal(int)

    def validate(self, text: str, pos: int) -> object:
        state = super().validate(text, pos)
        if state[0] != QValidator.State.Acceptable:
            digits = text.removeprefix(self.prefix()).removesuffix(self.suffix()).strip()
            if re.fullmatch(r"-?\d+", digits):
                self.out_of_range.emit(int(digits))
        return state


class IntEditor(Editor):
    def __init__(self, param: Param, parent: QWidget | None = None) -> None:
        super().__init__(param, parent)
        self.box = _SpinBox(self)
        low = -INT_LIMIT if param.min is None else max(int(param.min), -INT_LIMIT)
        high = INT_LIMIT if param.max is None else min(int(param.max), INT_LIMIT)
        self.box.setRange(low, high)
        self.box.setAccelerated(True)
        self.box.setKeyboardTracking(True)
        self._layout.addWidget(self.box)
        self.box.valueChanged.connect(lambda v: self.submit(int(v)))
        self.box.out_of_range.connect(self.submit)
        # Leaving the field puts the value back (Qt's fixup): the refusal goes with it.
        self.box.editingFinished.connect(self.cleared.emit)

    def set_value(self, value: Any) -> None:
        if isinstance(value, int) and self.box.value() != value:
            self.box.blockSignals(True)
            self.box.setValue(value)
            self.box.blockSignals(False)
            self.cleared.emit()


_NUMBER_SO_FAR = re.compile(r"[+-]?(\d+\.?\d*|\.\d*)?([eE][+-]?\d*)?")


class _CompactSpinBox(QDoubleSpinBox):
    """Shows 0.25 rather than 0.25000, and ConvNeXt's ε as 1e-06 rather than 0: the value
    is kept to 15 decimals (a spin box rounds to its decimals) and written in its shortest
    form, and scientific notation can be typed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDecimals(15)

    def textFromValue(self, value: float) -> str:  # noqa: N802 (Qt's name)
        return f"{value:.10g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802 (Qt's name)
        return float(text)

    def validate(self, text: str, pos: int) -> object:
        try:
            value = float(text)
        except ValueError:
            partial = _NUMBER_SO_FAR.fullmatch(text.strip()) is not None
            state = QValidator.State.Intermediate if partial else QValidator.State.Invalid
            return state, text, pos
        inside = self.minimum() <= value <= self.maximum()
        return (QValidator.State.Acceptable if inside else QValidator.State.Intermediate,
                text, pos)


class FloatEditor(Editor):
    def __init__(self, param: Param, parent: QWidget | None = None) -> None:
        super().__init__(param, parent)
        self.box = _CompactSpinBox(self)
        low = -1e12 if param.min is None else float(param.min)
        high = 1e12 if param.max is None else float(param.max)
        self.box.setRange(low, high)
        span = high - low
        self.box.setSingleStep(0.05 if span <= 1.0 else 0.1 if span <= 10 else 1.0)
        self._layout.addWidget(self.box)
        self.box.valueChanged.connect(lambda v: self.submit(float(v)))

    def set_value(self, value: Any) -> None:
        if isinstance(value, int | float) and abs(self.box.value() - value) > 1e-12:
            self.box.blockSignals(True)
            self.box.setValue(float(value))
            self.box.blockSignals(False)


class BoolEditor(Editor):
    def __init__(self, param: Param, parent: QWidget | None = None) -> None:
        super().__init__(param, parent)
        self.box = QCheckBox(self)
        self._layout.addWidget(self.box)
        self.box.toggled.connect(lambda v: self.submit(bool(v)))

    def set_value(self, value: Any) -> None:
        if bool(value) != self.box.isChecked():
            self.box.blockSignals(True)
            self.box.setChecked(bool(value))
            self.box.blockSignals(False)


class ChoiceEditor(Editor):
    def __init__(self, param: Param, parent: QWidget | None = None) -> None:
        super().__init__(param, parent)
        self.box = QComboBox(self)
        for choice in param.choices:
            self.box.addItem(str(choice), choice)
        self._layout.addWidget(self.box)
        self.box.currentIndexChanged.connect(
            lambda i: self.submit(self.box.itemData(i)) if i >= 0 else None)

    def set_value(self, value: Any) -> None:
        index = self.box.findData(value)
        if index >= 0 and index != self.box.currentIndex():
            self.box.blockSignals(True)
            self.box.setCurrentIndex(index)
            self.box.blockSignals(False)


class TextEditor(Editor):
    """Free text, and the typed forms: ints ("1, 28, 28"), size ("3" or "3, 5") and padding
    ("same", "valid", "1" or "1, 2"). Applies as soon as what is typed is valid."""

    def __init__(self, param: Param, parent: QWidget | None = None) -> None:
        super().__init__(param, parent)
        if param.type == "padding":
            self.combo = QComboBox(self)
            self.combo.setEditable(True)
            self.combo.addItems(["valid", "same"])
            self.edit = self.combo.lineEdit()
            self._layout.addWidget(self.combo)
            self.combo.activated.connect(lambda i: self._typed(self.combo.itemText(i)))
        else:
            self.edit = QLineEdit(self)
            self._layout.addWidget(self.edit)
        placeholder = {"ints": "e.g. 1, 28, 28", "size": "e.g. 3 or 3, 5",
                       "padding": "valid, same, 1 or 1, 2"}.get(param.type, "")
        if param.optional:
            placeholder = (placeholder + " — empty: none").strip(" —")
        self.edit.setPlaceholderText(placeholder)
        self.edit.textEdited.connect(self._typed)
        self.edit.editingFinished.connect(self._left)

    def _typed(self, text: str) -> None:
        try:
            value = parse(self.param, text)
        except ValueError as err:
            self.refused.emit(f"{self.param.name}: {err}")
            return
        self.submit(value)

    def _left(self) -> None:
        """Leaving a field that holds a refused value resets it to the model's."""
        try:
            ok = refusal(self.param, parse(self.param, self.edit.text())) is None
        except ValueError:
            ok = False
        if not ok:
            self._show(format_value(self.value))
            self.cleared.emit()

    def _show(self, text: str) -> None:
        if self.edit.text() != text:
            self.edit.blockSignals(True)
            self.edit.setText(text)
            self.edit.blockSignals(False)

    def set_value(self, value: Any) -> None:
        changed = value != self.value
        self.value = value
        text = format_value(value)
        if self.edit.hasFocus():
            if not changed:
                return  # another block's edit: what is being typed here stays
            try:
                if parse(self.param, self.edit.text()) == value:
                    return  # keep the user's spelling while they type
            except ValueError:
                pass
        if self.edit.text() != text:
            self._show(text)
            self.cleared.emit()  # the value was reset (undo, another edit): no refusal


def format_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def parse(param: Param, text: str) -> Any:
    """Text as the parameter's value; raises ValueError with a reason for the user."""
    text = text.strip()
    if param.type == "str":
        return text
    if not text:
        if param.optional:
            return None
        raise ValueError("a value is needed")
    if param.type == "float":
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"expected a number. Received: {text!r}") from None
    if param.type == "padding" and text in ("valid", "same"):
        return text
    # "3x3" and "3×3" are sizes; an x anywhere else ("3,x") is not a number.
    spaced = re.sub(r"(?<=\d)\s*[x×]\s*(?=\d)", ",", text)
    parts = [p for p in re.split(r"[,\s]+", spaced) if p]
    # A trailing comma is "3, 5" half typed; ",," or a leading one is not a list.
    if not parts or not all(re.fullmatch(r"-?\d+", p) for p in parts) or re.search(
            r",\s*,|^,", spaced.strip()):
        raise ValueError(f"expected whole numbers separated by commas. Received: {text!r}")
    numbers = [int(p) for p in parts]
    if param.type == "ints":
        return numbers
    if len(numbers) == 1:
        return numbers[0]
    return numbers


def make_editor(param: Param, parent: QWidget | None = None) -> Editor:
    if param.type == "int" and not param.optional:
        return IntEditor(param, parent)
    if param.type == "float" and not param.optional:
        return FloatEditor(param, parent)
    if param.type == "bool":
        return BoolEditor(param, parent)
    if param.type == "choice":
        return ChoiceEditor(param, parent)
    return TextEditor(param, parent)
