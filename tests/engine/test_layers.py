"""Shape rules beyond the kinds' table (tests/kinds/cases.py): generated cases against torch,
pooling values, and the problem messages people read."""

from __future__ import annotations

import doctest
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import engine.layers.pool
from engine.graph import Graph
from engine.layers import REGISTRY, ShapeError
from engine.validate import analyze
from tests.kinds.layer_test import check_rule, torch_refuses


def test_pool_doctests():
    assert doctest.testmod(engine.layers.pool).failed == 0


def test_lecture_batchnorm_after_dense_64_counts_running_stats_as_non_trainable():
    g = chain((784,), ("Dense", "fc", {"units": 64}), ("BatchNorm", "bn", {}))
    bn = analyze(g).results[g.by_name("bn").id]
    assert (bn.params, bn.trainable, bn.non_trainable) == (256, 128, 128)


# ----------------------------------------------------------------- values, not just shapes
@pytest.mark.parametrize("params", [
    {"pool_size": 3, "stride": 2, "ceil_mode": True},
    {"pool_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
    {"pool_size": 2, "stride": 1, "padding": "same"},
    {"pool_size": 4, "stride": 3, "padding": "same", "ceil_mode": True},
])
@pytest.mark.parametrize("h, w", [(7, 8), (8, 7)])
def test_sum_pool_is_the_window_sum(params, h, w):
    module, _ = check_rule("SumPool2D", [(2, h, w)], params)
    x = torch.randn(1, 2, h, w)
    p = REGISTRY.get("SumPool2D").resolve(params)
    k, s = p["pool_size"], p["stride"]
    if p["padding"] == "same":
        before = (k - 1) // 2
        x_ref, pad = F.pad(x, (before, k - 1 - before) * 2), 0
    else:
        before = pad = p["padding"] if isinstance(p["padding"], int) else 0
        x_ref = x
    expected = F.avg_pool2d(x_ref, k, s, pad, ceil_mode=p["ceil_mode"], divisor_override=1)
    # No window starts in the padding after the input (torch's rule for its own padding).
    starts_h, starts_w = (math.ceil((before + n) / s) for n in (h, w))
    torch.testing.assert_close(module(x), expected[..., :starts_h, :starts_w])


@pytest.mark.parametrize("h, w", [(5, 6), (6, 5), (8, 7), (9, 9)])
@pytest.mark.parametrize("pool_size, stride", [(4, 4), (4, 3), (2, 3)])
def test_no_ceil_mode_window_lies_wholly_in_uneven_padding(h, w, pool_size, stride):
    """'same' with an even window pads (1, 2): torch, pooling that padding as input, let a
    ceil_mode window start in it (a max pool of -inf only)."""
    params = {"pool_size": pool_size, "stride": stride, "padding": "same", "ceil_mode": True}
    module, out = check_rule("MaxPool2D", [(2, h, w)], params)
    with torch.no_grad():
        y = module(torch.randn(1, 2, h, w))
    assert torch.isfinite(y).all(), (y, out)


def test_max_pool_same_never_picks_padding():
    module, _ = check_rule("MaxPool2D", [(2, 5, 5)], {"stride": 1, "padding": "same"})
    assert (module(-1.0 - torch.rand(1, 2, 5, 5)) < -1.0 + 1e-6).all()


# ----------------------------------------------------------------- generated cases
sizes = st.integers(1, 12)
pairs_or_ints = st.one_of(st.integers(1, 4), st.lists(st.integers(1, 4), min_size=2,
                                                      max_size=2))
paddings = st.one_of(st.sampled_from(["valid", "same"]), st.integers(0, 2))


@settings(max_examples=40, deadline=None)
@given(c=st.integers(1, 4), h=sizes, w=sizes, filters=st.integers(1, 6),
       kernel=pairs_or_ints, stride=pairs_or_ints, dilation=st.integers(1, 2),
       padding=paddings, groups=st.integers(1, 2))
def test_conv2d_rule_matches_torch(c, h, w, filters, kernel, stride, dilation, padding, groups):
    params = {"filters": filters, "kernel_size": kernel, "stride": stride,
              "dilation": dilation, "padding": padding, "groups": groups}
    kind = REGISTRY.get("Conv2D")
    try:
        kind.shape([(c, h, w)], kind.resolve(params))
    except ShapeError:
        torch_refuses("Conv2D", [(c, h, w)], params)
        assume(False)
    check_rule("Conv2D", [(c, h, w)], params)


@settings(max_examples=40, deadline=None)
@given(kind_id=st.sampled_from(["MaxPool2D", "AvgPool2D", "SumPool2D"]), c=st.integers(1, 3),
       h=sizes, w=sizes, pool=pairs_or_ints, stride=st.one_of(st.none(), pairs_or_ints),
       padding=paddings, ceil_mode=st.booleans())
def test_pool_rule_matches_torch(kind_id, c, h, w, pool, stride, padding, ceil_mode):
    params = {"pool_size": pool, "stride": stride, "padding": padding, "ceil_mode": ceil_mode}
    kind = REGISTRY.get(kind_id)
    try:
        kind.shape([(c, h, w)], kind.resolve(params))
    except ShapeError:
        torch_refuses(kind_id, [(c, h, w)], params)
        assume(False)
    check_rule(kind_id, [(c, h, w)], params)


@settings(max_examples=40, deadline=None)
@given(shape=st.one_of(st.tuples(st.integers(1, 300)),
                       st.tuples(st.integers(1, 8), st.integers(1, 8), st.integers(1, 8))),
       units=st.integers(1, 50), bias=st.booleans())
def test_dense_rule_matches_torch(shape, units, bias):
    params = {"units": units, "bias": bias}
    kind = REGISTRY.get("Dense")
    try:
        kind.shape([shape], kind.resolve(params))
    except ShapeError:
        # nn.Linear silently maps the last axis when it happens to equal the first.
        assume(shape[-1] != shape[0])
        torch_refuses("Dense", [shape], params)
        assume(False)
    check_rule("Dense", [shape], params)


def rule_or_refusal(kind_id: str, input_shapes: list[tuple[int, ...]], params: dict,
                    torch_too: bool = True) -> None:
    """check_rule on what the rule accepts; what it refuses, torch refuses too (torch_too)."""
    kind = REGISTRY.get(kind_id)
    try:
        kind.shape(input_shapes, kind.resolve(params))
    except ShapeError:
        if torch_too:
            torch_refuses(kind_id, input_shapes, params)
        return
    check_rule(kind_id, input_shapes, params)


images = st.tuples(st.integers(1, 4), sizes, sizes)
vectors = st.tuples(st.integers(1, 12))


@settings(max_examples=30, deadline=None)
@given(shape=images, filters=st.integers(1, 5), kernel=pairs_or_ints, stride=pairs_or_ints,
       padding=st.one_of(st.integers(0, 3), st.lists(st.integers(0, 3), min_size=2,
                                                     max_size=2)),
       output_padding=st.integers(0, 2), bias=st.booleans())
def test_conv_transpose2d_rule_matches_torch(shape, filters, kernel, stride, padding,
                                             output_padding, bias):
    rule_or_refusal("ConvTranspose2D", [shape], {
        "filters": filters, "kernel_size": kernel, "stride": stride, "padding": padding,
        "output_padding": output_padding, "bias": bias})


@settings(max_examples=30, deadline=None)
@given(shape=images, multiplier=st.integers(1, 3), kernel=pairs_or_ints, stride=pairs_or_ints,
       dilation=st.integers(1, 2), padding=paddings, bias=st.booleans())
def test_depthwise_conv2d_rule_matches_torch(shape, multiplier, kernel, stride, dilation,
                                             padding, bias):
    rule_or_refusal("DepthwiseConv2D", [shape], {
        "depth_multiplier": multiplier, "kernel_size": kernel, "stride": stride,
        "dilation": dilation, "padding": padding, "bias": bias})


@settings(max_examples=30, deadline=None)
@given(shape=images, output_size=st.one_of(st.integers(1, 14),
                                           st.lists(st.integers(1, 14), min_size=2, max_size=2)))
def test_adaptive_avg_pool_rule_matches_torch(shape, output_size):
    rule_or_refusal("AdaptiveAvgPool", [shape], {"output_size": output_size})


@settings(max_examples=30, deadline=None)
@given(shape=images, padding=st.one_of(st.integers(0, 3),
                                       st.lists(st.integers(0, 3), min_size=2, max_size=2)),
       scale=st.integers(1, 4), mode=st.sampled_from(["nearest", "bilinear"]))
def test_zero_pad_and_upsample_rules_match_torch(shape, padding, scale, mode):
    rule_or_refusal("ZeroPad2D", [shape], {"padding": padding})
    rule_or_refusal("Upsample", [shape], {"scale_factor": scale, "mode": mode})


@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=4), data=st.data())
def test_reshape_rule_matches_torch(shape, data):
    """A target of the input's volume is built and runs; any other volume is refused."""
    have = math.prod(shape)
    target, left = [], have
    for _ in range(data.draw(st.integers(0, 3))):
        factor = data.draw(st.sampled_from([d for d in range(1, left + 1) if left % d == 0]))
        target.append(factor)
        left //= factor
    check_rule("Reshape", [tuple(shape)], {"shape": [*target, left]})
    other = data.draw(st.lists(st.integers(1, 8), min_size=1, max_size=3))
    kind = REGISTRY.get("Reshape")
    if math.prod(other) != have:
        # torch would reshape a batch of 2 into any divisor of its 2·volume: refusing is ours
        with pytest.raises(ShapeError):
            kind.shape([tuple(shape)], kind.resolve({"shape": other}))


