"""Menus, toolbar and shortcuts: every action of the designer, with the platform's standard
key sequences where there is one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QToolBar, QToolButton

from designer import icons, theme
from designer.latency import profile_document

if TYPE_CHECKING:
    from designer.main_window import MainWindow

Key = QKeySequence.StandardKey


def _action(window: MainWindow, text: str, slot, keys=(), tip: str = "", icon=None) -> QAction:
    action = QAction(text, window)
    shortcuts = [k if isinstance(k, QKeySequence) else QKeySequence(k) for k in keys]
    if shortcuts:
        action.setShortcuts(shortcuts)
    action.setStatusTip(tip or text.replace("&", "").rstrip("…"))
    if shortcuts:
        action.setToolTip(f"{text.replace('&', '').rstrip('…')} "
                          f"({shortcuts[0].toString(QKeySequence.SequenceFormat.NativeText)})")
    if icon is not None:
        action.setIcon(icon)
    action.triggered.connect(lambda _checked=False: slot())
    window.addAction(action)
    return action


def build(window: MainWindow) -> dict[str, QAction]:
    """Every action by name; Help > Keyboard Shortcuts lists them in this order."""
    a: dict[str, QAction] = {}
    _file_actions(window, a)
    _edit_actions(window, a)
    _arrange_actions(window, a)
    _view_actions(window, a)
    _panel_actions(window, a)
    _train_actions(window, a)
    _transfer_actions(window, a)
    _inspect_actions(window, a)
    _help_actions(window, a)
    return a


def _file_actions(window: MainWindow, a: dict[str, QAction]) -> None:
    files = window.files
    a["new"] = _action(window, "&New", files.new_empty, [Key.New], "New empty network",
                       icons.icon("new"))
    a["gallery"] = _action(window, "New from &Template…", files.new_from_gallery,
                           ["Ctrl+Shift+N"], "Start from one of the lecture's networks",
                           icons.icon("Backbones"))
    a["open"] = _action(window, "&Open…", files.open_dialog, [Key.Open], "Open a project",
                        icons.icon("open"))
    a["save"] = _action(window, "&Save", files.save, [Key.Save], "Save the project",
                        icons.icon("save"))
    a["save_as"] = _action(window, "Save &As…", files.save_as, [Key.SaveAs])
    a["quit"] = _action(window, "&Quit", window.close, [Key.Quit])


def _edit_actions(window: MainWindow, a: dict[str, QAction]) -> None:
    edit = window.editing
    group = window.undo_group
    a["undo"] = group.createUndoAction(window, "Undo")
    a["undo"].setShortcuts([QKeySequence(Key.Undo)])
    a["redo"] = group.createRedoAction(window, "Redo")
    a["redo"].setShortcuts([QKeySequence(Key.Redo), QKeySequence("Ctrl+Y")]
                           if QKeySequence(Key.Redo) != QKeySequence("Ctrl+Y")
                           else [QKeySequence("Ctrl+Y"), QKeySequence("Ctrl+Shift+Z")])
    a["undo"].setIcon(icons.icon("undo"))
    a["redo"].setIcon(icons.icon("redo"))
    a["cut"] = _action(window, "Cu&t", edit.cut, [Key.Cut])
    a["copy"] = _action(window, "&Copy", edit.copy, [Key.Copy])
    a["paste"] = _action(window, "&Paste", edit.paste, [Key.Paste])
    a["duplicate"] = _action(window, "&Duplicate", edit.duplicate, ["Ctrl+D"])
    a["delete"] = _action(window, "De&lete", edit.delete,
                          [Key.Delete, QKeySequence(Qt.Key.Key_Backspace)],
                          "Delete the selected blocks and connections")
    a["select_all"] = _action(window, "Select &All", edit.select_all, [Key.SelectAll])
    a["add_block"] = _action(window, "&Add Block…", window.palette_search, ["Ctrl+K"],
                             "Type a block (and its parameters: conv 32 relu) and press "
                             "Enter: it is added after the selected block")
    a["rename"] = _action(window, "&Rename…", window.focus_name, ["F2"])


def _arrange_actions(window: MainWindow, a: dict[str, QAction]) -> None:
    edit = window.editing
    a["group"] = _action(window, "&Group", edit.group, ["Ctrl+G"],
                         "Group the selected blocks into one unit", icons.icon("group"))
    a["ungroup"] = _action(window, "&Ungroup", edit.ungroup, ["Ctrl+Shift+G"])
    a["toggle_group"] = _action(window, "&Expand / Collapse Group",
                                edit.toggle_selected_groups, ["Ctrl+E"])
    a["arrange_tb"] = _action(window, "Auto-arrange &Top to Bottom",
                              lambda: edit.arrange("TB"), ["Ctrl+L"],
                              "Lay the network out in layers, top to bottom",
                              icons.icon("arrange"))
    a["arrange_lr"] = _action(window, "Auto-arrange &Left to Right",
                              lambda: edit.arrange("LR"), ["Ctrl+Shift+L"])


def _view_actions(window: MainWindow, a: dict[str, QAction]) -> None:
    """Zoom, the overview map, what the blocks' share bars measure, and the theme."""
    view = window.view
    a["zoom_in"] = _action(window, "Zoom &In", view.zoom_in, [Key.ZoomIn, "Ctrl+="])
    a["zoom_out"] = _action(window, "Zoom &Out", view.zoom_out, [Key.ZoomOut])
    a["fit"] = _action(window, "&Fit to Window", view.fit, ["Ctrl+0"])
    a["minimap"] = _action(window, "&Overview Map", lambda: view.minimap.set_enabled(
        a["minimap"].isChecked()), tip="Show an overview of large networks")
    a["minimap"].setCheckable(True)
    a["minimap"].setChecked(True)
    bars = QActionGroup(window)
    for measure, text in (("params", "Share Bar: &Parameters"), ("macs", "Share Bar: &MACs"),
                          ("latency", "Share Bar: &Latency (measured)")):
        words = "time in the last profile (Train ▸ Profile Latency)" \
            if measure == "latency" else measure
        act = _action(window, text, lambda m=measure: window.scene.set_bar_measure(m),
                      tip=f"Each block's bar shows its share of the network's {words}")
        act.setCheckable(True)
        act.setChecked(measure == "params")
        bars.addAction(act)
        a[f"bar_{measure}"] = act
    themes = QActionGroup(window)
    for choice in theme.CHOICES:
        act = _action(window, f"{choice.capitalize()} Theme",
                      lambda c=choice: window.set_theme(c))
        act.setCheckable(True)
        themes.addAction(act)
        a[f"theme_{choice}"] = act


