"""Import a torchvision classification network as a Netdraft project (the lecture's
pre-trained model approach).

Weights come from a local file (a state dict through torch.load(weights_only=True), or
.safetensors), from torchvision's weights API where the machine is online (cached in torch's
hub directory), or nowhere (every block starts fresh). The network becomes ordinary blocks
grouped by its stages and blocks, or, collapsed, one Backbone block.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from engine.graph import Graph
from engine.importers import fx_import
from engine.importers.backbones import (
    BackboneError,
    counts,
    cut_model,
    output_shape,
    torchvision_model,
)
from engine.importers.common import Imported, unmapped_listing, unmapped_message
from engine.importers.safe_load import UNREADABLE, ImportFailure, read_state_dict
from engine.layers.backbone import backbone
from engine.layers.conv import depthwise_conv2d
from engine.project import Project
from engine.validate import analyze

# The architectures whose import is tested against torchvision itself.
TESTED = ("resnet18", "resnet34", "resnet50", "vgg16", "mobilenet_v2", "mobilenet_v3_small",
          "efficientnet_b0", "densenet121", "googlenet", "alexnet", "squeezenet1_1",
          "mnasnet0_5", "regnet_y_400mf", "shufflenet_v2_x0_5")
IMAGENET = {"scale": 1 / 255, "mean": "0.485,0.456,0.406", "std": "0.229,0.224,0.225",
            "channel_order": "RGB"}


def load_weights(name: str, weights: str | None) -> tuple[dict[str, Any] | None, dict[str, Any],
                                                           str]:
    """(state dict or None, constructor options, where the weights came from)."""
    if weights is None:
        return None, {}, "no weights: every block starts fresh"
    if re.fullmatch(r"[A-Z][A-Z0-9_]*", weights) and not Path(weights).exists():
        return _from_api(name, weights)
    state = read_state_dict(weights)
    return state, _options_for(name, state), f"weights from {weights}"


def _from_api(name: str, tag: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    from torchvision import models

    try:
        enum = models.get_model_weights(name)
        chosen = enum[tag] if tag != "DEFAULT" else enum.DEFAULT
    except (KeyError, ValueError):
        raise ImportFailure(f"torchvision has no weights {tag!r} for {name}", UNREADABLE) \
            from None
    try:
        state = chosen.get_state_dict(progress=False, check_hash=True, weights_only=True,
                                      map_location="cpu")
    except Exception as exc:  # urllib's errors when offline, hash mismatches…
        raise ImportFailure(
            f"cannot download torchvision's {name} weights {tag} ({exc}); this machine may be "
            "offline. Download them elsewhere (torchvision caches them in torch's hub "
            "directory) and pass --weights FILE", UNREADABLE) from None
    options: dict[str, Any] = {"num_classes": len(chosen.meta["categories"])}
    if name in ("googlenet", "inception_v3"):
        options.update(transform_input=True, aux_logits=True)
    return state, options, f"torchvision weights {name} {chosen}"


def _options_for(name: str, state: dict[str, Any]) -> dict[str, Any]:
    """Constructor options a state dict implies: its class count, GoogLeNet's aux heads."""
    options: dict[str, Any] = {}
    if name in ("googlenet", "inception_v3"):
        options["aux_logits"] = any(_is_aux(k) for k in state)
    try:
        reference = torchvision_model(name, options, meta=True).state_dict()
    except BackboneError as exc:
        raise ImportFailure(str(exc), UNREADABLE) from None
    weights = [k for k, v in reference.items() if k.endswith("weight") and v.dim() >= 2
               and not _is_aux(k)]
    if weights and weights[-1] in state:
        classes = int(state[weights[-1]].shape[0])
        if classes != reference[weights[-1]].shape[0]:
            options["num_classes"] = classes
    return options


def _is_aux(key: str) -> bool:
    """GoogLeNet's aux1/aux2 and Inception v3's AuxLogits: training-only classifiers."""
    return key.lower().startswith("aux")