@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=4),
       momentum=st.floats(0.0, 1.0), epsilon=st.floats(1e-12, 1.0))
def test_norm_rules_match_torch(shape, momentum, epsilon):
    shape = tuple(shape)
    rule_or_refusal("BatchNorm", [shape], {"momentum": momentum, "epsilon": epsilon})
    rule_or_refusal("LayerNorm", [shape], {"epsilon": epsilon})


@settings(max_examples=30, deadline=None)
@given(shape=images, size=st.integers(1, 8), alpha=st.floats(0.0, 1.0),
       beta=st.floats(0.0, 2.0), k=st.floats(0.0, 3.0))
def test_local_response_norm_rule_matches_torch(shape, size, alpha, beta, k):
    rule_or_refusal("LocalResponseNorm", [shape],
                    {"size": size, "alpha": alpha, "beta": beta, "k": k})


@settings(max_examples=40, deadline=None)
@given(base=st.one_of(vectors, images), n=st.integers(2, 4), data=st.data())
def test_merge_rules_match_torch(base, n, data):
    # Inputs shaped like base with some sizes changed (Concat: channels; Multiply: to 1).
    channels = [data.draw(st.integers(1, 5)) for _ in range(n)]
    rule_or_refusal("Add", [base] * n, {})
    rule_or_refusal("Concat", [(c, *base[1:]) for c in channels], {})
    ones = [tuple(1 if data.draw(st.booleans()) else d for d in base) for _ in range(n)]
    rule_or_refusal("Multiply", ones, {})


