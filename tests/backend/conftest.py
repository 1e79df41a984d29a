"""Tiny projects and data for the backend tests: each trains in about a second."""

from __future__ import annotations

import pytest

from engine.graph import Graph
from engine.project import Project, save


def tiny_graph(channels: int = 1, size: int = 8, classes: int = 10, loss: str = "cross_entropy",
               head: str = "softmax", batchnorm: bool = False, dropout: float = 0.0) -> Graph:
    g = Graph()
    layers = [("Input", "in", {"shape": [channels, size, size], "scale": 1 / 255}),
              ("Conv2D", "conv1", {"filters": 4, "kernel_size": 3, "padding": "same",
                                   "activation": "relu"}),
              ("MaxPool2D", "pool1", {"pool_size": 2}),
              ("Flatten", "flat", {})]
    if batchnorm:
        layers.append(("BatchNorm", "bn", {}))
    if dropout:
        layers.append(("Dropout", "drop", {"rate": dropout}))
    layers += [("Dense", "fc", {"units": classes, "activation": head}),
               ("Output", "out", {"classes": classes, "loss": loss})]
    prev = None
    for kind, name, params in layers:
        node = g.add_node(kind, name, params)
        if prev is not None:
            g.connect(prev, node.id)
        prev = node.id
    return g


def tiny_project(dataset: str = "digits", epochs: int = 2, **graph_args) -> Project:
    return Project(graph=tiny_graph(**graph_args), name="tiny",
                   data={"dataset": dataset, "val_fraction": 0.25},
                   training={"epochs": epochs, "batch_size": 64, "lr": 0.01, "threads": 1})


@pytest.fixture
def tiny_file(tmp_path):
    path = tmp_path / "tiny.netdraft"
    save(tiny_project(), path)
    return path
