"""The project document (.netdraft): JSON with a format name and version, never pickle.

    {"format": "netdraft", "version": 1, "name": ..., "description": ...,
     "graph": {"nodes": [...], "edges": [...]},
     "ui": {"positions": {id: [x, y]}, "collapsed": [group ids], "viewport": {...}},
     "data": {...}, "augmentation": {...}, "training": {...},
     "weights": {...}}

The ui section is kept apart from the model. load() validates the whole document and raises
one ProjectError naming the JSON path and the values; save() writes a temporary file and
renames it, so a crash never leaves a half-written project.
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import settings
from engine.files import FileRefused, read_capped
from engine.graph import GROUP_KIND, Graph
from engine.layers import REGISTRY

FORMAT = "netdraft"
VERSION = 1
EXTENSION = ".netdraft"
# resnet152 is 160 kB and an imported network with a thousand blocks a few MB: a file
# larger than this is not a project, and reading it whole would only exhaust memory.
MAX_BYTES = 64_000_000
WEIGHT_SOURCES = ("imported", "trained")  # how engine.weights marks a block's tensors


class ProjectError(Exception):
    """A project that cannot be read: the message names the file, JSON path and values."""


@dataclass
class Project:
    graph: Graph = field(default_factory=Graph)
    name: str = "untitled"
    description: str = ""
    ui: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    augmentation: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    weights: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "name": self.name,
            "description": self.description,
            "graph": self.graph.to_json(),
            "ui": copy.deepcopy(self.ui),
            "data": copy.deepcopy(self.data),
            "augmentation": copy.deepcopy(self.augmentation),
            "training": copy.deepcopy(self.training),
            "weights": copy.deepcopy(self.weights),
        }

    @classmethod
    def from_json(cls, doc: Any, source: str = "project") -> Project:
        doc = migrate(doc, source)
        check_document(doc, source)
        return cls(graph=Graph.from_json(doc["graph"]), name=doc.get("name", "untitled"),
                   description=doc.get("description", ""), ui=doc.get("ui", {}),
                   data=doc.get("data", {}), augmentation=doc.get("augmentation", {}),
                   training=doc.get("training", {}), weights=doc.get("weights", {}))

    def settings(self, section: str) -> dict[str, Any]:
        """A settings section with defaults filled in."""
        return settings.resolve(section, getattr(self, section))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Project):
            return NotImplemented
        return self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]


def save(project: Project, path: str | os.PathLike[str]) -> Path:
    """Write atomically: a temporary file in the same folder, then a rename. Saving through
    a symbolic link replaces the file it points to (in that file's folder) and keeps the
    link, so the link's target is never left stale. Returns ``path`` as given."""
    given = Path(path)
    path = Path(os.path.realpath(given)) if given.is_symlink() else given
    text = json.dumps(project.to_json(), indent=1, ensure_ascii=False)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # Not mkstemp: its 0600 would make every saved project private. 0666 lets the umask
    # decide, as for any new file; an existing project keeps its own permissions.
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        mode = 0o666
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if mode != 0o666:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return given


def load(path: str | os.PathLike[str]) -> Project:
    """Read a project file: a regular file (not a device, FIFO or folder) of at most
    MAX_BYTES, UTF-8 JSON."""
    path = Path(path)
    try:
        text = read_capped(path, MAX_BYTES, "a project").decode("utf-8")
    except FileNotFoundError:
        raise ProjectError(f"{path}: no such file") from None
    except FileRefused as exc:
        raise ProjectError(str(exc)) from None
    except UnicodeDecodeError as exc:
        raise ProjectError(f"{path}: cannot be read as a Netdraft project: not UTF-8 text "
                           f"(byte {exc.start}: {exc.reason})") from None
    except OSError as exc:
        raise ProjectError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return loads(text, str(path))


def loads(text: str, source: str = "project") -> Project:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProjectError(f"{source}: not valid JSON at line {exc.lineno}, column "
                           f"{exc.colno}: {exc.msg}. Is it a .netdraft project?") from None
    except (ValueError, RecursionError) as exc:  # a 5,000-digit number, 1,000-deep nesting
        raise ProjectError(f"{source}: not a Netdraft project: {exc}") from None
    try:
        return Project.from_json(doc, source)
    except RecursionError:
        raise ProjectError(f"{source}: values are nested too deeply to be a Netdraft "
                           "project") from None


# ------------------------------------------------------------------ migration
def _from_v0(doc: dict[str, Any]) -> dict[str, Any]:
    """Version 0 (before groups) kept positions inside each node and had no ui section."""
    doc = copy.deepcopy(doc)
    graph = doc.get("graph")
    nodes = graph.get("nodes") if isinstance(graph, dict) else None
    positions = {}
    for node in nodes if isinstance(nodes, list) else []:
        # Whatever is malformed is left for check_document to report with its path.
        if isinstance(node, dict) and "position" in node and isinstance(node.get("id"), str):
            positions[node["id"]] = node.pop("position")
    ui = doc.setdefault("ui", {})
    if isinstance(ui, dict):
        ui["positions"] = positions
    doc["version"] = 1
    return doc


MIGRATIONS = {0: _from_v0}


def migrate(doc: Any, source: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise ProjectError(f"{source}: expected a JSON object at the top level. "
                           f"Received: {type(doc).__name__}")
    if doc.get("format") != FORMAT:
        raise ProjectError(f"{source}: format: expected {FORMAT!r}; this is not a Netdraft "
                           f"project. Received: {doc.get('format')!r}")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise ProjectError(f"{source}: version: expected a non-negative integer. "
                           f"Received: {version!r}")
    if version > VERSION:
        raise ProjectError(f"{source}: version {version} was written by a newer Netdraft "
                           f"(this one reads up to {VERSION}); update Netdraft to open it")
    while version < VERSION:
        doc = MIGRATIONS[version](doc)
        version = doc["version"]
    return doc


# ----------------------------------------------------------------- validation
def _fail(source: str, path: str, message: str) -> ProjectError:
    return ProjectError(f"{source}: {path}: {message}")


def _expect(value: Any, types: type | tuple[type, ...], source: str, path: str,
            word: str) -> None:
    if not isinstance(value, types) or (isinstance(value, bool) and types is int):
        raise _fail(source, path, f"expected {word}, received {value!r}")


def check_document(doc: dict[str, Any], source: str) -> None:
    """Raise one ProjectError for the first thing wrong, naming its JSON path."""
    for key in ("name", "description"):
        if key in doc:
            _expect(doc[key], str, source, key, "text")
    graph = doc.get("graph")
    _expect(graph, dict, source, "graph", "an object with nodes and edges")
    nodes = graph.get("nodes", [])
    edges = graph.get("edges", [])
    _expect(nodes, list, source, "graph.nodes", "a list")
    _expect(edges, list, source, "graph.edges", "a list")
    ids: dict[str, str] = {}
    names: set[str] = set()
    for i, node in enumerate(nodes):
        path = f"nodes[{i}]"
        _expect(node, dict, source, path, "an object")
        for key in ("id", "kind", "name"):
            _expect(node.get(key), str, source, f"{path}.{key}", "text")
        if node["id"] in ids:
            raise _fail(source, f"{path}.id", f"{node['id']!r} is used twice")
        if node["name"] in names:
            raise _fail(source, f"{path}.name", f"{node['name']!r} is used twice")
        ids[node["id"]] = node["kind"]
        names.add(node["name"])
        params = node.get("params", {})
        _expect(params, dict, source, f"{path}.params", "an object")
        if node["kind"] == GROUP_KIND:
            continue
        if node["kind"] not in REGISTRY:
            raise _fail(source, f"{path}.kind", f"unknown block kind {node['kind']!r}; known: "
                        + ", ".join(sorted(REGISTRY.ids())))
        kind = REGISTRY.get(node["kind"])
        for p in kind.schema:
            if p.name in params and (reason := p.check(params[p.name])):
                raise _fail(source, f"{path}.params.{p.name}",
                            f"{reason}. Received: {params[p.name]!r}")
        for name, reason in kind.check_params(params):  # names outside the schema
            raise _fail(source, f"{path}.params.{name}", reason)
    for i, node in enumerate(nodes):
        parent = node.get("parent")
        if parent is not None:
            _expect(parent, str, source, f"nodes[{i}].parent", "a group id")
        if parent is not None and ids.get(parent) != GROUP_KIND:
            raise _fail(source, f"nodes[{i}].parent", f"{parent!r} is not a group in this "
                        "project")
    _check_parents_acyclic(nodes, source)
    ports: set[tuple[str, int]] = set()
    for i, edge in enumerate(edges):
        path = f"edges[{i}]"
        _expect(edge, dict, source, path, "an object")
        for key in ("src", "dst"):
            end = edge.get(key)
            _expect(end, str, source, f"{path}.{key}", "a node id")
            if end not in ids:
                raise _fail(source, f"{path}.{key}", f"no node has the id {end!r}")
            if ids[end] == GROUP_KIND:
                raise _fail(source, f"{path}.{key}", f"{end!r} is a group; edges join blocks")
        for key in ("src_port", "dst_port"):
            port = edge.get(key, 0)
            _expect(port, int, source, f"{path}.{key}", "a non-negative integer")
            if port < 0:
                raise _fail(source, f"{path}.{key}", f"expected a non-negative integer, "
                            f"received {port}")
        if edge["src"] == edge["dst"]:
            raise _fail(source, path, f"{edge['src']!r} feeds itself")
        key = (edge["dst"], edge.get("dst_port", 0))
        if key in ports:
            raise _fail(source, f"{path}.dst_port", f"input {key[1]} of {key[0]!r} has two "
                        "edges")
        ports.add(key)
    for section, schema in settings.SECTIONS.items():
        values = doc.get(section, {})
        _expect(values, dict, source, section, "an object")
        known = {p.name: p for p in schema}
        for name, value in values.items():
            if name not in known:
                raise _fail(source, f"{section}.{name}", "unknown setting; known: "
                            + ", ".join(known))
            reason = known[name].check(value)
            if reason:
                raise _fail(source, f"{section}.{name}", f"{reason}. Received: {value!r}")
    for section in ("ui", "weights"):
        _expect(doc.get(section, {}), dict, source, section, "an object")
    _check_weights(doc.get("weights", {}), source)
    positions = doc.get("ui", {}).get("positions", {})
    _expect(positions, dict, source, "ui.positions", "an object")
    for node_id, pos in positions.items():
        if not (isinstance(pos, list) and len(pos) == 2 and all(map(_is_coordinate, pos))):
            raise _fail(source, f"ui.positions.{node_id}", f"expected [x, y], received {pos!r}")
    collapsed = doc.get("ui", {}).get("collapsed", [])
    if not (isinstance(collapsed, list) and all(isinstance(c, str) for c in collapsed)):
        raise _fail(source, "ui.collapsed", f"expected a list of group ids, received "
                    f"{collapsed!r}")


def _check_weights(section: dict[str, Any], source: str) -> None:
    """The weights section as engine.weights reads it: a file name and, per block id, where
    its tensors came from and their shapes."""
    if "file" in section:
        _expect(section["file"], str, source, "weights.file",
                "the name of a .safetensors file beside the project")
    blocks = section.get("blocks", {})
    _expect(blocks, dict, source, "weights.blocks", "an object of block ids")
    for node_id, entry in blocks.items():
        path = f"weights.blocks.{node_id}"
        _expect(entry, dict, source, path, "an object with source and shapes")
        if entry.get("source", WEIGHT_SOURCES[0]) not in WEIGHT_SOURCES:
            raise _fail(source, f"{path}.source", f"expected one of "
                        f"{', '.join(WEIGHT_SOURCES)}, received {entry['source']!r}")
        shapes = entry.get("shapes", {})
        _expect(shapes, dict, source, f"{path}.shapes", "an object of tensor shapes")
        for name, shape in shapes.items():
            if not (isinstance(shape, list) and all(
                    isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**40
                    for d in shape)):
                raise _fail(source, f"{path}.shapes.{name}", f"expected a list of sizes "
                            f"such as [64, 3, 7, 7], received {shape!r}")


def _is_coordinate(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and abs(value) < 1e9)  # also refuses nan, inf and 400-digit integers


def _check_parents_acyclic(nodes: list[dict[str, Any]], source: str) -> None:
    parent = {n["id"]: n.get("parent") for n in nodes}
    for i, node in enumerate(nodes):
        seen = {node["id"]}
        up = parent.get(node["id"])
        while up is not None:
            if up in seen:
                raise _fail(source, f"nodes[{i}].parent", f"group membership of "
                            f"{node['name']!r} loops back on itself")
            seen.add(up)
            up = parent.get(up)
