"""Editing a Backbone block after the import (the designer's inspector): where a torchvision
network can be cut, what the block records for a source, a cut and an input (output shape,
counts, MACs), its weights from a file, and the project's weights file with one block's
tensors replaced.

Shapes and counts come from the network built on the meta device: no memory, no weights,
milliseconds for ResNet-50.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from engine.importers.backbones import (
    BackboneError,
    counts,
    cut_model,
    options_of,
    output_shape,
    torchvision_model,
)
from engine.importers.safe_load import FAILED, ImportFailure, read_safetensors

TORCHVISION = "torchvision:"


def model_name(source: str) -> str:
    if not source.startswith(TORCHVISION):
        raise ImportFailure(f"only torchvision sources can be changed here; {source!r} came "
                            "from a file: import it again (File > Import) to change it")
    return source[len(TORCHVISION):]


def cut_points(source: str, options: str = "") -> list[str]:
    """Where the network can be cut, in the order data flows: its top-level layers and the
    layers inside them ('layer3', 'layer3.1', 'features.12', ...)."""
    model = torchvision_model(model_name(source), options_of({"options": options}), meta=True)
    points: list[str] = []
    for name, child in model.named_children():
        points.append(name)
        points.extend(f"{name}.{sub}" for sub, _ in child.named_children())
    return points


def describe(source: str, cut: str, in_shape: tuple[int, ...], options: str = "",
             model: torch.nn.Module | None = None) -> dict[str, Any]:
    """The Backbone's recorded parameters for this source, cut and input shape. Raises
    ImportFailure in words (no such model, no such layer, an input it cannot take)."""
    name = model_name(source)
    try:
        if model is None:
            model = torchvision_model(name, options_of({"options": options}), meta=True)
        module = cut_model(model, cut)
        shape = output_shape(module, tuple(in_shape))
    except BackboneError as exc:
        raise ImportFailure(str(exc)) from None
    except RuntimeError as exc:
        raise ImportFailure(f"torchvision's {name} cut at {cut or 'its end'} cannot run on "
                            f"{'×'.join(map(str, in_shape))}: "
                            f"{str(exc).splitlines()[0]}") from None
    trainable, stats = counts(module)
    from engine.importers.torchvision import _macs

    return {"source": source, "cut": cut, "options": options, "in_shape": list(in_shape),
            "out_shape": list(shape), "trainable": trainable, "non_trainable": stats,
            "macs": _macs(module, tuple(in_shape))}


def from_file(source: str, cut: str, in_shape: tuple[int, ...], weights_file: str | Path,
              options: str = "") -> tuple[dict[str, Any], dict[str, torch.Tensor], str]:
    """The block's parameters and tensors with weights from a state dict, checkpoint or
    safetensors file (a different class count in it is taken up in the options). Raises
    ImportFailure in the CLI's words (an unsafe pickle, another architecture)."""
    from engine.importers.torchvision import make_model

    name = model_name(source)
    model, _state, found, origin = make_model(name, str(weights_file),
                                              options_of({"options": options}))
    text = json.dumps(found, sort_keys=True) if found else ""
    params = describe(source, cut, in_shape, text, model=model)
    tensors = dict(cut_model(model, cut).state_dict())
    return params, tensors, origin


def kept_tensors(stored: dict[str, torch.Tensor], source: str, cut: str,
                 options: str = "") -> dict[str, torch.Tensor] | None:
    """The block's stored tensors a new cut keeps (a cut earlier keeps a subset); None when
    the new cut needs tensors that were never stored (a cut later than the import's)."""
    model = torchvision_model(model_name(source), options_of({"options": options}),
                              meta=True)
    keys = list(cut_model(model, cut).state_dict())
    if not all(k in stored for k in keys):
        return None
    return {k: stored[k] for k in keys}


def stored_blocks(section: dict[str, Any], project_path: str | Path
                  ) -> dict[str, dict[str, torch.Tensor]]:
    """The project's stored tensors grouped by node id ({} when it stores none)."""
    from engine import weights

    if not (section or {}).get("blocks"):
        return {}
    path = weights.file_path(section, project_path)
    if path is None or not path.is_file():
        raise ImportFailure(f"the project's weights file {section.get('file')} is missing",
                            FAILED)
    out: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in read_safetensors(path).items():
        node_id, _, name = key.partition(".")
        out.setdefault(node_id, {})[name] = value
    return out


def store_block(section: dict[str, Any], project_path: str | Path, node_id: str,
                tensors: dict[str, torch.Tensor] | None, source: str) -> dict[str, Any]:
    """The project's weights with one block's tensors replaced (None: forgotten), written to
    a new file beside the project; the file the old section names stays, so undoing the
    edit finds it. Returns the new weights section."""
    from engine import weights

    blocks = stored_blocks(section, project_path)
    sources = {k: v.get("source", "imported")
               for k, v in (section or {}).get("blocks", {}).items()}
    blocks.pop(node_id, None)
    if tensors is not None:
        blocks[node_id] = tensors
        sources[node_id] = source
    if not blocks:
        return {}
    project_path = Path(project_path)
    folder = project_path.resolve().parent
    number = 1
    while (folder / f"{project_path.stem}-w{number}.safetensors").exists():
        number += 1

    class Holder:
        weights: dict[str, Any] = {}

    weights.save(Holder, project_path, blocks, {k: sources[k] for k in blocks},
                 f"{project_path.stem}-w{number}.safetensors")
    return Holder.weights