def _panel_actions(window: MainWindow, a: dict[str, QAction]) -> None:
    for name, text, key in (("data", "&Data", "Ctrl+Alt+1"),
                            ("augmentation", "&Augmentation", "Ctrl+Alt+2"),
                            ("training", "&Training Settings", "Ctrl+Alt+3"),
                            ("runs", "Run &History", "Ctrl+Alt+4"),
                            ("evaluation", "&Evaluation", "Ctrl+Alt+5"),
                            ("features", "&Feature Maps", "Ctrl+Alt+6")):
        a[f"panel_{name}"] = _action(window, text, lambda n=name: window.show_panel(n), [key],
                                     f"Show the {text.replace('&', '')} panel")


def _train_actions(window: MainWindow, a: dict[str, QAction]) -> None:
    trainer = window.trainer
    a["train"] = _action(window, "&Train", trainer.train, ["F5"],
                         "Save the project and train it; watch it in the Training panel",
                         icons.icon("train"))
    a["stop"] = _action(window, "&Stop Training", trainer.stop, ["Shift+F5"],
                        "Finish the current step and keep an 'interrupted' checkpoint",
                        icons.icon("stop"))
    a["resume"] = _action(window, "&Resume Training", lambda: trainer.resume(),
                          ["Ctrl+F5"], "Continue the selected (or last) run from its "
                          "last checkpoint")
    a["profile"] = _action(window, "&Profile Latency", lambda: profile_document(window),
                           tip="Run the network in onnxruntime (CPU, batch 1) with its "
                               "profiler and show each block's measured time")


def _transfer_actions(window: MainWindow, a: dict[str, QAction]) -> None:
    """Import and export, and the transfer-learning edits: freezing and a new head."""
    transfer = window.transfer
    a["import"] = _action(window, "&Import…", transfer.open_import, ["Ctrl+I"],
                          "Import a torchvision network, an ONNX model or an earlier run as "
                          "a new project", icons.icon("open"))
    a["export"] = _action(window, "&Export…", transfer.open_export, ["Ctrl+Shift+E"],
                          "Export to ONNX (with a parity check), PyTorch code or "
                          "safetensors", icons.icon("save"))
    a["freeze"] = _action(window, "&Freeze", transfer.freeze, (),
                          "Freeze the selected blocks: their weights stop training "
                          "(lr_mult 0)")
    a["unfreeze"] = _action(window, "U&nfreeze", transfer.unfreeze, (),
                            "Let the selected frozen blocks train again")
    a["freeze_up_to"] = _action(window, "Freeze &Up to Here", transfer.freeze_up_to, (),
                                "Freeze the selected block (or group) and every block "
                                "before it; the blocks after it train")
    a["replace_head"] = _action(window, "Replace &Head…", transfer.replace_head, (),
                                "Remove the classifier and put a new Dense and Output for "
                                "the data's classes (pop() and Dense(num_classes))")


