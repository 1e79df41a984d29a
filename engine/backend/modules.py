"""Torch modules behind the layer kinds that torch.nn lacks or that fuse an activation.

Imported only from LayerKind.build functions, so the engine stays torch-free until a network
is built. Fused modules subclass the torch layer so state-dict keys read `conv1.weight`.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.shapes import pair, resolve_padding


def activation_fn(name: str):
    """The functional form of an activation name from layers.base.ACTIVATIONS."""
    table = {
        "none": None,
        "relu": F.relu,
        "relu6": F.relu6,
        "leaky_relu": F.leaky_relu,
        "elu": F.elu,
        "gelu": F.gelu,
        "silu": F.silu,
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "softmax": lambda x: F.softmax(x, dim=1),
        "log_softmax": lambda x: F.log_softmax(x, dim=1),
    }
    return table[name]


def initialize(weight: torch.Tensor, bias: torch.Tensor | None, initializer: str) -> None:
    """Keras-named initializers; 'default' keeps PyTorch's own."""
    if initializer == "default":
        return
    if initializer == "he_normal":
        nn.init.kaiming_normal_(weight, nonlinearity="relu")
    elif initializer == "he_uniform":
        nn.init.kaiming_uniform_(weight, nonlinearity="relu")
    elif initializer == "glorot_normal":
        nn.init.xavier_normal_(weight)
    elif initializer == "glorot_uniform":
        nn.init.xavier_uniform_(weight)
    else:
        raise ValueError(f"unknown initializer {initializer!r}")
    if bias is not None:
        nn.init.zeros_(bias)


class _ActivationMixin:
    activation: str

    def extra_repr(self) -> str:  # type: ignore[override]
        text = super().extra_repr()  # type: ignore[misc]
        return text if self.activation == "none" else f"{text}, activation={self.activation}"


class Conv2dAct(_ActivationMixin, nn.Conv2d):
    """Conv2d with Netdraft's padding words and an optional fused activation."""

    def __init__(self, in_channels: int, filters: int, kernel_size, stride=1, padding="valid",
                 dilation=1, groups: int = 1, bias: bool = True, activation: str = "none",
                 initializer: str = "default") -> None:
        kernel, dil = pair(kernel_size), pair(dilation)
        top, bottom, left, right = resolve_padding(padding, kernel, dil)
        symmetric = top == bottom and left == right
        super().__init__(in_channels, filters, kernel, pair(stride),
                         (top, left) if symmetric else 0, dil, groups, bias)
        # 'same' with an even kernel pads one more zero after than before, as Keras does.
        self.asymmetric_pad = None if symmetric else (left, right, top, bottom)
        self.activation = activation
        self._act = activation_fn(activation)
        initialize(self.weight, self.bias, initializer)

    def pre_activation(self, x: torch.Tensor) -> torch.Tensor:
        if self.asymmetric_pad is not None:
            x = F.pad(x, self.asymmetric_pad)
        return super().forward(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pre_activation(x)
        return x if self._act is None else self._act(x)


class ConvTranspose2dAct(_ActivationMixin, nn.ConvTranspose2d):
    def __init__(self, in_channels: int, filters: int, kernel_size, stride, padding,
                 output_padding, bias: bool = True, activation: str = "none",
                 initializer: str = "default") -> None:
        super().__init__(in_channels, filters, pair(kernel_size), pair(stride), pair(padding),
                         pair(output_padding), bias=bias)
        self.activation = activation
        self._act = activation_fn(activation)
        initialize(self.weight, self.bias, initializer)

    def pre_activation(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        x = self.pre_activation(x)
        return x if self._act is None else self._act(x)


class LinearAct(_ActivationMixin, nn.Linear):
    def __init__(self, in_features: int, units: int, bias: bool = True,
                 activation: str = "none", initializer: str = "default") -> None:
        super().__init__(in_features, units, bias)
        self.activation = activation
        self._act = activation_fn(activation)
        initialize(self.weight, self.bias, initializer)

    def pre_activation(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pre_activation(x)
        return x if self._act is None else self._act(x)


class RBF(nn.Module):
    """LeNet-5's output: y_i = sum_j (x_j - w_ij)^2, one centre per unit (smaller is better)."""

    def __init__(self, in_features: int, units: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(units, in_features))
        nn.init.uniform_(self.weight, -1.0 / math.sqrt(in_features), 1.0 / math.sqrt(in_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Expanded form keeps it to one matmul and exports to plain ONNX ops.
        x2 = (x * x).sum(dim=1, keepdim=True)
        w2 = (self.weight * self.weight).sum(dim=1)
        return x2 - 2.0 * x @ self.weight.t() + w2
