"""An ONNX graph run by torch ops: the module behind a Backbone block imported from ONNX.

The graph travels in the Backbone's 'graph' parameter as JSON (nodes, attributes, small
integer constants); float initializers are the module's parameters (BatchNorm statistics
its buffers), stored with the project's weights like any block's. OPS lists the ops it
runs; the ONNX importer (engine/importers/onnx_module.py) refuses a graph with others.
Imported only from the Backbone's build and from that importer.
"""

from __future__ import annotations

import json
import re
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F


def _pads(a: dict[str, Any], rank: int = 2) -> list[int]:
    pads = a.get("pads", [0] * 2 * rank)
    return [p for i in reversed(range(rank)) for p in (pads[i], pads[i + rank])]


def _conv(x, w, b=None, **a):
    x = F.pad(x, _pads(a))
    return F.conv2d(x, w, b, a.get("strides", 1), 0, a.get("dilations", 1), a.get("group", 1))


def _conv_t(x, w, b=None, **a):
    p = a.get("pads", [0, 0, 0, 0])
    return F.conv_transpose2d(x, w, b, a.get("strides", 1), (p[0], p[1]),
                              a.get("output_padding", 0), a.get("group", 1),
                              a.get("dilations", 1))


def _pool(kind):
    def run(x, **a):
        k, s = a["kernel_shape"], a.get("strides", 1)
        p = a.get("pads", [0, 0, 0, 0])
        if kind == "max":
            return F.max_pool2d(x, k, s, (p[0], p[1]), a.get("dilations", 1),
                                bool(a.get("ceil_mode", 0)))
        return F.avg_pool2d(x, k, s, (p[0], p[1]), bool(a.get("ceil_mode", 0)),
                            bool(a.get("count_include_pad", 0)))
    return run


def _gemm(a_, b, c=None, **a):
    a_ = a_.t() if a.get("transA", 0) else a_
    b = b.t() if a.get("transB", 0) else b
    out = a.get("alpha", 1.0) * (a_ @ b)
    return out if c is None else out + a.get("beta", 1.0) * c


def _axes(a, tensor):
    axes = a.get("axes")
    return [int(v) for v in (axes if axes is not None else tensor.tolist())]


def _reduce(fn):
    def run(x, axes=None, **a):
        dims = _axes(a, axes) if (axes is not None or "axes" in a) else list(range(x.dim()))
        return fn(x, dim=dims, keepdim=bool(a.get("keepdims", 1)))
    return run


def _slice(x, starts, ends, axes=None, steps=None, **a):
    out = x
    axes = axes.tolist() if axes is not None else list(range(len(starts)))
    steps = steps.tolist() if steps is not None else [1] * len(axes)
    for s, e, ax, st in zip(starts.tolist(), ends.tolist(), axes, steps):
        size = out.shape[ax]
        if st < 0:  # torch slices forwards only: pick the indices (Swin's reversed rolls)
            s, e = s + size if s < 0 else s, e + size if e < 0 else e
            s, e = min(max(s, -1), size - 1), min(max(e, -1), size - 1)
            out = out.index_select(ax, torch.arange(s, e, st, device=out.device))
            continue
        e = max(min(e, size), -size - 1) if e < 0 else min(e, size)
        out = out[(slice(None),) * (ax % out.dim()) + (slice(s, e, st),)]
    return out


def _gather(x, i, axis=0):
    """ONNX's negative indices count from the end (MaxViT's relative positions)."""
    axis %= x.dim()
    flat = i.reshape(-1)
    flat = torch.where(flat < 0, flat + x.shape[axis], flat)
    return torch.index_select(x, axis, flat).reshape(x.shape[:axis] + i.shape
                                                     + x.shape[axis + 1:])


def _resize(x, roi=None, scales=None, sizes=None, **a):
    mode = {"nearest": "nearest", "linear": "bilinear"}[a.get("mode", "nearest")]
    extra = {} if mode == "nearest" else {"align_corners": False}
    if sizes is not None and sizes.numel():
        return F.interpolate(x, size=[int(v) for v in sizes.tolist()[2:]], mode=mode, **extra)
    return F.interpolate(x, scale_factor=[float(v) for v in scales.tolist()[2:]], mode=mode,
                         **extra)


