"""The inspector: a form generated from the selected kind's parameter schema.

Values are read from the engine whenever it changes; an edit is a command applied at once
(consecutive edits of one field merge into one undo step); a value outside the schema is
refused with the reason beside the field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from designer import commands, icons
from designer.canvas.faces import block_face, shapes_text
from designer.canvas.items import category_color
from designer.document import Document, Refresh
from engine.graph import Node
from engine.layers import REGISTRY, LayerKind
from engine.layers.backbone import backbone
from engine.shapes import fmt_shape
from engine.summary import human_bytes, human_count
from engine.validate import GroupResult, NodeResult

if TYPE_CHECKING:
    from designer.editors import Editor

REFUSED_STYLE = "color: #d12c2c;"


MIN_WIDTH, WIDTH = 240, 330


class Inspector(QScrollArea):
    toggle_group = Signal(str)
    ungroup = Signal(str)
    group_selection = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        # Never a horizontal scroll bar: the form wraps its labels to the width it gets. A
        # bar that came and went with each edit made the scroll area lay out its page again
        # and again (a rich-text label ~30 times per edit).
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumWidth(MIN_WIDTH)
        self.doc: Document | None = None
        self.ids: list[str] = []
        self.editors: dict[str, Editor] = {}
        self.reasons: dict[str, QLabel] = {}
        self.name_edit: QLineEdit | None = None
        self.transfer_boxes: list[QWidget] = []  # frozen, lr, weights; a Backbone's source
        self.info: QLabel | None = None
        self.info_head: QLabel | None = None
        self.problem: QLabel | None = None
        self._build()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(WIDTH, super().sizeHint().height())

    def set_document(self, doc: Document) -> None:
        if self.doc is not None:
            self.doc.refreshed.disconnect(self.on_refresh)
            self.doc.info_changed.disconnect(self._fill_project)
        self.doc = doc
        doc.refreshed.connect(self.on_refresh)
        doc.info_changed.connect(self._fill_project)
        self.show_ids([])

    @property
    def node_id(self) -> str | None:
        return self.ids[0] if len(self.ids) == 1 else None

    def show_ids(self, ids: list[str]) -> None:
        self.ids = [i for i in ids if self.doc is not None and i in self.doc.graph.nodes]
        self._build()

    def on_refresh(self, refresh: Refresh) -> None:
        if any(i in refresh.removed for i in self.ids) or refresh.everything:
            self.show_ids([i for i in self.ids if i in self.doc.graph.nodes])
            return
        if not self.ids:
            self._fill_info()
            return
        node_id = self.node_id
        if node_id is None:
            return
        graph = self.doc.graph
        related = {node_id, *(graph.ancestors_of(node_id))}
        if graph.nodes[node_id].is_group:
            related |= {n.id for n in graph.members(node_id)}
        if graph.nodes[node_id].is_group and refresh.structure:
            self._build()
        elif related & (refresh.nodes | refresh.results) or refresh.structure:
            self._fill_values()
            self._fill_info()

    # --------------------------------------------------------------- building
    def _build(self) -> None:
        self.editors, self.reasons = {}, {}
        self.transfer_boxes = []
        self.name_edit = self.info = self.info_head = self.problem = None
        self.project_name = self.project_about = None
        self.overview: list[QLabel] = []
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(8)
        doc = self.doc
        if doc is None or not self.ids:
            self._build_overview(layout)
        elif len(self.ids) > 1:
            title = QLabel(f"<b>{len(self.ids)} blocks selected</b>")
            layout.addWidget(title)
            hint = QLabel("Group them into one unit with Ctrl+G, or press Delete to remove "
                          "them.")
            hint.setWordWrap(True)
            layout.addWidget(hint)
            button = QPushButton("Group selection")
            button.clicked.connect(self.group_selection.emit)
            layout.addWidget(button)
        else:
            self._build_node(layout, self.ids[0])
        layout.addStretch(1)
        self.setWidget(page)
        self._fill_values()
        self._fill_info()

    def _build_overview(self, layout: QVBoxLayout) -> None:
        """Nothing selected: the project's name and description (editable, each edit an undo
        step), its totals, and a hint."""
        from PySide6.QtWidgets import QPlainTextEdit

        heading = QLabel("Project")
        font = heading.font()
        font.setBold(True)
        heading.setFont(font)
        layout.addWidget(heading)
        self.project_name = QLineEdit()
        self.project_name.setObjectName("project_name")
        self.project_name.setPlaceholderText("name (follows the file name unless set)")
        self.project_name.editingFinished.connect(self._set_project_name)
        layout.addWidget(self.project_name)
        self.project_about = QPlainTextEdit()
        self.project_about.setObjectName("project_description")
        self.project_about.setPlaceholderText("description: what the network is for")
        self.project_about.setMaximumHeight(90)
        self.project_about.textChanged.connect(self._set_project_about)
        layout.addWidget(self.project_about)
        # Plain-text labels: a word-wrapped rich-text one is laid out anew for every width
        # the docks try while the window opens (~8 ms at start).
        self.overview = [QLabel() for _ in range(2)]
        self.info, hint = self.overview
        font = hint.font()
        font.setItalic(True)
        hint.setFont(font)
        for label in self.overview:
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.PlainText)
            layout.addSpacing(8)
            layout.addWidget(label)
        hint.setText("Select a block to edit its parameters.")

    def _set_project_name(self) -> None:
        name = self.project_name.text().strip()
        if self.doc is not None and name and name != self.doc.project.name:
            commands.execute(self.doc, commands.set_info(self.doc, "name", name))
        elif self.doc is not None and not name:
            self.project_name.setText(self.doc.project.name)

    def _set_project_about(self) -> None:
        text = self.project_about.toPlainText()
        if self.doc is not None and text != self.doc.project.description:
            commands.execute(self.doc, commands.set_info(self.doc, "description", text))

    def _fill_project(self, typing_here: bool = False) -> None:
        """Show the project's name and description; ``typing_here`` (a refresh for another
        reason) keeps a name being typed."""
        if self.project_name is None or self.doc is None:
            return
        project = self.doc.project
        if self.project_name.text() != project.name and not (
                typing_here and self.project_name.hasFocus()):
            self.project_name.setText(project.name)
        if self.project_about.toPlainText() != project.description:
            self.project_about.blockSignals(True)
            self.project_about.setPlainText(project.description)
            self.project_about.blockSignals(False)

    def _build_node(self, layout: QVBoxLayout, node_id: str) -> None:
        node = self.doc.graph.nodes[node_id]
        kind = REGISTRY.get(node.kind) if node.kind in REGISTRY else None
        layout.addLayout(_node_header(node, kind))
        if kind is not None:
            about = QLabel(kind.help)
            about.setWordWrap(True)
            about.setStyleSheet("color: palette(placeholder-text);")
            layout.addWidget(about)
        layout.addLayout(self._param_form(node, kind))
        self._add_transfer_boxes(layout, node_id)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        layout.addWidget(line)
        self._add_info(layout)
        self._add_problem(layout)
        if node.is_group:
            layout.addLayout(self._group_buttons(node_id))

    def _param_form(self, node: Node, kind: LayerKind | None) -> QFormLayout:
        """The name, then an editor for each parameter of a block (a group has only its name;
        a value an importer recorded is shown read-only), each with its refusal label."""
        from designer.editors import make_editor  # not needed before a block is selected

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.name_edit = QLineEdit(node.name)
        self.name_edit.setObjectName("name")
        self.name_edit.editingFinished.connect(self._rename)
        form.addRow("name", self.name_edit)
        self.reasons["name"] = self._reason_label(form)
        if kind is None or node.is_group:
            return form
        for param in kind.schema:
            if not param.editable:
                form.addRow(*_record_row(param, node.params.get(param.name, param.default)))
                continue
            editor = make_editor(param)
            editor.setObjectName(param.name)
            label = QLabel(param.name)
            label.setToolTip(param.help)
            form.addRow(label, editor)
            self.editors[param.name] = editor
            self.reasons[param.name] = self._reason_label(form)
            editor.edited.connect(lambda v, n=param.name: self._edited(n, v))
            editor.refused.connect(lambda r, n=param.name: self._refused(n, r))
            editor.cleared.connect(self.reasons[param.name].hide)
        return form

    def _add_info(self, layout: QVBoxLayout) -> None:
        """The block's one-line description and its numbers, filled by _fill_info."""
        # Plain text: a word-wrapped rich-text label is laid out a dozen times per edit
        # (every width the scroll area tries), which cost more than the edit itself.
        self.info_head = QLabel()
        font = self.info_head.font()
        font.setBold(True)
        self.info_head.setFont(font)
        self.info = QLabel()
        for label in (self.info_head, self.info):
            label.setTextFormat(Qt.TextFormat.PlainText)
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            layout.addWidget(label)

    def _add_problem(self, layout: QVBoxLayout) -> None:
        """The block's problem and, as buttons, the fixes its hint names (the Problems panel
        offers the same); both hidden while it has none."""
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setObjectName("problem")
        self.problem.setStyleSheet("color: #d12c2c; border: 1px solid #d12c2c; "
                                   "border-radius: 4px; padding: 6px;")
        layout.addWidget(self.problem)
        self.fix_box = QWidget()
        self.fix_box.setLayout(QVBoxLayout())
        self.fix_box.layout().setContentsMargins(0, 0, 0, 0)
        self.fix_box.hide()
        self.fix_buttons: list[QPushButton] = []
        self._fixes_shown: tuple = ()
        layout.addWidget(self.fix_box)

    def _group_buttons(self, node_id: str) -> QHBoxLayout:
        row = QHBoxLayout()
        toggle = QPushButton("Expand" if self.doc.is_collapsed(node_id) else "Collapse")
        toggle.clicked.connect(lambda: self.toggle_group.emit(node_id))
        ungroup = QPushButton("Ungroup")
        ungroup.clicked.connect(lambda: self.ungroup.emit(node_id))
        row.addWidget(toggle)
        row.addWidget(ungroup)
        return row

    def _add_transfer_boxes(self, layout: QVBoxLayout, node_id: str) -> None:
        from designer import transfer_inspector as parts

        if self.doc.graph.nodes[node_id].kind == backbone.id:
            self.transfer_boxes.append(parts.BackboneBox(self.doc, node_id))
        if parts.wants_box(self.doc, node_id):
            self.transfer_boxes.append(parts.TrainingBox(self.doc, node_id))
        for box in self.transfer_boxes:
            layout.addWidget(box)

    def _reason_label(self, form: QFormLayout) -> QLabel:
        label = QLabel()
        label.setStyleSheet(REFUSED_STYLE)
        label.setWordWrap(True)
        label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        label.hide()
        form.addRow("", label)
        return label

    # ---------------------------------------------------------------- filling
    def _fill_values(self) -> None:
        node_id = self.node_id
        if node_id is None or node_id not in self.doc.graph.nodes:
            return
        node = self.doc.graph.nodes[node_id]
        if self.name_edit is not None and not self.name_edit.hasFocus():
            self.name_edit.setText(node.name)
        for box in self.transfer_boxes:
            box.refresh()
        if node.kind not in REGISTRY:
            return
        values = REGISTRY.get(node.kind).resolve(node.params)
        for name, editor in self.editors.items():
            editor.set_value(values.get(name))

    def _fill_info(self) -> None:
        if self.info is None or self.doc is None:
            return
        if not self.ids:
            self._fill_totals()
            return
        node_id = self.node_id
        if node_id is None or node_id not in self.doc.graph.nodes:
            return
        face = block_face(self.doc, node_id)
        if self.doc.graph.nodes[node_id].is_group:
            head, text = face.kind, _group_info(self.doc.analysis.group(node_id))
        else:
            head, text = _block_info(self.doc.analysis.results.get(node_id), face.detail)
        for label, value in ((self.info_head, head), (self.info, text)):
            if label.text() != value:
                label.setText(value)
            label.setVisible(bool(value))
        if self.problem is not None:
            if face.problem:
                self.problem.setText(f"<b>Problem:</b> {face.problem}"
                                     + (f"<br><b>Fix:</b> {face.hint}" if face.hint else ""))
                self.problem.show()
            else:
                self.problem.hide()
            self._show_fixes(node_id)

    def _fill_totals(self) -> None:
        """Nothing selected: the project's name and description, and the network's totals
        (in red while it has problems)."""
        doc = self.doc
        totals = doc.totals
        count = len(doc.analysis.problems)
        state = f"{count}\u00a0problem{'s' if count != 1 else ''}" if count else "no problems"
        info = self.info
        self._fill_project(typing_here=True)
        if not doc.graph.nodes:  # a new network lacks an Input and Output: no fault
            count = 0
            text = "No blocks yet: press Ctrl+K and type one (input, conv 32 relu, …)."
        elif count:  # the totals leave out the blocks with problems: no partial count
            text = f"{len(doc.graph.leaves())} blocks · parameters and MACs — · {state}"
        else:
            text = (f"{len(doc.graph.leaves())} blocks · {totals['params']:,} parameters · "
                    f"{human_count(totals['macs'])} MACs · {state}")
        if info.text() != text:
            info.setText(text)
            palette = info.palette()
            palette.setColor(QPalette.ColorRole.WindowText,
                             QColor("#d12c2c") if count else self.palette().windowText().color())
            info.setPalette(palette)

    def _show_fixes(self, node_id: str) -> None:
        from designer.panels.problems import fix_button, fixes_for

        result = self.doc.analysis.results.get(node_id)
        problem = result.problem if result is not None else None
        fixes = tuple(fixes_for(self.doc, problem)) if problem is not None else ()
        if fixes == self._fixes_shown:
            return
        self._fixes_shown = fixes
        for button in self.fix_buttons:
            button.deleteLater()
        self.fix_buttons = [fix_button(self.doc, fix, self.fix_box) for fix in fixes]
        for button in self.fix_buttons:
            self.fix_box.layout().addWidget(button)
        self.fix_box.setVisible(bool(fixes))

    # ---------------------------------------------------------------- editing
    def _edited(self, name: str, value) -> None:
        node_id = self.node_id
        if node_id is None:
            return
        self.reasons[name].hide()
        node = self.doc.graph.nodes[node_id]
        current = REGISTRY.get(node.kind).resolve(node.params).get(name)
        if current == value and type(current) is type(value):
            return
        commands.execute(self.doc, commands.set_param(self.doc, node_id, name, value))

    def _refused(self, name: str, reason: str) -> None:
        label = self.reasons[name]
        label.setText(reason)
        label.show()

    def _rename(self) -> None:
        node_id = self.node_id
        if node_id is None or self.name_edit is None:
            return
        name = self.name_edit.text().strip()
        if name == self.doc.graph.nodes[node_id].name:
            self.reasons["name"].hide()
            return
        errors: list[str] = []
        self.doc.message.connect(errors.append)
        try:
            ok = commands.execute(self.doc, commands.rename(self.doc, node_id, name))
        finally:
            self.doc.message.disconnect(errors.append)
        if ok:
            self.reasons["name"].hide()
        else:
            self._refused("name", errors[0] if errors else "this name is refused")


