"""The ONNX ops that have Netdraft blocks: one ``op_<OpType>`` method each, mixed into the
importer (engine/importers/onnx_import.py), which supplies block(), alias(), miss(),
shape() and const()."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

SIMPLE = {"Relu": "ReLU", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "HardSwish": "Hardswish",
          "Elu": "ELU", "LeakyRelu": "LeakyReLU", "Gelu": "GELU"}


def attrs_of(node: Any) -> dict[str, Any]:
    import onnx

    out = {}
    for a in node.attribute:
        value = onnx.helper.get_attribute_value(a)
        out[a.name] = value.decode() if isinstance(value, bytes) else value
    return out


def _size(values: Any) -> Any:
    values = [int(v) for v in values]
    return values[0] if len(set(values)) == 1 else values


class OnnxOps:
    """Handlers for the mappable ops; each adds blocks or records why it cannot."""

    block: Any
    alias: Any
    miss: Any
    shape: Any
    const: Any
    graph: Any
    tensors: dict[str, dict[str, np.ndarray]]
    consts: dict[str, np.ndarray]
    uses: Any
    model: Any

    def _window(self, node: Any, a: dict[str, Any]) -> tuple[Any, str | None]:
        pads = a.get("pads", [0, 0, 0, 0])
        auto = a.get("auto_pad", "NOTSET")
        if auto == "VALID":
            return 0, None
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            strides = a.get("strides", [1, 1])
            return ("same", None) if set(strides) == {1} else (None, "auto_pad with a stride")
        if len(pads) != 4 or pads[0] != pads[2] or pads[1] != pads[3]:
            return None, "uneven padding"
        return _size(pads[:2]), None

    def op_Conv(self, node: Any) -> None:
        a = attrs_of(node)
        w, b = self.const(node, 1), self.const(node, 2)
        shape = self.shape(node.input[0])
        padding, why = self._window(node, a)
        if w is None or w.ndim != 4 or why or shape is None:
            return self.miss(node, why or "weights computed at run time, or not 2-D")
        groups = a.get("group", 1)
        common = {"kernel_size": _size(w.shape[2:]), "stride": _size(a.get("strides", [1, 1])),
                  "padding": padding, "dilation": _size(a.get("dilations", [1, 1])),
                  "bias": b is not None}
        tensors = {"weight": w, **({"bias": b} if b is not None else {})}
        if groups > 1 and groups == shape[0] and w.shape[0] % groups == 0:
            self.block(node, "DepthwiseConv2D",
                       {"depth_multiplier": w.shape[0] // groups, **common},
                       [node.input[0]], tensors)
        else:
            self.block(node, "Conv2D", {"filters": int(w.shape[0]), "groups": groups, **common},
                       [node.input[0]], tensors)

    def op_ConvTranspose(self, node: Any) -> None:
        a = attrs_of(node)
        w, b = self.const(node, 1), self.const(node, 2)
        padding, why = self._window(node, a)
        if w is None or w.ndim != 4 or why or padding == "same" or a.get("group", 1) != 1 \
                or set(a.get("dilations", [1])) != {1} or "output_shape" in a:
            return self.miss(node, why or "groups, dilation or a fixed output shape")
        params = {"filters": int(w.shape[1]), "kernel_size": _size(w.shape[2:]),
                  "stride": _size(a.get("strides", [1, 1])), "padding": padding,
                  "output_padding": _size(a.get("output_padding", [0, 0])),
                  "bias": b is not None}
        self.block(node, "ConvTranspose2D", params, [node.input[0]],
                   {"weight": w, **({"bias": b} if b is not None else {})})

    def op_Gemm(self, node: Any) -> None:
        a = attrs_of(node)
        w, c = self.const(node, 1), self.const(node, 2)
        if w is None or a.get("transA", 0) or node.input[0] not in self.value:
            return self.miss(node, "weights computed at run time")
        weight = w * a.get("alpha", 1.0) if a.get("alpha", 1.0) != 1.0 else w
        weight = weight if a.get("transB", 0) else weight.T
        tensors = {"weight": np.ascontiguousarray(weight)}
        if c is not None:
            tensors["bias"] = np.broadcast_to(c * a.get("beta", 1.0),
                                              (weight.shape[0],)).copy()
        self.block(node, "Dense", {"units": int(weight.shape[0]), "bias": c is not None},
                   [node.input[0]], tensors)

    def op_MatMul(self, node: Any) -> None:
        w = self.const(node, 1)
        if w is None or w.ndim != 2:
            return self.miss(node, "of two computed tensors")
        self.block(node, "Dense", {"units": int(w.shape[1]), "bias": False},
                   [node.input[0]], {"weight": np.ascontiguousarray(w.T)})

    def op_BatchNormalization(self, node: Any) -> None:
        a = attrs_of(node)
        values = [self.const(node, i) for i in range(1, 5)]
        if any(v is None for v in values) or a.get("training_mode", 0) or len(node.output) > 1:
            return self.miss(node, "in training mode")
        scale, bias, mean, var = values
        params = {"epsilon": float(a.get("epsilon", 1e-5)),
                  "momentum": round(1.0 - float(a.get("momentum", 0.9)), 6)}
        self.block(node, "BatchNorm", params, [node.input[0]],
                   {"weight": scale, "bias": bias, "running_mean": mean, "running_var": var,
                    "num_batches_tracked": np.array(0, dtype=np.int64)})

    def _pool(self, node: Any, kind: str) -> None:
        a = attrs_of(node)
        padding, why = self._window(node, a)
        kernel = a.get("kernel_shape", [])
        if why or len(kernel) != 2 or set(a.get("dilations", [1])) != {1} or len(node.output) > 1:
            return self.miss(node, why or "not 2-D, dilated or with indices")
        if kind == "AvgPool2D" and padding not in (0, "same") and not a.get(
                "count_include_pad", 0):
            return self.miss(node, "padded zeros left out of the average")
        stride = _size(a.get("strides", [1, 1]))
        params = {"pool_size": _size(kernel), "stride": None if stride == _size(kernel)
                  else stride, "padding": padding, "ceil_mode": bool(a.get("ceil_mode", 0))}
        self.block(node, kind, params, [node.input[0]])

    def op_MaxPool(self, node: Any) -> None:
        self._pool(node, "MaxPool2D")

    def op_AveragePool(self, node: Any) -> None:
        self._pool(node, "AvgPool2D")

    def op_GlobalAveragePool(self, node: Any) -> None:
        self.block(node, "AdaptiveAvgPool", {"output_size": 1}, [node.input[0]])

    def op_GlobalMaxPool(self, node: Any) -> None:
        shape = self.shape(node.input[0])
        if shape is None or len(shape) != 3:
            return self.miss(node)
        self.block(node, "GlobalMaxPool", {}, [node.input[0]], output=node.output[0] + "#")
        self.block(node, "Reshape", {"shape": [shape[0], 1, 1]}, [node.output[0] + "#"])

    def _reduce(self, node: Any, kind: str) -> None:
        a = attrs_of(node)
        axes = a.get("axes")
        if axes is None and len(node.input) > 1:
            axes = self.const(node, 1)
        shape = self.shape(node.input[0])
        if shape is None or len(shape) != 3 or axes is None \
                or sorted(int(v) % 4 for v in np.ravel(axes)) != [2, 3]:
            return self.miss(node, "over other axes than height and width")
        if a.get("keepdims", 1):
            if kind == "GlobalAvgPool":
                return self.block(node, "AdaptiveAvgPool", {"output_size": 1},
                                  [node.input[0]])
            self.op_GlobalMaxPool(node)
        else:
            self.block(node, kind, {}, [node.input[0]])

    def op_ReduceMean(self, node: Any) -> None:
        self._reduce(node, "GlobalAvgPool")

    def op_ReduceMax(self, node: Any) -> None:
        self._reduce(node, "GlobalMaxPool")

    def _activation(self, node: Any) -> None:
        a = attrs_of(node)
        kind = SIMPLE[node.op_type]
        params: dict[str, Any] = {}
        if kind == "LeakyReLU":
            params["negative_slope"] = float(a.get("alpha", 0.01))
        elif kind == "ELU":
            params["alpha"] = float(a.get("alpha", 1.0))
        elif kind == "GELU" and a.get("approximate", "none") != "none":
            return self.miss(node, "tanh approximation")
        self.block(node, kind, params, [node.input[0]])

    op_Relu = op_Sigmoid = op_Tanh = op_HardSwish = op_Elu = op_LeakyRelu = op_Gelu = \
        _activation

    def op_HardSigmoid(self, node: Any) -> None:
        a = attrs_of(node)
        if not (math.isclose(a.get("alpha", 0.2), 1 / 6, rel_tol=1e-6)
                and math.isclose(a.get("beta", 0.5), 0.5)):
            return self.miss(node, "alpha other than 1/6")
        self.block(node, "Hardsigmoid", {}, [node.input[0]])

    def op_Clip(self, node: Any) -> None:
        a = attrs_of(node)
        low = self.const(node, 1) if len(node.input) > 1 else a.get("min")
        high = self.const(node, 2) if len(node.input) > 2 else a.get("max")
        low = None if low is None else float(np.ravel(low)[0])
        high = None if high is None else float(np.ravel(high)[0])
        if low == 0.0 and high == 6.0:
            return self.block(node, "ReLU6", {}, [node.input[0]])
        if low == 0.0 and (high is None or math.isinf(high)):
            return self.block(node, "ReLU", {}, [node.input[0]])
        self.miss(node, f"to [{low}, {high}]")

    def _softmax(self, node: Any, kind: str) -> None:
        shape = self.shape(node.input[0])
        axis = attrs_of(node).get("axis", -1 if self.model.opset_import[0].version >= 13 else 1)
        if shape is None or axis % (len(shape) + 1) != 1:
            return self.miss(node, "over another axis than the channels")
        self.block(node, kind, {}, [node.input[0]])

    def op_Softmax(self, node: Any) -> None:
        self._softmax(node, "Softmax")

    def op_LogSoftmax(self, node: Any) -> None:
        self._softmax(node, "LogSoftmax")

    def op_Add(self, node: Any) -> None:
        self._merge(node, "Add")

    def op_Sum(self, node: Any) -> None:
        self._merge(node, "Add")

    def op_Mul(self, node: Any) -> None:
        self._merge(node, "Multiply")

    def _merge(self, node: Any, kind: str) -> None:
        computed = [i for i in node.input if i in self.value]
        if kind == "Multiply" and len(node.input) == 2 and len(computed) == 2:
            for x, gate in (node.input, node.input[::-1]):
                sigmoid = self.graph.nodes.get(self.value[gate])
                if sigmoid is not None and sigmoid.kind == "Sigmoid" and self.uses[gate] == 1 \
                        and self.graph.predecessors(sigmoid.id) == [self.value[x]]:
                    self.graph.remove_node(sigmoid.id)  # x·sigmoid(x): one SiLU block
                    return self.block(node, "SiLU", {}, [x])
        if len(computed) == len(node.input) >= 2:
            return self.block(node, kind, {}, list(node.input))
        constant = next((self.consts[i] for i in node.input if i in self.consts), None)
        producer = self.value.get(computed[0]) if len(computed) == 1 else None
        block = self.graph.nodes.get(producer or "")
        if kind == "Add" and block is not None and block.kind == "Dense" \
                and not block.params["bias"] and self.uses[computed[0]] == 1 \
                and constant is not None and constant.size == block.params["units"]:
            self.graph.set_param(block.id, "bias", True)  # MatMul + Add: a Dense with bias
            self.tensors[block.id]["bias"] = np.ravel(constant).copy()
            return self.alias(node, computed[0])
        self.miss(node, "with a constant")

    def op_Concat(self, node: Any) -> None:
        shape = self.shape(node.input[0])
        if shape is None or attrs_of(node).get("axis") not in (1, 1 - len(shape) - 1):
            return self.miss(node, "along another axis than the channels")
        if len(node.input) == 1:
            return self.alias(node, node.input[0])
        self.block(node, "Concat", {}, list(node.input))

    def op_Flatten(self, node: Any) -> None:
        if attrs_of(node).get("axis", 1) != 1:
            return self.miss(node, "from another axis than 1")
        self.block(node, "Flatten", {}, [node.input[0]])

    def op_Reshape(self, node: Any) -> None:
        target = self.const(node, 1)
        shape = self.shape(node.input[0])
        if target is None or shape is None:
            return self.miss(node, "to a computed shape")
        rest = [int(d) for d in np.ravel(target)[1:]]
        total = math.prod(shape)
        if rest.count(-1) == 1:
            known = math.prod(d for d in rest if d != -1)
            rest[rest.index(-1)] = total // known if known else 0
        if 0 in rest or math.prod(rest) != total:
            return self.miss(node, "that moves the batch dimension")
        if tuple(rest) == shape:
            return self.alias(node, node.input[0])
        if len(rest) == 1:
            return self.block(node, "Flatten", {}, [node.input[0]])
        self.block(node, "Reshape", {"shape": rest}, [node.input[0]])

    def op_Squeeze(self, node: Any) -> None:
        shape = self.shape(node.input[0])
        if shape is None or len(shape) != 3 or shape[1:] != (1, 1):
            return self.miss(node)
        self.block(node, "Flatten", {}, [node.input[0]])

    def op_Identity(self, node: Any) -> None:
        self.alias(node, node.input[0])

    def op_Dropout(self, node: Any) -> None:
        ratio = self.const(node, 1) if len(node.input) > 1 else None
        rate = float(np.ravel(ratio)[0]) if ratio is not None else float(
            attrs_of(node).get("ratio", 0.5))
        self.block(node, "Dropout", {"rate": rate}, [node.input[0]])

    def op_LRN(self, node: Any) -> None:
        a = attrs_of(node)
        self.block(node, "LocalResponseNorm",
                   {"size": int(a["size"]), "alpha": float(a.get("alpha", 1e-4)),
                    "beta": float(a.get("beta", 0.75)), "k": float(a.get("bias", 1.0))},
                   [node.input[0]])

    def op_Pad(self, node: Any) -> None:
        a = attrs_of(node)
        pads = self.const(node, 1) if len(node.input) > 1 else a.get("pads")
        value = self.const(node, 2) if len(node.input) > 2 else a.get("value", 0.0)
        if pads is None or a.get("mode", "constant") != "constant" or \
                (value is not None and float(np.ravel(value)[0] if np.size(value) else 0)):
            return self.miss(node, "other than zeros")
        p = [int(v) for v in np.ravel(pads)]
        if len(p) != 8 or any(p[i] for i in (0, 1, 4, 5)) or p[2] != p[6] or p[3] != p[7]:
            return self.miss(node, "uneven, or on the batch or channels")
        self.block(node, "ZeroPad2D", {"padding": _size([p[2], p[3]])}, [node.input[0]])

    def op_Resize(self, node: Any) -> None:
        a = attrs_of(node)
        shape = self.shape(node.input[0])
        scales = self.const(node, 2)
        sizes = self.const(node, 3)
        if scales is None or scales.size == 0:
            scales = None if sizes is None or shape is None else \
                np.ravel(sizes)[-2:] / np.array(shape[1:])
        mode = a.get("mode", "nearest")
        coords = a.get("coordinate_transformation_mode", "half_pixel")
        factor = None if scales is None else np.ravel(scales)[-2:]
        ok = factor is not None and factor[0] == factor[1] and float(factor[0]).is_integer()
        if mode == "nearest" and coords == "asymmetric" and ok:
            kind_mode = "nearest"
        elif mode == "linear" and coords in ("half_pixel", "pytorch_half_pixel") and ok:
            kind_mode = "bilinear"
        else:
            return self.miss(node, f"{mode} with {coords} or a fractional scale")
        self.block(node, "Upsample", {"scale_factor": int(factor[0]), "mode": kind_mode},
                   [node.input[0]])

    op_Upsample = op_Resize
