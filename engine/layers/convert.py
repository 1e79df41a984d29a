"""What the kinds' importer converters share: a torch module's sizes in Netdraft's words, a
traced call's arguments, an ONNX node's attributes and padding.

The converters live on the kinds (``torch_modules``, ``torch_calls``, ``onnx_ops`` in each
family file); this module holds only the reading they have in common. Neither torch nor onnx
is imported at module level: a converter runs only inside an importer, which has them.
"""

from __future__ import annotations

from typing import Any


def size_param(value: Any) -> Any:
    """A torch or ONNX size as a "size" parameter: one number when the axes agree.

    >>> size_param((3, 3)), size_param((3, 1)), size_param(2)
    (3, [3, 1], 2)
    """
    if isinstance(value, tuple | list):
        values = [int(v) for v in value]
        return values[0] if len(set(values)) == 1 else values
    return int(value)


def call_arg(node: Any, index: int, name: str, default: Any) -> Any:
    """A traced call's argument, given by position or by keyword."""
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


def is_traced(value: Any) -> bool:
    """Whether a traced call's argument is a tensor the trace computes (not a constant)."""
    import torch.fx as fx

    return isinstance(value, fx.Node)


def onnx_attrs(node: Any) -> dict[str, Any]:
    """An ONNX node's attributes by name, strings decoded."""
    import onnx

    out = {}
    for a in node.attribute:
        value = onnx.helper.get_attribute_value(a)
        out[a.name] = value.decode() if isinstance(value, bytes) else value
    return out


def onnx_window(attrs: dict[str, Any]) -> tuple[Any, str | None]:
    """A Conv's or pool's padding as a "padding" parameter, or (None, why it has none)."""
    pads = attrs.get("pads", [0, 0, 0, 0])
    auto = attrs.get("auto_pad", "NOTSET")
    if auto == "VALID":
        return 0, None
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        strides = attrs.get("strides", [1, 1])
        return ("same", None) if set(strides) == {1} else (None, "auto_pad with a stride")
    if len(pads) != 4 or pads[0] != pads[2] or pads[1] != pads[3]:
        return None, "uneven padding"
    return size_param(pads[:2]), None
