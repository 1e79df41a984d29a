"""The training memory estimate: counts worked out by hand for a small network, activations
linear in the batch, and the weight, gradient and optimizer terms equal to what torch
allocates when it trains the built module."""

from __future__ import annotations

import pytest

from engine import settings
from engine.graph import Graph
from engine.memory import (
    MemoryEstimate,
    available_memory,
    estimate_training_memory,
    size_text,
)
from engine.validate import analyze


def conv_net(conv_lr_mult: float | None = None) -> Graph:
    """Input 1×28×28 → conv (8 @ 3×3 same) → bn → pool 2 → flatten → fc (10) → out."""
    g = Graph()
    conv = {"filters": 8, "kernel_size": 3, "padding": "same"}
    if conv_lr_mult is not None:
        conv["lr_mult"] = conv_lr_mult
    layers = [("Input", "in", {"shape": [1, 28, 28]}), ("Conv2D", "conv", conv),
              ("BatchNorm", "bn", {}), ("MaxPool2D", "pool", {"pool_size": 2}),
              ("Flatten", "flat", {}), ("Dense", "fc", {"units": 10}),
              ("Output", "out", {"classes": 10})]
    ids = [g.add_node(kind, name, params).id for kind, name, params in layers]
    for src, dst in zip(ids, ids[1:]):
        g.connect(src, dst)
    return g


# By hand: conv 8·(1·3·3) + 8 = 80; bn 16 trainable (γ, β) and 16 running statistics;
# fc 1568·10 + 10 = 15,690. Outputs per sample: in 784, conv 6,272, bn 6,272, pool 1,568,
# flat 1,568, fc 10, out 10 = 16,484 values.
TRAINABLE = 80 + 16 + 15_690
NON_TRAINABLE = 16
VALUES_PER_SAMPLE = 784 + 6_272 + 6_272 + 1_568 + 1_568 + 10 + 10


@pytest.mark.parametrize("optimizer,momentum,copies", [
    ("adam", 0.9, 2), ("adamw", 0.0, 2), ("sgd", 0.9, 1), ("sgd", 0.0, 0),
    ("rmsprop", 0.0, 1), ("rmsprop", 0.9, 2),
])
def test_counts_of_a_small_network_match_the_hand_count(optimizer, momentum, copies):
    estimate = estimate_training_memory(analyze(conv_net()), 32, optimizer,
                                        momentum=momentum)
    assert estimate.weights == (TRAINABLE + NON_TRAINABLE) * 4
    assert estimate.gradients == TRAINABLE * 4
    assert estimate.optimizer_state == copies * TRAINABLE * 4
    assert estimate.activations == VALUES_PER_SAMPLE * 4 * 32 * 2
    assert estimate.total == (estimate.weights + estimate.gradients
                              + estimate.optimizer_state + estimate.activations)
    assert estimate.complete


def test_activations_grow_linearly_with_the_batch_and_halve_in_16_bits():
    analysis = analyze(conv_net())
    one, many = (estimate_training_memory(analysis, n, "adam") for n in (1, 96))
    assert one.activations > 0 and many.activations == 96 * one.activations
    assert (many.weights, many.gradients, many.optimizer_state) == (
        one.weights, one.gradients, one.optimizer_state)
    for precision in ("bf16", "fp16"):
        assert estimate_training_memory(analysis, 96, "adam", precision).activations \
            == many.activations // 2


def test_a_frozen_block_has_weights_but_no_gradients_or_optimizer_state():
    estimate = estimate_training_memory(analyze(conv_net(conv_lr_mult=0)), 8, "adam")
    assert estimate.weights == (TRAINABLE + NON_TRAINABLE) * 4
    assert estimate.gradients == (TRAINABLE - 80) * 4
    assert estimate.optimizer_state == 2 * (TRAINABLE - 80) * 4


def test_a_block_with_a_problem_is_left_out_and_said_so():
    g = conv_net()
    fc = next(n for n in g.nodes.values() if n.name == "fc")
    g.set_param(fc.id, "units", 7)  # the Output wants 10 classes
    estimate = estimate_training_memory(analyze(g), 8, "adam")
    assert not estimate.complete
    assert estimate.text().endswith("blocks with problems are not counted")


def test_text_reads_as_the_panel_shows_it():
    estimate = MemoryEstimate(weights=200_000, gradients=200_000, optimizer_state=500_000,
                              activations=122_000_000, batch_size=64)
    assert estimate.text() == ("≈ 123 MB: weights 0.2 MB, gradients 0.2 MB, optimizer "
                               "0.5 MB, activations 122 MB (batch 64)")
    assert [size_text(n) for n in (950, 2_760, 50_000, 1_500_000_000)] == [
        "950 B", "2.8 kB", "50 kB", "1.5 GB"]


def test_bad_arguments_are_refused_with_the_choices():
    analysis = analyze(conv_net())
    with pytest.raises(ValueError, match="use sgd, adam, adamw, rmsprop"):
        estimate_training_memory(analysis, 8, "lbfgs")
    with pytest.raises(ValueError, match="use fp32, bf16, fp16"):
        estimate_training_memory(analysis, 8, "adam", "int8")
    with pytest.raises(ValueError, match="Received: 0"):
        estimate_training_memory(analysis, 0, "adam")


def test_available_memory_is_a_plausible_number_of_bytes():
    free = available_memory()
    assert free is None or 2**20 < free < 2**50


@pytest.mark.parametrize("optimizer,momentum", [
    ("adam", 0.9), ("adamw", 0.9), ("sgd", 0.9), ("sgd", 0.0), ("rmsprop", 0.0),
    ("rmsprop", 0.9),
])
@pytest.mark.parametrize("conv_lr_mult", [None, 0])
def test_weight_gradient_and_optimizer_terms_equal_what_torch_allocates(optimizer, momentum,
                                                                         conv_lr_mult):
    torch = pytest.importorskip("torch")
    from engine.backend.build import apply_freezing, build_module
    from engine.backend.optim import make_optimizer

    graph = conv_net(conv_lr_mult)
    estimate = estimate_training_memory(analyze(graph), 4, optimizer, momentum=momentum)
    torch.manual_seed(0)
    module = build_module(graph)
    # The weights a checkpoint holds: parameters and float buffers (BatchNorm's running
    # statistics; its int64 batch counter is not a weight).
    state = module.state_dict()
    assert estimate.weights == sum(t.numel() * t.element_size() for t in state.values()
                                   if t.is_floating_point())
    config = {**settings.defaults("training"), "optimizer": optimizer, "momentum": momentum}
    opt = make_optimizer(apply_freezing(graph, module), config)
    module(torch.rand(4, 1, 28, 28) * 255).sum().backward()
    opt.step()
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    assert estimate.gradients == sum(g.numel() * g.element_size() for g in grads)
    moments = [t for per_param in opt.state.values() for key, t in per_param.items()
               if key != "step" and torch.is_tensor(t)]
    assert estimate.optimizer_state == sum(t.numel() * t.element_size() for t in moments)
