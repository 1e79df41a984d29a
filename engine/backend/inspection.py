"""Looking inside a network, for the designer's feature-map, filter and Grad-CAM views.

(Not named inspect.py: that would shadow the standard library's module for any script run
from this folder.)

    module, graph, class_names, target = load_for_inspection("model.netdraft", "runs/x")
    x = image_tensor("cat.png", target)              # C×H×W float32, as training feeds it
    maps = activations(module, graph, node_id, x)    # np.ndarray C×H×W: the block's output
    kernels = filters(module, node_id)               # np.ndarray out×in×kh×kw
    heat = grad_cam(module, graph, node_id, x, 3)    # np.ndarray H×W in [0, 1], x's H×W
    probs = class_probabilities(module, graph, x)    # np.ndarray, one per Output class

- ``load_for_inspection(project_or_file, weights=None)``: the project (a Project, or a
  .netdraft path) built with a run folder's or checkpoint's weights (``weights``, loaded
  strictly: engine.backend.evaluate.WeightsError when they do not fit), else with the
  project's stored weights where they fit and initial weights elsewhere. The module is in
  eval mode on the CPU; ``class_names`` has one name per Output class; ``target`` is an
  engine.backend.evaluate.ImageTarget (the Input's shape and channel order, and the run's
  augmentation.rescale).
- ``image_tensor(path_or_array, target)``: an image file decoded and resized as the trainer
  decodes it, or an array (H×W, H×W×C or C×H×W, uint8 pixels or floats) converted as the
  trainer converts arrays, then × rescale: C×H×W float32 raw pixels (the module applies the
  Input's scale, mean and std itself).
- ``activations``: the output of block ``node_id`` for one image, C×H×W for image-shaped
  blocks and the block's own shape otherwise (units for a Dense). The Input gives the
  preprocessed image; the Output, what the Output block receives.
- ``filters``: a convolution's weights as out×in×kh×kw (in per group: 1 for a depthwise
  convolution); a transposed convolution's are swapped to the same order.
- ``grad_cam`` (Selvaraju et al.): A is block ``node_id``'s output (C×h×w) for the image and
  S the class's score (module.logits: before a final softmax, RBF distances negated); each
  map's weight is the mean of ∂S/∂A over h×w, the map ReLU(Σ weight·A) is resized to the
  input's H×W (bilinear, align_corners False) and divided by its maximum (all zeros when
  nothing speaks for the class). Works on any block with a C×H×W output.

ValueError, naming the block, for a node that is not a block of the network or a request
its output cannot serve. Every function leaves the module's train/eval mode as it found it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from engine import project as project_io
from engine.backend import images
from engine.backend.build import GraphModule
from engine.backend.data import Target
from engine.backend.evaluate import (
    ImageTarget,
    load_network,
    probabilities,
    read_image,
)
from engine.backend.optim import Loss, Scorer, output_loss
from engine.graph import Graph
from engine.project import Project

__all__ = ["load_for_inspection", "image_tensor", "activations", "filters", "grad_cam",
           "class_probabilities", "convolutions"]


def load_for_inspection(project_or_file: Project | str | Path,
                        weights: str | Path | None = None,
                        ) -> tuple[GraphModule, Graph, list[str], ImageTarget]:
    if isinstance(project_or_file, Project):
        project, path = project_or_file, None
    else:
        path = project_or_file
        project = project_io.load(path)
    net = load_network(project, weights, project_path=path,
                       file_label=str(path or project.name))
    return net.module, net.graph, net.class_names, net.target


def image_tensor(path_or_array: str | Path | np.ndarray | torch.Tensor,
                 target: Target) -> torch.Tensor:
    if isinstance(path_or_array, str | Path):
        x = read_image(path_or_array, target)
    else:
        array = path_or_array
        x = images.fit_array(array[None], target.shape, target.order, "the image",
                             input_name=target.input_name)[0]
    return x.float() * float(getattr(target, "rescale", 1.0))


class _Captured(Exception):
    """Raised by a hook once it holds the output asked for: the rest need not run."""


@contextmanager
def _eval_mode(module: nn.Module) -> Iterator[None]:
    was = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was)


def _block(module: GraphModule, graph: Graph, node_id: str) -> tuple[str, nn.Module]:
    """The node a request names as (node id, submodule); the Output stands for its source."""
    node = graph.nodes.get(node_id)
    if node is None:
        raise ValueError(f"no block with id {node_id!r} in this network")
    if node.kind == "Output":
        node_id = module.output_source
    attr = module.attr_of.get(node_id)
    if attr is None:
        raise ValueError(f"{node.kind} '{node.name}' is not a block of the built network "
                         f"(a group or the Input): pick one of its blocks")
    return node_id, getattr(module, attr)


def _batch(module: GraphModule, image: torch.Tensor) -> torch.Tensor:
    shape = tuple(module.input_shape)
    if tuple(image.shape) != shape:
        raise ValueError(f"the image is {'×'.join(map(str, image.shape))} and the Input "
                         f"takes {'×'.join(map(str, shape))}: make it with image_tensor")
    device = next(module.parameters(), torch.empty(0)).device
    return image.detach().float()[None].to(device)


def activations(module: GraphModule, graph: Graph, node_id: str,
                image: torch.Tensor) -> np.ndarray:
    x = _batch(module, image)
    node = graph.nodes.get(node_id)
    with torch.no_grad(), _eval_mode(module):
        if node is not None and node_id == module.input_id:
            return module.preprocess(x)[0].float().cpu().numpy()
        _, block = _block(module, graph, node_id)
        held: list[torch.Tensor] = []

        def hook(_module, _inputs, output):
            held.append(output)
            raise _Captured

        handle = block.register_forward_hook(hook)
        try:
            module(x)
        except _Captured:
            pass
        finally:
            handle.remove()
    return held[0][0].float().cpu().numpy()


def filters(module: GraphModule, node_id: str) -> np.ndarray:
    attr = module.attr_of.get(node_id)
    block = getattr(module, attr) if attr else None
    if not isinstance(block, nn.modules.conv._ConvNd) or block.weight.dim() != 4:
        raise ValueError(f"block {node_id!r} ({attr or 'not in the network'}) is not a 2-D "
                         f"convolution: only convolutions have filters to show")
    weight = block.weight.detach()
    if block.transposed:  # stored in×out/groups×kh×kw
        weight = weight.transpose(0, 1)
    return weight.float().cpu().numpy().copy()


def convolutions(module: GraphModule) -> list[str]:
    """Node ids of the blocks filters() can show, in the network's order."""
    return [step.node_id for step in module.steps
            if isinstance(getattr(module, step.attr), nn.modules.conv._ConvNd)
            and getattr(module, step.attr).weight.dim() == 4]


