"""The main window: palette, canvas, inspector, summary and problems around one Document."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QUndoGroup
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QLabel,
    QMainWindow,
    QMenu,
    QStackedWidget,
)

from designer import actions, settings_store, theme
from designer.canvas.scene import CanvasScene
from designer.canvas.telemetry import TelemetryOverlay
from designer.canvas.view import CanvasView, _project_paths
from designer.document import Document, Refresh
from designer.editing import EditController
from designer.files import FileController
from designer.inspector import WIDTH as INSPECTOR_WIDTH
from designer.inspector import Inspector
from designer.palette import Palette
from designer.panels.lazy import PANELS, TrainingSide, image_paths
from designer.panels.problems import ProblemsPanel
from designer.panels.summary import SummaryPanel
from designer.train_control import TrainController
from designer.transfer_control import TransferController
from engine.summary import human_count

# 2: the palette's default width fits its category names (layouts saved before are dropped).
STATE_VERSION = 2


class MainWindow(QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.doc: Document | None = None
        self.setObjectName("netdraft-main")
        self.setAcceptDrops(True)
        self.scene = CanvasScene(self)
        self.view = CanvasView(self.scene, self)
        self.telemetry = TelemetryOverlay(self.scene)
        # The canvas, or on a first start the welcome page in its place.
        self.central = QStackedWidget(self)
        self.central.addWidget(self.view)
        self.setCentralWidget(self.central)
        self.welcome = None
        self.undo_group = QUndoGroup(self)
        self.editing = EditController(self)
        self.files = FileController(self)
        self.palette = Palette(self)
        self.inspector = Inspector(self)
        self.summary = SummaryPanel(self)
        self.problems = ProblemsPanel(self)
        self.trainer = TrainController(self)
        self.transfer = TransferController(self)
        self.training_side = TrainingSide(self)
        self.docks = {
            "palette": self._dock("Blocks", "palette", self.palette,
                                  Qt.DockWidgetArea.LeftDockWidgetArea),
            "inspector": self._dock("Inspector", "inspector", self.inspector,
                                    Qt.DockWidgetArea.RightDockWidgetArea),
            "summary": self._dock("Summary", "summary", self.summary,
                                  Qt.DockWidgetArea.BottomDockWidgetArea),
            "problems": self._dock("Problems", "problems", self.problems,
                                   Qt.DockWidgetArea.BottomDockWidgetArea),
        }
        for name, title, _factory in PANELS:
            self.docks[name] = self._dock(title, name, self.training_side.lazy[name],
                                          Qt.DockWidgetArea.BottomDockWidgetArea)
            self.docks[name].visibilityChanged.connect(
                lambda visible, n=name: self.training_side.dock_visible(n, visible))
        previous = self.docks["summary"]
        for name in ("problems", *(name for name, _t, _f in PANELS)):
            self.tabifyDockWidget(previous, self.docks[name])
            previous = self.docks[name]
        self.docks["summary"].raise_()
        self.recent_menu = None
        self.panels_menu = None
        self.actions_by_name = actions.build(self)
        actions.build_menus(self, self.actions_by_name)
        self.toolbar = actions.build_toolbar(self, self.actions_by_name)
        for dock in self.docks.values():
            self.panels_menu.addAction(dock.toggleViewAction())
        self.status_totals = QLabel(self)
        self.status_totals.setMinimumWidth(420)
        self.status_totals.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.statusBar().addPermanentWidget(self.status_totals)
        self._wire()
        self.resize(1400, 900)
        self.theme_choice = settings_store.theme_choice()
        self.actions_by_name[f"theme_{self.theme_choice}"].setChecked(True)
        self.update_recent_menu()
        self.actions_by_name["stop"].setEnabled(False)

    def _dock(self, title: str, name: str, widget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{name}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _wire(self) -> None:
        self.palette.add_requested.connect(self.editing.add_kind)
        self.view.kind_dropped.connect(self.editing.drop_kind)
        self.view.files_dropped.connect(self.files.open_dropped)
        self.view.context_menu_requested.connect(self._context_menu)
        self.scene.selection_ids_changed.connect(self._selection_changed)
        self.scene.group_toggle_requested.connect(self.editing.toggle_group)
        self.summary.node_activated.connect(self.reveal)
        self.problems.node_activated.connect(self.reveal)
        self.inspector.toggle_group.connect(self.editing.toggle_group)
        self.inspector.ungroup.connect(self.editing.ungroup)
        self.inspector.group_selection.connect(self.editing.group)
        self.trainer.run_started.connect(lambda _p: self._training_state(True))
        self.trainer.run_ended.connect(lambda _p, _w: self._training_state(False))
        self.undo_group.cleanChanged.connect(lambda _clean: self.update_title())
        # A bound method, not a lambda: the style hints outlive this window, and Qt drops the
        # connection only when it knows the receiver (a lambda on a deleted window raised).
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._follow_color_scheme)

    # ---------------------------------------------------------------- document
    def set_document(self, doc: Document) -> None:
        self.show_canvas()
        old = self.doc
        self.doc = doc
        self.undo_group.addStack(doc.undo_stack)
        self.undo_group.setActiveStack(doc.undo_stack)
        doc.message.connect(self.show_message)
        doc.refreshed.connect(self._refreshed)
        doc.info_changed.connect(self.update_title)
        self.scene.set_document(doc)
        self.inspector.set_document(doc)
        self.summary.set_document(doc)
        self.problems.set_document(doc)
        self.training_side.set_document(doc)
        self.files.autosaver.set_document(doc)
        if old is not None:
            self.undo_group.removeStack(old.undo_stack)
            old.close()
            old.deleteLater()
        doc.flush()
        self._update_status()
        self.update_title()

    def _refreshed(self, refresh: Refresh) -> None:
        self._update_status()

    def _update_status(self) -> None:
        doc = self.doc
        totals = doc.totals
        problems = doc.analysis.problems
        if not doc.graph.nodes:  # a new network has no Input or Output yet: not a fault
            text = "Empty network: type a block's name (Ctrl+K) and press Enter"
            if self.status_totals.text() != text:
                self.status_totals.setText(text)
            return
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        state = f"<span style='color:#d12c2c'>⚠ {count}</span>" if problems else "✓ valid"
        # With problems the totals leave blocks out (or count nothing): say so, not 0.
        params = f"{totals['params']:,}" if not problems else f"— ({count})"
        macs = human_count(totals["macs"]) if not problems else "—"
        text = (f"Total params: <b>{params}</b> &nbsp;·&nbsp; MACs: "
                f"<b>{macs}</b> &nbsp;·&nbsp; {state}")
        if self.status_totals.text() != text:
            self.status_totals.setText(text)

    def update_title(self) -> None:
        if self.doc is None:
            return
        stack = self.undo_group.activeStack()  # None while the window is torn down
        if stack is None:
            return
        self.setWindowTitle(f"{self.doc.title}[*] — Netdraft")
        self.setWindowModified(not stack.isClean())

    def show_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 10000)

    def _selection_changed(self, ids: list[str]) -> None:
        self.inspector.show_ids(ids)
        self.summary.select_node(ids[0] if len(ids) == 1 else None)

    def _context_menu(self, where) -> None:
        a = self.actions_by_name
        menu = QMenu(self)
        menu.addActions([a["cut"], a["copy"], a["paste"], a["duplicate"], a["delete"]])
        menu.addSeparator()
        menu.addActions([a["rename"], a["group"], a["ungroup"], a["toggle_group"]])
        menu.addSeparator()
        menu.addActions([a["arrange_tb"], a["arrange_lr"], a["fit"]])
        menu.addSeparator()
        menu.addActions([a["freeze"], a["unfreeze"], a["freeze_up_to"], a["replace_head"]])
        menu.exec(where)

    def reveal(self, node_id: str) -> None:
        """Select a block (or the group showing it) and bring it into view."""
        if node_id not in self.doc.graph.nodes:
            return
        self.scene.select_ids([node_id])
        item = self.scene.item_for(node_id)
        if item is not None:
            self.view.ensureVisible(item.sceneBoundingRect(), 60, 60)
        if self.scene.owner.get(node_id, node_id) != node_id:
            self.inspector.show_ids([node_id])

    def _training_state(self, running: bool) -> None:
        a = self.actions_by_name
        a["train"].setEnabled(not running)
        a["resume"].setEnabled(not running)
        a["stop"].setEnabled(running)
        runs = self.training_side.existing("runs")
        if runs is not None:
            runs.refresh()

    def show_panel(self, name: str) -> None:
        """Bring a bottom panel to the front, tall enough for its plots and pictures."""
        dock = self.docks[name]
        dock.show()
        dock.raise_()
        if name in self.training_side.lazy and dock.height() < 340:
            self.resizeDocks([dock], [380], Qt.Orientation.Vertical)

    # The training side's panels, built on first use.
    @property
    def data_panel(self):
        return self.training_side.panel("data")

    @property
    def augmentation_panel(self):
        return self.training_side.panel("augmentation")

    @property
    def training_panel(self):
        return self.training_side.panel("training")

    @property
    def runs_panel(self):
        return self.training_side.panel("runs")

    @property
    def evaluation_panel(self):
        return self.training_side.panel("evaluation")

    @property
    def features_panel(self):
        return self.training_side.panel("features")

    def show_welcome(self) -> None:
        from designer.welcome import WelcomePage

        if self.welcome is None:
            self.welcome = WelcomePage(self)
            self.central.addWidget(self.welcome)
        else:
            self.welcome.rebuild()  # recent files change
        self.central.setCurrentWidget(self.welcome)

    def show_canvas(self) -> None:
        self.central.setCurrentWidget(self.view)

    def show_shortcuts(self) -> None:
        from designer.welcome import show_shortcuts

        show_shortcuts(self)

    def palette_search(self) -> None:
        """Ctrl+K (and a new empty network): type the next block."""
        self.docks["palette"].show()
        self.docks["palette"].raise_()
        self.palette.focus_search()

    def focus_name(self) -> None:
        self.docks["inspector"].show()
        if self.inspector.name_edit is not None:
            self.inspector.name_edit.setFocus()
            self.inspector.name_edit.selectAll()

    # --------------------------------------------------------------- settings
    def _follow_color_scheme(self, _scheme) -> None:
        """The platform switched between light and dark: "system" follows it."""
        self.set_theme(self.theme_choice, save=False)

    def set_theme(self, choice: str, save: bool = True) -> None:
        self.theme_choice = choice
        theme.apply(QApplication.instance(), choice)
        if save:
            settings_store.set_theme_choice(choice)
        self.view.resetCachedContent()
        for item in self.scene.items():
            item.update()
        self.view.minimap.schedule()
        # Style sheets resolve palette(...) colours when set: build the inspector anew.
        self.inspector.show_ids(self.inspector.ids)

    def update_recent_menu(self) -> None:
        menu = self.recent_menu
        if menu is None:
            return
        menu.clear()
        files = settings_store.recent_files()
        for path in files:
            action = QAction(Path(path).name, menu)
            action.setToolTip(path)
            action.setStatusTip(path)
            action.triggered.connect(lambda _c=False, p=path: self.files.open_path(p))
            menu.addAction(action)
        menu.setEnabled(bool(files))

    def restore_layout(self) -> None:
        store = settings_store.store()
        geometry = store.value("geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        state = store.value("state")
        if not (isinstance(state, QByteArray) and not state.isEmpty()
                and self.restoreState(state, STATE_VERSION)):
            self.resizeDocks([self.docks["palette"], self.docks["inspector"]],
                             [self.palette.preferred_width(), INSPECTOR_WIDTH],
                             Qt.Orientation.Horizontal)
            self.resizeDocks([self.docks["summary"]], [190], Qt.Orientation.Vertical)

    def save_layout(self) -> None:
        store = settings_store.store()
        store.setValue("geometry", self.saveGeometry())
        store.setValue("state", self.saveState(STATE_VERSION))
        store.sync()

    def about(self) -> None:
        from PySide6.QtWidgets import QMessageBox

        QMessageBox.about(self, "About Netdraft",
                          "<b>Netdraft</b><br>Design and validate convolutional neural "
                          "networks, then train them from the window: choose data in the "
                          "Data panel, preview augmentation, press Train (F5) and watch the "
                          "curves; compare runs in Run History, evaluate them, and look inside "
                          "with feature maps and Grad-CAM. Import pretrained networks "
                          "(File > Import), freeze them and give them a new head, and export "
                          "to ONNX with a parity check, PyTorch code or safetensors (File > "
                          "Export).")

    # ------------------------------------------------------------------ events
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if not self.trainer.confirm_close():
            event.ignore()
            return
        if not self.files.maybe_save():
            event.ignore()
            return
        self.save_layout()
        # The next start reopens this project (a network never saved: the welcome page).
        settings_store.set_last_project(str(self.doc.path.resolve())
                                        if self.doc is not None and self.doc.path else "")
        self.files.autosaver.discard()
        event.accept()

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if _project_paths(event.mimeData()) or image_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = _project_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.files.open_dropped(paths)
            return
        images = image_paths(event.mimeData())
        if images:  # an image: what does the network make of it?
            event.acceptProposedAction()
            self.predict_image(images[0])

    def predict_image(self, path: str | None = None) -> None:
        """Show the Feature Maps panel on an image file: its top classes, and the selected
        block's maps (a file dialog when no path is given)."""
        self.show_panel("features")
        panel = self.training_side.panel("features")
        if path is None:
            panel.choose_image()
        else:
            panel.use_image(path)

