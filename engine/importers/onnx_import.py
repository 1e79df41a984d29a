"""Import an ONNX model as a Netdraft graph whose blocks hold its initializers as weights.

Each ONNX node becomes blocks through the handler a layer kind registers for its op type
(``onnx_ops`` on the kind: Conv on Conv2D makes a Conv2D or a DepthwiseConv2D, Gemm and
MatMul(+Add) on Dense, Clip(0, 6) on ReLU6...); shape arithmetic on constants (Shape, Gather,
Concat, ... feeding a Reshape) is folded away.
Ops with no block are counted by name: the import fails with that list, or, with
keep_unknown, the whole model is kept as one Backbone block run by torch ops
(engine/importers/onnx_module.py). Nothing is dropped silently.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from engine.graph import GROUP_KIND, Graph
from engine.importers.common import Imported, unmapped_message
from engine.importers.onnx_patterns import PatternsMixin, find_rbf, preprocessing_metadata
from engine.importers.safe_load import UNREADABLE, ImportFailure
from engine.layers import REGISTRY
from engine.layers.convert import onnx_attrs
from engine.project import Project
from engine.validate import Analysis

GROUP_DEPTH = 3
FOLDABLE = {"Identity", "Constant", "Cast", "Unsqueeze", "Squeeze", "Concat", "Gather",
            "Shape", "Reshape", "Slice", "Mul", "Add", "Sub", "Div"}


def read_model(path: str | Path) -> Any:
    """The ONNX model in a file, checked; a damaged or non-ONNX file is an ImportFailure.

    The weights' size is checked against this machine's memory before they are read
    (exit 1), and external data is read only from regular files inside the model's folder
    (onnx's own rule: a path outside it or a symbolic link is refused, exit 2)."""
    import onnx
    from google.protobuf.message import DecodeError

    from engine.backend.preflight import NotEnoughMemory, check_import
    from engine.files import FileRefused, check_regular

    path = Path(path)
    if not path.exists():
        raise ImportFailure(f"{path}: no such file", UNREADABLE)
    try:
        check_regular(path, "an ONNX model")
        model = onnx.load(str(path), load_external_data=False)
    except FileRefused as exc:
        raise ImportFailure(str(exc), UNREADABLE) from None
    except (DecodeError, ValueError, RuntimeError, OSError) as exc:
        raise ImportFailure(f"{path}: not a readable ONNX model ({type(exc).__name__}: "
                            f"{str(exc)[:160]}); is it damaged or another kind of file?",
                            UNREADABLE) from None
    if not model.graph.node:
        raise ImportFailure(f"{path}: not an ONNX model (its graph has no nodes); is it "
                            "damaged or another kind of file?", UNREADABLE)
    try:
        check_import(str(path), _initializer_bytes(model, path), copies=3)
    except NotEnoughMemory as exc:
        raise ImportFailure(str(exc)) from None
    if _external(model):
        from onnx.external_data_helper import load_external_data_for_model

        try:
            load_external_data_for_model(model, str(path.parent))
        except (onnx.checker.ValidationError, OSError) as exc:
            first = str(exc).strip().splitlines()[0][:240].rstrip(".")
            raise ImportFailure(f"{path}: its external data is refused or unreadable: "
                                f"{first}. Netdraft reads a model's external data only from "
                                "regular files in the model's own folder",
                                UNREADABLE) from None
    try:
        onnx.checker.check_model(str(path))  # from the file: no second copy in memory
    except onnx.checker.ValidationError as exc:
        first = str(exc).strip().splitlines()[0][:200]
        raise ImportFailure(f"{path}: a damaged ONNX model: {first}", UNREADABLE) from None
    return model


def _external(model: Any) -> list[Any]:
    from onnx import TensorProto

    return [t for t in model.graph.initializer if t.data_location == TensorProto.EXTERNAL]


def _initializer_bytes(model: Any, path: Path) -> int:
    """The initializers' size: inline ones as stored, external ones by their declared
    length (else the size of their file)."""
    total = sum(t.ByteSize() for t in model.graph.initializer)
    for tensor in _external(model):
        entries = {e.key: e.value for e in tensor.external_data}
        try:
            total += int(entries["length"]) if "length" in entries else \
                (path.parent / entries.get("location", "")).stat().st_size
        except (OSError, ValueError):
            pass  # unreadable data is refused when it is read
    return total


def _scopes(node: Any) -> list[str]:
    """Module paths from the exporter's scope names, outermost first, the op's own last."""
    for prop in node.metadata_props:
        if prop.key == "pkg.torch.onnx.name_scopes":
            names = [s for s in re.findall(r"'([^']*)'", prop.value) if s]
            return names[:-1] if len(names) > 1 else names
    parts = [p for p in node.name.split("/") if p]
    if len(parts) < 2:
        return []
    parts = parts[:-1]  # the op type
    if "." not in parts[-1] and len(parts) > 1:
        parts[-1] = f"{parts[-2]}.{parts[-1]}"
    return parts


class OnnxImporter(PatternsMixin):
    """Walks an ONNX graph in order, handing each node to its handler.

    The handlers (``onnx_ops`` on the kinds) use this API: ``block()`` adds a block for a
    node, ``alias()`` lets a node's output be another tensor's block, ``miss()`` counts a node
    that has no block, ``shape()`` and ``const()`` read a tensor; ``value`` maps each
    computed tensor to the block that makes it, ``consts`` holds the constant tensors,
    ``tensors`` each block's weights, ``uses`` how many nodes read each tensor, ``graph`` the
    graph built so far and ``opset`` the model's ONNX opset version.
    """

    def __init__(self, model: Any, source: str) -> None:
        from onnx import numpy_helper

        self.model = model
        self.source = source
        self.consts: dict[str, np.ndarray] = {
            i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        self.graph = Graph()
        self.analysis = Analysis(self.graph, live=True)
        self.value: dict[str, str] = {}
        self.tensors: dict[str, dict[str, np.ndarray]] = {}
        self.unmapped: Counter = Counter()
        self.groups: dict[str, str] = {}
        self.uses = Counter(i for n in model.graph.node for i in n.input)
        self.opset = model.opset_import[0].version
        self.group_of_block: dict[str, str | None] = {}
        self.pre_meta = preprocessing_metadata(model)

    # ----------------------------------------------------------------- helpers
    def shape(self, tensor: str) -> tuple[int, ...] | None:
        self.analysis.update()
        result = self.analysis.results.get(self.value.get(tensor, ""))
        return None if result is None or result.shape is None else tuple(result.shape)

    def const(self, node: Any, index: int) -> np.ndarray | None:
        if len(node.input) <= index or not node.input[index]:
            return None
        return self.consts.get(node.input[index])

    def group(self, scopes: list[str], fallback: str | None) -> str | None:
        if not scopes:
            return fallback
        parent = None
        for path in scopes[:GROUP_DEPTH]:
            if path not in self.groups:
                name = self.graph.unique_name(path.replace(".", "_"))
                self.groups[path] = self.graph.add_node(GROUP_KIND, name=name,
                                                        parent=parent).id
            parent = self.groups[path]
        return parent

    def block(self, node: Any, kind: str, params: dict[str, Any], inputs: list[str],
              tensors: dict[str, np.ndarray] | None = None, output: str | None = None) -> str:
        scopes = _scopes(node)
        weight = node.input[1] if len(node.input) > 1 and tensors else ""
        if weight.endswith(".weight") and not weight.startswith(("onnx::", "val_")):
            path = weight[:-len(".weight")]
        elif scopes:
            path = scopes[-1]
        else:
            path = (node.name or node.output[0]).strip("/") or node.op_type.lower()
        name = self.graph.unique_name(re.sub(r"\W", "_", path.replace(".", "_")).strip("_"))
        fallback = self.group_of_block.get(self.value.get(inputs[0], "")) if inputs else None
        parent = self.group(scopes[:-1] if len(scopes) > 1 else [], fallback)
        new = self.graph.add_node(kind, name=name, params=params, parent=parent)
        self.group_of_block[new.id] = parent
        for port, tensor in enumerate(inputs):
            self.graph.connect(self.value[tensor], new.id, port)
        if tensors:
            self.tensors[new.id] = tensors
        self.value[output or node.output[0]] = new.id
        return new.id

    def alias(self, node: Any, tensor: str) -> None:
        self.value[node.output[0]] = self.value[tensor]

    def miss(self, node: Any, why: str = "") -> None:
        self.unmapped[node.op_type + (f" ({why})" if why else "")] += 1

    # --------------------------------------------------------------------- run
    def run(self) -> None:
        graph = self.model.graph
        inputs = [i for i in graph.input if i.name not in self.consts]
        if len(inputs) != 1:
            raise ImportFailure(f"{self.source}: expected one input, found {len(inputs)}: "
                                + ", ".join(i.name for i in inputs))
        dims = [d.dim_value if d.HasField("dim_value") else None
                for d in inputs[0].type.tensor_type.shape.dim]
        if len(dims) < 2 or any(d is None or d < 1 for d in dims[1:]):
            raise ImportFailure(f"{self.source}: its input {inputs[0].name!r} has no fixed "
                                f"size apart from the batch (dims: {dims}); export it with a "
                                "fixed C×H×W")
        self.batch = dims[0] or 1
        new = self.graph.add_node("Input", name="input", params={"shape": dims[1:]})
        self.value[inputs[0].name] = new.id
        rbf, covered = find_rbf(self.model)
        for index, node in enumerate(graph.node):
            if index in rbf:
                self.rbf(node, *rbf[index])
            elif index in covered:
                continue
            elif all(i in self.consts or not i for i in node.input) and node.op_type in FOLDABLE:
                self.fold(node)
            elif any(i and i not in self.consts and i not in self.value for i in node.input):
                # Downstream of an unmapped op: count it too when no handler could map it.
                if self.handler(node.op_type) is None and node.op_type not in FOLDABLE:
                    self.miss(node)
            elif not self.preprocess(node):
                handler = self.handler(node.op_type)
                if handler is None:
                    self.miss(node)
                else:
                    handler(node)
        outputs = [o.name for o in graph.output]
        if not self.unmapped and len(outputs) == 1 and outputs[0] in self.value:
            shape = self.shape(outputs[0])
            if shape is not None and len(shape) == 1:
                out = self.graph.add_node("Output", name="output",
                                          params={"classes": int(shape[0])})
                self.graph.connect(self.value[outputs[0]], out.id)
        elif len(outputs) != 1:
            self.unmapped[f"{len(outputs)} outputs"] += 1
        self.analysis.close()

    def handler(self, op_type: str) -> Any:
        """The importer's own handler of an op that makes no block (Identity, Shape, Sub,
        Div), else the one a kind registers; None when nothing handles it."""
        own = getattr(self, f"op_{op_type}", None)
        if own is not None:
            return own
        entry = REGISTRY.onnx_ops.get(op_type)
        return None if entry is None else lambda node: entry[1](self, node)

    # ---------------------------------------------------------- constant folding
    def fold(self, node: Any) -> None:
        a = onnx_attrs(node)
        x = [self.consts.get(i) for i in node.input]
        op = node.op_type
        if op == "Constant":
            from onnx import numpy_helper

            out = numpy_helper.to_array(a["value"]) if "value" in a else np.array(
                a.get("value_ints", a.get("value_int", a.get("value_float"))))
        elif op in ("Identity", "Cast"):
            out = x[0]
        elif op == "Unsqueeze":
            axes = a.get("axes", x[1] if len(x) > 1 else None)
            out = np.expand_dims(x[0], tuple(int(v) for v in axes))
        elif op == "Squeeze":
            axes = a.get("axes", x[1] if len(x) > 1 else None)
            out = np.squeeze(x[0], None if axes is None else tuple(int(v) for v in axes))
        elif op == "Concat":
            out = np.concatenate(x, axis=a["axis"])
        elif op == "Gather":
            out = np.take(x[0], x[1], axis=a.get("axis", 0))
        elif op == "Reshape":
            out = x[0].reshape(x[1])
        elif op == "Slice":
            out = x[0][tuple(slice(int(s), int(e)) for s, e in zip(x[1], x[2]))]
        elif op in ("Mul", "Add", "Sub", "Div"):
            out = {"Mul": np.multiply, "Add": np.add, "Sub": np.subtract,
                   "Div": np.divide}[op](x[0], x[1])
        else:
            return self.miss(node, "on constants")
        self.consts[node.output[0]] = np.asarray(out)

    def op_Shape(self, node: Any) -> None:
        shape = self.shape(node.input[0])
        if shape is None:
            return self.miss(node)
        self.consts[node.output[0]] = np.array([self.batch, *shape], dtype=np.int64)

    def op_Identity(self, node: Any) -> None:
        self.alias(node, node.input[0])


def import_onnx(path: str | Path, keep_unknown: bool = False,
                collapse: bool = False) -> Imported:
    path = Path(path)
    model = read_model(path)
    importer = OnnxImporter(model, str(path))
    if not collapse:
        importer.run()
        if not importer.unmapped:
            return _finish(importer, path)
        if not keep_unknown:
            raise ImportFailure(unmapped_message(str(path), importer.unmapped))
    from engine.importers.onnx_module import import_collapsed

    return import_collapsed(model, path, importer.unmapped)


def _finish(importer: OnnxImporter, path: Path) -> Imported:
    import torch

    graph = importer.graph
    tensors = {node_id: {k: torch.from_numpy(_writable(v)) for k, v in block.items()}
               for node_id, block in importer.tensors.items()}
    project = Project(graph=graph, name=path.stem,
                      description=f"Imported from the ONNX model {path.name}.")
    used = {i for n in importer.model.graph.node for i in n.input}
    unused = [i.name for i in importer.model.graph.initializer if i.name not in used]
    notes = [f"{len(tensors)} blocks hold the model's initializers"]
    if unused:
        notes.append(f"{len(unused)} initializers are used by no node: {unused[:5]}")
    return Imported(project, tensors, notes)


def _writable(array: np.ndarray) -> np.ndarray:
    ok = array.flags.c_contiguous and array.flags.writeable
    return array if ok else array.copy(order="C")  # copy keeps 0-d arrays 0-d
