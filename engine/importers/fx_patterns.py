"""Traced patterns that are one block, rewritten in the torch.fx graph before it is converted.

A network's torch code sometimes spells one block as several calls that have no block on
their own; each rewrite here replaces such a run with a call or module the kinds claim, so the
converter then meets one ordinary node:

- ShuffleNet's channel_shuffle(x, g), traced as view(n, g, c/g, h, w) → transpose(1, 2) →
  contiguous → view(n, c, h, w) with the size arithmetic feeding it, becomes
  F.channel_shuffle(x, g) (a ChannelShuffle block);
- ConvNeXt's channels-last run Permute(0, 2, 3, 1) → LayerNorm(C) → Linear → GELU → Linear →
  Permute(0, 3, 1, 2) becomes LayerNorm2d → 1×1 Conv2d → GELU → 1×1 Conv2d, channels first:
  the same numbers (a Linear on the channels at each position is a 1×1 convolution, its
  weight reshaped to out×in×1×1), blocks a user can edit, and no Dense fed an image;
- a learned tensor times x (ConvNeXt's ``self.layer_scale * x``, a get_attr in the trace) of
  shape C×1×1 becomes a LayerScale module at the tensor's own path, so its block takes the
  tensor as its weight.

Modules are replaced in the GraphModule only (its containers are its own; the traced model
keeps its modules), at the same paths, so the blocks take the model's tensors by those paths.
"""

from __future__ import annotations

import operator
from typing import Any

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

# Modules that act on each value alone: a channels-last run may hold them unchanged.
POINTWISE = (nn.GELU, nn.ReLU, nn.ReLU6, nn.SiLU, nn.Hardswish, nn.Sigmoid, nn.Tanh,
             nn.LeakyReLU, nn.ELU, nn.Dropout, nn.Identity)
POINTWISE_CALLS = (torch.relu, F.relu, F.relu6, F.gelu, F.silu, F.hardswish, torch.sigmoid,
                   torch.tanh, F.dropout, "relu", "sigmoid", "tanh")
_RESHAPES = ("view", "reshape")


def rewrite(gm: fx.GraphModule) -> list[str]:
    """Rewrite ``gm`` in place; returns notes for the import report."""
    notes = []
    shuffles = _channel_shuffles(gm)
    runs = _channels_last_runs(gm)
    scales = _layer_scales(gm)
    if runs:
        notes.append(f"{runs} channels-last runs (Permute, LayerNorm, Linear…, Permute back) "
                     "became channel-first blocks: LayerNorm2d and 1×1 Conv2D, whose weights "
                     "are the Linear layers' reshaped to out×in×1×1")
    if shuffles or runs or scales:
        gm.graph.lint()
        gm.recompile()
    return notes


# --- channel shuffle -----------------------------------------------------------------------

def _is_method(node: Any, names: tuple[str, ...]) -> bool:
    return isinstance(node, fx.Node) and node.op == "call_method" and node.target in names


def _dims(node: fx.Node) -> list[Any]:
    """A view/reshape's sizes, given one by one or as one tuple."""
    args = list(node.args[1:])
    return list(args[0]) if len(args) == 1 and isinstance(args[0], list | tuple) else args


def _is_transpose_1_2(node: Any) -> bool:
    if not isinstance(node, fx.Node) or len(node.args) < 3:
        return False
    transpose = node.target is torch.transpose or _is_method(node, ("transpose",))
    return transpose and sorted(node.args[1:3]) == [1, 2]


