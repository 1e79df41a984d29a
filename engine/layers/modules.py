"""Torch modules behind the layer kinds that torch.nn lacks or that fuse an activation.

Imported only from LayerKind.build functions, so the engine stays torch-free until a network
is built. Fused modules subclass the torch layer so state-dict keys read `conv1.weight`.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.layers.pool import pooled_size
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


def _padding_words(kernel_size, padding) -> tuple[tuple[int, int, int, int], bool]:
    """(top, bottom, left, right) and whether torch's own symmetric padding can do it."""
    top, bottom, left, right = resolve_padding(padding, pair(kernel_size))
    return (top, bottom, left, right), top == bottom and left == right


class MaxPool2dPad(nn.MaxPool2d):
    """MaxPool2d with Netdraft's padding words; 'same' with an even window pads unevenly."""

    def __init__(self, pool_size, stride, padding="valid", ceil_mode: bool = False) -> None:
        (top, bottom, left, right), symmetric = _padding_words(pool_size, padding)
        super().__init__(pair(pool_size), pair(stride), (top, left) if symmetric else 0,
                         ceil_mode=ceil_mode)
        self.asymmetric_pad = None if symmetric else (left, right, top, bottom)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.asymmetric_pad is not None:
            # -inf, as torch pads for max pooling: a padded zero must never win.
            x = F.pad(x, self.asymmetric_pad, value=float("-inf"))
        return super().forward(x)


class AvgPool2dPad(nn.AvgPool2d):
    """AvgPool2d with Netdraft's padding words; padded zeros count in the average
    (torch's count_include_pad=True), whether the padding is even or not."""

    def __init__(self, pool_size, stride, padding="valid", ceil_mode: bool = False) -> None:
        (top, bottom, left, right), symmetric = _padding_words(pool_size, padding)
        super().__init__(pair(pool_size), pair(stride), (top, left) if symmetric else 0,
                         ceil_mode=ceil_mode, count_include_pad=True)
        self.asymmetric_pad = None if symmetric else (left, right, top, bottom)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.asymmetric_pad is not None:
            x = F.pad(x, self.asymmetric_pad)
        return super().forward(x)


class SumPool2d(nn.Module):
    """The lecture's sum pooling: the sum over each window.

    Computed as an average including padded zeros, times the window area: this exports to
    plain ONNX ops, which divisor_override does not. Windows that ceil_mode lets run past the
    border are completed with zeros first, so every output is an exact sum.
    """

    def __init__(self, pool_size, stride, padding="valid", ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size = pair(pool_size)
        self.stride = pair(stride)
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.pads, self.symmetric = _padding_words(pool_size, padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        top, bottom, left, right = self.pads
        h, w = x.shape[-2], x.shape[-1]
        first = not self.symmetric
        out_h = pooled_size(h, kh, sh, top, bottom, self.ceil_mode, padded_first=first)
        out_w = pooled_size(w, kw, sw, left, right, self.ceil_mode, padded_first=first)
        extra_h = max(0, (out_h - 1) * sh + kh - (h + top + bottom))
        extra_w = max(0, (out_w - 1) * sw + kw - (w + left + right))
        # Even padding stays torch's own, so torch still refuses more than half a window.
        native = (top, left) if self.symmetric else (0, 0)
        if not self.symmetric:
            x = F.pad(x, (left, right, top, bottom))
        if extra_h or extra_w:
            x = F.pad(x, (0, extra_w, 0, extra_h))
        return F.avg_pool2d(x, (kh, kw), (sh, sw), native, count_include_pad=True) * (kh * kw)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding!r}, ceil_mode={self.ceil_mode}")


class GlobalAvgPool(nn.Module):
    """N×C×H×W -> N×C: the mean of each feature map."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


class GlobalMaxPool(nn.Module):
    """N×C×H×W -> N×C: the largest value of each feature map."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax(dim=(2, 3))


class Reshape(nn.Module):
    """Reshape each sample to a fixed shape; the batch dimension stays free."""

    def __init__(self, shape) -> None:
        super().__init__()
        self.shape = tuple(int(d) for d in shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(-1, *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class Add(nn.Module):
    """Elementwise sum of two or more equal-shaped inputs (ResNet's shortcut join)."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Concat(nn.Module):
    """Stack inputs along the channel (or feature) dimension (GoogLeNet's inception join)."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=1)


class Multiply(nn.Module):
    """Elementwise product with broadcasting, e.g. C×H×W maps scaled by C×1×1 weights."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out * x
        return out