@settings(max_examples=40, deadline=None)
@given(shapes=st.lists(st.one_of(vectors, st.tuples(st.integers(1, 3), st.integers(1, 3),
                                                    st.integers(1, 3))),
                       min_size=2, max_size=3))
def test_merges_refuse_what_torch_refuses(shapes):
    """Any shapes: Concat accepts exactly what torch.cat does, Multiply (on inputs of one rank)
    what broadcasting does; Add wants equal shapes, stricter than torch's broadcasting."""
    rule_or_refusal("Concat", shapes, {})
    rule_or_refusal("Multiply", shapes, {}, torch_too=len({len(s) for s in shapes}) == 1)
    kind = REGISTRY.get("Add")
    if len(set(shapes)) > 1:
        with pytest.raises(ShapeError):
            kind.shape(shapes, {})
    else:
        check_rule("Add", shapes)


# ----------------------------------------------------------------- messages people read
def chain(shape, *blocks) -> Graph:
    """Input -> blocks in a line; each block is (kind, name, params)."""
    g = Graph()
    prev = g.add_node("Input", "in", {"shape": list(shape)})
    for kind, name, params in blocks:
        node = g.add_node(kind, name, params)
        g.connect(prev.id, node.id)
        prev = node
    return g


def merge(shape, branch, kind: str, name: str) -> Graph:
    """Input feeds a merge directly (port 0, the shortcut) and through a branch (port 1)."""
    g = chain(shape, branch)
    node = g.add_node(kind, name)
    g.connect(g.by_name("in").id, node.id)
    g.connect(g.by_name(branch[1]).id, node.id)
    return g