def _shuffle_of(view: fx.Node) -> tuple[fx.Node, int, list[fx.Node]] | None:
    """(x, groups, the replaced nodes) when ``view`` ends channel_shuffle(x, groups)."""
    if not _is_method(view, _RESHAPES) or len(_dims(view)) != 4:
        return None
    inner = view.args[0]
    run = [view]
    if _is_method(inner, ("contiguous",)):
        run.append(inner)
        inner = inner.args[0]
    if not _is_transpose_1_2(inner):
        return None
    split = inner.args[0]
    run += [inner, split]
    if not _is_method(split, _RESHAPES) or len(_dims(split)) != 5:
        return None
    n, groups, _, h, w = _dims(split)
    if not isinstance(groups, int) or _dims(view)[0] != n or _dims(view)[2:] != [h, w]:
        return None
    if any(len(node.users) != 1 for node in run[1:]):
        return None
    return split.args[0], groups, run


def _channel_shuffles(gm: fx.GraphModule) -> int:
    count = 0
    for node in list(gm.graph.nodes):
        found = _shuffle_of(node) if node.op == "call_method" else None
        if found is None:
            continue
        x, groups, run = found
        with gm.graph.inserting_after(node):
            call = gm.graph.call_function(F.channel_shuffle, (x, groups))
        call.meta = dict(node.meta)
        node.replace_all_uses_with(call)
        _erase(gm.graph, run)
        count += 1
    return count


def _erase(graph: fx.Graph, nodes: list[fx.Node]) -> None:
    """Erase ``nodes`` (users first), then the size arithmetic only they used."""
    erased = set(nodes)
    feeding: list[fx.Node] = []
    for node in nodes:
        feeding += [a for a in node.all_input_nodes if a not in erased]
        graph.erase_node(node)
    while feeding:
        node = feeding.pop()
        if node in erased or node.users or not _is_size_arithmetic(node):
            continue
        feeding += node.all_input_nodes
        erased.add(node)
        graph.erase_node(node)


def _is_size_arithmetic(node: fx.Node) -> bool:
    """x.size(), x.shape and the integer arithmetic on them."""
    return _is_method(node, ("size", "dim")) or (node.op == "call_function" and (
        node.target is getattr or getattr(node.target, "__module__", "") in (
            "_operator", "operator")))


# --- ConvNeXt's channels-last run ----------------------------------------------------------

def _permute_dims(gm: fx.GraphModule, node: Any) -> list[int] | None:
    if not isinstance(node, fx.Node):
        return None
    if node.op == "call_module":
        from torchvision.ops import Permute

        module = gm.get_submodule(node.target)
        return [int(d) for d in module.dims] if type(module) is Permute else None
    if node.target is torch.permute or _is_method(node, ("permute",)):
        dims = _dims(node)
        return dims if all(isinstance(d, int) for d in dims) else None
    return None


def _channels_last_step(gm: fx.GraphModule, node: fx.Node) -> bool:
    """Whether the node works on the last axis alone (or on each value), as the run needs."""
    if node.op in ("call_function", "call_method"):
        return node.target in POINTWISE_CALLS and len(node.all_input_nodes) == 1
    if node.op != "call_module":
        return False
    module = gm.get_submodule(node.target)
    if type(module) is nn.LayerNorm:
        return len(module.normalized_shape) == 1 and module.elementwise_affine \
            and module.bias is not None
    return type(module) is nn.Linear or type(module) in POINTWISE


def _run_from(gm: fx.GraphModule, start: fx.Node) -> list[fx.Node] | None:
    """The nodes from a Permute(0, 2, 3, 1) to the Permute(0, 3, 1, 2) that undoes it."""
    run = [start]
    node = start
    while len(node.users) == 1:
        node = next(iter(node.users))
        if _permute_dims(gm, node) in ([0, 3, 1, 2], [0, -3, -2, -1]):
            return run + [node] if len(run) > 1 else None
        if not _channels_last_step(gm, node) or node.args[0] is not run[-1]:
            return None
        run.append(node)
    return None


def _channels_last_runs(gm: fx.GraphModule) -> int:
    count = 0
    for node in list(gm.graph.nodes):
        if _permute_dims(gm, node) not in ([0, 2, 3, 1], [0, -2, -1, -3]):
            continue
        run = _run_from(gm, node)
        if run is None:
            continue
        for inner in run[1:-1]:
            _channels_first(gm, inner)
        for permute in (run[-1], run[0]):
            permute.replace_all_uses_with(permute.args[0])
            gm.graph.erase_node(permute)
        count += 1
    return count


