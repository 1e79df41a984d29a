"""A torch.nn.Module as an editable Netdraft graph.

torch.fx traces the module's dataflow (residual adds, inception concats, squeeze-and-excitation
multiplies) with every module that has no children as one call; each call becomes a block of
the matching kind, grouped by the module path (``layer1`` / ``layer1_0``), and each block
records which module's tensors it takes. What has no kind is counted by name in ``unmapped``
and never dropped silently: the caller fails with that list or keeps the model in a Backbone.
"""

from __future__ import annotations

import operator
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from engine.graph import GROUP_KIND, Graph
from engine.layers import REGISTRY
from engine.layers.backbone_module import UntraceableError, trace
from engine.validate import analyze

IDENTITY = ("identity", {})
_COUNTER = re.compile(r"_\d+$")  # fx numbers repeated calls: add, add_1, add_2…
GROUP_DEPTH = 3  # stage / block / branch: deeper module paths share their block's group


@dataclass
class Converted:
    graph: Graph
    sources: dict[str, str] = field(default_factory=dict)  # node id -> module path
    notes: list[str] = field(default_factory=list)
    unmapped: Counter = field(default_factory=Counter)


def _size(value: Any) -> Any:
    """(3, 3) -> 3, (3, 1) -> [3, 1]: Netdraft's size words."""
    if isinstance(value, tuple | list):
        values = [int(v) for v in value]
        return values[0] if len(set(values)) == 1 else values
    return int(value)


