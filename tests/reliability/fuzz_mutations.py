"""Seeded mutations of valid inputs for tests/reliability/test_fuzz.py: JSON documents
(projects, run.json), raw bytes (any file), NumPy .npz, CSV with images, MNIST IDX, PNG
images, safetensors and ONNX models. Every mutator takes a ``random.Random`` and returns the
new content with a list of one-line descriptions, so a failing case says what changed.
Where a mutator has kinds of damage, ``pick`` (a case's number) walks through them in turn, so
a few cases cover every kind; the details come from the seeded generator."""

from __future__ import annotations

import gzip
import io
import json
import pickle
import random
import struct
import zipfile
import zlib
from typing import Any

import numpy as np

HUGE_INTS = [2**31, 2**63, 10**12, 4_294_967_295]
ODD_STRINGS = ["", " ", "x", "-1", "NaN", "1e309", "../../../escape", "a/b", "\x00", "é" * 3,
               "x" * 5000, "None", "[]"]


def odd_values(rng: random.Random, extra_strings: list[str]) -> list[Any]:
    """Values of every JSON type, with the edges: negative, zero, huge, NaN, empty."""
    return [None, True, False, 0, -1, 1, -(2**31), rng.choice(HUGE_INTS), 1e308, -1e308,
            float("nan"), float("inf"), float("-inf"), 0.5, -0.5, 1e-300,
            rng.choice(ODD_STRINGS + extra_strings), [], [1], [0, 0, 0], [-1, 28, 28],
            [[[]]], {}, {"a": 1}]


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a JSON tree (the root excluded) as a tuple of keys and indexes."""
    out = []
    if isinstance(doc, dict):
        items = list(doc.items())
    elif isinstance(doc, list):
        items = list(enumerate(doc))
    else:
        return out
    for key, value in items:
        out.append((*prefix, key))
        out.extend(_paths(value, (*prefix, key)))
    return out


def _weight(path: tuple) -> float:
    # A project is mostly ui positions; aim at what the engine reads.
    if path[0] == "ui":
        return 0.05
    if path[0] == "description":
        return 0.1
    if "params" in path or path[0] in ("weights", "data", "training", "augmentation"):
        return 3.0
    if path[:2] == ("graph", "edges"):
        return 1.5
    return 1.0


def _show(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _where(path: tuple) -> str:
    return "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path).lstrip(".")


def mutate_json(doc: Any, rng: random.Random, count: int, extra_strings: list[str]
                ) -> tuple[Any, list[str]]:
    """``count`` changes: a value of another type or an edge value, a key deleted, a list
    entry duplicated or dropped."""
    doc = json.loads(json.dumps(doc))
    notes = []
    for _ in range(count):
        paths = _paths(doc)
        if not paths:
            break
        path = rng.choices(paths, weights=[_weight(p) for p in paths])[0]
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        action = rng.choice(["replace", "replace", "replace", "delete", "duplicate"])
        if action == "delete":
            del parent[key]
            notes.append(f"deleted {_where(path)}")
        elif action == "duplicate" and isinstance(parent, list):
            parent.insert(key, json.loads(json.dumps(parent[key])))
            notes.append(f"duplicated {_where(path)}")
        else:
            new = rng.choice(odd_values(rng, extra_strings))
            notes.append(f"{_where(path)}: {_show(parent[key])} -> {_show(new)}")
            parent[key] = new
    return doc, notes


def grow(doc: Any, rng: random.Random) -> tuple[Any, list[str]]:
    """One size in the network made large (a layer's width, a kernel, the input): the memory
    check must refuse what does not fit before anything is allocated."""
    doc = json.loads(json.dumps(doc))
    spots = []
    for i, node in enumerate(doc["graph"]["nodes"]):
        for key, value in node.get("params", {}).items():
            if key in ("filters", "units", "shape", "classes"):
                spots.append((i, key, value))
    i, key, old = rng.choice(spots)
    size = rng.choice([3000, 10**5, 10**6, 10**7, 2**31])
    new = [old[0], size, size] if key == "shape" else size
    doc["graph"]["nodes"][i]["params"][key] = new
    return doc, [f"graph.nodes[{i}].params.{key}: {_show(old)} -> {_show(new)}"]


def mutate_bytes(data: bytes, rng: random.Random) -> tuple[bytes, list[str]]:
    """Truncation, flipped bytes, inserted garbage, emptiness or random noise."""
    action = rng.choice(["truncate", "truncate", "flip", "insert", "empty", "noise"])
    if action == "truncate" and data:
        cut = rng.randrange(len(data))
        return data[:cut], [f"truncated to {cut} of {len(data)} bytes"]
    if action == "flip" and data:
        out = bytearray(data)
        spots = sorted(rng.randrange(len(out)) for _ in range(rng.randint(1, 8)))
        for i in spots:
            out[i] = rng.randrange(256)
        return bytes(out), [f"bytes at {spots} set at random"]
    if action == "insert":
        at = rng.randrange(len(data) + 1)
        junk = rng.randbytes(rng.randint(1, 64))
        return data[:at] + junk + data[at:], [f"{len(junk)} random bytes inserted at {at}"]
    if action == "empty":
        return b"", ["emptied"]
    size = rng.randint(1, 2048)
    return rng.randbytes(size), [f"replaced by {size} random bytes"]


def project_text(doc: Any, rng: random.Random, extra_strings: list[str]
                 ) -> tuple[bytes, list[str]]:
    """A project mutated as JSON (mostly) or as bytes."""
    if rng.random() < 0.8:
        mutated, notes = mutate_json(doc, rng, rng.choice([1, 1, 2, 3]), extra_strings)
        return json.dumps(mutated, indent=1).encode(), notes
    return mutate_bytes(json.dumps(doc, indent=1).encode(), rng)


# ------------------------------------------------------------------------ pickles
class _Touch:
    """Unpickled without weights_only, this creates the file ``path``: the harm is visible."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def evil_pickle(target: str, zipped: bool) -> bytes:
    """A .pt file that runs code when loaded unsafely: a raw pickle, or torch's zip layout."""
    payload = pickle.dumps({"state_dict": _Touch(target)}, protocol=2)
    if not zipped:
        return payload
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", payload)
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/version", "3\n")
    return buffer.getvalue()


# ---------------------------------------------------------------------- data files
def npy(shape: tuple, dtype: str, data: bytes) -> bytes:
    """A .npy whose header claims ``shape`` whatever ``data`` holds."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue() + data


def npz_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(f"{name}.npy", data)
    return buffer.getvalue()


def _save_npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _pick(rng: random.Random, options: list, pick: int | None):
    return rng.choice(options) if pick is None else options[pick % len(options)]


def mutate_npz(x: np.ndarray, y: np.ndarray, rng: random.Random, pick: int | None = None
               ) -> tuple[bytes, list[str]]:
    """Arrays of the wrong type, shape, size or values, a header that lies, or bad bytes."""
    n = len(x)
    choices = {
        "x float with NaN and inf": lambda: {"x": np.where(x > 128, np.nan, np.inf)
                                             .astype(np.float32), "y": y},
        "x 1-D": lambda: {"x": x.reshape(-1), "y": y},
        "x 5-D": lambda: {"x": x.reshape(n, 1, 1, 28, 28), "y": y},
        "x empty": lambda: {"x": x[:0], "y": y[:0]},
        "x with 5 channels": lambda: {"x": np.repeat(x[..., None], 5, axis=3), "y": y},
        "x 1x1 images": lambda: {"x": x[:, :1, :1], "y": y},
        "y negative": lambda: {"x": x, "y": -1 - y},
        "y huge": lambda: {"x": x, "y": y + 10**9},
        "y float NaN": lambda: {"x": x, "y": np.full(n, np.nan)},
        "y strings": lambda: {"x": x, "y": np.array([f"c{v}" * 50 for v in y])},
        "y shorter than x": lambda: {"x": x, "y": y[: n // 2]},
        "y 2-D": lambda: {"x": x, "y": np.stack([y, y], 1)},
        "no x": lambda: {"images": x, "y": y},
        "class_names too few": lambda: {"x": x, "y": y, "class_names": np.array(["a"])},
        "class_names numbers": lambda: {"x": x, "y": y, "class_names": np.arange(10.0)},
        "x object array (a pickle)": lambda: {"x": np.array([None] * n, dtype=object),
                                              "y": y},
        "x complex": lambda: {"x": x.astype(np.complex64), "y": y},
        "x bool": lambda: {"x": x > 100, "y": y},
    }
    name = _pick(rng, ["bytes", "header", *sorted(choices)], pick)
    if name == "bytes":
        members = {"x": _save_npy(x), "y": _save_npy(y)}
        return mutate_bytes(npz_bytes(members), rng)
    if name == "header":
        shape = rng.choice([(10**9, 28, 28), (n, 2**31, 2**31), (n, 0, 28), (n,), ()])
        members = {"x": npy(shape, "|u1", x.tobytes()[:4096]), "y": _save_npy(y)}
        return npz_bytes(members), [f"x's header claims shape {shape} over "
                                    f"{min(x.nbytes, 4096)} bytes"]
    arrays = choices[name]()
    return npz_bytes({k: _save_npy(v) for k, v in arrays.items()}), [name]


def idx_bytes(array: np.ndarray) -> bytes:
    return struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()


def mutate_idx(images: bytes, labels: bytes, rng: random.Random, pick: int | None = None
               ) -> tuple[bytes, bytes, list[str]]:
    """A header with another type code, rank or sizes, short data, labels that disagree."""
    action = _pick(rng, ["type", "rank", "sizes", "short", "labels", "gzip", "bytes"], pick)
    if action == "type":
        code = rng.choice([0x00, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0xFF])
        return images[:2] + bytes([code]) + images[3:], labels, [f"images type code {code:#x}"]
    if action == "rank":
        rank = rng.choice([0, 1, 2, 4, 255])
        return images[:3] + bytes([rank]) + images[4:], labels, [f"images rank {rank}"]
    if action == "sizes":
        which = rng.randrange(3)
        size = rng.choice([0, 1, 10**9, 4_294_967_295])
        at = 4 + 4 * which
        out = images[:at] + struct.pack(">I", size) + images[at + 4:]
        return out, labels, [f"images dimension {which} claims {size}"]
    if action == "short":
        cut = rng.randrange(len(images))
        return images[:cut], labels, [f"images cut to {cut} of {len(images)} bytes"]
    if action == "labels":
        values = rng.choice([[255] * 40, [0] * 7, list(range(40))])
        out = struct.pack(">HBBI", 0, 0x08, 1, len(values)) + bytes(values)
        return images, out, [f"labels {values[:5]}... ({len(values)})"]
    if action == "gzip":
        data = gzip.compress(images)
        cut = rng.randrange(len(data))
        return data[:cut], labels, [f"images gzipped and cut to {cut} of {len(data)} bytes"]
    out, notes = mutate_bytes(images, rng)
    return out, labels, [f"images {n}" for n in notes]


def mutate_csv(rows: list[list[str]], rng: random.Random, extra_strings: list[str]
               ) -> tuple[bytes, list[str]]:
    """Rows with missing or extra fields, odd labels, paths that escape or are not images."""
    rows = [list(r) for r in rows]
    notes = []
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(rows))
        action = rng.choice(["path", "label", "fields", "drop", "bytes"])
        if action == "path":
            new = rng.choice(["", ".", "..", "/", "missing.png", "imgs", "list.csv",
                              "../../../x.png", "imgs/../list.csv", "\x00"] + extra_strings)
            notes.append(f"row {i} path -> {new!r}")
            rows[i][0] = new
        elif action == "label":
            new = rng.choice(["", "-1", "1e9", "NaN", "inf", "0.5", "ten", "x" * 500,
                              str(2**63)])
            notes.append(f"row {i} label -> {new!r}")
            rows[i][1] = new
        elif action == "fields":
            rows[i] = rows[i][: rng.randint(0, 1)] if rng.random() < 0.5 else rows[i] + ["x"]
            notes.append(f"row {i} fields -> {rows[i]!r}")
        elif action == "drop":
            rows = rows[:i] or rows[:1]
            notes.append(f"rows from {i} on dropped")
    text = "\n".join(",".join(r) for r in rows).encode("utf-8", "surrogateescape")
    if rng.random() < 0.2:
        text, more = mutate_bytes(text, rng)
        notes += more
    return text, notes


def mutate_safetensors(data: bytes, rng: random.Random, pick: int | None = None
                       ) -> tuple[bytes, list[str]]:
    """A header length that lies, a header with bad dtypes, shapes or offsets, or bad bytes."""
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    body = data[8 + length:]
    action = _pick(rng, ["length", "entry", "bytes", "entry"], pick)
    if action == "length":
        new = rng.choice([0, 1, 2**40, 2**64 - 1, length + 100])
        return struct.pack("<Q", new) + data[8:], [f"header length {length} -> {new}"]
    if action == "entry":
        name = rng.choice(sorted(k for k in header if k != "__metadata__"))
        field = rng.choice(["dtype", "shape", "data_offsets"])
        new = rng.choice({"dtype": ["F64", "I8", "XX", 3, None],
                          "shape": [[], [-1], [2**40, 2**40], [0], "x"],
                          "data_offsets": [[0, 2**40], [10, 0], [-1, 4], [0], None]}[field])
        header[name][field] = new
        text = json.dumps(header).encode()
        return (struct.pack("<Q", len(text)) + text + body,
                [f"{name}.{field} -> {json.dumps(new)}"])
    return mutate_bytes(data, rng)


def mutate_onnx(data: bytes, rng: random.Random, pick: int | None = None
                ) -> tuple[bytes, list[str]]:
    """A model with odd attributes, initializers that disagree with their data, a missing
    node, an unknown operator, a dangling or cyclic input, odd input sizes or opset."""
    import onnx

    model = onnx.load_from_string(data)
    graph = model.graph
    action = _pick(rng, ["attribute", "initializer", "drop node", "op type", "input name",
                         "input dims", "opset", "bytes", "attribute", "initializer"], pick)
    if action == "bytes":
        return mutate_bytes(data, rng)
    notes = []
    if action == "attribute":
        node = rng.choice([n for n in graph.node if n.attribute] or list(graph.node))
        if node.attribute:
            attr = rng.choice(node.attribute)
            if attr.type == onnx.AttributeProto.INTS:
                new = rng.choice([[], [0], [-1, -1], [10**9, 10**9], [2**62], [1, 2, 3, 4, 5]])
                attr.ints[:] = new
            elif attr.type == onnx.AttributeProto.INT:
                new = rng.choice([0, -1, 10**9, 2**62])
                attr.i = new
            elif attr.type == onnx.AttributeProto.FLOAT:
                new = rng.choice([float("nan"), float("inf"), -1.0])
                attr.f = new
            elif attr.type == onnx.AttributeProto.STRING:
                new = rng.choice([b"", b"\xff\xfe", b"SAME_NOWHERE"])
                attr.s = new
            else:
                new = "removed"
                node.attribute.remove(attr)
            notes.append(f"{node.op_type} {node.name!r} attribute {attr.name} -> {new!r}")
    elif action == "initializer" and graph.initializer:
        init = rng.choice(graph.initializer)
        how = rng.choice(["dims", "type", "data"])
        if how == "dims":
            new = rng.choice([[], [0], [-1], [2**40], [*init.dims, 2]])
            init.dims[:] = new
        elif how == "type":
            new = rng.choice([0, 2, 8, 16])  # undefined, uint8, string, bfloat16
            init.data_type = new
        else:
            new = f"raw data cut to {len(init.raw_data) // 2} bytes"
            init.raw_data = init.raw_data[: len(init.raw_data) // 2]
        notes.append(f"initializer {init.name!r} {how} -> {new}")
    elif action == "drop node":
        i = rng.randrange(len(graph.node))
        notes.append(f"node {i} ({graph.node[i].op_type}) removed")
        del graph.node[i]
    elif action == "op type":
        node = rng.choice(graph.node)
        new = rng.choice(["FooBar", "Gemm", "Conv", "Loop", ""])
        notes.append(f"{node.op_type} {node.name!r} op type -> {new!r}")
        node.op_type = new
    elif action == "input name":
        node = rng.choice([n for n in graph.node if n.input])
        j = rng.randrange(len(node.input))
        new = rng.choice(["missing", node.output[0], ""])
        notes.append(f"{node.op_type} {node.name!r} input {j} -> {new!r}")
        node.input[j] = new
    elif action == "input dims":
        dims = graph.input[0].type.tensor_type.shape.dim
        k = rng.randrange(len(dims))
        new = rng.choice([0, -5, 10**9, "C"])
        if isinstance(new, str):
            dims[k].dim_param = new
        else:
            dims[k].dim_value = new
        notes.append(f"input dimension {k} -> {new!r}")
    else:
        new = rng.choice([1, 6, 999])
        model.opset_import[0].version = new
        notes.append(f"opset -> {new}")
    return model.SerializeToString(), notes


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_claiming(width: int, height: int, depth: int = 8, color: int = 0) -> bytes:
    """A PNG whose header (with a correct checksum) claims a size its data does not have:
    a decompression bomb's header, or an empty image."""
    header = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 64)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", pixels)
            + _png_chunk(b"IEND", b""))


def mutate_image(png: bytes, rng: random.Random, pick: int | None = None
                 ) -> tuple[bytes, list[str]]:
    """An image file cut short, with noise, of an absurd size, or of no pixels at all."""
    action = _pick(rng, ["bytes", "bomb", "empty image", "16-bit", "bytes"], pick)
    if action == "bomb":
        return png_claiming(100_000, 100_000), ["a PNG header claiming 100,000×100,000"]
    if action == "empty image":
        return png_claiming(0, 0), ["a PNG header claiming 0×0"]
    if action == "16-bit":
        return png_claiming(28, 28, depth=16, color=6), ["a 16-bit RGBA PNG with too few bytes"]
    out, notes = mutate_bytes(png, rng)
    return out, notes
