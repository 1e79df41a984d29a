"""Shape arithmetic as small pure functions. Shapes are channels-first, without the batch.

>>> conv_output_size(28, kernel=5, stride=1, pad=2)
28
>>> conv_output_size(227, kernel=11, stride=4, pad=0)
55
>>> same_padding(5)
(2, 2)
"""

from __future__ import annotations

import math
from typing import Any


def pair(value: Any) -> tuple[int, int]:
    """An int or an [h, w] list as an (h, w) tuple.

    >>> pair(3), pair([3, 5])
    ((3, 3), (3, 5))
    """
    if isinstance(value, list | tuple):
        return (int(value[0]), int(value[-1]))
    return (int(value), int(value))


def conv_output_size(size: int, kernel: int, stride: int = 1, pad: int = 0,
                     dilation: int = 1, ceil_mode: bool = False) -> int:
    """Output length along one axis, as torch computes it (pad is per side).

    >>> conv_output_size(7, kernel=3, stride=2, pad=1)
    4
    >>> conv_output_size(112, kernel=3, stride=2, pad=1)
    56
    """
    span = size + 2 * pad - dilation * (kernel - 1) - 1
    out = (math.ceil(span / stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def pooled_size(size: int, kernel: int, stride: int, before: int, after: int,
                ceil_mode: bool, padded_first: bool | None = None) -> int:
    """Output length along one axis as a pool module computes it: torch's own padding
    when the padding is even, else the zeros are added first. ``padded_first`` says which
    (default: this axis's sides differ); the module pads both axes first when either is
    uneven. Either way, with ceil_mode a window that would start in the padding after the
    input is dropped, as torch drops one starting in its own padding: it would see padding
    only (a max pool's -inf).

    >>> pooled_size(5, 2, 2, 0, 0, ceil_mode=False), pooled_size(5, 2, 2, 0, 0, ceil_mode=True)
    (2, 3)
    >>> pooled_size(3, 2, 2, 1, 1, ceil_mode=True)  # a window may not start in the padding
    2
    >>> pooled_size(8, 3, 3, 1, 1, ceil_mode=True, padded_first=True)  # the other axis uneven
    3
    >>> pooled_size(6, 4, 4, 1, 2, ceil_mode=True)  # 'same' 4: the third would start at 8
    2
    """
    if padded_first is None:
        padded_first = before != after
    if not padded_first:
        return conv_output_size(size, kernel, stride, before, ceil_mode=ceil_mode)
    out = conv_output_size(size + before + after, kernel, stride, 0, ceil_mode=ceil_mode)
    if ceil_mode and out > 1 and (out - 1) * stride >= before + size:
        out -= 1
    return out


def transposed_output_size(size: int, kernel: int, stride: int = 1, pad: int = 0,
                           output_padding: int = 0, dilation: int = 1) -> int:
    """
    >>> transposed_output_size(14, kernel=2, stride=2)
    28
    """
    return (size - 1) * stride - 2 * pad + dilation * (kernel - 1) + output_padding + 1


def same_padding(kernel: int, dilation: int = 1) -> tuple[int, int]:
    """(before, after) zero padding that keeps the size at stride 1.

    >>> same_padding(4)
    (1, 2)
    """
    total = dilation * (kernel - 1)
    return (total // 2, total - total // 2)


def resolve_padding(padding: Any, kernel: tuple[int, int],
                    dilation: tuple[int, int] = (1, 1)) -> tuple[int, int, int, int]:
    """Padding as (top, bottom, left, right) from 'valid', 'same', an int or [h, w].

    >>> resolve_padding('same', (5, 5))
    (2, 2, 2, 2)
    >>> resolve_padding([1, 2], (3, 3))
    (1, 1, 2, 2)
    """
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        top, bottom = same_padding(kernel[0], dilation[0])
        left, right = same_padding(kernel[1], dilation[1])
        return (top, bottom, left, right)
    ph, pw = pair(padding)
    return (ph, ph, pw, pw)


def volume(shape: tuple[int, ...]) -> int:
    """
    >>> volume((32, 6, 6))
    1152
    """
    return math.prod(shape)


def fmt_shape(shape: tuple[int, ...] | None) -> str:
    """
    >>> fmt_shape((64, 28, 28))
    '64×28×28'
    """
    if shape is None:
        return "?"
    return "×".join(str(d) for d in shape)
