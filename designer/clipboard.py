"""Cut, copy, paste and duplicate: a selection as a JSON fragment, pasted with fresh ids."""

from __future__ import annotations

import json
import re
from typing import Any

from PySide6.QtCore import QMimeData

from designer import commands, steps
from designer.document import Document, Point
from engine.graph import Edge, Node

MIME = "application/x-netdraft-fragment"
PASTE_OFFSET = (40.0, 40.0)


def fragment(doc: Document, ids: list[str]) -> dict[str, Any]:
    """The selected blocks (groups with their members) and the connections among them."""
    graph = doc.graph
    chosen: list[str] = []
    for node_id in ids:
        if node_id in graph.nodes:
            chosen.extend(commands._subtree(doc, node_id))
    chosen = list(dict.fromkeys(chosen))
    inside = set(chosen)
    nodes = [graph.nodes[i].to_json() for i in chosen]
    for item in nodes:
        if item.get("parent") not in inside:
            item.pop("parent", None)
    edges = [e.to_json() for e in graph.edges if e.src in inside and e.dst in inside]
    positions = {i: list(doc.position(i)) for i in chosen if doc.position(i) is not None}
    collapsed = [i for i in chosen if doc.is_collapsed(i)]
    return {"nodes": nodes, "edges": edges, "positions": positions, "collapsed": collapsed}


def to_mime(frag: dict[str, Any]) -> QMimeData:
    mime = QMimeData()
    text = json.dumps(frag)
    mime.setData(MIME, text.encode("utf-8"))
    mime.setText(text)
    return mime


def from_mime(mime: QMimeData | None) -> dict[str, Any] | None:
    """The fragment on the clipboard: our own format, or its plain-text copy (what is left
    after a Netdraft window quits, see ``hand_over_at_exit``)."""
    if mime is None:
        return None
    try:
        if mime.hasFormat(MIME):
            frag = json.loads(bytes(mime.data(MIME)).decode("utf-8"))
        elif mime.hasText() and mime.text().lstrip().startswith("{"):
            frag = json.loads(mime.text())
        else:
            return None
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(frag, dict) or not isinstance(frag.get("nodes"), list):
        return None
    if not isinstance(frag.get("edges", []), list) or not all(
            isinstance(n, dict) and "id" in n and "kind" in n for n in frag["nodes"]):
        return None
    return frag


def hand_over_at_exit() -> None:
    """Swap the clipboard's Python-made data for a plain-text copy that Qt makes itself.

    Otherwise Qt's clipboard deletes our QMimeData from a C++ exit handler after Python has
    shut down, and PySide's wrapper crashes the process on the way out (a segfault after a
    copy). The text is the same JSON, so a paste in a later Netdraft still works."""
    from PySide6.QtGui import QGuiApplication

    if QGuiApplication.instance() is None:
        return
    board = QGuiApplication.clipboard()
    mime = board.mimeData()
    if mime is not None and mime.hasFormat(MIME):
        board.setText(bytes(mime.data(MIME)).decode("utf-8"))


def paste(doc: Document, frag: dict[str, Any], offset: Point = PASTE_OFFSET
          ) -> tuple[commands.Command, list[str]]:
    """A command adding the fragment with fresh ids and names; returns it with the new ids
    of the fragment's top-level blocks (to select them)."""
    graph = doc.graph
    fresh: dict[str, str] = {}
    taken_names = {n.name for n in graph.nodes.values()}
    new_nodes: list[Node] = []
    reserved = set(graph.nodes)
    for item in frag["nodes"]:
        new_id = _fresh_id(doc, reserved)
        reserved.add(new_id)
        fresh[item["id"]] = new_id
    for item in frag["nodes"]:
        name = _fresh_name(item["name"], taken_names)
        taken_names.add(name)
        parent = fresh.get(item.get("parent")) if item.get("parent") else None
        new_nodes.append(Node(id=fresh[item["id"]], kind=item["kind"], name=name,
                              params=dict(item.get("params", {})), parent=parent))
    # Groups before their members, so each member's parent exists when it is added.
    new_nodes.sort(key=lambda n: _depth(n, {m.id: m for m in new_nodes}))
    positions = frag.get("positions", {})
    collapsed = set(frag.get("collapsed", []))
    step_list: list[steps.Step] = []
    for node in new_nodes:
        old_id = next(k for k, v in fresh.items() if v == node.id)
        pos = positions.get(old_id)
        point = (pos[0] + offset[0], pos[1] + offset[1]) if pos else None
        step_list.append(steps.AddNode(node, point, collapsed=old_id in collapsed))
    for item in frag.get("edges", []):
        if item["src"] in fresh and item["dst"] in fresh:
            edge = Edge(fresh[item["src"]], fresh[item["dst"]], item.get("dst_port", 0),
                        item.get("src_port", 0))
            step_list.append(_ConnectEdge(edge))
    tops = [n.id for n in new_nodes if n.parent is None]
    count = len(tops)
    text = f"Paste {count} block" + ("" if count == 1 else "s")
    return commands.Command(doc, text, step_list), tops


class _ConnectEdge(steps.Step):
    def __init__(self, edge: Edge) -> None:
        self.edge = edge

    def apply(self, doc: Document) -> None:
        doc.graph.connect(self.edge)

    def revert(self, doc: Document) -> None:
        doc.graph.disconnect(self.edge)


def _depth(node: Node, by_id: dict[str, Node]) -> int:
    depth, parent = 0, node.parent
    while parent is not None and parent in by_id:
        depth += 1
        parent = by_id[parent].parent
    return depth


def _fresh_id(doc: Document, reserved: set[str]) -> str:
    while True:
        node_id = doc.graph.new_id()
        if node_id not in reserved:
            return node_id


def _fresh_name(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    stem = re.sub(r"_\d+$", "", name)
    i = 1
    while f"{stem}_{i}" in taken:
        i += 1
    return f"{stem}_{i}"