def _div(a, b):
    """ONNX divides integers as integers (ShuffleNet's channels // 2 feeding a Slice)."""
    if a.is_floating_point() or b.is_floating_point():
        return torch.div(a, b)
    return torch.div(a, b, rounding_mode="trunc")


def _scatter_nd(data, indices, updates, reduction="none"):
    if reduction != "none":
        raise ValueError(f"ScatterND with reduction {reduction!r}")
    out = data.clone()
    out[tuple(indices[..., k] for k in range(indices.shape[-1]))] = updates
    return out


def _constant_of_shape(shape, value=None):
    """The value attribute came through JSON as a one-element list: its type gives the dtype."""
    fill = (value or [0.0])[0]
    dtype = torch.bool if isinstance(fill, bool) else torch.int64 if isinstance(fill, int) \
        else torch.float32
    return torch.full([int(v) for v in shape.tolist()], fill, dtype=dtype)


OPS: dict[str, Any] = {
    "Conv": _conv, "ConvTranspose": _conv_t, "Gemm": _gemm,
    "MatMul": lambda a, b: a @ b,
    "BatchNormalization": lambda x, s, b, m, v, **a: F.batch_norm(
        x, m, v, s, b, False, 0.0, a.get("epsilon", 1e-5)),
    "Relu": lambda x: F.relu(x), "Sigmoid": torch.sigmoid, "Tanh": torch.tanh,
    "HardSwish": F.hardswish,
    "HardSigmoid": lambda x, **a: torch.clamp(a.get("alpha", 0.2) * x + a.get("beta", 0.5),
                                              0, 1),
    "LeakyRelu": lambda x, **a: F.leaky_relu(x, a.get("alpha", 0.01)),
    "Elu": lambda x, **a: F.elu(x, a.get("alpha", 1.0)),
    "Gelu": lambda x, **a: F.gelu(x, approximate=a.get("approximate", "none")),
    "Clip": lambda x, lo=None, hi=None, **a: torch.clamp(
        x, None if lo is None else float(lo), None if hi is None else float(hi)),
    "Softmax": lambda x, **a: F.softmax(x, a.get("axis", -1)),
    "LogSoftmax": lambda x, **a: F.log_softmax(x, a.get("axis", -1)),
    "MaxPool": _pool("max"), "AveragePool": _pool("avg"),
    "GlobalAveragePool": lambda x: x.mean(dim=(2, 3), keepdim=True),
    "GlobalMaxPool": lambda x: x.amax(dim=(2, 3), keepdim=True),
    "ReduceMean": _reduce(torch.mean), "ReduceSum": _reduce(torch.sum),
    "ReduceMax": _reduce(torch.amax),
    "Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": _div,
    "Pow": torch.pow, "Sqrt": torch.sqrt, "Exp": torch.exp, "Erf": torch.erf,
    "Neg": torch.neg, "Abs": torch.abs,
    "Sum": lambda *xs: torch.stack(xs).sum(0),
    "Concat": lambda *xs, **a: torch.cat(xs, a["axis"]),
    "Flatten": lambda x, **a: x.flatten(a.get("axis", 1)),
    "Reshape": lambda x, s, **a: x.reshape([x.shape[i] if v == 0 else v
                                           for i, v in enumerate(s.tolist())]),
    "Transpose": lambda x, **a: x.permute(a["perm"]),
    "Squeeze": lambda x, axes=None, **a: x.squeeze(_axes(a, axes)) if (
        axes is not None or "axes" in a) else x.squeeze(),
    "Unsqueeze": lambda x, axes=None, **a: x.reshape(_unsqueezed(x.shape, _axes(a, axes))),
    "Shape": lambda x, **a: torch.tensor(x.shape, dtype=torch.int64),
    "Gather": _gather,
    "GatherND": lambda x, i, **a: x[tuple(i[..., k] for k in range(i.shape[-1]))],
    "Slice": _slice,
    "Cast": lambda x, **a: x.to(_DTYPES.get(a.get("to", 1), torch.float32)),
    "Identity": lambda x: x, "Dropout": lambda x, *rest, **a: x,
    "LRN": lambda x, **a: F.local_response_norm(x, a["size"], a.get("alpha", 1e-4),
                                                a.get("beta", 0.75), a.get("bias", 1.0)),
    "Pad": lambda x, pads, value=None, *rest, **a: F.pad(
        x, [p for i in reversed(range(x.dim())) for p in (int(pads[i]),
                                                           int(pads[i + x.dim()]))],
        value=0.0 if value is None else float(value)),
    "Resize": _resize,
    "Where": lambda condition, a, b: torch.where(condition.bool(), a, b),
    "Equal": torch.eq,
    "Mod": lambda a, b, **k: torch.fmod(a, b) if k.get("fmod", 0) else torch.remainder(a, b),
    "Expand": lambda x, shape: x.expand(torch.broadcast_shapes(x.shape,
                                                               tuple(shape.tolist()))),
    "ConstantOfShape": _constant_of_shape,
    "Not": torch.logical_not,
    "Range": lambda start, limit, delta: torch.arange(start.item(), limit.item(), delta.item(),
                                                      dtype=start.dtype),
    "ScatterND": _scatter_nd,
    "Einsum": lambda *xs, equation: torch.einsum(equation, *xs),
    "LayerNormalization": lambda x, scale, bias=None, **a: F.layer_norm(
        x, x.shape[a.get("axis", -1) % x.dim():], scale, bias, a.get("epsilon", 1e-5)),
}
_DTYPES = {1: torch.float32, 6: torch.int32, 7: torch.int64, 9: torch.bool, 11: torch.float64}