def make_model(name: str, weights: str | None, options: dict[str, Any] | None = None
               ) -> tuple[nn.Module, dict[str, Any] | None, dict[str, Any], str]:
    state, implied, origin = load_weights(name, weights)
    options = {**implied, **(options or {})}
    try:
        # On the meta device: no memory and no initialization (VGG16's takes seconds); the
        # weights, when there are any, are then assigned as they are.
        model = torchvision_model(name, options, meta=True)
    except BackboneError as exc:
        raise ImportFailure(str(exc), UNREADABLE) from None
    if state is not None:
        own = model.state_dict()
        wrong = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
        fitting = OrderedDict((k, v) for k, v in state.items() if k not in wrong)
        # Modules' state versions: the file's (torch.save keeps them), else the model's own, as
        # from a file written by this torchvision (.safetensors has none; MNASNet needs one).
        fitting._metadata = getattr(state, "_metadata", None) or \
            own._metadata  # type: ignore[attr-defined]
        result = model.load_state_dict(fitting, strict=False, assign=True)
        if result.missing_keys or result.unexpected_keys or wrong:
            raise ImportFailure(
                f"{weights} does not hold torchvision's {name}: missing "
                f"{len(result.missing_keys)} tensors (e.g. {result.missing_keys[:3]}), "
                f"unexpected {len(result.unexpected_keys)} (e.g. "
                f"{result.unexpected_keys[:3]})" + (f", other shapes for {wrong[:3]}"
                                                     if wrong else "")
                + ". Is it another architecture?", 1)
    return model.eval(), state, options, origin


def input_node_params(shape: tuple[int, ...]) -> dict[str, Any]:
    return {"shape": list(shape), **IMAGENET}


def import_torchvision(name: str, weights: str | None = None,
                       input_shape: tuple[int, ...] = (3, 224, 224), collapse: bool = False,
                       keep_unknown: bool = False, cut: str = "",
                       options: dict[str, Any] | None = None) -> Imported:
    """Import torchvision's ``name``. ``cut`` only applies with ``collapse`` (a graph is cut
    with engine.transfer.cut after the import)."""
    model, state, options, origin = make_model(name, weights, options)
    notes = [f"torchvision {name}: {origin}"]
    if not collapse:
        converted = _expand(model, input_shape)
        if not converted.unmapped:
            return _finish_expanded(name, model, state, converted, input_shape, notes)
        if not keep_unknown:
            raise ImportFailure(unmapped_message(f"torchvision's {name}", converted.unmapped))
        notes.append(f"layers without a block ({unmapped_listing(converted.unmapped)}): the "
                     "network is kept as one Backbone block")
    return _collapsed(name, model, state, options, input_shape, cut, notes)


def _expand(model: nn.Module, input_shape: tuple[int, ...]) -> fx_import.Converted:
    prepend = []
    if getattr(model, "transform_input", False):
        # GoogLeNet's transform_input re-normalizes each channel: x·(std/0.5) + (mean−0.5)/0.5,
        # exactly a frozen 1×1 depthwise convolution.
        prepend.append((depthwise_conv2d.id, {"kernel_size": 1, "bias": True, "lr_mult": 0.0},
                        "transform_input"))
        model.transform_input = False
    converted = fx_import.to_graph(model, input_shape, prepend)
    if prepend:
        model.transform_input = True
        converted.notes.append("transform_input: GoogLeNet's input re-normalization became a "
                               "frozen 1×1 depthwise convolution")
    return converted


def _transform_tensors() -> dict[str, torch.Tensor]:
    # In double precision, as torchvision's Python constants are, then rounded once.
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    return {"weight": torch.tensor([s / 0.5 for s in std]).view(3, 1, 1, 1),
            "bias": torch.tensor([(m - 0.5) / 0.5 for m in mean])}


