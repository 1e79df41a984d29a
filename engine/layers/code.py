"""How a block reads in generated PyTorch code: the Code a kind's ``emit`` returns, and the
small writers every emitter shares. Plain Python, no torch: a kind's emitter (in its family
file) builds source text that engine/export/python_code.py assembles into a file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.shapes import pair

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Code:
    """How a block reads in the generated file.

    module: the constructor assigned to ``self.<attr>``, or None for a plain expression.
    call: the forward expression; ``{m}`` is ``self.<attr>``, ``{x}`` the first input and
        ``{xs}`` all inputs separated by commas.
    init: statements run after construction (weight initialisers), with ``{m}``.
    helpers: dotted paths of the classes and functions the code needs defined beside it
        (``engine.layers.modules.RBF``); the generated file holds a copy of their source.
    scores: for a classifier head, the expression of its logits when they differ from the
        output (the fused softmax left out), as in GraphModule.logits.
    """

    module: str | None
    call: str = "{m}({x})"
    init: tuple[str, ...] = ()
    helpers: tuple[str, ...] = ()
    scores: str | None = None


Emitter = Callable[[list[Shape], dict[str, Any], Shape], Code]


class NoCode(ValueError):
    """A block that plain PyTorch code cannot rebuild (the message says why)."""


ACTIVATION_CALLS = {
    "none": "{}",
    "relu": "F.relu({})",
    "relu6": "F.relu6({})",
    "leaky_relu": "F.leaky_relu({})",
    "elu": "F.elu({})",
    "gelu": "F.gelu({})",
    "silu": "F.silu({})",
    "tanh": "torch.tanh({})",
    "sigmoid": "torch.sigmoid({})",
    "softmax": "F.softmax({}, dim=1)",
    "log_softmax": "F.log_softmax({}, dim=1)",
}

# Both tables are the one definition: engine/layers/modules.py compiles them for the modules
# it builds, so a generated file and a built network compute the same thing.
INITIALIZERS = {
    "he_normal": 'nn.init.kaiming_normal_({m}.weight, nonlinearity="relu")',
    "he_uniform": 'nn.init.kaiming_uniform_({m}.weight, nonlinearity="relu")',
    "glorot_normal": "nn.init.xavier_normal_({m}.weight)",
    "glorot_uniform": "nn.init.xavier_uniform_({m}.weight)",
}
ZERO_BIAS = "nn.init.zeros_({m}.bias)"  # after an initializer, for a block with a bias


def size(value: Any) -> str:
    """An int, or an (h, w) pair written as one number when both agree.

    >>> size(3), size([3, 5]), size((2, 2))
    ('3', '(3, 5)', '2')
    """
    h, w = pair(value)
    return str(h) if h == w else f"({h}, {w})"


def number(value: float) -> str:
    """A float as Python source that reads back to the same value.

    >>> number(0.0001), number(2), number(0.1)
    ('0.0001', '2.0', '0.1')
    """
    return repr(float(value))


def call(name: str, *args: str, **kwargs: str | None) -> str:
    """``name(args, key=value)`` leaving out keyword arguments given as None."""
    parts = list(args) + [f"{k}={v}" for k, v in kwargs.items() if v is not None]
    return f"{name}({', '.join(parts)})"


def activated(expr: str, activation: str) -> Code:
    """The call with a fused activation, and its scores without a final (log-)softmax."""
    scores = expr if activation in ("softmax", "log_softmax") else None
    return Code(None, ACTIVATION_CALLS[activation].format(expr), scores=scores)


def initializer_lines(p: dict[str, Any], bias: bool) -> tuple[str, ...]:
    if p["initializer"] == "default":
        return ()
    lines = [INITIALIZERS[p["initializer"]]]
    if bias:
        lines.append(ZERO_BIAS)
    return tuple(lines)


def pad_call(pads: tuple[int, int, int, int], value: str | None = None) -> str:
    left, right, top, bottom = pads
    return call("F.pad", "{x}", f"({left}, {right}, {top}, {bottom})", value=value)


def plain(template: str) -> Emitter:
    """A module whose constructor needs only the parameters, e.g. nn.ReLU()."""
    return lambda inputs, p, out: Code(template.format(**p))
