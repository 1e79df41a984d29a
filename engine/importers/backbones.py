"""What the importers need around a Backbone block: its counts and its output shape. The
module itself (a torchvision network cut at a layer, or an ONNX graph) is built by
engine/layers/backbone_module.py, which a network's build uses without the importers."""

from __future__ import annotations

import torch
import torch.nn as nn

from engine.layers.backbone import BackboneError, options_of
from engine.layers.backbone_module import build_backbone, cut_model, torchvision_model

# What the importers (torchvision.py, backbone_edit.py) take from here.
__all__ = ["BackboneError", "build_backbone", "counts", "cut_model", "options_of",
           "output_shape", "torchvision_model"]


def counts(module: nn.Module) -> tuple[int, int]:
    """(trainable, non-trainable) as Keras counts: parameters, then statistics buffers."""
    trainable = sum(p.numel() for p in module.parameters())
    stats = sum(b.numel() for n, b in module.named_buffers()
                if not n.endswith("num_batches_tracked"))
    return trainable, stats


def output_shape(module: nn.Module, in_shape: tuple[int, ...]) -> tuple[int, ...]:
    # The weights' device (meta at import): a traced constant, first in the state dict, may
    # be a CPU tensor that torch.fx made while tracing.
    device = next((t.device for t in module.parameters()),
                  next((t.device for t in module.state_dict().values()), torch.device("cpu")))
    with torch.no_grad():
        out = module(torch.zeros(1, *in_shape, device=device))
    if not isinstance(out, torch.Tensor):
        raise BackboneError("the network returns several outputs; cut it at a single layer")
    return tuple(int(d) for d in out.shape[1:])