def _inspect_actions(window: MainWindow, a: dict[str, QAction]) -> None:
    """What the network does: its prediction for an image, and each block's telemetry."""
    a["predict"] = _action(window, "&Predict an Image…", lambda: window.predict_image(),
                           ["Ctrl+Alt+P"], "The network's top classes for an image file, "
                           "with the selected block's feature maps (or drop an image on "
                           "the window)")
    a["telemetry"] = _action(window, "Block &Telemetry", lambda: window.telemetry.set_visible(
        a["telemetry"].isChecked()), tip="While a run trains with training.telemetry_every, "
        "show each block's activation statistics and gradient norm on it")
    a["telemetry"].setCheckable(True)
    a["telemetry"].setChecked(True)


def _help_actions(window: MainWindow, a: dict[str, QAction]) -> None:
    a["about"] = _action(window, "&About Netdraft", window.about)
    a["shortcuts"] = _action(window, "&Keyboard Shortcuts", window.show_shortcuts, ["F1"],
                             "Every shortcut, and how to type blocks")
    a["welcome"] = _action(window, "&Welcome Page", window.show_welcome,
                           tip="Templates, recent projects, importing and the shortcuts")


def build_menus(window: MainWindow, a: dict[str, QAction]) -> None:
    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    file_menu.addActions([a["new"], a["gallery"], a["open"]])
    window.recent_menu = file_menu.addMenu("Open &Recent")
    file_menu.addSeparator()
    file_menu.addActions([a["import"], a["export"]])
    file_menu.addSeparator()
    file_menu.addActions([a["save"], a["save_as"]])
    file_menu.addSeparator()
    file_menu.addAction(a["quit"])
    edit_menu = bar.addMenu("&Edit")
    edit_menu.addActions([a["undo"], a["redo"]])
    edit_menu.addSeparator()
    edit_menu.addActions([a["cut"], a["copy"], a["paste"], a["duplicate"], a["delete"]])
    edit_menu.addSeparator()
    edit_menu.addActions([a["add_block"], a["select_all"], a["rename"]])
    arrange_menu = bar.addMenu("&Arrange")
    arrange_menu.addActions([a["group"], a["ungroup"], a["toggle_group"]])
    arrange_menu.addSeparator()
    arrange_menu.addActions([a["arrange_tb"], a["arrange_lr"]])
    view_menu = bar.addMenu("&View")
    view_menu.addActions([a["zoom_in"], a["zoom_out"], a["fit"]])
    view_menu.addSeparator()
    view_menu.addActions([a["minimap"], a["bar_params"], a["bar_macs"], a["bar_latency"],
                          a["telemetry"]])
    view_menu.addSeparator()
    view_menu.addActions([a[f"theme_{c}"] for c in theme.CHOICES])
    window.panels_menu = view_menu.addMenu("&Panels")
    train_menu = bar.addMenu("&Train")
    train_menu.addActions([a["panel_data"], a["panel_augmentation"], a["panel_training"],
                           a["panel_runs"], a["panel_evaluation"], a["panel_features"],
                           a["predict"]])
    train_menu.addSeparator()
    train_menu.addActions([a["freeze"], a["unfreeze"], a["freeze_up_to"], a["replace_head"]])
    train_menu.addSeparator()
    train_menu.addActions([a["train"], a["stop"], a["resume"]])
    train_menu.addSeparator()
    train_menu.addAction(a["profile"])
    help_menu = bar.addMenu("&Help")
    help_menu.addActions([a["shortcuts"], a["welcome"]])
    help_menu.addSeparator()
    help_menu.addAction(a["about"])


def build_toolbar(window: MainWindow, a: dict[str, QAction]) -> QToolBar:
    toolbar = window.addToolBar("Main")
    toolbar.setObjectName("main-toolbar")
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    toolbar.addActions([a["new"], a["gallery"], a["open"], a["save"]])
    toolbar.addSeparator()
    for name in ("undo", "redo"):
        # Their text names the step ("Undo Connect conv1 → pool1"): as icons the toolbar
        # keeps its layout on every edit; the menu and tooltip show the text.
        button = QToolButton(toolbar)
        button.setDefaultAction(a[name])
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        button.setAutoRaise(True)
        toolbar.addWidget(button)
    toolbar.addSeparator()
    toolbar.addActions([a["group"], a["arrange_tb"]])
    toolbar.addSeparator()
    toolbar.addActions([a["zoom_out"], a["fit"], a["zoom_in"]])
    toolbar.addSeparator()
    toolbar.addActions([a["train"], a["stop"]])
    return toolbar
