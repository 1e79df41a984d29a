"""What every importer returns, and how it words layers that have no block."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.project import Project


@dataclass
class Imported:
    """A project ready to save, the tensors of its blocks by node id (empty: all fresh),
    and what the user should know about how the import went."""

    project: Project
    tensors: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    source: str = "imported"  # or "trained": how weights.save() marks the blocks


def unmapped_listing(unmapped: dict[str, int]) -> str:
    """'Transpose ×2, GatherND ×1': most frequent first."""
    return ", ".join(f"{name} ×{count}" for name, count in
                     sorted(unmapped.items(), key=lambda kv: (-kv[1], kv[0])))


def unmapped_message(what: str, unmapped: dict[str, int]) -> str:
    return (f"{what} holds layers Netdraft has no block for: {unmapped_listing(unmapped)}. "
            "Import it with --keep-unknown to keep the whole network as one Backbone block")
