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


def _no_params(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Counts:
    return (0, 0)


def _no_macs(inputs: list[Shape], p: dict[str, Any], out: Shape) -> int:
    return 0


def _no_weights(inputs: list[Shape], p: dict[str, Any]) -> dict[str, Shape]:
    return {}


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

# How an importer meets a torch module: convert(module) -> (kind id, params) or, when the
# module's settings have no block, a short reason ("Conv2d with padding_mode='reflect'").
TorchConverter = Callable[[Any], "tuple[str, dict[str, Any]] | str"]


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
    weights(inputs, params) -> {tensor name: shape} that a weights file must hold for it.
    head: the block's meaning as the network's last block; None reads the fused
        "activation" parameter where the kind has one (see head_role).
    torch_modules: {dotted torch class path: converter} for the torch.fx importer; a
        converter of None means the module becomes this kind with default parameters.
    torch_calls: {dotted function path or "Tensor.<method>": converter(fx node)} for the
        functional calls the fx importer meets (F.relu, operator.add, x.flatten…).
    onnx_ops: {ONNX op type: handler(importer, node)} for the ONNX importer.
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
    weights: Callable[[list[Shape], dict[str, Any]], dict[str, Shape]] = _no_weights
    head: HeadRole | None = None
    torch_modules: dict[str, TorchConverter | None] = field(default_factory=dict)
    torch_calls: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    onnx_ops: dict[str, Callable[[Any, Any], Any]] = field(default_factory=dict)

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
        self.torch_calls: dict[str, tuple[LayerKind, Callable[[Any], Any]]] = {}
        self.onnx_ops: dict[str, tuple[LayerKind, Callable[[Any, Any], Any]]] = {}

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
