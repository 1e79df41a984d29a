"""Torch modules behind the layer kinds that torch.nn lacks or that fuse an activation.

Imported only from LayerKind.build functions, so the engine stays torch-free until a network
is built. Fused modules subclass the torch layer so state-dict keys read `conv1.weight`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.layers.code import ACTIVATION_CALLS, INITIALIZERS, ZERO_BIAS
from engine.shapes import pair, pooled_size, resolve_padding


def _compile(template: str) -> Callable[[Any], Any]:
    """A code template of engine/layers/code.py as a function of ``{}``: the generated file
    and the built module run the same expression."""
    # eval of this package's own constants, never of text from a project or a user.
    return eval(f"lambda arg: {template.format('arg')}", {"torch": torch, "F": F, "nn": nn})


_ACTIVATIONS = {name: _compile(template) for name, template in ACTIVATION_CALLS.items()
                if name != "none"}
_INITIALIZERS = {name: _compile(template.replace("{m}", "{}"))
                 for name, template in INITIALIZERS.items()}
_ZERO_BIAS = _compile(ZERO_BIAS.replace("{m}", "{}"))


def activation_fn(name: str) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The functional form of an activation name from layers.base.ACTIVATIONS; None for
    'none'."""
    return None if name == "none" else _ACTIVATIONS[name]


def initialize(module: nn.Module, initializer: str) -> None:
    """Keras-named initializers of a module's weight (its bias zeroed); 'default' keeps
    PyTorch's own."""
    if initializer == "default":
        return
    if initializer not in _INITIALIZERS:
        raise ValueError(f"unknown initializer {initializer!r}")
    _INITIALIZERS[initializer](module)
    if getattr(module, "bias", None) is not None:
        _ZERO_BIAS(module)


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
        initialize(self, initializer)

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
        initialize(self, initializer)

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
        initialize(self, initializer)

    def pre_activation(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pre_activation(x)
        return x if self._act is None else self._act(x)


# RBF and SumPool2d are copied as they are into generated PyTorch files (Code.helpers):
# they use only torch, nn and F.
class RBF(nn.Module):
    """LeNet-5's output: y_i = sum_j (x_j - w_ij)^2, one centre per unit (smaller is better)."""

    def __init__(self, in_features: int, units: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(units, in_features))
        bound = in_features**-0.5
        nn.init.uniform_(self.weight, -bound, bound)

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
        if self.asymmetric_pad is None:
            return super().forward(x)
        # -inf, as torch pads for max pooling: a padded zero must never win.
        y = super().forward(F.pad(x, self.asymmetric_pad, value=float("-inf")))
        return _drop_windows_in_padding(self, x, y)


class AvgPool2dPad(nn.AvgPool2d):
    """AvgPool2d with Netdraft's padding words; padded zeros count in the average
    (torch's count_include_pad=True), whether the padding is even or not."""

    def __init__(self, pool_size, stride, padding="valid", ceil_mode: bool = False) -> None:
        (top, bottom, left, right), symmetric = _padding_words(pool_size, padding)
        super().__init__(pair(pool_size), pair(stride), (top, left) if symmetric else 0,
                         ceil_mode=ceil_mode, count_include_pad=True)
        self.asymmetric_pad = None if symmetric else (left, right, top, bottom)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.asymmetric_pad is None:
            return super().forward(x)
        y = super().forward(F.pad(x, self.asymmetric_pad))
        return _drop_windows_in_padding(self, x, y)


def _drop_windows_in_padding(pool: nn.MaxPool2d | nn.AvgPool2d, x: torch.Tensor,
                             y: torch.Tensor) -> torch.Tensor:
    """torch pooled padding it was given as input, so ceil_mode let a last window start in
    the padding after the input; shapes.pooled_size drops it, as torch does its own."""
    if not pool.ceil_mode:
        return y
    left, right, top, bottom = pool.asymmetric_pad
    (kh, kw), (sh, sw) = pair(pool.kernel_size), pair(pool.stride)
    out_h = pooled_size(x.shape[-2], kh, sh, top, bottom, True, padded_first=True)
    out_w = pooled_size(x.shape[-1], kw, sw, left, right, True, padded_first=True)
    return y[..., :out_h, :out_w]


class SumPool2d(nn.Module):
    """The lecture's sum pooling: the sum over each window.

    Computed as an average over zero-padded input times the window area: this exports to
    plain ONNX ops, which divisor_override does not. ``padding`` (h, w) is torch's own, even
    on both sides; ``pad`` (left, right, top, bottom) holds the zeros added first: uneven
    padding, and those completing the windows ceil_mode lets run past the border (worked out
    from the input's size when the block is built), so every output is an exact sum.
    """

    def __init__(self, kernel_size, stride, padding=(0, 0), pad=(0, 0, 0, 0)):
        super().__init__()
        self.kernel_size = tuple(kernel_size)
        self.stride = tuple(stride)
        self.padding = tuple(padding)
        self.pad = tuple(pad)
        self.area = float(self.kernel_size[0] * self.kernel_size[1])

    def forward(self, x):
        if any(self.pad):
            x = F.pad(x, self.pad)
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding) * self.area

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, pad={self.pad}")


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


class Permute(nn.Module):
    """Reorders each sample's axes; ``dims`` leaves the batch out (0 is C of C×H×W)."""

    def __init__(self, dims) -> None:
        super().__init__()
        self.dims = [int(d) for d in dims]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, *(d + 1 for d in self.dims))

    def extra_repr(self) -> str:
        return f"dims={self.dims}"


class ChannelShuffle(nn.ChannelShuffle):
    """nn.ChannelShuffle written as view/transpose/reshape, as torchvision's ShuffleNet does:
    the native channel_shuffle op has no ONNX export in torch.onnx's TorchScript exporter."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        x = x.view(n, self.groups, c // self.groups, h, w).transpose(1, 2)
        return x.reshape(n, c, h, w)


class Split(nn.Module):
    """Channels [start, stop) of the input: one equal part of x.chunk(parts, dim=1)."""

    def __init__(self, start: int, stop: int) -> None:
        super().__init__()
        self.start, self.stop = int(start), int(stop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, self.start:self.stop]

    def extra_repr(self) -> str:
        return f"channels {self.start}:{self.stop}"


class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels at each position (ConvNeXt's; torchvision's
    LayerNorm2d computes the same and has the same weight and bias keys)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class LayerScale(nn.Module):
    """A learned scale per channel, γ·x (ConvNeXt's layer_scale before its residual add)."""

    def __init__(self, channels: int, init: float = 1e-6, rank: int = 3) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((channels,) + (1,) * (rank - 1), float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gamma * x

    def extra_repr(self) -> str:
        return f"channels={self.gamma.shape[0]}"


class StochasticDepth(nn.Module):
    """Drops the whole residual branch of a sample ('row') or of the batch ('batch') with
    probability ``p`` in training, scaling survivors by 1/(1 − p); the identity in eval.
    torchvision.ops.StochasticDepth computes the same without the torchvision import."""

    def __init__(self, p: float, mode: str = "row") -> None:
        super().__init__()
        self.p, self.mode = float(p), mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        size = [x.shape[0]] + [1] * (x.dim() - 1) if self.mode == "row" else [1] * x.dim()
        noise = x.new_empty(size).bernoulli_(survival)
        if survival > 0.0:
            noise.div_(survival)
        return x * noise

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode!r}"