def grad_cam(module: GraphModule, graph: Graph, node_id: str, image: torch.Tensor,
             class_index: int) -> np.ndarray:
    if not 0 <= class_index < module.classes:
        raise ValueError(f"class {class_index} is not one of the Output's {module.classes} "
                         f"classes (0 to {module.classes - 1})")
    real_id, block = _block(module, graph, node_id)
    name = graph.nodes[real_id].name
    x = _batch(module, image).requires_grad_(True)  # a gradient even past frozen blocks
    held: list[torch.Tensor] = []
    handle = block.register_forward_hook(lambda _m, _i, output: held.append(output))
    try:
        with torch.enable_grad(), _eval_mode(module):
            score = module.logits(x)[0, class_index]
    finally:
        handle.remove()
    if not held:  # a head whose softmax the scores leave out: its output is not used
        raise ValueError(f"'{name}' gives the class scores themselves; pick a block with "
                         f"a C×H×W output before it")
    maps = held[0]
    if maps.dim() != 4:
        raise ValueError(f"Grad-CAM needs a block whose output is C×H×W; '{name}' gives "
                         f"{'×'.join(map(str, maps.shape[1:]))}")
    (grads,) = torch.autograd.grad(score, maps)
    weights = grads.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * maps).sum(dim=1, keepdim=True)).detach().float()
    cam = F.interpolate(cam, size=tuple(image.shape[-2:]), mode="bilinear",
                        align_corners=False)[0, 0]
    top = cam.max()
    cam = cam / top if top > 0 else torch.zeros_like(cam)
    return cam.cpu().numpy()


def class_probabilities(module: GraphModule, graph: Graph, image: torch.Tensor) -> np.ndarray:
    """One value per Output class, as `main.py predict` reports them
    (engine.backend.evaluate.probabilities)."""
    loss = Loss(output_loss(graph), module, module.classes)
    with torch.no_grad(), _eval_mode(module):
        scores = Scorer(module, loss.use_logits)(_batch(module, image))
        return probabilities(loss, scores)[0].cpu().numpy()
