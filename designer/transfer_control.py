"""What File > Import…, File > Export…, Freeze, Unfreeze, Freeze Up to Here and Replace
Head… do: each acts on the current selection through one undoable command
(transfer_commands.py) or opens its dialog."""

from __future__ import annotations

from typing import TYPE_CHECKING

from designer import commands, transfer_commands
from designer.document import Document
from engine.graph import GraphEditError

if TYPE_CHECKING:
    from designer.dialogs.export_dialog import ExportDialog
    from designer.dialogs.import_dialog import ImportDialog
    from designer.main_window import MainWindow


class TransferController:
    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.import_dialog: ImportDialog | None = None
        self.export_dialog: ExportDialog | None = None

    @property
    def doc(self) -> Document:
        return self.window.doc

    def _selected(self) -> list[str]:
        return [i for i in self.window.scene.selected_ids() if i in self.doc.graph.nodes]

    def _run(self, cmd: commands.Command | None, nothing: str) -> bool:
        if cmd is None:
            self.window.show_message(nothing)
            return False
        return commands.execute(self.doc, cmd)

    # ------------------------------------------------------------- freezing
    def freeze(self, ids: list[str] | None = None) -> bool:
        ids = self._selected() if ids is None else ids
        return self._run(transfer_commands.freeze(self.doc, ids),
                         "Nothing to freeze: select blocks with weights")

    def unfreeze(self, ids: list[str] | None = None) -> bool:
        ids = self._selected() if ids is None else ids
        return self._run(transfer_commands.unfreeze(self.doc, ids),
                         "Nothing to unfreeze: no selected block is frozen")

    def freeze_up_to(self, node_id: str | None = None) -> bool:
        if node_id is None:
            selected = self._selected()
            if len(selected) != 1:
                self.window.show_message("Select the last block (or group) to freeze")
                return False
            node_id = selected[0]
        try:
            cmd = transfer_commands.freeze_up_to(self.doc, node_id)
        except GraphEditError as exc:
            self.window.show_message(str(exc))
            return False
        if not cmd.steps:
            self.window.show_message(f"Everything up to {self.doc.label(node_id)} is frozen "
                                     "already")
            return False
        return commands.execute(self.doc, cmd)

    def set_lr_mult(self, ids: list[str], mult: float) -> bool:
        return self._run(transfer_commands.set_lr_mult(self.doc, ids, mult), "")

    # ------------------------------------------------------------------ head
    def replace_head(self, classes: int | None = None, dropout: float = 0.0,
                     class_names: list[str] | None = None) -> bool:
        """Without ``classes``, ask (the Replace Head dialog)."""
        if classes is None:
            from PySide6.QtWidgets import QDialog

            from designer.dialogs.head_dialog import HeadDialog

            dialog = HeadDialog(self.doc, self.window)
            if dialog.exec() != QDialog.DialogCode.Accepted:
                return False
            classes, dropout = dialog.classes.value(), dialog.dropout.value()
            class_names = dialog.class_names()
        try:
            cmd = transfer_commands.replace_head(self.doc, classes, dropout, class_names)
        except GraphEditError as exc:
            self.window.show_message(f"Cannot replace the head: {exc}")
            return False
        if commands.execute(self.doc, cmd):
            self.window.show_message(f"New head for {classes} classes; its blocks start "
                                     "fresh. Train as usual (F5).")
            return True
        return False

    # --------------------------------------------------------------- dialogs
    def open_import(self) -> ImportDialog:
        from designer.dialogs.import_dialog import ImportDialog

        if self.import_dialog is not None and self.import_dialog.isVisible():
            self.import_dialog.raise_()
            return self.import_dialog
        self.import_dialog = ImportDialog(self.window)
        self.import_dialog.open()
        return self.import_dialog

    def open_export(self) -> ExportDialog:
        from designer.dialogs.export_dialog import ExportDialog

        if self.export_dialog is not None and self.export_dialog.isVisible():
            self.export_dialog.raise_()
            return self.export_dialog
        self.export_dialog = ExportDialog(self.window)
        self.export_dialog.open()
        return self.export_dialog
