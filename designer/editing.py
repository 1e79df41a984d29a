"""The Edit, Group and Arrange actions: each builds one command from the current selection."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QApplication

from designer import clipboard, commands, relayout, steps
from designer.canvas.items import BLOCK_H, BLOCK_W, LAYOUT_GAP
from designer.canvas.view import CanvasView
from designer.document import Document, Point
from engine.layers import REGISTRY
from engine.layout import arrange

if TYPE_CHECKING:
    from designer.main_window import MainWindow

ROW_GAP = LAYOUT_GAP[1]  # a block added after another goes one layer below


class EditController:
    def __init__(self, window: MainWindow) -> None:
        self.window = window

    @property
    def doc(self) -> Document:
        return self.window.doc

    @property
    def view(self) -> CanvasView:
        return self.window.view

    def _run(self, cmd: commands.Command) -> bool:
        return commands.execute(self.doc, cmd)

    # -------------------------------------------------------------- adding
    def add_kind(self, kind: str, params: dict | None = None) -> str | None:
        """Palette double-click or Enter: below the selected block, connected to it, or in
        the middle of the view; ``params`` are those typed after the kind's name. Where
        another block already stands below (a second branch), the network is laid out
        again with the new block in it."""
        scene = self.window.scene
        selected = [i for i in scene.selected_ids() if i in self.doc.graph.nodes]
        anchor = selected[0] if len(selected) == 1 else None
        arity = REGISTRY.get(kind).arity if kind in REGISTRY else 1
        if anchor is not None and not self.doc.graph.nodes[anchor].is_group:
            pos = self.doc.position(anchor) or (0.0, 0.0)
            if self.doc.direction == "LR":
                pos = (pos[0] + BLOCK_W + ROW_GAP, pos[1])
            else:
                pos = (pos[0], pos[1] + BLOCK_H + ROW_GAP)
            node = commands.new_node(self.doc, kind, params=params)
            add = [steps.AddNode(node, pos)]
            if arity != 0:
                add.append(steps.Connect(anchor, node.id, 0))
            if self._taken(pos):
                add.append(relayout.Relayout(anchor))
            cmd = commands.Command(self.doc, f"Add {kind} {node.name} after "
                                   f"{self.doc.label(anchor)}", add)
        else:
            centre = self.view.mapToScene(self.view.viewport().rect().center())
            pos = (round(centre.x() - BLOCK_W / 2), round(centre.y() - BLOCK_H / 2))
            cmd = commands.add_block(self.doc, kind, pos, params)
            node = cmd.steps[0].node
        if self._run(cmd):
            self.doc.flush()
            scene.select_ids([node.id])
            return node.id
        return None

    def _taken(self, pos: Point) -> bool:
        """Whether a shown block stands where a new one would go."""
        for node_id in self.doc.graph.nodes:
            if self.doc.visible_owner(node_id) != node_id:
                continue
            other = self.doc.position(node_id)
            if other is not None and abs(other[0] - pos[0]) < BLOCK_W and abs(
                    other[1] - pos[1]) < BLOCK_H:
                return True
        return False

    def drop_kind(self, kind: str, scene_pos: QPointF) -> str | None:
        """A kind dropped from the palette: onto an edge it is inserted there (and the
        blocks after it make room)."""
        pos = (round(scene_pos.x() - BLOCK_W / 2), round(scene_pos.y() - BLOCK_H / 2))
        edge_item = self.window.scene.edge_at(scene_pos, self.view.transform())
        if edge_item is not None:
            cmd = commands.insert_on_edge(self.doc, kind, pos, edge_item.edge)
            cmd.steps.append(relayout.Relayout(self.doc.visible_owner(edge_item.edge.src)))
        else:
            cmd = commands.add_block(self.doc, kind, pos)
        node_id = cmd.steps[0].node.id
        if self._run(cmd):
            self.doc.flush()
            self.window.scene.select_ids([node_id])
            return node_id
        return None

    # ------------------------------------------------------------ removing
    def delete(self) -> None:
        scene = self.window.scene
        ids, edges = scene.selected_ids(), scene.selected_edges()
        if ids or edges:
            self._run(commands.delete(self.doc, ids, edges))

    def select_all(self) -> None:
        scene = self.window.scene
        scene.select_ids([i for i, item in scene.blocks.items() if item.isVisible()]
                         + [i for i, f in scene.frames.items() if f.isVisible()])

    # ----------------------------------------------------------- clipboard
    def copy(self) -> bool:
        ids = self.window.scene.selected_ids()
        if not ids:
            return False
        QApplication.clipboard().setMimeData(clipboard.to_mime(clipboard.fragment(self.doc,
                                                                                   ids)))
        return True

    def cut(self) -> None:
        if self.copy():
            cmd = commands.delete(self.doc, self.window.scene.selected_ids())
            cmd.setText(cmd.text().replace("Delete", "Cut", 1))
            self._run(cmd)

    def paste(self) -> None:
        """Paste beside the originals, where nothing stands (a second paste goes beside
        the first)."""
        frag = clipboard.from_mime(QApplication.clipboard().mimeData())
        if frag is None:
            self.window.show_message("Nothing to paste: copy some blocks first")
            return
        self._paste(frag, relayout.free_offset(self.doc, frag))

    def duplicate(self) -> None:
        ids = self.window.scene.selected_ids()
        if ids:
            frag = clipboard.fragment(self.doc, ids)
            self._paste(frag, relayout.free_offset(self.doc, frag), "Duplicate")

    def _paste(self, frag, offset, verb: str = "Paste") -> None:
        cmd, tops = clipboard.paste(self.doc, frag, offset)
        cmd.setText(cmd.text().replace("Paste", verb, 1))
        if self._run(cmd):
            self.doc.flush()
            self.window.scene.select_ids(tops)

    # --------------------------------------------------------------- groups
    def group(self) -> str | None:
        ids = self.window.scene.selected_ids()
        if not ids:
            self.window.show_message("Select the blocks to group first")
            return None
        cmd = commands.group(self.doc, ids, None, (BLOCK_W, BLOCK_H))
        group_step = cmd.steps[0]
        # The group takes its members' place; the blocks after it close up.
        cmd.steps.append(relayout.Relayout(
            lambda: relayout.visible_anchor(self.doc, group_step.group_id)))
        if not self._run(cmd):
            return None
        group_id = group_step.group_id
        self.doc.flush()
        self.window.scene.select_ids([group_id])
        self.window.focus_name()
        return group_id

    def ungroup(self, group_id: str | None = None) -> None:
        ids = [group_id] if group_id else self.window.scene.selected_ids()
        groups = [i for i in ids if i in self.doc.graph.nodes and self.doc.graph.nodes[i].is_group]
        if not groups:
            self.window.show_message("Select a group to ungroup")
            return
        anchor = relayout.visible_anchor(self.doc, groups[0])
        if len(groups) == 1:
            cmd = commands.ungroup(self.doc, groups[0])
        else:
            cmd = commands.Command(self.doc, f"Ungroup {len(groups)} groups",
                                   [steps.Ungroup(g) for g in groups])
        # Its members take its place, laid out with the rest.
        cmd.steps.append(relayout.Relayout(lambda: anchor if anchor in self.doc.graph.nodes
                                           and anchor not in groups else None))
        self._run(cmd)

    def toggle_selected_groups(self) -> None:
        for node_id in self.window.scene.selected_ids():
            if self.doc.graph.nodes[node_id].is_group:
                self.toggle_group(node_id)
                return
        self.window.show_message("Select a group to expand or collapse")

    def toggle_group(self, group_id: str) -> None:
        """Expand or collapse in place, laying the network out again around it. A view
        change, not an edit: saved with the project, but no undo step and no unsaved
        changes (looking inside a group changes nothing in the network)."""
        doc = self.doc
        collapse = not doc.is_collapsed(group_id)
        anchor = relayout.visible_anchor(doc, group_id)
        if anchor == group_id:  # nothing around it: the group keeps its own place
            anchor = None
        doc.change_view(group_id, collapse)
        doc.change_view(group_id, collapse, relayout.laid_out(doc, anchor))
        doc.flush()
        self.window.scene.select_ids([group_id])

    # -------------------------------------------------------------- arrange
    def arrange(self, direction: str) -> None:
        positions = arrange(self.doc.graph, self.doc.collapsed, (BLOCK_W, BLOCK_H), direction,
                            LAYOUT_GAP)
        if self._run(commands.arrange(self.doc, positions, direction)):
            self.doc.flush()
            self.view.fit()