def _conv(m: nn.Conv2d) -> tuple[str, dict[str, Any]] | str:
    if m.padding_mode != "zeros":
        return f"Conv2d with padding_mode={m.padding_mode!r}"
    padding = m.padding if isinstance(m.padding, str) else _size(m.padding)
    common = {"kernel_size": _size(m.kernel_size), "stride": _size(m.stride),
              "padding": padding, "dilation": _size(m.dilation), "bias": m.bias is not None}
    if m.groups > 1 and m.groups == m.in_channels and m.out_channels % m.in_channels == 0:
        return "DepthwiseConv2D", {"depth_multiplier": m.out_channels // m.in_channels, **common}
    return "Conv2D", {"filters": m.out_channels, "groups": m.groups, **common}


def _conv_transpose(m: nn.ConvTranspose2d) -> tuple[str, dict[str, Any]] | str:
    if m.groups != 1 or _size(m.dilation) != 1 or m.padding_mode != "zeros":
        return "ConvTranspose2d with groups, dilation or a padding mode"
    return "ConvTranspose2D", {"filters": m.out_channels, "kernel_size": _size(m.kernel_size),
                               "stride": _size(m.stride), "padding": _size(m.padding),
                               "output_padding": _size(m.output_padding),
                               "bias": m.bias is not None}


def _batch_norm(m: nn.modules.batchnorm._BatchNorm) -> tuple[str, dict[str, Any]] | str:
    if not (m.affine and m.track_running_stats):
        return f"{type(m).__name__} without affine weights or running statistics"
    momentum = 0.1 if m.momentum is None else float(m.momentum)
    return "BatchNorm", {"momentum": momentum, "epsilon": float(m.eps)}


def _pool(kind: str, m: nn.Module) -> tuple[str, dict[str, Any]] | str:
    if kind == "MaxPool2D" and (_size(m.dilation) != 1 or m.return_indices):
        return "MaxPool2d with dilation or return_indices"
    padding = _size(m.padding)
    if kind == "AvgPool2D" and (m.divisor_override or (padding and not m.count_include_pad)):
        return "AvgPool2d with divisor_override or count_include_pad=False"
    stride = _size(m.stride) if m.stride is not None else None
    params = {"pool_size": _size(m.kernel_size), "stride": stride, "padding": padding,
              "ceil_mode": bool(m.ceil_mode)}
    if stride == params["pool_size"]:
        params["stride"] = None
    return kind, params


def _upsample(m: nn.Upsample) -> tuple[str, dict[str, Any]] | str:
    scale = m.scale_factor
    scale = scale[0] if isinstance(scale, tuple) and len(set(scale)) == 1 else scale
    if m.size is not None or not isinstance(scale, int | float) or float(scale) != int(scale) \
            or m.mode not in ("nearest", "bilinear") or m.align_corners:
        return "Upsample with a fixed size, a fractional scale or align_corners"
    return "Upsample", {"scale_factor": int(scale), "mode": m.mode}


def _zero_pad(m: nn.ZeroPad2d) -> tuple[str, dict[str, Any]] | str:
    left, right, top, bottom = m.padding
    if left != right or top != bottom:
        return "ZeroPad2d with uneven padding"
    return "ZeroPad2D", {"padding": _size((top, left))}


def _softmax(kind: str, dim: Any) -> tuple[str, dict[str, Any]] | str:
    return (kind, {}) if dim in (1, -1) else f"{kind} over dim {dim}"


def module_spec(m: nn.Module) -> tuple[str, dict[str, Any]] | str:
    """(kind, params), IDENTITY, or a short description of why it has no kind."""
    simple = {nn.ReLU: "ReLU", nn.ReLU6: "ReLU6", nn.GELU: "GELU", nn.SiLU: "SiLU",
              nn.Tanh: "Tanh", nn.Sigmoid: "Sigmoid", nn.Hardswish: "Hardswish",
              nn.Hardsigmoid: "Hardsigmoid"}
    for cls, kind in simple.items():
        if type(m) is cls:
            if kind == "GELU" and m.approximate != "none":
                return "GELU with the tanh approximation"
            return kind, {}
    if type(m) is nn.Conv2d:
        return _conv(m)
    if type(m) is nn.ConvTranspose2d:
        return _conv_transpose(m)
    if type(m) is nn.Linear:
        return "Dense", {"units": m.out_features, "bias": m.bias is not None}
    if type(m) in (nn.BatchNorm1d, nn.BatchNorm2d):
        return _batch_norm(m)
    if type(m) is nn.MaxPool2d:
        return _pool("MaxPool2D", m)
    if type(m) is nn.AvgPool2d:
        return _pool("AvgPool2D", m)
    if type(m) is nn.AdaptiveAvgPool2d:
        return "AdaptiveAvgPool", {"output_size": _size(m.output_size)}
    if type(m) is nn.Dropout:
        return "Dropout", {"rate": float(m.p)}
    if type(m) is nn.Dropout2d:
        return "SpatialDropout2D", {"rate": float(m.p)}
    if type(m) is nn.Flatten:
        return ("Flatten", {}) if (m.start_dim, m.end_dim) == (1, -1) else \
            f"Flatten from dim {m.start_dim} to {m.end_dim}"
    if type(m) is nn.Identity:
        return IDENTITY
    if type(m) is nn.LeakyReLU:
        return "LeakyReLU", {"negative_slope": float(m.negative_slope)}
    if type(m) is nn.ELU:
        return "ELU", {"alpha": float(m.alpha)}
    if type(m) is nn.Softmax:
        return _softmax("Softmax", m.dim)
    if type(m) is nn.LogSoftmax:
        return _softmax("LogSoftmax", m.dim)
    if type(m) is nn.LocalResponseNorm:
        return "LocalResponseNorm", {"size": m.size, "alpha": float(m.alpha),
                                     "beta": float(m.beta), "k": float(m.k)}
    if type(m) is nn.ZeroPad2d:
        return _zero_pad(m)
    if type(m) is nn.Upsample:
        return _upsample(m)
    if type(m).__name__ == "StochasticDepth":
        return IDENTITY
    return type(m).__name__


_ACTIVATION_FUNCTIONS = {
    F.relu: "ReLU", torch.relu: "ReLU", torch.relu_: "ReLU", F.relu6: "ReLU6",
    F.silu: "SiLU", F.hardswish: "Hardswish", F.hardsigmoid: "Hardsigmoid",
    torch.sigmoid: "Sigmoid", torch.tanh: "Tanh", F.sigmoid: "Sigmoid", F.tanh: "Tanh",
    F.gelu: "GELU",
}
_ACTIVATION_METHODS = {"relu": "ReLU", "relu_": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh"}


def _arg(node: fx.Node, index: int, name: str, default: Any) -> Any:
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


def function_spec(node: fx.Node) -> tuple[tuple[str, dict[str, Any]] | str, list[Any]]:
    """(spec, tensor inputs) for a call_function or call_method node."""
    target = node.target
    first = node.args[0] if node.args else None
    if node.op == "call_method":
        if target in _ACTIVATION_METHODS:
            return (_ACTIVATION_METHODS[target], {}), [first]
        if target == "flatten":
            return _flatten(node), [first]
        if target == "mean":
            return _mean(node), [first]
        return f"tensor.{target}()", []
    if target in _ACTIVATION_FUNCTIONS:
        if target is F.gelu and node.kwargs.get("approximate", "none") != "none":
            return "gelu with the tanh approximation", []
        return (_ACTIVATION_FUNCTIONS[target], {}), [first]
    if target in (operator.add, torch.add, operator.iadd, operator.mul, torch.mul):
        kind = "Add" if target in (operator.add, torch.add, operator.iadd) else "Multiply"
        tensors = list(node.args[:2])
        if not all(isinstance(t, fx.Node) for t in tensors) or node.kwargs:
            return f"{getattr(target, '__name__', target)} with a constant", []
        return (kind, {}), tensors
    if target is torch.cat:
        tensors = list(first) if isinstance(first, list | tuple) else []
        if _arg(node, 1, "dim", 0) != 1 or not all(isinstance(t, fx.Node) for t in tensors):
            return "cat along a dimension other than the channels", []
        return ((IDENTITY if len(tensors) == 1 else ("Concat", {})), tensors)
    if target is torch.flatten:
        return _flatten(node), [first]
    if target is torch.mean:
        return _mean(node), [first]
    if target is F.adaptive_avg_pool2d:
        return ("AdaptiveAvgPool", {"output_size": _size(_arg(node, 1, "output_size", 1))}), \
            [first]
    if target is F.dropout:
        return ("Dropout", {"rate": float(_arg(node, 1, "p", 0.5))}), [first]
    if target in (F.max_pool2d, F.avg_pool2d):
        return _pool_function(node), [first]
    return getattr(target, "__name__", str(target)), []


def _pool_function(node: fx.Node) -> tuple[str, dict[str, Any]] | str:
    """F.max_pool2d / F.avg_pool2d with constant arguments (Inception v3), as the module."""
    if node.target is F.max_pool2d:
        names = ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
        defaults = (None, None, 0, 1, False, False)
        module_class, kind = nn.MaxPool2d, "MaxPool2D"
    else:
        names = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                 "divisor_override")
        defaults = (None, None, 0, False, True, None)
        module_class, kind = nn.AvgPool2d, "AvgPool2D"
    values = {n: _arg(node, i + 1, n, d) for i, (n, d) in enumerate(zip(names, defaults))}
    if any(isinstance(v, fx.Node) for v in values.values()) or values["kernel_size"] is None:
        return f"{node.target.__name__} with computed arguments"
    if not values["stride"]:
        values["stride"] = None
    return _pool(kind, module_class(**values))


def _flatten(node: fx.Node) -> tuple[str, dict[str, Any]] | str:
    start = _arg(node, 1, "start_dim", 0)
    end = _arg(node, 2, "end_dim", -1)
    return ("Flatten", {}) if (start, end) == (1, -1) else f"flatten from dim {start} to {end}"


def _mean(node: fx.Node) -> tuple[str, dict[str, Any]] | str:
    """x.mean([2, 3]) is global average pooling (MNASNet); keepdim keeps C×1×1."""
    dims = _arg(node, 1, "dim", None)
    dims = [dims] if isinstance(dims, int) else list(dims or [])
    if sorted(d % 4 for d in dims) != [2, 3]:
        return "mean over other dims than height and width"
    if _arg(node, 2, "keepdim", False):
        return "AdaptiveAvgPool", {"output_size": 1}
    return "GlobalAvgPool", {}


def _scope(node: fx.Node) -> list[str]:
    """The module paths enclosing a node, outermost first (its own module excluded)."""
    stack = node.meta.get("nn_module_stack") or {}
    paths = [v[0] if isinstance(v, tuple) else k for k, v in stack.items()]
    if node.op == "call_module" and paths:
        paths = paths[:-1]
    return [p for p in paths if p][:GROUP_DEPTH]


class _Builder:
    def __init__(self, model: nn.Module, input_shape: tuple[int, ...]) -> None:
        self.gm = trace(model)
        self.input_shape = input_shape
        self.out = Converted(Graph())
        self.groups: dict[str, str] = {}
        self.value: dict[fx.Node, str] = {}
        self.calls: Counter = Counter()
        self.identities: list[str] = []

    def group_of(self, node: fx.Node) -> str | None:
        parent = None
        for path in _scope(node):
            if path not in self.groups:
                name = self.out.graph.unique_name(path.replace(".", "_"))
                self.groups[path] = self.out.graph.add_node(GROUP_KIND, name=name,
                                                            parent=parent).id
            parent = self.groups[path]
        return parent

    def add(self, node: fx.Node, kind: str, params: dict[str, Any], inputs: list[Any],
            name: str | None = None) -> str:
        graph = self.out.graph
        if name is None:
            scope = _scope(node)
            name = node.name if node.op == "call_module" or not scope else \
                scope[-1].replace(".", "_") + "_" + _COUNTER.sub("", node.name)
        block = graph.add_node(kind, name=graph.unique_name(name), params=params,
                               parent=self.group_of(node))
        for port, src in enumerate(inputs):
            graph.connect(self.value[src], block.id, port)
        self.value[node] = block.id
        return block.id

    def run(self, prepend: list[tuple[str, dict[str, Any], str]]) -> Converted:
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                if self.value:
                    self.out.unmapped["a second input"] += 1
                    continue
                self.add(node, "Input", {"shape": list(self.input_shape)}, [], name="input")
                for kind, params, name in prepend:
                    self.add(node, kind, params, [node], name=name)
            elif node.op == "call_module":
                self.module_call(node)
            elif node.op in ("call_function", "call_method"):
                spec, inputs = function_spec(node)
                self.place(node, spec, inputs)
            elif node.op == "output":
                self.output(node)
            else:  # get_attr: a tensor used directly (ConvNeXt's layer_scale)
                self.out.unmapped[f"{node.op} {str(node.target).rsplit('.', 1)[-1]}"] += 1
        if self.identities:
            self.out.notes.append(
                f"{len(self.identities)} StochasticDepth layers ({', '.join(self.identities)}) "
                "drop residual branches only in training and are identities at inference: "
                "they became plain connections, so fine-tuning runs without them")
        return self.out

    def module_call(self, node: fx.Node) -> None:
        module = self.gm.get_submodule(node.target)
        spec = module_spec(module)
        self.calls[node.target] += 1
        if self.calls[node.target] > 1 and any(True for _ in module.state_dict()):
            self.out.unmapped[f"{type(module).__name__} called twice with shared weights"] += 1
            return
        if type(module).__name__ == "StochasticDepth":
            self.identities.append(f"{node.target} (p={module.p:.3g})")
        block = self.place(node, spec, [node.args[0]] if node.args else [])
        if block and any(True for _ in module.state_dict()):
            self.out.sources[block] = node.target

    def place(self, node: fx.Node, spec: Any, inputs: list[Any]) -> str | None:
        if isinstance(spec, str):
            self.out.unmapped[spec] += 1
            return None
        if not inputs or not all(isinstance(i, fx.Node) for i in inputs):
            self.out.unmapped[f"{node.op} {node.target} on non-tensor inputs"] += 1
            return None
        if any(i not in self.value for i in inputs):
            return None  # downstream of something unmapped: counted there already
        kind, params = spec
        if kind == "identity":
            self.value[node] = self.value[inputs[0]]
            return None
        return self.add(node, kind, params, inputs)

    def output(self, node: fx.Node) -> None:
        result = node.args[0]
        if not isinstance(result, fx.Node):
            self.out.unmapped["several outputs"] += 1
            return
        if result not in self.value or self.out.unmapped:
            return
        analysis = analyze(self.out.graph)
        shape = analysis.results[self.value[result]].shape
        if shape is not None and len(shape) == 1:
            block = self.out.graph.add_node("Output", name="output",
                                            params={"classes": int(shape[0])})
            self.out.graph.connect(self.value[result], block.id)


def to_graph(model: nn.Module, input_shape: tuple[int, ...],
             prepend: list[tuple[str, dict[str, Any], str]] | None = None) -> Converted:
    """Trace ``model`` (in eval mode: training-only branches are left out) into a graph.

    ``prepend``: blocks (kind, params, name) inserted right after the Input. A model that
    torch.fx cannot trace comes back with that one reason in ``unmapped``.
    """
    try:
        builder = _Builder(model, input_shape)
    except UntraceableError as exc:
        return Converted(Graph(), unmapped=Counter({str(exc): 1}))
    return builder.run(prepend or [])


def block_state(kind_id: str, params: dict[str, Any], inputs: list[tuple[int, ...]],
                shape: tuple[int, ...]) -> dict[str, torch.Size]:
    """The tensors a block of this kind holds, built on the meta device (no memory)."""
    kind = REGISTRY.get(kind_id)
    with torch.device("meta"):
        module = kind.build(inputs, kind.resolve(params), shape)
    return {k: v.shape for k, v in module.state_dict().items()}


def take_tensors(converted: Converted, state: dict[str, torch.Tensor]
                 ) -> tuple[dict[str, dict[str, torch.Tensor]], list[str]]:
    """Each block's tensors from the model's state dict, renamed to the block's own keys.

    Returns (tensors by node id, the model's keys no block took).
    """
    graph = converted.graph
    analysis = analyze(graph)
    taken: set[str] = set()
    tensors: dict[str, dict[str, torch.Tensor]] = {}
    for node_id, path in converted.sources.items():
        node = graph.nodes[node_id]
        result = analysis.results[node_id]
        want = block_state(node.kind, node.params, list(result.input_shapes), result.shape)
        prefix = f"{path}."
        mine = {k[len(prefix):]: k for k in state if k.startswith(prefix)}
        block: dict[str, torch.Tensor] = {}
        for key, shape in want.items():
            source = mine.get(key) or next((full for short, full in mine.items()
                                            if short.rsplit(".", 1)[-1] == key), None)
            if source is None or state[source].shape != shape:
                found = None if source is None else tuple(state[source].shape)
                raise ValueError(f"{node.name}: no tensor {path}.{key} of shape "
                                 f"{tuple(shape)} (found {found})")
            block[key] = state[source]
            taken.add(source)
        tensors[node_id] = block
    return tensors, [k for k in state if k not in taken]
