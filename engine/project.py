"""The project document (.netdraft): JSON with a format name and version, never pickle.

    {"format": "netdraft", "version": 1, "name": ..., "description": ...,
     "graph": {"nodes": [...], "edges": [...]},
     "ui": {"positions": {id: [x, y]}, "collapsed": [group ids], "viewport": {...}},
     "data": {...}, "augmentation": {...}, "training": {...},
     "weights": {...}}

The ui section is kept apart from the model. load() checks the document's types and values,
builds the graph and runs its lint(), and raises one ProjectError naming the JSON path and
the values; save() writes a temporary file and
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
from engine.graph import GROUP_KIND, Edge, Graph, LintIssue
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
        graph = Graph.from_json(doc["graph"])
        check_graph(graph, doc["graph"], source)
        weights = doc.get("weights", {})
        # The weights file keeps tensors by block id, also for blocks deleted since: a new
        # block given such an id would silently start from the deleted block's weights.
        graph.reserve_ids(weights.get("blocks", {}))
        return cls(graph=graph, name=doc.get("name", "untitled"),
                   description=doc.get("description", ""), ui=doc.get("ui", {}),
                   data=doc.get("data", {}), augmentation=doc.get("augmentation", {}),
                   training=doc.get("training", {}), weights=weights)

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
    """Raise one ProjectError for the first value of the wrong type or outside its schema,
    naming its JSON path. The graph's own invariants (parents, edges' ends and ports, unique
    names) are Graph.lint()'s, checked once the graph is built: see check_graph."""
    for key in ("name", "description"):
        if key in doc:
            _expect(doc[key], str, source, key, "text")
    graph = doc.get("graph")
    _expect(graph, dict, source, "graph", "an object with nodes and edges")
    nodes = graph.get("nodes", [])
    edges = graph.get("edges", [])
    _expect(nodes, list, source, "graph.nodes", "a list")
    _expect(edges, list, source, "graph.edges", "a list")
    _check_nodes(nodes, source)
    _check_edges(edges, source)
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


def _check_nodes(nodes: list[Any], source: str) -> None:
    ids: set[str] = set()
    for i, node in enumerate(nodes):
        path = f"nodes[{i}]"
        _expect(node, dict, source, path, "an object")
        for key in ("id", "kind", "name"):
            _expect(node.get(key), str, source, f"{path}.{key}", "text")
        # The graph keeps nodes by id: a second one would replace the first unseen.
        if node["id"] in ids:
            raise _fail(source, f"{path}.id", f"{node['id']!r} is used twice; give each "
                        "block its own id")
        ids.add(node["id"])
        if node.get("parent") is not None:
            _expect(node["parent"], str, source, f"{path}.parent", "a group id")
        params = node.get("params", {})
        _expect(params, dict, source, f"{path}.params", "an object")
        if node["kind"] == GROUP_KIND:
            continue
        if node["kind"] not in REGISTRY:
            raise _fail(source, f"{path}.kind", f"unknown block kind {node['kind']!r}; known: "
                        + ", ".join(sorted(REGISTRY.ids())))
        for issue in REGISTRY.get(node["kind"]).check_params(params):
            raise _fail(source, f"{path}.params.{issue.param}", issue.reason)


def _check_edges(edges: list[Any], source: str) -> None:
    seen: dict[Edge, int] = {}
    for i, edge in enumerate(edges):
        path = f"edges[{i}]"
        _expect(edge, dict, source, path, "an object")
        for key in ("src", "dst"):
            _expect(edge.get(key), str, source, f"{path}.{key}", "a node id")
        for key in ("src_port", "dst_port"):
            _expect(edge.get(key, 0), int, source, f"{path}.{key}", "a non-negative integer")
        # The graph keeps a set of edges: a repeated one would vanish unseen.
        first = seen.setdefault(Edge.from_json(edge), i)
        if first != i:
            raise _fail(source, path, f"repeats edges[{first}] ({edge['src']!r} to input "
                        f"{edge.get('dst_port', 0)} of {edge['dst']!r}); remove one")


def check_graph(graph: Graph, doc_graph: dict[str, Any], source: str) -> None:
    """Graph.lint() on a freshly loaded graph, its first finding named by JSON path."""
    issues = graph.lint()
    if not issues:
        return
    more = len(issues) - 1
    tail = f" (and {more} more problem{'s' * (more > 1)} in the graph)" if more else ""
    raise _fail(source, _json_path(issues[0], doc_graph), f"{issues[0].message}{tail}")


def _json_path(issue: LintIssue, doc_graph: dict[str, Any]) -> str:
    if issue.node_id is not None:
        nodes = doc_graph.get("nodes", [])
        found = [i for i, n in enumerate(nodes) if n["id"] == issue.node_id]
        where = f"nodes[{found[0]}]" if found else "graph.nodes"
    elif issue.edge is not None:
        edges = doc_graph.get("edges", [])
        found = [i for i, e in enumerate(edges) if Edge.from_json(e) == issue.edge]
        where = f"edges[{found[0]}]" if found else "graph.edges"
    else:
        return "graph"
    return f"{where}.{issue.field}" if issue.field else where


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