def _finish_expanded(name: str, model: nn.Module, state: dict[str, Any] | None,
                     converted: fx_import.Converted, input_shape: tuple[int, ...],
                     notes: list[str]) -> Imported:
    graph = converted.graph
    input_id = graph.by_name("input").id
    for key, value in input_node_params(input_shape).items():
        graph.set_param(input_id, key, value)
    analysis = analyze(graph)
    if not analysis.ok:
        listing = "; ".join(str(p) for p in analysis.problems[:3])
        raise ImportFailure(f"torchvision's {name} does not fit the input "
                            f"{'×'.join(map(str, input_shape))}: {listing}")
    notes += converted.notes
    tensors: dict[str, dict[str, torch.Tensor]] = {}
    full = model.state_dict()
    taken, left = fx_import.take_tensors(converted, full)
    if state is not None:
        tensors = taken
    if _has(graph, "transform_input"):  # constants, whatever the weights
        tensors[graph.by_name("transform_input").id] = _transform_tensors()
    aux = sorted({k.split(".")[0] for k in left if _is_aux(k)})
    if aux:
        size = sum(full[k].numel() for k in left if _is_aux(k))
        ignored = "their weights in the file were ignored; " if state is not None else ""
        notes.append(f"{', '.join(aux)}: {name}'s auxiliary classifiers ({size:,} values) "
                     f"only add losses in training: {ignored}they are not part of the "
                     "imported graph")
    others = [k for k in left if not _is_aux(k)]
    if others:
        notes.append(f"{len(others)} tensors of the model are used by no block: "
                     + ", ".join(others[:5]))
    project = Project(graph=graph, name=name,
                      description=f"torchvision's {name}, imported as blocks.")
    return Imported(project, tensors, notes)


def _has(graph: Graph, name: str) -> bool:
    return any(n.name == name for n in graph.nodes.values())


def _collapsed(name: str, model: nn.Module, state: dict[str, Any] | None,
               options: dict[str, Any], input_shape: tuple[int, ...], cut: str,
               notes: list[str]) -> Imported:
    try:
        module = cut_model(model, cut)
        out_shape = output_shape(module, input_shape)
    except BackboneError as exc:
        raise ImportFailure(str(exc)) from None
    except (RuntimeError, AssertionError) as exc:  # ViT asserts its image size
        raise ImportFailure(f"torchvision's {name} cannot run on "
                            f"{'×'.join(map(str, input_shape))}: {exc}") from None
    trainable, stats = counts(module)
    params = {"source": f"torchvision:{name}", "cut": cut or "",
              "options": json.dumps(options, sort_keys=True) if options else "",
              "in_shape": list(input_shape), "out_shape": list(out_shape),
              "trainable": trainable, "non_trainable": stats, "macs": _macs(module, input_shape)}
    graph = Graph()
    source = graph.add_node("Input", name="input", params=input_node_params(input_shape))
    block = graph.add_node(backbone.id, name=name, params=params)
    graph.connect(source.id, block.id)
    if len(out_shape) == 1:
        out = graph.add_node("Output", name="output", params={"classes": out_shape[0]})
        graph.connect(block.id, out.id)
    tensors = {}
    if state is not None:
        tensors = {block.id: {k: v for k, v in module.state_dict().items()}}
    project = Project(graph=graph, name=name,
                      description=f"torchvision's {name} as one Backbone block"
                                  + (f", cut after {cut}" if cut else "") + ".")
    return Imported(project, tensors, notes)


def _macs(module: nn.Module, input_shape: tuple[int, ...]) -> int:
    """MACs as Netdraft counts them, when every layer has a block; else 0 (unknown)."""
    converted = fx_import.to_graph(module, input_shape)
    if converted.unmapped:
        return 0
    analysis = analyze(converted.graph)
    return analysis.totals()["macs"] if all(
        r.ok for r in analysis.results.values()) else 0