def _unsqueezed(shape: torch.Size, axes: list[int]) -> list[int]:
    out = list(shape)
    rank = len(out) + len(axes)
    for axis in sorted(a % rank for a in axes):
        out.insert(axis, 1)
    return out


def attr_name(name: str) -> str:
    """An ONNX tensor name as a module attribute (its parameters' state-dict key)."""
    return re.sub(r"\W", "_", name)


class OnnxModule(nn.Module):
    """Runs the nodes needed for ``cut`` (a tensor name; empty: the graph's output)."""

    def __init__(self, spec: dict[str, Any], cut: str = "") -> None:
        super().__init__()
        self.nodes = spec["nodes"]
        self.input_name = spec["input"]
        self.output_name = cut or spec["output"]
        self.names: dict[str, str] = {}
        for name, shape in spec["params"].items():
            self.names[name] = attr_name(name)
            self.register_parameter(attr_name(name), nn.Parameter(torch.zeros(shape)))
        for name, shape in spec["buffers"].items():
            self.names[name] = attr_name(name)
            self.register_buffer(attr_name(name), torch.zeros(shape))
        self.consts = {k: torch.tensor(v["data"], dtype=_DTYPES[v["dtype"]]).reshape(v["shape"])
                       for k, v in spec["consts"].items()}
        needed, order = {self.output_name}, []
        for node in reversed(self.nodes):
            if needed & set(node["outputs"]):
                order.append(node)
                needed |= {i for i in node["inputs"] if i}
        if self.output_name != self.input_name and not order:
            raise ValueError(f"the ONNX graph has no tensor {self.output_name!r} to cut at")
        self.order = list(reversed(order))

    @classmethod
    def from_json(cls, text: str, cut: str = "") -> OnnxModule:
        try:
            spec = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"the Backbone's ONNX graph is not valid JSON ({exc}); import "
                             "the model again") from None
        return cls(spec, cut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values: dict[str, Any] = {self.input_name: x}
        for node in self.order:
            args = [None if not i else values[i] if i in values else self.consts[i]
                    if i in self.consts else getattr(self, self.names[i]) for i in node["inputs"]]
            while args and args[-1] is None:
                args.pop()
            out = OPS[node["op"]](*args, **node["attrs"])
            values[node["outputs"][0]] = out
        return values[self.output_name]