def _channels_first(gm: fx.GraphModule, node: fx.Node) -> None:
    from torchvision.models.convnext import LayerNorm2d

    if node.op != "call_module":  # a pointwise call acts on channels first as well
        return
    module = gm.get_submodule(node.target)
    if type(module) is nn.LayerNorm:
        replaced: nn.Module = LayerNorm2d(module.normalized_shape, eps=module.eps,
                                          device="meta")
        weight = module.weight
    elif type(module) is nn.Linear:
        replaced = nn.Conv2d(module.in_features, module.out_features, 1,
                             bias=module.bias is not None, device="meta")
        weight = module.weight.reshape(module.out_features, module.in_features, 1, 1)
    else:
        return
    # The model's own tensors (a view: no copy), so the rewritten graph computes the same.
    replaced.weight = nn.Parameter(weight.detach(), requires_grad=False)
    if module.bias is not None:
        replaced.bias = nn.Parameter(module.bias.detach(), requires_grad=False)
    _set_submodule(gm, node.target, replaced)


def _set_submodule(gm: fx.GraphModule, target: str, module: nn.Module) -> None:
    parent, _, name = target.rpartition(".")
    owner = gm.get_submodule(parent) if parent else gm
    if name in dict(owner.named_parameters(recurse=False)):  # a tensor becoming a module
        delattr(owner, name)
    setattr(owner, name, module)


# --- layer scale ---------------------------------------------------------------------------

def _scale_of(gm: fx.GraphModule, node: fx.Node) -> tuple[fx.Node, fx.Node] | None:
    """(the learned tensor's get_attr, x) when ``node`` is tensor * x of a C×1×1 tensor."""
    if node.op != "call_function" or node.target not in (operator.mul, torch.mul) \
            or len(node.args) != 2 or node.kwargs:
        return None
    for attr, x in (node.args, reversed(node.args)):
        if isinstance(attr, fx.Node) and attr.op == "get_attr" and isinstance(x, fx.Node) \
                and len(attr.users) == 1:
            value = _attr(gm, attr.target)
            # C > 1: a 1×1×1 tensor scales every channel alike, which no LayerScale holds.
            if isinstance(value, nn.Parameter) and value.dim() == 3 \
                    and tuple(value.shape[1:]) == (1, 1) and value.shape[0] > 1:
                return attr, x
    return None


def _attr(gm: fx.GraphModule, target: str) -> Any:
    parent, _, name = target.rpartition(".")
    return getattr(gm.get_submodule(parent) if parent else gm, name, None)


def _layer_scales(gm: fx.GraphModule) -> int:
    from engine.layers.modules import LayerScale

    count = 0
    for node in list(gm.graph.nodes):
        found = _scale_of(gm, node)
        if found is None:
            continue
        attr, x = found
        value = _attr(gm, attr.target)
        with torch.device("meta"):
            scale = LayerScale(value.shape[0])
        scale.gamma = nn.Parameter(value.detach(), requires_grad=False)
        _set_submodule(gm, attr.target, scale)
        with gm.graph.inserting_after(node):
            call = gm.graph.call_module(attr.target, (x,))
        # The block belongs to the tensor's module (ConvNeXt's block), as a module call does.
        stack = dict(node.meta.get("nn_module_stack") or {})
        stack[attr.target] = (attr.target, LayerScale)
        call.meta = {**node.meta, "nn_module_stack": stack}
        node.replace_all_uses_with(call)
        gm.graph.erase_node(node)
        gm.graph.erase_node(attr)
        # The tensor's name (features_1_0_layer_scale) names the block; fx gave the call
        # a numbered one while the tensor's node still held it.
        call.name = attr.name
        count += 1
    return count
