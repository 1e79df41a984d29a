"""One row per layer-kind case; tests/kinds/test_kinds.py runs each through run_layer_test.

Adding a kind to engine.layers.REGISTRY means adding at least one row to CASES:

    ("LeakyReLU", [(4, 5, 6)], {"negative_slope": 0.2}),

that is (kind id, the shapes of its inputs without the batch, its parameters: only those
that differ from the defaults). Every row is checked three ways (see layer_test.py): the
shape rule, parameter counts and MACs against the torch module the kind builds; the
generated PyTorch code against that module; the ONNX export against onnxruntime. A merge
names two or more input shapes and gets a multi-input project. test_every_registered_kind_
has_a_case fails until the row is there. Odd sizes are on purpose: they exercise padding,
ceil_mode and windows that do not divide the input.

What the rule refuses goes in REFUSALS instead: torch must refuse it too. The lists after
CASES name the rows whose ONNX check is different (a known mismatch, a dynamo-only export,
a left-out duplicate), each with its reason.
"""

from __future__ import annotations

from typing import Any

Row = tuple[str, list[tuple[int, ...]], dict[str, Any]]

IMG = (4, 9, 9)
ACTIVATIONS = ["ReLU", "ReLU6", "GELU", "SiLU", "Tanh", "Sigmoid", "Hardswish", "Hardsigmoid",
               "Softmax", "LogSoftmax"]

