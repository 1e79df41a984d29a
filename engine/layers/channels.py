"""Channel kinds: Permute, ChannelShuffle and Split rearrange or pick values without weights.

ShuffleNet v2 splits its channels in two halves (Split, index 0 and 1, reading the same input),
works on one half and shuffles the joined result (ChannelShuffle) so the halves mix in the
next unit. ConvNeXt's torch code reorders C×H×W to H×W×C (Permute) around its channels-last
layers; the importer turns those runs into channel-first blocks, and Permute stays a kind for
the rest.
"""

from __future__ import annotations

from typing import Any

from engine.layers.base import (
    PASS_THROUGH,
    RESHAPE,
    LayerKind,
    Param,
    ParamFix,
    Shape,
    ShapeError,
    expect_image,
)
from engine.layers.code import Code
from engine.layers.convert import onnx_attrs
from engine.layers.norm import layer_norm2d
from engine.layers.reshape import reshape
from engine.shapes import fmt_shape

AXES = "CHW"


def divisors(n: int) -> list[int]:
    """
    >>> divisors(12)
    [1, 2, 3, 4, 6, 12]
    """
    return [d for d in range(1, n + 1) if n % d == 0]


def nearest_divisors(n: int, value: int) -> list[int]:
    """The divisors of n (above 1) closest to value, smaller first; at most two.

    >>> nearest_divisors(116, 3), nearest_divisors(7, 2)
    ([2, 4], [7])
    """
    found = sorted((abs(d - value), d) for d in divisors(n) if d > 1)
    return sorted(d for _, d in found[:2])


def _fix_choices(name: str, n: int, value: int) -> tuple[str, tuple[ParamFix, ...]]:
    options = nearest_divisors(n, value)
    words = " or ".join(str(d) for d in options)
    return (f"use {name} {words} (a divisor of {n})",
            tuple(ParamFix(f"Use {name} {d}", ((name, d),)) for d in options))


# --- Permute -------------------------------------------------------------------------------

def _permute_shape(inputs: list[Shape], p: dict[str, Any]) -> Shape:
    shape = inputs[0]
    dims = [int(d) for d in p["dims"]]
    want = list(range(len(shape)))
    if sorted(dims) != want:
        raise ShapeError(f"dims {dims} is not a reordering of the input's {len(shape)} axes "
                         f"{want} (input {fmt_shape(shape)})",
                         f"list each of {want} once, e.g. {want[1:] + want[:1]} moves the "
                         "first axis last")
    return tuple(shape[d] for d in dims)


def _permute_build(inputs: list[Shape], p: dict[str, Any], out: Shape):
    from engine.layers.modules import Permute

    return Permute(p["dims"])