def problem(g: Graph, name: str) -> str:
    result = analyze(g).results[g.by_name(name).id]
    assert result.problem is not None, f"{name} has no problem: {result}"
    return str(result.problem)


NEEDS_IMAGE = ("expects an image C×H×W but receives 10 — insert a Reshape before it, or feed "
               "it from a convolution or pooling block")
MESSAGES = [
    (chain((1, 32, 32), ("Conv2D", "c1", {"filters": 16, "kernel_size": 5}),
           ("MaxPool2D", "p1", {}), ("Conv2D", "c2", {"filters": 32}),
           ("MaxPool2D", "p2", {}), ("Dense", "fc1", {})), "fc1",
     "Dense 'fc1' expects a vector but receives 32×6×6 — insert a Flatten before it"),
    (chain((8, 3, 3), ("Conv2D", "c3", {"kernel_size": 5})), "c3",
     "Conv2D 'c3': kernel 5 is larger than its padded input 3×3 — use padding 'same' or a "
     "kernel ≤ 3"),
    (chain((6, 8, 8), ("Conv2D", "g", {"filters": 8, "groups": 4})), "g",
     "Conv2D 'g': groups 4 must divide both the input channels 6 and the filters 8 — use "
     "groups 1 or a common divisor of 6 and 8"),
    (chain((4, 7, 7), ("ConvTranspose2D", "up", {"output_padding": 2})), "up",
     "ConvTranspose2D 'up': output padding 2×2 must be smaller than the stride 2×2 — use "
     "output padding ≤ 1"),
    (merge((64, 28, 28), ("Conv2D", "conv", {"filters": 128, "stride": 2, "padding": "same"}),
           "Add", "res3"), "res3",
     "Add 'res3' inputs differ: 64×28×28 vs 128×14×14 — give the shortcut a 1×1 Conv2D "
     "with 128 filters and stride 2"),
    (merge((64, 7, 7), ("Conv2D", "conv", {"filters": 128, "stride": 2, "padding": "same"}),
           "Add", "res4"), "res4",
     "Add 'res4' inputs differ: 64×7×7 vs 128×4×4 — give the shortcut a 1×1 Conv2D "
     "with 128 filters and stride 2"),
    (merge((64, 14, 14), ("Conv2D", "conv", {"filters": 128, "padding": "same"}),
           "Add", "res"), "res",
     "Add 'res' inputs differ: 64×14×14 vs 128×14×14 — give the shortcut a 1×1 Conv2D "
     "with 128 filters"),
    (merge((20,), ("Dense", "fc", {"units": 10}), "Add", "sum"), "sum",
     "Add 'sum' inputs differ: 20 vs 10 — give the 10-feature branch a Dense with 20 units"),
    (merge((8, 28, 28), ("MaxPool2D", "pool", {}), "Concat", "cat"), "cat",
     "Concat 'cat' inputs differ: 8×28×28 vs 8×14×14 — match their height×width: a "
     "MaxPool2D with stride 2 on the 8×28×28 branch, or a ZeroPad2D on the 8×14×14 branch"),
    (merge((8, 4, 4), ("Flatten", "flat", {}), "Concat", "cat"), "cat",
     "Concat 'cat' inputs differ: 8×4×4 vs 128 — concatenate images with images or vectors "
     "with vectors: a Flatten (or GlobalAvgPool) turns the image branch into a vector"),
    (merge((8, 5, 5), ("GlobalAvgPool", "gap", {}), "Multiply", "scale"), "scale",
     "Multiply 'scale' inputs differ: 8×5×5 vs 8 — insert a Reshape to [8, 1, 1] after the "
     "vector branch so it scales each feature map"),
    (merge((8, 5, 5), ("Conv2D", "conv", {"filters": 4, "kernel_size": 5}), "Multiply", "m"),
     "m", "Multiply 'm' inputs differ: 8×5×5 vs 4×1×1 — give both the same shape, or make "
     "one C×1×1 with the same C (squeeze-and-excitation)"),
    (chain((32, 6, 6), ("Reshape", "r", {})), "r",
     "Reshape 'r': target shape 1×28×28 holds 784 values but its input 32×6×6 holds 1,152 — "
     "use a target shape whose sizes multiply to 1,152, e.g. [1152]"),
    (chain((3, 8, 8), ("MaxPool2D", "p", {"pool_size": 3, "padding": 2})), "p",
     "MaxPool2D 'p': padding 2 is more than half its pool size 3 — use padding ≤ 1, or 'same'"),
    (chain((3, 2, 2), ("AvgPool2D", "p", {"pool_size": 3})), "p",
     "AvgPool2D 'p': kernel 3 is larger than its padded input 2×2 — use padding 'same' or a "
     "kernel ≤ 2"),
    (chain((10,), ("MaxPool2D", "p", {})), "p", "MaxPool2D 'p' " + NEEDS_IMAGE),
    (chain((10,), ("GlobalAvgPool", "p", {})), "p", "GlobalAvgPool 'p' " + NEEDS_IMAGE),
    (chain((10,), ("SpatialDropout2D", "d", {})), "d", "SpatialDropout2D 'd' " + NEEDS_IMAGE),
    (chain((10,), ("LocalResponseNorm", "n", {})), "n", "LocalResponseNorm 'n' " + NEEDS_IMAGE),
    (chain((10,), ("Upsample", "u", {})), "u", "Upsample 'u' " + NEEDS_IMAGE),
    (chain((10,), ("Reshape", "r", {"shape": [2, 5]}), ("BatchNorm", "bn", {})), "bn",
     "BatchNorm 'bn' expects a vector or an image C×H×W but receives 2×5 — insert a Flatten "
     "or a Reshape to C×H×W before it"),
    (chain((20,), ("Dense", "fc", {"units": 12}), ("Output", "out", {})), "out",
     "Output 'out' expects 10 class scores but receives 12 — give the block before it 10 "
     "units, or set classes to 12"),
]


@pytest.mark.parametrize("graph, name, message", MESSAGES,
                         ids=[f"{m.split()[0]}-{i}" for i, (_, _, m) in enumerate(MESSAGES)])
def test_problem_messages(graph, name, message):
    assert problem(graph, name) == message


@pytest.mark.parametrize("kind_id", ["MaxPool2D", "AvgPool2D", "SumPool2D"])
def test_same_padding_uneven_on_one_axis_with_ceil_mode_matches_torch(kind_id):
    """Found by hypothesis: a 3×2 'same' pool pads both axes before pooling (the 2-wide
    axis is uneven), so a window starting in the height's padding is kept, as torch keeps
    it."""
    check_rule(kind_id, [(1, 8, 1)], {"pool_size": [3, 2], "stride": None,
                                      "padding": "same", "ceil_mode": True})
