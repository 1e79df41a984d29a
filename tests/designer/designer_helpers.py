"""Small helpers shared by the designer tests."""

from __future__ import annotations


def flush(win) -> None:
    """Apply pending engine notifications now (the event loop would within one turn)."""
    win.doc.flush()


def face(win, name: str):
    """What the canvas shows for the block named ``name``."""
    from designer.canvas.faces import block_face

    node = win.doc.graph.by_name(name)
    return block_face(win.doc, node.id)