def _permute_emit(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
    dims = ", ".join(str(int(d) + 1) for d in p["dims"])
    return Code(None, f"{{x}}.permute(0, {dims})")


def _permute_describe(p: dict[str, Any]) -> str:
    dims = [int(d) for d in p["dims"]]
    if sorted(dims) == [0, 1, 2]:
        return "→ " + "×".join(AXES[d] for d in dims)
    return "→ " + ", ".join(str(d) for d in dims)


def _permute_module(m: Any) -> tuple[str, dict[str, Any]] | str:
    """torchvision.ops.Permute's dims count the batch as 0; a block's dims do not."""
    dims = [int(d) for d in m.dims]
    if not dims or dims[0] != 0:
        return f"Permute with dims {dims} that move the batch axis"
    return "Permute", {"dims": [d - 1 for d in dims[1:]]}


def _permute_call(node: Any) -> tuple[tuple[str, dict[str, Any]] | str, list[Any]]:
    """x.permute(0, 2, 3, 1), x.permute([0, 2, 3, 1]) or torch.permute(x, (0, 2, 3, 1))."""
    args = list(node.args[1:]) or [node.kwargs.get("dims")]
    dims = list(args[0]) if len(args) == 1 and isinstance(args[0], list | tuple) else args
    if not all(isinstance(d, int) for d in dims) or not dims or dims[0] % len(dims) != 0:
        return f"permute with dims {dims} that move the batch axis or are computed", []
    return ("Permute", {"dims": [d % len(dims) - 1 for d in dims[1:]]}), [node.args[0]]


def producer(importer: Any, tensor: str) -> Any | None:
    """The ONNX node that computes ``tensor`` (None for the input or a constant)."""
    return next((n for n in importer.model.graph.node if tensor in n.output), None)


def _onnx_transpose(importer: Any, node: Any) -> None:
    """A Transpose that keeps the batch first is a Permute; ShuffleNet's Reshape to
    g×(C/g)×H×W then swapping the two is a ChannelShuffle (the Reshape back then changes
    nothing); the one that undoes LayerNorm2d's move of the channels last is no block."""
    import numpy as np

    perm = [int(p) for p in onnx_attrs(node).get("perm", [])]
    x = node.input[0]
    if x in importer.consts:
        importer.consts[node.output[0]] = np.transpose(importer.consts[x], perm or None)
        return None
    if not perm or perm[0] != 0:
        return importer.miss(node, "that moves the batch axis")
    block = importer.graph.nodes[importer.value[x]]
    made_by = producer(importer, x)
    if perm == sorted(perm) or (perm == [0, 3, 1, 2] and block.kind == layer_norm2d.id
                                and made_by is not None
                                and made_by.op_type == "LayerNormalization"):
        return importer.alias(node, x)
    if perm == [0, 2, 1, 3, 4] and block.kind == reshape.id and importer.uses[x] == 1 \
            and made_by is not None:
        groups, per_group, h, w = (list(block.params["shape"]) + [0] * 4)[:4]
        source = made_by.input[0]
        if importer.shape(source) == (groups * per_group, h, w):
            importer.graph.remove_node(block.id)
            return importer.block(node, channel_shuffle.id, {"groups": groups}, [source])
    importer.block(node, permute.id, {"dims": [p - 1 for p in perm[1:]]}, [x])


permute = LayerKind(
    id="Permute",
    category=RESHAPE,
    help="Permute: reorders the axes of each sample, e.g. C×H×W to H×W×C with dims "
         "[1, 2, 0]; the values stay the same, only their arrangement changes. No weights.",
    params=(Param("dims", "ints", [1, 2, 0], "The new order of the sample's axes, counted "
                  "from 0 without the batch: for C×H×W, 0 is C, 1 is H and 2 is W.", min=0),),
    shape=_permute_shape,
    build=_permute_build,
    describe=_permute_describe,
    emit=_permute_emit,
    torch_modules={"torchvision.ops.Permute": _permute_module},
    torch_calls={"Tensor.permute": _permute_call, "torch.permute": _permute_call},
    onnx_ops={"Transpose": _onnx_transpose},
)


# --- ChannelShuffle ------------------------------------------------------------------------

def _shuffle_shape(inputs: list[Shape], p: dict[str, Any]) -> Shape:
    c, h, w = expect_image(inputs[0])
    groups = p["groups"]
    if c % groups:
        hint, fixes = _fix_choices("groups", c, groups)
        raise ShapeError(f"groups {groups} does not divide the {c} channels of its input "
                         f"{fmt_shape(inputs[0])}", hint, fixes)
    return (c, h, w)


def _shuffle_build(inputs: list[Shape], p: dict[str, Any], out: Shape):
    from engine.layers.modules import ChannelShuffle

    return ChannelShuffle(p["groups"])


def _shuffle_module(m: Any) -> tuple[str, dict[str, Any]]:
    return "ChannelShuffle", {"groups": int(m.groups)}


def _shuffle_call(node: Any) -> tuple[tuple[str, dict[str, Any]] | str, list[Any]]:
    groups = node.args[1] if len(node.args) > 1 else node.kwargs.get("groups")
    if not isinstance(groups, int):
        return "channel_shuffle with computed groups", []
    return ("ChannelShuffle", {"groups": groups}), [node.args[0]]


channel_shuffle = LayerKind(
    id="ChannelShuffle",
    category=RESHAPE,
    help="Channel shuffle (ShuffleNet): splits the channels into groups and interleaves them, "
         "so the next grouped or split convolution sees channels from every group. No "
         "weights; the values only change places.",
    params=(Param("groups", "int", 2, "Number of groups the channels are dealt from; it must "
                  "divide the channel count.", min=1, max=4096),),
    shape=_shuffle_shape,
    build=_shuffle_build,
    describe=lambda p: f"{p['groups']} groups",
    emit=lambda i, p, o: Code(f"nn.ChannelShuffle({p['groups']})"),
    torch_modules={"torch.nn.ChannelShuffle": _shuffle_module},
    # torch.channel_shuffle is the same function; fx_patterns writes ShuffleNet's
    # view/transpose/view as this call.
    torch_calls={"torch.nn.functional.channel_shuffle": _shuffle_call},
)


# --- Split ---------------------------------------------------------------------------------

def _split_shape(inputs: list[Shape], p: dict[str, Any]) -> Shape:
    shape = inputs[0]
    c, parts, index = shape[0], p["parts"], p["index"]
    if c % parts:
        hint, fixes = _fix_choices("parts", c, parts)
        raise ShapeError(f"{parts} parts do not divide the {c} channels of its input "
                         f"{fmt_shape(shape)} into equal slices", hint, fixes)
    if index >= parts:
        raise ShapeError(f"index {index} names no part: there are {parts} parts, numbered "
                         f"0 to {parts - 1}", f"use an index from 0 to {parts - 1}",
                         (ParamFix(f"Use index {parts - 1}", (("index", parts - 1),)),))
    return (c // parts, *shape[1:])


def slice_of(c: int, p: dict[str, Any]) -> tuple[int, int]:
    """The channels [start, stop) a Split block takes.

    >>> slice_of(116, {"parts": 2, "index": 1})
    (58, 116)
    """
    size = c // p["parts"]
    return p["index"] * size, (p["index"] + 1) * size


def _split_build(inputs: list[Shape], p: dict[str, Any], out: Shape):
    from engine.layers.modules import Split

    return Split(*slice_of(inputs[0][0], p))


def _split_emit(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
    start, stop = slice_of(inputs[0][0], p)
    return Code(None, f"{{x}}[:, {start or ''}:{stop}]")


def _chunk_call(node: Any) -> tuple[tuple[str, dict[str, Any]] | str, list[Any]]:
    """x.chunk(2, dim=1) passes x on: each part taken from it (getitem) is a Split."""
    dim = node.args[2] if len(node.args) > 2 else node.kwargs.get("dim", 0)
    if dim != 1:
        return f"chunk along dim {dim} (a Split cuts the channels, dim 1)", []
    return (PASS_THROUGH, {}), [node.args[0]]


def _part_call(node: Any) -> tuple[tuple[str, dict[str, Any]] | str, list[Any]]:
    """parts[i] of x.chunk(parts, dim=1) is Split(parts, i) of x."""
    source, index = node.args[0], node.args[1]
    target = getattr(source, "target", None)
    chunk = target == "chunk" or getattr(target, "__name__", "") == "chunk"
    if not chunk or not isinstance(index, int):
        return "indexing (getitem) that is not one part of x.chunk(n, dim=1)", []
    parts = source.args[1] if len(source.args) > 1 else source.kwargs.get("chunks")
    if not isinstance(parts, int):
        return "chunk into a computed number of parts", []
    return ("Split", {"parts": parts, "index": index % parts}), [source]


def _slice_params(c: int, start: int, stop: int) -> dict[str, Any] | None:
    """Split's parameters for channels [start, stop) of c, when that is one equal part.

    >>> _slice_params(116, 58, 116), _slice_params(10, 0, 4)
    ({'parts': 2, 'index': 1}, None)
    """
    start, stop = max(0, start + c if start < 0 else start), min(c, stop + c if stop < 0
                                                                 else stop)
    size = stop - start
    if size <= 0 or c % size or start % size:
        return None
    return {"parts": c // size, "index": start // size}


def _onnx_slice(importer: Any, node: Any) -> None:
    """x[:, a:b] of the channels, one of equal parts: a Split."""
    import numpy as np

    a = onnx_attrs(node)
    shape = importer.shape(node.input[0])
    found = [importer.const(node, i) for i in range(1, 5)] if importer.opset >= 10 else [
        a.get("starts"), a.get("ends"), a.get("axes"), None]
    starts, ends, axes, steps = (None if v is None else [int(x) for x in np.ravel(v)]
                                 for v in found)
    if shape is None or starts is None or ends is None:
        return importer.miss(node, "with computed bounds")
    axes = axes if axes is not None else list(range(len(starts)))
    if len(axes) != 1 or axes[0] % (len(shape) + 1) != 1 or (steps and steps != [1]):
        return importer.miss(node, "along another axis than the channels, or with steps")
    params = _slice_params(shape[0], starts[0], ends[0])
    if params is None:
        return importer.miss(node, "that is not one of equal channel slices")
    if params["parts"] == 1:
        return importer.alias(node, node.input[0])
    importer.block(node, split.id, params, [node.input[0]])


def _onnx_split(importer: Any, node: Any) -> None:
    """ONNX Split into equal channel parts: one Split block per output."""
    import numpy as np

    a = onnx_attrs(node)
    shape = importer.shape(node.input[0])
    sizes = importer.const(node, 1)
    sizes = a.get("split") if sizes is None else [int(v) for v in np.ravel(sizes)]
    parts = len(node.output)
    if shape is None or int(a.get("axis", 0)) % (len(shape) + 1) != 1:
        return importer.miss(node, "along another axis than the channels")
    if (sizes and len(set(sizes)) != 1) or shape[0] % parts:
        return importer.miss(node, "into unequal parts")
    for index, output in enumerate(node.output):
        importer.block(node, split.id, {"parts": parts, "index": index}, [node.input[0]],
                       output=output)


split = LayerKind(
    id="Split",
    category=RESHAPE,
    help="Split: takes one of several equal slices of the channels (ShuffleNet's channel "
         "split: two Split blocks, index 0 and 1, read the same input and each passes on "
         "half of its channels). No weights.",
    params=(
        Param("parts", "int", 2, "Number of equal channel slices; it must divide the "
              "channel count.", min=1, max=4096),
        Param("index", "int", 0, "Which slice this block passes on, counted from 0.", min=0,
              max=4095),
    ),
    shape=_split_shape,
    build=_split_build,
    describe=lambda p: f"slice {p['index']} of {p['parts']}",
    emit=_split_emit,
    torch_calls={"Tensor.chunk": _chunk_call, "torch.chunk": _chunk_call,
                 "operator.getitem": _part_call},
    onnx_ops={"Slice": _onnx_slice, "Split": _onnx_split},
)

KINDS = (permute, channel_shuffle, split)
