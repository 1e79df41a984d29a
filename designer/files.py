"""New, Open, Open Recent, Save, Save As, closing with unsaved changes, dropped files and
crash recovery. A project that fails to load leaves the open document untouched."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt

from designer import autosave, settings_store
from designer.canvas.items import BLOCK_H, BLOCK_W, LAYOUT_GAP
from designer.document import Document
from engine import project as projects
from engine import templates
from engine.layout import arrange

if TYPE_CHECKING:
    from PySide6.QtWidgets import QMessageBox

    from designer.dialogs.recovery import RecoveryChoice
    from designer.main_window import MainWindow

FILTER = "Netdraft projects (*.netdraft);;All files (*)"


def with_layout(project: projects.Project, tidy: bool = False) -> projects.Project:
    """Give every block a place: templates and imports may come without positions.
    ``tidy`` also lays out a project whose blocks overlap (templates written for other
    block sizes)."""
    graph = project.graph
    positions = project.ui.setdefault("positions", {})
    missing = [i for i in graph.nodes if i not in positions]
    collapsed = project.ui.get("collapsed")
    if collapsed is None:
        collapsed = [n.id for n in graph.nodes.values() if n.is_group]
    if tidy and (missing or overlapping(graph, positions, collapsed)):
        missing = list(graph.nodes)
    if not missing:
        return project
    laid = arrange(graph, collapsed, (BLOCK_W, BLOCK_H), project.ui.get("direction", "TB"),
                  LAYOUT_GAP)
    if len(missing) == len(graph.nodes):
        positions.update({k: [round(x, 2), round(y, 2)] for k, (x, y) in laid.items()})
    else:
        # Keep the user's layout: only the blocks without a place get one, to the right.
        right = max((p[0] for p in positions.values()), default=0.0) + BLOCK_W + 80
        for node_id in missing:
            x, y = laid[node_id]
            positions[node_id] = [round(right + x, 2), round(y, 2)]
    return project


def overlapping(graph, positions: dict, collapsed: list[str]) -> bool:
    """Whether two blocks that show at the top level would overlap on the canvas."""
    hidden = set()
    for node in graph.nodes.values():
        parent = node.parent
        while parent is not None:
            if parent in collapsed:
                hidden.add(node.id)
            parent = graph.nodes[parent].parent
    shown = [positions[i] for i, n in graph.nodes.items()
             if i not in hidden and (not n.is_group or i in collapsed) and i in positions]
    shown.sort()
    for k, (x, y) in enumerate(shown):
        for x2, y2 in shown[k + 1:]:
            if x2 - x >= BLOCK_W:
                break
            if abs(y2 - y) < BLOCK_H:
                return True
    return False


class FileController:
    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.autosaver = autosave.Autosaver(window)

    @property
    def doc(self) -> Document:
        return self.window.doc

    # -------------------------------------------------------------- asking
    # QMessageBox and QFileDialog are imported when first needed: they are not on the way
    # to the first painted window.
    def _box(self, icon: str, title: str, text: str, informative: str = "") -> QMessageBox:
        """A message box whose lines are wide enough for a file name: a bold summary and the
        details under it (both rich text; callers escape what they quote)."""
        from PySide6.QtWidgets import QMessageBox

        box = QMessageBox(self.window)
        box.setIcon(getattr(QMessageBox.Icon, icon))
        box.setWindowTitle(title)
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(f"<b>{text}</b>")
        box.setInformativeText(informative)
        box.setStyleSheet("QLabel#qt_msgbox_label, QLabel#qt_msgbox_informativelabel "
                          "{ min-width: 30em; }")
        return box

    def ask_save_changes(self) -> QMessageBox.StandardButton:
        from PySide6.QtWidgets import QMessageBox

        buttons = QMessageBox.StandardButton
        box = self._box("Question", "Unsaved changes",
                        f"Save the changes to {escape(self.doc.title)} before closing it?",
                        "Your changes are lost if you don't save them.")
        box.setStandardButtons(buttons.Save | buttons.Discard | buttons.Cancel)
        box.setDefaultButton(buttons.Save)
        return buttons(box.exec())

    def ask_restore(self, found: list[autosave.Recovery]) -> RecoveryChoice:
        """Which of the recovery copies to restore here and which to discard."""
        from designer.dialogs.recovery import choose

        return choose(found, self.window)

    def show_error(self, title: str, message: str) -> None:
        self._error_box(title, message).exec()

    def _error_box(self, title: str, message: str) -> QMessageBox:
        """``message`` as the engine words it ("FILE: where: what"): the file's name goes in
        the summary, its folder under the reason."""
        head, sep, rest = message.partition(": ")
        if sep and ("/" in head or "\\" in head) and rest:
            path = Path(head)
            text = f"{escape(title)}: {escape(path.name)}"
            informative = (f"{escape(rest)}<br><span style='color:gray'>in "
                           f"{escape(str(path.parent))}</span>")
        else:
            text, informative = escape(title), escape(message)
        return self._box("Warning", title, text, informative)

    def maybe_save(self) -> bool:
        """True when it is fine to replace or close the document."""
        if self.doc is None or not self.doc.modified:
            return True
        from PySide6.QtWidgets import QMessageBox

        answer = self.ask_save_changes()
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    # ---------------------------------------------------------------- opening
    def new_empty(self) -> None:
        if self.maybe_save():
            self.window.set_document(Document(projects.Project()))
            self.window.palette_search()  # an empty network: the first thing is a block

    def new_from_gallery(self) -> None:
        from designer.dialogs.gallery import choose_template

        choice = choose_template(self.window)
        if choice is None or not self.maybe_save():
            return
        if choice == "":
            self.window.set_document(Document(projects.Project()))
        else:
            self.open_template(choice)

    def open_template(self, name: str) -> bool:
        try:
            project = templates.open_template(name)
        except projects.ProjectError as err:
            self.show_error("Cannot open the template", str(err))
            return False
        self.window.set_document(Document(with_layout(project, tidy=True)))
        self.window.view.show_start()
        return True

    def start_folder(self) -> str:
        """Where Open and Save As start: the open project's folder, the folder last used,
        else the user's documents folder (never the current directory, which is wherever
        the program was started from)."""
        if self.doc is not None and self.doc.path is not None:
            return str(self.doc.path.parent)
        last = settings_store.last_folder()
        if last and Path(last).is_dir():
            return last
        from PySide6.QtCore import QStandardPaths

        documents = QStandardPaths.writableLocation(
            QStandardPaths.StandardLocation.DocumentsLocation)
        return documents or str(Path.home())

    def open_dialog(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(self.window, "Open project",
                                              self.start_folder(), FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path, ask: bool = True, quiet: bool = False) -> bool:
        """Open a project file; a file that fails to load shows why (``quiet``: not at
        start, when reopening the last project) and changes nothing."""
        try:
            project = projects.load(path)
        except projects.ProjectError as err:
            if not quiet:
                self.show_error("Cannot open the project", str(err))
            return False
        if ask and not self.maybe_save():
            return False
        # A file whose blocks overlap (`main.py new` writes a template's compact grid) is
        # laid out; any other keeps the user's arrangement.
        self.window.set_document(Document(with_layout(project, tidy=True), path=Path(path)))
        self.window.view.show_start()
        self.remember(str(Path(path).resolve()))
        return True

    def open_dropped(self, paths: list[str]) -> None:
        if paths:
            self.open_path(paths[0])

    def remember(self, path: str) -> None:
        settings_store.add_recent(path)
        settings_store.set_last_project(path)
        settings_store.set_last_folder(str(Path(path).parent))
        self.window.update_recent_menu()

    # ---------------------------------------------------------------- saving
    def save(self) -> bool:
        if self.doc.path is None:
            return self.save_as()
        return self._write(self.doc.path)

    def save_as(self) -> bool:
        from PySide6.QtWidgets import QFileDialog

        name = self.doc.path.name if self.doc.path else f"{self.doc.project.name}.netdraft"
        start = str(Path(self.start_folder()) / name)
        path, _ = QFileDialog.getSaveFileName(self.window, "Save project as", start, FILTER)
        if not path:
            return False
        if not path.endswith(projects.EXTENSION):
            path += projects.EXTENSION
        return self._write(Path(path))

    def _write(self, path: Path) -> bool:
        project = self.doc.project
        # The name follows the file's unless it was set: "untitled" or the old file's name.
        old_name = project.name
        if old_name in ("untitled", "") or (self.doc.path is not None
                                            and old_name == self.doc.path.stem):
            project.name = path.stem
        try:
            projects.save(project, path)
        except OSError as err:
            project.name = old_name
            self.show_error("Cannot save", f"{path}: {err.strerror or err}")
            return False
        if project.name != old_name:
            self.doc.info_changed.emit()
        self.doc.path = path
        self.doc.undo_stack.setClean()
        self.autosaver.discard()
        self.remember(str(path.resolve()))
        self.window.update_title()
        self.window.show_message(f"Saved {path}")
        return True

    # -------------------------------------------------------------- recovery
    def offer_recovery(self) -> bool:
        """After a crash: offer every recovery copy left behind (several windows may have
        been killed); True when one was restored in this window. A copy is deleted only when
        restored (once the restored document is open and has its own recovery copy) or
        discarded by the user; the rest stay for the next start."""
        found = autosave.left_behind()
        if not found:
            return False
        choice = self.ask_restore(found)
        for recovery in choice.discard:
            recovery.discard()
        return choice.restore is not None and self.restore(choice.restore)

    def restore(self, recovery: autosave.Recovery) -> bool:
        try:
            project = projects.load(recovery.file)
        except projects.ProjectError as err:
            self.show_error("Cannot restore", str(err))
            return False
        if not self.maybe_save():
            return False
        doc = Document(with_layout(project),
                       path=Path(recovery.original) if recovery.original else None)
        self.window.set_document(doc)
        doc.undo_stack.resetClean()  # restored work is unsaved work
        self.window.update_title()
        # This window's own copy first, so the work never lives in memory alone; a copy that
        # cannot be written leaves the old one to be offered again.
        self.autosaver.save_now()
        if self.autosaver.file.exists():
            recovery.discard()
        return True
