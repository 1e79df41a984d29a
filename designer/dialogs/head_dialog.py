"""Replace Head…: how many classes the new head predicts (the Data panel's, when it has
scanned the data), an optional Dropout before it, and what will be removed and added."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from designer.document import Document
from engine import transfer
from engine.graph import GraphEditError


def data_classes(doc: Document) -> list[str] | None:
    """The class names of the data the Data panel scanned (None before a scan)."""
    facts = doc.data_facts
    return list(facts.class_names) if facts is not None and facts.class_names else None


def current_classes(doc: Document) -> int:
    outputs = [n for n in doc.graph.leaves() if n.kind == "Output"]
    return int(outputs[0].params.get("classes", 10)) if outputs else 10


class HeadDialog(QDialog):
    def __init__(self, doc: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.setWindowTitle("Replace the head")
        self.names = data_classes(doc)
        about = QLabel("The lecture's <tt>model.pop()</tt> then <tt>Dense(num_classes)</tt>: "
                       "the classifier and the Output go, a new Dense and Output for your "
                       "classes come, in one step (Undo brings the old head back). The new "
                       "blocks start fresh; the others keep their weights.", self)
        about.setWordWrap(True)
        self.classes = QSpinBox(self)
        self.classes.setRange(1, 1_000_000)
        self.classes.setValue(len(self.names) if self.names else current_classes(doc))
        self.dropout = QDoubleSpinBox(self)
        self.dropout.setRange(0.0, 0.95)
        self.dropout.setSingleStep(0.1)
        self.dropout.setToolTip("A Dropout before the new Dense (0: none)")
        source = QLabel(self)
        source.setWordWrap(True)
        if self.names:
            shown = ", ".join(self.names[:6]) + (", …" if len(self.names) > 6 else "")
            source.setText(f"The data has {len(self.names)} classes ({shown}).")
        else:
            source.setText("Scan the data in the Data panel to take its classes from it.")
        source.setStyleSheet("color: palette(placeholder-text);")
        self.plan = QLabel(self)
        self.plan.setWordWrap(True)
        self.plan.setTextFormat(Qt.TextFormat.PlainText)
        form = QFormLayout()
        form.addRow("Classes", self.classes)
        form.addRow("", source)
        form.addRow("Dropout before it", self.dropout)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Replace Head")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        layout = QVBoxLayout(self)
        layout.addWidget(about)
        layout.addLayout(form)
        layout.addWidget(self.plan)
        layout.addWidget(buttons)
        self.classes.valueChanged.connect(self._preview)
        self.dropout.valueChanged.connect(self._preview)
        self._preview()
        self.resize(460, self.sizeHint().height())

    def _preview(self) -> None:
        work = self.doc.graph.copy()
        before = list(work.nodes)
        try:
            _removed, added = transfer.replace_head(work, self.classes.value(),
                                                    dropout=self.dropout.value())
        except GraphEditError as exc:
            self.plan.setText(f"Cannot replace the head: {exc}")
            self.ok.setEnabled(False)
            return
        gone = [self.doc.graph.nodes[i].name for i in before
                if i not in work.nodes and not self.doc.graph.nodes[i].is_group]
        new = [f"{work.nodes[i].name} ({work.nodes[i].kind})" for i in added]
        self.plan.setText(f"Removes: {', '.join(gone) or 'nothing'}\nAdds: {', '.join(new)}")
        self.ok.setEnabled(True)

    def class_names(self) -> list[str] | None:
        return self.names if self.names and len(self.names) == self.classes.value() else None
