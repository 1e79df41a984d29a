"""What a layer kind is: its parameter schema, shape rule, counts and torch factory.

A kind is one LayerKind value defined in one family module (conv.py, pool.py, ...). Everything
else — the inspector, palette, summary, builder, exporters and tests — reads the registry.
torch is imported only inside ``build`` functions, never at module level.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.shapes import fmt_shape, pair, resolve_padding

Shape = tuple[int, ...]

# Palette categories, in the lecture's words and in palette order.
FEATURE_CONV = "Feature extraction: convolution"
FEATURE_POOL = "Feature extraction: pooling"
CLASSIFICATION = "Classification: dense"
NORMALIZATION = "Normalization"
REGULARIZATION = "Regularization"
ACTIVATION = "Activation"
RESHAPE = "Reshape"
MERGE = "Merge"
IO = "Input / output"
BACKBONES = "Backbones"
CATEGORIES = (IO, FEATURE_CONV, FEATURE_POOL, CLASSIFICATION, NORMALIZATION, REGULARIZATION,
              ACTIVATION, RESHAPE, MERGE, BACKBONES)

ACTIVATIONS = ("none", "relu", "relu6", "leaky_relu", "elu", "gelu", "silu", "tanh", "sigmoid",
               "softmax", "log_softmax")
INITIALIZERS = ("default", "he_normal", "he_uniform", "glorot_normal", "glorot_uniform")


@dataclass(frozen=True)
class ParamFix:
    """One fix a hint names, as parameter values to set on the block ("use padding 'same'"
    is ParamFix("Use padding 'same'", (("padding", "same"),))): the designer offers it as a
    button, applied as one undoable edit."""

    label: str
    changes: tuple[tuple[str, Any], ...]


class ShapeError(Exception):
    """Raised by a shape rule; validate.py turns it into a Problem naming the node. ``fixes``
    are the hint's fixes that are parameter edits of this block."""

    def __init__(self, message: str, hint: str = "",
                 fixes: tuple[ParamFix, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.fixes = tuple(fixes)


@dataclass(frozen=True)
class Param:
    """One parameter of a kind.

    type: "int", "float", "bool", "choice", "str", "ints" (a list of ints, e.g. a shape),
    "size" (an int or an [h, w] pair), "padding" ("valid", "same", an int or [h, w]).
    """

    name: str
    type: str
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] = ()
    optional: bool = False  # None is allowed (e.g. AdaptiveAvgPool's output size unset)
    editable: bool = True  # False: a record written by an importer, shown but not edited

    def check(self, value: Any) -> str | None:
        """Why a value is refused, or None when it fits the schema."""
        if value is None and self.optional:
            return None
        if self.type == "bool":
            return None if isinstance(value, bool) else "expected true or false"
        if self.type == "int":
            return self._check_number(value, integer=True)
        if self.type == "float":
            return self._check_number(value, integer=False)
        if self.type == "choice":
            if value in self.choices:
                return None
            return "expected one of " + ", ".join(repr(c) for c in self.choices)
        if self.type == "str":
            return None if isinstance(value, str) else "expected text"
        if self.type == "ints":
            if isinstance(value, list | tuple) and value and all(
                    _is_int(v) and v >= (self.min if self.min is not None else 1)
                    for v in value):
                return None
            return "expected a list of positive integers, e.g. [1, 28, 28]"
        if self.type == "size":
            return self._check_pair(value)
        if self.type == "padding":
            if value in ("valid", "same"):
                return None
            return self._check_pair(value, zero_ok=True, extra="'valid', 'same', ")
        return f"unknown parameter type {self.type}"

    def _check_number(self, value: Any, integer: bool) -> str | None:
        ok = _is_int(value) if integer else (
            (isinstance(value, float) and math.isfinite(value))
            or (_is_int(value) and abs(value) < 1e308))  # a 400-digit int is no float
        word = "an integer" if integer else "a number"
        if not ok:
            return f"expected {word}"
        if self.min is not None and value < self.min:
            return f"expected {word} ≥ {_fmt(self.min)}"
        if self.max is not None and value > self.max:
            return f"expected {word} ≤ {_fmt(self.max)}"
        return None

    def _check_pair(self, value: Any, zero_ok: bool = False, extra: str = "") -> str | None:
        low = 0 if zero_ok else (self.min if self.min is not None else 1)
        items = value if isinstance(value, list | tuple) else [value]
        if len(items) in (1, 2) and all(_is_int(v) and v >= low for v in items):
            return None
        word = "a non-negative" if low == 0 else "a positive"
        return f"expected {extra}{word} integer or a pair [h, w]"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


Counts = tuple[int, int]  # (trainable, non-trainable)

# Parameters every kind accepts: how training treats the block (transfer learning).
COMMON_PARAMS = (
    Param("lr_mult", "float", 1.0, "Learning-rate multiplier for this block's weights; "
          "0 freezes it (its weights stay as they are).", min=0.0, max=100.0),
)

# Parameters that the weighted kinds of several families share (Conv2D, Dense…).
BIAS = Param("bias", "bool", True, "Add a learned bias per filter.")
FUSED_ACTIVATION = Param("activation", "choice", "none",
                         "Activation fused after the convolution.", choices=ACTIVATIONS)
INITIALIZER = Param("initializer", "choice", "default",
                    "Weight initializer: he_* suits ReLU, glorot_* suits tanh/sigmoid; "
                    "'default' keeps PyTorch's.", choices=INITIALIZERS)


def expect_image(shape: Shape) -> tuple[int, int, int]:
    """The shape as C×H×W, or a ShapeError for a block that takes images only."""
    if len(shape) != 3:
        raise ShapeError(f"expects an image C×H×W but receives {fmt_shape(shape)}",
                         "insert a Reshape before it, or feed it from a convolution or "
                         "pooling block")
    return shape  # type: ignore[return-value]


def expect_vector(shape: Shape) -> int:
    """The length of a vector input, or a ShapeError for a block that takes vectors only."""
    if len(shape) != 1:
        raise ShapeError(f"expects a vector but receives {fmt_shape(shape)}",
                         "insert a Flatten before it")
    return shape[0]


def expect_vector_or_image(shape: Shape) -> Shape:
    """The shape itself, or a ShapeError for a per-channel block (BatchNorm, LayerScale)
    fed something that is neither a vector nor C×H×W."""
    if len(shape) not in (1, 3):
        raise ShapeError(f"expects a vector or an image C×H×W but receives {fmt_shape(shape)}",
                         "insert a Flatten or a Reshape to C×H×W before it")
    return shape


def spatial_out(h: int, w: int, p: dict[str, Any],
                kernel_name: str = "kernel_size") -> tuple[int, int]:
    """Output H×W of a sliding window, with a message when the kernel does not fit (and
    the fixes its hint names, setting the block's ``kernel_name`` or padding)."""
    kh, kw = pair(p["kernel_size"])
    sh, sw = pair(p["stride"])
    dh, dw = pair(p.get("dilation", 1))
    top, bottom, left, right = resolve_padding(p["padding"], (kh, kw), (dh, dw))
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    padded_h, padded_w = h + top + bottom, w + left + right
    if span_h > padded_h or span_w > padded_w:
        # The largest kernel whose (dilated) span fits the padded input.
        fit_h, fit_w = (padded_h - 1) // dh + 1, (padded_w - 1) // dw + 1
        smaller = min(fit_h, fit_w)
        new_h, new_w = min(kh, fit_h), min(kw, fit_w)
        kernel = new_h if new_h == new_w else [new_h, new_w]
        raise ShapeError(
            f"kernel {size_words(kh, kw)} is larger than its padded input "
            f"{padded_h}×{padded_w}",
            f"use padding 'same' or a kernel ≤ {smaller}",
            (ParamFix("Use padding 'same'", (("padding", "same"),)),
             ParamFix(f"Use a {new_h}×{new_w} {kernel_name.split('_')[0]}",
                      ((kernel_name, kernel),))))
    out_h = (padded_h - span_h) // sh + 1
    out_w = (padded_w - span_w) // sw + 1
    return out_h, out_w


def size_words(h: int, w: int) -> str:
    """
    >>> size_words(3, 3), size_words(3, 2)
    ('3', '3×2')
    """
    return str(h) if h == w else f"{h}×{w}"


def describe_window(p: dict[str, Any]) -> str:
    """The lecture's words for a sliding window: "5×5, stride 1, same"."""
    kh, kw = pair(p["kernel_size"])
    sh, sw = pair(p["stride"])
    stride = str(sh) if sh == sw else f"{sh}×{sw}"
    pad = p["padding"] if isinstance(p["padding"], str) else f"pad {p['padding']}"
    return f"{kh}×{kw}, stride {stride}, {pad}"


def _no_params(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Counts:
    return (0, 0)


def _no_macs(inputs: list[Shape], p: dict[str, Any], out: Shape) -> int:
    return 0


class HeadRole(enum.Enum):
    """What a block's output means when it is the network's last block (the Output's
    source): the trainer's loss, the exporters' scores and the predictor read it here."""

    SCORES = "scores"  # the output is the class scores (logits) as they are
    PROBABILITIES = "probabilities"  # a (log-)softmax: the logits are what it was given
    SIGMOID = "sigmoid"  # independent per-class probabilities (multi-label)
    DISTANCES = "distances"  # smaller is better (RBF): the logits are the negated output


# A fused activation (the "activation" parameter of Conv2D, Dense…) as a head role.
_FUSED_HEADS = {"softmax": HeadRole.PROBABILITIES, "log_softmax": HeadRole.PROBABILITIES,
                "sigmoid": HeadRole.SIGMOID}

# What a converter makes of one source: (kind id, params), or a short reason why the source's
# settings have no block ("Conv2d with padding_mode='reflect'"). The kind id is often another
# kind's than the one holding the converter (a depthwise nn.Conv2d is a DepthwiseConv2D).
Spec = tuple[str, dict[str, Any]] | str
# A call that passes its one input on unchanged (torch.cat of one tensor): no block is made.
PASS_THROUGH = "identity"
# convert(module) -> Spec, for a torch module.
TorchConverter = Callable[[Any], Spec]
# convert(fx node) -> (Spec, the traced nodes that feed the block, in port order).
CallConverter = Callable[[Any], tuple[Spec, list[Any]]]
# handle(importer, node): adds blocks through the ONNX importer's API, or importer.miss(node).
OnnxHandler = Callable[[Any, Any], None]


@dataclass(frozen=True)
class LayerKind:
    """Everything about one kind of block.

    shape(inputs, params) -> output shape, or raises ShapeError(message, hint).
    params_count(inputs, params, out) -> (trainable, non-trainable); BatchNorm's running
        statistics count as non-trainable, as Keras counts them.
    macs(inputs, params, out) -> multiply-accumulates per sample.
    build(inputs, params, out) -> a torch.nn.Module (import torch inside).
    describe(params) -> the key parameters in the lecture's words, e.g. "40 @ 5×5, stride 1".
    arity: number of inputs; None means two or more (merges), 0 means a source (Input).
    emit(inputs, params, out) -> engine.layers.code.Code: the block as plain PyTorch source.
    weights(inputs, params) -> {tensor name: shape} that a weights file must hold for it;
        None: stored weights are checked by their number of values (params_count).
    head: the block's meaning as the network's last block; None reads the fused
        "activation" parameter where the kind has one (see head_role).
    width_param: the parameter that sets the length of its vector output (Dense's "units"):
        what a fix sets to the number of classes when the block gives the class scores.
    torch_modules: {dotted torch class path: converter(module) -> Spec} for the torch.fx
        importer ("torch.nn.Conv2d"; the path a user writes, resolved by import and getattr).
        A module matches by its exact class: a subclass may change forward and is not
        matched. A converter of None means this kind with default parameters.
    torch_calls: {dotted function path, or "Tensor.<method>" for a method call: converter(fx
        node) -> (Spec, tensor inputs)} for the calls the fx importer meets ("torch.nn.
        functional.relu", "operator.add", "Tensor.flatten"). None means this kind with
        default parameters, fed by the call's first argument.
    onnx_ops: {ONNX op type: handler(importer, node)} for the ONNX importer; the handler
        calls the importer's public API (engine/importers/onnx_import.py, OnnxImporter).
    A converter imports torch or onnx inside itself; engine/layers/convert.py holds the
    reading converters share. A source is claimed by one kind only.
    """

    id: str
    category: str
    help: str
    params: tuple[Param, ...]
    shape: Callable[[list[Shape], dict[str, Any]], Shape]
    build: Callable[[list[Shape], dict[str, Any], Shape], Any]
    params_count: Callable[[list[Shape], dict[str, Any], Shape], Counts] = _no_params
    macs: Callable[[list[Shape], dict[str, Any], Shape], int] = _no_macs
    describe: Callable[[dict[str, Any]], str] = field(default=lambda p: "")
    arity: int | None = 1
    palette: bool = True  # False for kinds created only by importers
    emit: Callable[[list[Shape], dict[str, Any], Shape], Any] | None = None
    weights: Callable[[list[Shape], dict[str, Any]], dict[str, Shape]] | None = None
    head: HeadRole | None = None
    width_param: str | None = None
    torch_modules: dict[str, TorchConverter | None] = field(default_factory=dict)
    torch_calls: dict[str, CallConverter | None] = field(default_factory=dict)
    onnx_ops: dict[str, OnnxHandler] = field(default_factory=dict)

    def head_role(self, params: dict[str, Any]) -> HeadRole:
        """The role of this block as the network's last block, with its parameters."""
        if self.head is not None:
            return self.head
        return _FUSED_HEADS.get(params.get("activation", "none"), HeadRole.SCORES)

    @property
    def schema(self) -> tuple[Param, ...]:
        """The kind's own parameters followed by the ones every kind accepts."""
        return self.params + COMMON_PARAMS

    def param(self, name: str) -> Param:
        for p in self.schema:
            if p.name == name:
                return p
        raise KeyError(f"{self.id} has no parameter {name!r}")

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.schema}

    def resolve(self, params: dict[str, Any]) -> dict[str, Any]:
        """Defaults overlaid with the node's own values."""
        merged = self.defaults()
        merged.update(params)
        return merged

    def check_params(self, params: dict[str, Any]) -> list[ParamIssue]:
        """One issue for each value outside the schema or unknown."""
        known = {p.name for p in self.schema}
        errors = [ParamIssue(name, f"{self.id} has no parameter {name!r}; it takes "
                             + ", ".join(sorted(known)) if known
                             else f"{self.id} takes no parameters", known=False)
                  for name in params if name not in known]
        for p in self.schema:
            if p.name in params:
                reason = p.check(params[p.name])
                if reason:
                    errors.append(ParamIssue(p.name, f"{reason}. Received: "
                                             f"{params[p.name]!r}"))
        return errors


@dataclass(frozen=True)
class ParamIssue:
    """A parameter check_params refuses: its name, why (with the value received), and
    whether the kind has such a parameter at all."""

    param: str
    reason: str
    known: bool = True


class Registry:
    """Every kind by id, and the lookups the importers make: which kind a torch module
    class, a torch function or an ONNX op maps to (each claimed by one kind only)."""

    def __init__(self) -> None:
        self._kinds: dict[str, LayerKind] = {}
        self.torch_modules: dict[str, tuple[LayerKind, TorchConverter | None]] = {}
        self.torch_calls: dict[str, tuple[LayerKind, CallConverter | None]] = {}
        self.onnx_ops: dict[str, tuple[LayerKind, OnnxHandler]] = {}

    def register(self, kind: LayerKind) -> LayerKind:
        if kind.id in self._kinds:
            raise ValueError(f"layer kind {kind.id!r} is registered twice")
        for table, entries in ((self.torch_modules, kind.torch_modules),
                               (self.torch_calls, kind.torch_calls),
                               (self.onnx_ops, kind.onnx_ops)):
            for key, handler in entries.items():
                if key in table:
                    raise ValueError(f"{key!r} is claimed by both {table[key][0].id} and "
                                     f"{kind.id}")
                table[key] = (kind, handler)
        self._kinds[kind.id] = kind
        return kind

    def get(self, kind_id: str) -> LayerKind:
        try:
            return self._kinds[kind_id]
        except KeyError:
            raise KeyError(f"unknown layer kind {kind_id!r}") from None

    def __contains__(self, kind_id: object) -> bool:
        return kind_id in self._kinds

    def __iter__(self):
        return iter(self._kinds.values())

    def __len__(self) -> int:
        return len(self._kinds)

    def ids(self) -> list[str]:
        return list(self._kinds)

    def by_category(self) -> dict[str, list[LayerKind]]:
        grouped: dict[str, list[LayerKind]] = {c: [] for c in CATEGORIES}
        for kind in self._kinds.values():
            if kind.palette:
                grouped.setdefault(kind.category, []).append(kind)
        return grouped