CASES: list[Row] = [
    ("Conv2D", [(3, 32, 32)], {}),
    ("Conv2D", [(3, 7, 9)], {"filters": 5, "kernel_size": [3, 5], "stride": 2}),
    ("Conv2D", [(3, 10, 11)], {"filters": 4, "kernel_size": 4, "padding": "same"}),
    ("Conv2D", [(3, 10, 11)], {"filters": 4, "kernel_size": 4, "padding": "same", "stride": 3}),
    ("Conv2D", [(2, 13, 12)], {"filters": 3, "kernel_size": 3, "dilation": 2,
                               "padding": "same"}),
    ("Conv2D", [(2, 13, 12)], {"filters": 3, "kernel_size": 3, "dilation": [2, 3]}),
    ("Conv2D", [(4, 9, 9)], {"filters": 8, "groups": 2, "bias": False}),
    ("Conv2D", [(3, 8, 8)], {"filters": 6, "padding": [1, 2], "stride": [2, 3],
                             "activation": "relu", "initializer": "he_normal"}),
    ("Conv2D", [(1, 5, 5)], {"filters": 1, "kernel_size": 5}),
    ("Conv2D", [(3, 9, 8)], {"filters": 4, "kernel_size": 3}),
    ("Conv2D", [(3, 9, 8)], {"filters": 4, "kernel_size": 4, "padding": "same", "stride": 2,
                             "activation": "relu", "initializer": "he_normal"}),
    ("Conv2D", [(4, 9, 8)], {"filters": 6, "kernel_size": [3, 2], "groups": 2, "dilation": 2,
                             "padding": [1, 2], "bias": False, "activation": "softmax"}),
    ("DepthwiseConv2D", [IMG], {}),
    ("DepthwiseConv2D", [IMG], {"depth_multiplier": 2, "kernel_size": 2, "stride": 2,
                                "padding": "same", "bias": False}),
    ("DepthwiseConv2D", [(3, 8, 8)], {"depth_multiplier": 2, "padding": "same",
                                      "activation": "relu6"}),
    ("ConvTranspose2D", [(8, 7, 7)], {}),
    ("ConvTranspose2D", [(8, 7, 5)], {"filters": 3, "kernel_size": 3, "stride": 2,
                                      "padding": 1, "output_padding": 1}),
    ("ConvTranspose2D", [(3, 5, 5)], {"filters": 4, "kernel_size": 3, "stride": 2,
                                      "padding": 1, "output_padding": 1,
                                      "activation": "tanh"}),
    ("Dense", [(10,)], {"units": 5}),
    ("Dense", [(7,)], {"units": 3, "bias": False, "activation": "softmax"}),
    ("Dense", [(12,)], {"units": 5, "activation": "gelu", "initializer": "glorot_uniform"}),
    ("Dense", [(12,)], {"units": 5, "bias": False, "activation": "log_softmax"}),
    ("RBF", [(84,)], {}),
    ("RBF", [(12,)], {"units": 5}),
    ("MaxPool2D", [(3, 28, 28)], {}),
    ("MaxPool2D", [(3, 7, 7)], {"ceil_mode": True}),
    ("MaxPool2D", [(3, 9, 8)], {"pool_size": 3, "stride": 2, "padding": 1}),
    ("MaxPool2D", [(3, 3, 3)], {"stride": 2, "padding": 1, "ceil_mode": True}),
    ("MaxPool2D", [(3, 5, 6)], {"stride": 1, "padding": "same"}),
    ("MaxPool2D", [(3, 5, 6)], {"pool_size": 4, "padding": "same", "ceil_mode": True}),
    ("AvgPool2D", [(3, 5, 6)], {"pool_size": 4, "padding": "same", "ceil_mode": True}),
    ("MaxPool2D", [(2, 11, 10)], {"pool_size": [2, 3], "stride": [1, 2]}),
    ("MaxPool2D", [(2, 9, 9)], {"pool_size": 3, "stride": 2, "ceil_mode": True}),
    ("MaxPool2D", [(2, 8, 8)], {"pool_size": 2, "stride": 1, "padding": "same"}),
    ("AvgPool2D", [(3, 28, 28)], {}),
    ("AvgPool2D", [(3, 7, 6)], {"pool_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    ("AvgPool2D", [(3, 5, 5)], {"pool_size": 2, "stride": 1, "padding": "same"}),
    ("AvgPool2D", [(2, 9, 9)], {"pool_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    ("AvgPool2D", [(2, 8, 8)], {"pool_size": 2, "stride": 1, "padding": "same"}),
    ("SumPool2D", [(3, 28, 28)], {}),
    ("SumPool2D", [(3, 7, 7)], {"pool_size": 3, "stride": 2, "ceil_mode": True}),
    ("SumPool2D", [(3, 6, 5)], {"pool_size": 2, "stride": 1, "padding": "same"}),
    ("SumPool2D", [(3, 6, 5)], {"pool_size": [3, 2], "padding": [1, 0], "ceil_mode": True}),
    ("SumPool2D", [(2, 8, 8)], {"pool_size": 2}),
    ("SumPool2D", [(2, 9, 9)], {"pool_size": 3, "stride": 2, "ceil_mode": True}),
    ("SumPool2D", [(2, 8, 8)], {"pool_size": 2, "stride": 1, "padding": "same"}),
    ("GlobalAvgPool", [(8, 5, 7)], {}),
    ("GlobalAvgPool", [(3, 9, 8)], {}),
    ("GlobalMaxPool", [(8, 5, 7)], {}),
    ("GlobalMaxPool", [(3, 9, 8)], {}),
    ("AdaptiveAvgPool", [(8, 7, 7)], {}),
    ("AdaptiveAvgPool", [(3, 7, 7)], {"output_size": 1}),
    # Sizes that do not divide: torchscript cannot export them, the dynamo exporter does.
    ("AdaptiveAvgPool", [(8, 10, 9)], {"output_size": [3, 2]}),
    ("AdaptiveAvgPool", [(8, 3, 3)], {"output_size": 5}),
    ("AdaptiveAvgPool", [(3, 9, 8)], {"output_size": [4, 3]}),
    ("BatchNorm", [(64,)], {}),
    ("BatchNorm", [(16, 5, 5)], {"momentum": 0.01, "epsilon": 1e-3}),
    ("BatchNorm", [(3, 9, 8)], {}),
    ("BatchNorm", [(12,)], {"momentum": 0.01, "epsilon": 0.001}),
    ("LayerNorm", [(10,)], {}),
    ("LayerNorm", [(4, 5, 6)], {"epsilon": 1e-6}),
    ("LayerNorm", [(3, 9, 8)], {}),
    ("LayerNorm", [(12,)], {"epsilon": 0.001}),
    ("LocalResponseNorm", [(16, 5, 5)], {}),
    ("LocalResponseNorm", [(3, 4, 4)], {"size": 3, "alpha": 1e-3, "beta": 0.5, "k": 1.0}),
    # An odd window exports as one LRN node, an even one as torch's decomposition.
    ("LocalResponseNorm", [(7, 5, 5)], {"size": 3, "alpha": 0.001, "beta": 0.5, "k": 1.5}),
    ("LocalResponseNorm", [(7, 5, 5)], {"size": 4, "alpha": 0.01, "beta": 0.75, "k": 2.0}),
    ("Dropout", [(10,)], {}),
    ("Dropout", [(3, 4, 4)], {"rate": 0.2}),
    ("Dropout", [(12,)], {"rate": 0.3}),
    ("SpatialDropout2D", [(3, 4, 4)], {"rate": 0.3}),
    ("SpatialDropout2D", [(3, 9, 8)], {"rate": 0.2}),
    ("LeakyReLU", [(4, 5, 6)], {"negative_slope": 0.2}),
    ("LeakyReLU", [(3, 9, 8)], {"negative_slope": 0.2}),
    ("ELU", [(10,)], {"alpha": 0.5}),
    ("ELU", [(3, 9, 8)], {"alpha": 0.5}),
    *[(a, [(4, 5, 6)], {}) for a in ACTIVATIONS],
    *[(a, [(10,)], {}) for a in ACTIVATIONS],
    ("Flatten", [(32, 6, 6)], {}),
    ("Flatten", [(10,)], {}),
    ("Flatten", [(2, 3, 4)], {}),
    ("Reshape", [(784,)], {}),
    ("Reshape", [(4, 14, 14)], {"shape": [16, 7, 7]}),
    ("Reshape", [(12,)], {"shape": [3, 2, 2]}),
    ("ZeroPad2D", [(3, 5, 5)], {"padding": 2}),
    ("ZeroPad2D", [(3, 5, 5)], {"padding": [1, 3]}),
    ("ZeroPad2D", [(2, 3, 4)], {"padding": [1, 2]}),
    ("Upsample", [(3, 5, 7)], {}),
    ("Upsample", [(3, 5, 7)], {"scale_factor": 3, "mode": "bilinear"}),
    ("Upsample", [(2, 3, 3)], {"scale_factor": 2}),
    ("Upsample", [(2, 3, 3)], {"scale_factor": 2, "mode": "bilinear"}),
    ("Add", [(8, 5, 5), (8, 5, 5)], {}),
    ("Add", [(10,), (10,), (10,)], {}),
    ("Add", [(3, 5, 5), (3, 5, 5), (3, 5, 5)], {}),
    ("Concat", [(8, 5, 5), (4, 5, 5), (2, 5, 5)], {}),
    ("Concat", [(10,), (3,)], {}),
    ("Concat", [(3, 5, 5), (3, 5, 5), (3, 5, 5)], {}),
    ("Multiply", [(8, 5, 5), (8, 1, 1)], {}),
    ("Multiply", [(8, 1, 1), (8, 5, 5)], {}),
    ("Multiply", [(1, 5, 5), (8, 5, 5)], {}),
    ("Multiply", [(10,), (10,)], {}),
    ("Multiply", [(3, 5, 5), (3, 5, 5), (3, 5, 5)], {}),
    ("Backbone", [(3, 224, 224)], {}),
    ("LayerNorm2d", [(6, 5, 4)], {}),
    ("LayerNorm2d", [(8, 1, 1)], {"epsilon": 1e-5}),
    ("Permute", [(3, 5, 7)], {}),
    ("Permute", [(3, 5, 7)], {"dims": [0, 2, 1]}),
    ("Permute", [(12,)], {"dims": [0]}),
    ("ChannelShuffle", [(12, 5, 3)], {"groups": 3}),
    ("ChannelShuffle", [(8, 4, 4)], {}),
    ("Split", [(8, 5, 5)], {}),
    ("Split", [(12, 3, 3)], {"parts": 3, "index": 2}),
    ("Split", [(10,)], {"index": 1}),
    ("LayerScale", [(8, 5, 5)], {"init": 0.1}),
    ("LayerScale", [(7,)], {}),
    ("StochasticDepth", [(4, 5, 5)], {"rate": 0.3}),
    ("StochasticDepth", [(6,)], {"rate": 0.2, "mode": "batch"}),
]

# Rows of CASES whose ONNX export does not match today, and why. Their test asserts the
# mismatch (the rule and code checks still run), so the row turns red once the cause is
# fixed and the entry cannot outlive it.
ONNX_DIFFERS: list[tuple[Row, str]] = []

# Rows of CASES that TorchScript cannot export (an adaptive pool whose sizes do not divide):
# their test asserts that the export fell back to the dynamo exporter.
DYNAMO: list[Row] = [
    ("AdaptiveAvgPool", [(8, 3, 3)], {"output_size": 5}),
    ("AdaptiveAvgPool", [(3, 9, 8)], {"output_size": [4, 3]}),
]

# Rows of CASES whose ONNX export is left out, and why.
ONNX_SKIPPED: list[tuple[Row, str]] = [
    (("AdaptiveAvgPool", [(8, 10, 9)], {"output_size": [3, 2]}),
     "exported as the 9×8 → 4×3 row is (a dynamo export, about a second more)"),
]

# Kinds whose rows take more than a few seconds (pytest -m "not slow" leaves them out).
SLOW = {"Backbone"}

# Every project has an Input and an Output, so each row exports them too; their own shape
# rules are tested in test_input_and_output_by_shape.
BY_SHAPE_ONLY = {"Input", "Output"}

# (kind id, input shapes, params) that the shape rule refuses, and torch refuses as well.
REFUSALS: list[Row] = [
    ("Conv2D", [(8, 3, 3)], {"kernel_size": 5}),
    ("Conv2D", [(6, 8, 8)], {"filters": 8, "groups": 4}),
    ("ConvTranspose2D", [(4, 7, 7)], {"output_padding": 2}),
    ("MaxPool2D", [(3, 8, 8)], {"pool_size": 3, "padding": 2}),
    ("AvgPool2D", [(3, 2, 2)], {"pool_size": 3}),
    ("Dense", [(8, 3, 3)], {"units": 4}),
    ("Add", [(8, 5, 5), (4, 5, 5)], {}),
    ("Concat", [(8, 5, 5), (8, 4, 4)], {}),
    ("Multiply", [(8, 5, 5), (4, 1, 1)], {}),
    ("ChannelShuffle", [(10, 4, 4)], {"groups": 4}),
    ("Permute", [(3, 8, 8)], {"dims": [0, 0, 2]}),
    ("LayerNorm2d", [(64,)], {}),
]
