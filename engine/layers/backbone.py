"""The Backbone kind: an imported network kept collapsed as one block.

Its output shape and parameter counts are recorded when it is imported, so the shape rule,
the summary and validation work without torch; build() reconstructs the network (a
torchvision constructor, cut where it was cut, or an ONNX graph run by torch ops) and the
project's weights fill it. A Backbone may hold layers Netdraft cannot draw.
"""

from __future__ import annotations

import json
from typing import Any

from engine.layers.base import BACKBONES, LayerKind, Param, Shape, ShapeError
from engine.layers.code import Code, NoCode
from engine.shapes import fmt_shape

# torchvision's ResNet-18 up to layer4, for 3×224×224 images: what a Backbone block taken
# from the palette holds until an import says otherwise.
DEFAULTS = {"source": "torchvision:resnet18", "cut": "layer4", "in_shape": [3, 224, 224],
            "out_shape": [512, 7, 7], "trainable": 11_176_512, "non_trainable": 9_600,
            "macs": 1_813_561_344}


class BackboneError(ValueError):
    """A Backbone block that cannot be rebuilt: unknown source, cut or options."""


def options_of(p: dict[str, Any]) -> dict[str, Any]:
    """The constructor options a Backbone's "options" parameter holds, as a dict."""
    text = p.get("options") or ""
    if not text.strip():
        return {}
    try:
        options = json.loads(text)
    except ValueError as exc:
        raise BackboneError(f"Backbone options are not a JSON object ({exc}). Received: "
                            f"{text!r}") from None
    if not isinstance(options, dict):
        raise BackboneError(f"Backbone options must be a JSON object. Received: {text!r}")
    return options


def _shape(inputs: list[Shape], p: dict[str, Any]) -> Shape:
    want = tuple(p["in_shape"])
    if tuple(inputs[0]) != want:
        raise ShapeError(f"expects {fmt_shape(want)}, the input it was imported for, but "
                         f"receives {fmt_shape(inputs[0])}",
                         f"resize the input to {fmt_shape(want)}, or import the backbone "
                         f"again for {fmt_shape(inputs[0])} (python main.py import ... "
                         "--input-shape)")
    return tuple(p["out_shape"])


def _counts(inputs: list[Shape], p: dict[str, Any], out: Shape) -> tuple[int, int]:
    return (p["trainable"], p["non_trainable"])


def _build(inputs: list[Shape], p: dict[str, Any], out: Shape):
    from engine.layers.backbone_module import build_backbone

    return build_backbone(p)


def torchvision_backbone(name, cut="", options=None):
    """torchvision's network (its weights come from Netdraft's), cut after ``cut``."""
    from torchvision.models import get_model
    from torchvision.models.feature_extraction import create_feature_extractor

    model = get_model(name, weights=None, **(options or {})).eval()
    if not cut:
        return model
    extractor = create_feature_extractor(model, return_nodes=[cut])
    output = next(node for node in extractor.graph.nodes if node.op == "output")
    output.args = (output.args[0][cut],)
    extractor.recompile()
    return extractor


def _emit(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
    # The generated file holds torchvision_backbone's source (above): plain torchvision, no
    # Netdraft; an ONNX source has no such library to rebuild it.
    scheme, _, name = p["source"].partition(":")
    if scheme != "torchvision":
        raise NoCode(f"a Backbone from {p['source']!r} runs an ONNX graph through Netdraft's "
                     "own modules; export the project to ONNX instead")
    options = options_of(p)
    if name == "googlenet":
        options.setdefault("init_weights", True)  # as Netdraft builds it
    args = [repr(name)] + ([repr(p["cut"])] if p["cut"] or options else [])
    if options:
        args.append(repr(options))
    return Code(f"torchvision_backbone({', '.join(args)})",
                helpers=(f"{__name__}.torchvision_backbone",))


def _describe(p: dict[str, Any]) -> str:
    source = p["source"].split(":", 1)[-1]
    text = f"{source} up to {p['cut']}" if p["cut"] else source
    return text + (", frozen" if p["lr_mult"] == 0 else "")


backbone = LayerKind(
    id="Backbone",
    category=BACKBONES,
    help="A pretrained network (or part of one) kept as one block: its feature extractor "
         "feeds your own head. Freeze it with lr_mult 0 (the lecture's trainable = False), "
         "or give it a small multiplier to fine-tune it.",
    params=(
        Param("source", "str", DEFAULTS["source"], "Where the network comes from: "
              "'torchvision:NAME' or 'onnx:FILE'.", editable=False),
        Param("cut", "str", DEFAULTS["cut"], "Last layer kept (a module path such as "
              "'layer4' or 'features'); empty keeps the whole network.", editable=False),
        Param("options", "str", "", "Constructor options as a JSON object, e.g. "
              "{\"num_classes\": 10}; empty for the defaults.", editable=False),
        Param("in_shape", "ints", DEFAULTS["in_shape"], "Input shape it was imported for.",
              editable=False),
        Param("out_shape", "ints", DEFAULTS["out_shape"], "Its output shape for that input.",
              editable=False),
        Param("trainable", "int", DEFAULTS["trainable"], "Learned parameters it holds.",
              min=0, editable=False),
        Param("non_trainable", "int", DEFAULTS["non_trainable"], "Statistics it holds "
              "(BatchNorm running mean and variance).", min=0, editable=False),
        Param("macs", "int", DEFAULTS["macs"], "Multiply-accumulates per image (0: unknown).",
              min=0, editable=False),
        Param("graph", "str", "", "For ONNX sources: the nodes it runs, as JSON (written by "
              "the importer).", editable=False),
    ),
    shape=_shape,
    params_count=_counts,
    macs=lambda i, p, o: p["macs"],
    build=_build,
    describe=_describe,
    emit=_emit,
)

KINDS = (backbone,)
