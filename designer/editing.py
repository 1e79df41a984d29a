"""The Edit, Group and Arrange actions: each builds one command from the current selection."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QApplication

from designer import clipboard, commands, steps
from designer.canvas.items import BLOCK_H, BLOCK_W, LAYOUT_GAP
from designer.canvas.view import CanvasView
from designer.document import Document, Point
from engine.layers import REGISTRY
from engine.layout import GROUP_HEADER, GROUP_PADDING, arrange, members_box

if TYPE_CHECKING:
    from designer.main_window import MainWindow

ROW_GAP = LAYOUT_GAP[1]  # a block added after another goes one layer below


class EditController:
    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self._pastes = 0

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
        the middle of the view; ``params`` are those typed after the kind's name."""
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

    def drop_kind(self, kind: str, scene_pos: QPointF) -> str | None:
        """A kind dropped from the palette: onto an edge it is inserted there."""
        pos = (round(scene_pos.x() - BLOCK_W / 2), round(scene_pos.y() - BLOCK_H / 2))
        edge_item = self.window.scene.edge_at(scene_pos, self.view.transform())
        if edge_item is not None:
            cmd = commands.insert_on_edge(self.doc, kind, pos, edge_item.edge)
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
        self._pastes = 0
        return True

    def cut(self) -> None:
        if self.copy():
            cmd = commands.delete(self.doc, self.window.scene.selected_ids())
            cmd.setText(cmd.text().replace("Delete", "Cut", 1))
            self._run(cmd)

    def paste(self) -> None:
        frag = clipboard.from_mime(QApplication.clipboard().mimeData())
        if frag is None:
            self.window.show_message("Nothing to paste: copy some blocks first")
            return
        self._pastes += 1
        offset = (clipboard.PASTE_OFFSET[0] * self._pastes,
                  clipboard.PASTE_OFFSET[1] * self._pastes)
        self._paste(frag, offset)

    def duplicate(self) -> None:
        ids = self.window.scene.selected_ids()
        if ids:
            self._paste(clipboard.fragment(self.doc, ids), clipboard.PASTE_OFFSET,
                        "Duplicate")

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
        if not self._run(cmd):
            return None
        group_id = cmd.steps[0].group_id
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
        if len(groups) == 1:
            self._run(commands.ungroup(self.doc, groups[0]))
        else:
            self._run(commands.Command(self.doc, f"Ungroup {len(groups)} groups",
                                       [steps.Ungroup(g) for g in groups]))

    def toggle_selected_groups(self) -> None:
        for node_id in self.window.scene.selected_ids():
            if self.doc.graph.nodes[node_id].is_group:
                self.toggle_group(node_id)
                return
        self.window.show_message("Select a group to expand or collapse")

    def toggle_group(self, group_id: str) -> None:
        """Expand or collapse in place, moving the blocks after it to make or return room.
        A view change, not an edit: saved with the project, but no undo step and no unsaved
        changes (looking inside a group changes nothing in the network)."""
        doc = self.doc
        collapse = not doc.is_collapsed(group_id)
        doc.change_view(group_id, collapse, self._room(group_id, collapse))
        doc.flush()
        self.window.scene.select_ids([group_id])

    def _room(self, group_id: str, collapse: bool) -> dict[str, Point]:
        doc = self.doc
        inside = [i for i in _descendants(doc, group_id)]
        positions = {i: doc.position(i) for i in inside if doc.position(i) is not None}
        if not positions:
            return {}
        # The room the expanded frame takes: what shows in it (collapsed subgroups are one
        # block; the members they hide keep places of their own, which must not count).
        left, top, right, bottom = _shown_box(doc, group_id)
        if right <= left:
            left, top, right, bottom = members_box(positions, positions, (BLOCK_W, BLOCK_H))
        lr = doc.direction == "LR"
        frame_w = right - left + 2 * GROUP_PADDING
        frame_h = bottom - top + 2 * GROUP_PADDING + GROUP_HEADER
        growth = (frame_w - BLOCK_W) if lr else (frame_h - BLOCK_H)
        moves: dict[str, Point] = {}
        if collapse:
            block = ((left + right) / 2 - BLOCK_W / 2, top - GROUP_PADDING - GROUP_HEADER)
            if lr:
                block = (left - GROUP_PADDING, (top + bottom) / 2 - BLOCK_H / 2)
            moves[group_id] = block
            edge = right if lr else bottom
            shift = -growth
        else:
            gx, gy = doc.position(group_id) or (left, top)
            if lr:
                dx = gx + GROUP_PADDING - left
                dy = gy + BLOCK_H / 2 - (top + bottom) / 2
            else:
                dx = gx + BLOCK_W / 2 - (left + right) / 2
                dy = gy + GROUP_PADDING + GROUP_HEADER - top
            for node_id, (x, y) in positions.items():
                moves[node_id] = (x + dx, y + dy)
            edge = (gx + BLOCK_W / 2) if lr else (gy + BLOCK_H / 2)
            shift = growth
        if growth > 0:
            skip = set(inside) | {group_id}
            for node_id in list(doc.positions):
                if node_id in skip:
                    continue
                x, y = doc.position(node_id)
                if lr and x > edge:
                    moves[node_id] = (x + shift, y)
                elif not lr and y > edge:
                    moves[node_id] = (x, y + shift)
        return moves

    # -------------------------------------------------------------- arrange
    def arrange(self, direction: str) -> None:
        positions = arrange(self.doc.graph, self.doc.collapsed, (BLOCK_W, BLOCK_H), direction,
                            LAYOUT_GAP)
        if self._run(commands.arrange(self.doc, positions, direction)):
            self.doc.flush()
            self.view.fit()


def _shown_box(doc: Document, group_id: str) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) around the blocks and frames that show inside an expanded
    group; an empty box (right <= left) when none has a place."""
    boxes = []
    for child in doc.graph.children(group_id):
        if child.is_group and not doc.is_collapsed(child.id):
            left, top, right, bottom = _shown_box(doc, child.id)
            if right > left:
                boxes.append((left - GROUP_PADDING, top - GROUP_PADDING - GROUP_HEADER,
                              right + GROUP_PADDING, bottom + GROUP_PADDING))
        elif doc.position(child.id) is not None:
            x, y = doc.position(child.id)
            boxes.append((x, y, x + BLOCK_W, y + BLOCK_H))
    if not boxes:
        return (0.0, 0.0, 0.0, 0.0)
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
            max(b[3] for b in boxes))


def _descendants(doc: Document, group_id: str) -> list[str]:
    out = []
    for child in doc.graph.children(group_id):
        out.append(child.id)
        out.extend(_descendants(doc, child.id))
    return out
