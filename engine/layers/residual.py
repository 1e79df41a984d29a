"""Residual-branch kinds: LayerScale and StochasticDepth, ConvNeXt's two steps between its
block's last layer and the shortcut's Add.

LayerScale multiplies each channel of the branch by a learned γ that starts tiny (1e-6), so a
freshly added block begins as almost the identity; StochasticDepth drops the whole branch of
a sample while training (a deep network trains as a random shallower one) and passes it on
unchanged at inference.
"""

from __future__ import annotations

from typing import Any

from engine.layers.base import (
    REGULARIZATION,
    LayerKind,
    Param,
    Shape,
    expect_vector_or_image,
)
from engine.layers.code import Code, call, number


def _gamma_shape(shape: Shape) -> Shape:
    return (shape[0],) + (1,) * (len(shape) - 1)


def _scale_shape(inputs: list[Shape], p: dict[str, Any]) -> Shape:
    return expect_vector_or_image(inputs[0])


def _scale_build(inputs: list[Shape], p: dict[str, Any], out: Shape):
    from engine.layers.modules import LayerScale

    return LayerScale(inputs[0][0], p["init"], len(inputs[0]))


def _scale_emit(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
    rank = len(inputs[0])
    return Code(call("LayerScale", str(inputs[0][0]), number(p["init"]),
                     rank=None if rank == 3 else str(rank)),
                helpers=("engine.layers.modules.LayerScale",))


layer_scale = LayerKind(
    id="LayerScale",
    category=REGULARIZATION,
    help="Layer scale (ConvNeXt): multiplies each channel by its own learned weight γ, which "
         "starts very small, so a residual branch first adds almost nothing and the deep "
         "network trains as a shallow one at the start.",
    params=(Param("init", "float", 1e-6, "Starting value of every γ; ConvNeXt uses 1e-6.",
                  min=0.0, max=1e6),),
    shape=_scale_shape,
    build=_scale_build,
    params_count=lambda i, p, o: (i[0][0], 0),
    describe=lambda p: f"γ from {p['init']:g}",
    emit=_scale_emit,
    weights=lambda i, p: {"gamma": _gamma_shape(i[0])},
    # engine/importers/fx_patterns.py makes a traced `tensor * x` (ConvNeXt's) this module.
    torch_modules={"engine.layers.modules.LayerScale": None},
)


def _depth_build(inputs: list[Shape], p: dict[str, Any], out: Shape):
    from engine.layers.modules import StochasticDepth

    return StochasticDepth(p["rate"], p["mode"])


def _depth_emit(inputs: list[Shape], p: dict[str, Any], out: Shape) -> Code:
    mode = None if p["mode"] == "row" else repr(p["mode"])
    return Code(call("StochasticDepth", number(p["rate"]), mode=mode),
                helpers=("engine.layers.modules.StochasticDepth",))


def _depth_module(m: Any) -> tuple[str, dict[str, Any]] | str:
    if m.mode not in ("row", "batch"):
        return f"StochasticDepth with mode {m.mode!r}"
    return "StochasticDepth", {"rate": float(m.p), "mode": m.mode}


stochastic_depth = LayerKind(
    id="StochasticDepth",
    category=REGULARIZATION,
    help="Stochastic depth: during training, drops a residual branch entirely for a random "
         "share of the samples (the shortcut alone carries them), so a deep network trains "
         "as many shallower ones; does nothing at inference. Put it on the branch, before "
         "the Add.",
    params=(
        Param("rate", "float", 0.1, "Probability p that a branch is dropped in training; "
              "the kept ones are scaled by 1/(1 − p).", min=0.0, max=1.0),
        Param("mode", "choice", "row", "'row' drops the branch for each sample on its own, "
              "'batch' for the whole batch at once.", choices=("row", "batch")),
    ),
    shape=lambda i, p: i[0],
    build=_depth_build,
    describe=lambda p: f"p {p['rate']:g}, per {'sample' if p['mode'] == 'row' else 'batch'}",
    emit=_depth_emit,
    torch_modules={"torchvision.ops.StochasticDepth": _depth_module},
)

KINDS = (layer_scale, stochastic_depth)