def _node_header(node: Node, kind: LayerKind | None) -> QHBoxLayout:
    """The kind's icon beside its name (or "Group") and its category."""
    header = QHBoxLayout()
    glyph = QLabel()
    name = "group" if node.is_group else (kind.category if kind else "")
    glyph.setPixmap(icons.icon(name, category_color(node.kind)).pixmap(28, 28))
    header.addWidget(glyph)
    # Plain-text labels: a rich-text one is laid out again on every edit.
    title = QLabel("Group" if node.is_group else node.kind)
    font = title.font()
    font.setBold(True)
    title.setFont(font)
    category = QLabel(kind.category if kind else "")
    category.setStyleSheet("color: gray;")
    names = QVBoxLayout()
    names.setSpacing(0)
    names.addWidget(title)
    names.addWidget(category)
    header.addLayout(names, 1)
    return header


def _group_info(summary: GroupResult) -> str:
    """A group's shapes and totals, as the inspector lists them."""
    return (f"input: {shapes_text(summary.input_shapes)}\n"
            f"output: {shapes_text(summary.output_shapes)}\n"
            f"parameters: {summary.params:,} (trainable {summary.trainable:,})\n"
            f"MACs: {summary.macs:,} ({human_count(summary.macs)})")


def _block_info(result: NodeResult | None, detail: str) -> tuple[str, str]:
    """(heading, lines) for a block: its description and numbers, or only its input shapes
    while it has a problem (nothing when not even those are known)."""
    if result is None or not result.ok:
        if result is not None and result.status == "unknown":
            return "", "Shape unknown: a block upstream has a problem."
        if result is not None and result.input_shapes:
            return "", "input: " + ", ".join(fmt_shape(s) for s in result.input_shapes)
        return "", ""
    inputs = ", ".join(fmt_shape(s) for s in result.input_shapes) or "—"
    return detail, (f"input: {inputs}\noutput: {fmt_shape(result.shape)}\n"
                    f"parameters: {result.params:,} (trainable {result.trainable:,}, "
                    f"non-trainable {result.non_trainable:,})\n"
                    f"MACs: {result.macs:,} ({human_count(result.macs)})\n"
                    f"activation memory: {human_bytes(result.memory)}")


RECORD_CHARS = 48


def _record_row(param, value) -> tuple[QLabel, QLabel]:
    """A value an importer recorded: shown read-only and shortened (an ONNX sub-graph is
    kilobytes of JSON)."""
    if isinstance(value, bool) or not isinstance(value, int | list | tuple):
        text = str(value)
    elif isinstance(value, int):
        text = f"{value:,}"  # 11,689,512 parameters
    else:
        text = "×".join(str(v) for v in value)  # a shape: 3×224×224
    if len(text) > RECORD_CHARS:
        text = f"{text[:RECORD_CHARS]}… ({len(str(value)):,} characters)"
    label, shown = QLabel(param.name), QLabel(text or "—")
    label.setToolTip(param.help)
    shown.setToolTip(param.help)
    shown.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    shown.setEnabled(False)
    return label, shown
