"""The Output's fix for data with other classes: it also sets the width of the block that
gives the class scores (its kind's width_param), through activations and dropout."""

from __future__ import annotations

import pytest

from engine.data_fit import DataFacts, check
from engine.graph import Graph
from engine.validate import ParamEdit

FACTS = DataFacts("pets", None, ("cat", "dog", "bird"))


def _head(*blocks: tuple[str, dict]) -> tuple[Graph, dict[str, str]]:
    """Input [8] -> blocks -> Output with 10 classes; the blocks' ids by kind."""
    g = Graph()
    prev = g.add_node("Input", "x", {"shape": [8]})
    ids = {}
    for i, (kind, params) in enumerate(blocks):
        node = g.add_node(kind, f"b{i}", params)
        g.connect(prev.id, node.id)
        ids[kind] = prev = node
    out = g.add_node("Output", "out", {"classes": 10})
    g.connect(prev.id, out.id)
    ids["Output"] = out
    return g, {kind: node.id for kind, node in ids.items()}


@pytest.mark.parametrize("blocks", [
    (("Dense", {"units": 10}),),
    (("Dense", {"units": 10}), ("ReLU", {}), ("Dropout", {"rate": 0.5})),
    (("Dense", {"units": 16}), ("RBF", {"units": 10}), ("Softmax", {})),
], ids=["dense", "dense-relu-dropout", "rbf-softmax"])
def test_the_classes_fix_sets_the_scoring_blocks_width(blocks):
    g, ids = _head(*blocks)
    scorer = ids["RBF"] if "RBF" in ids else ids["Dense"]
    (fix,) = check(g, FACTS).fixes
    assert fix.edits == (ParamEdit(ids["Output"], "classes", 3),
                         ParamEdit(ids["Output"], "class_names", "cat, dog, bird"),
                         ParamEdit(scorer, "units", 3))


def test_a_block_that_changes_the_scores_stops_the_search():
    g, ids = _head(("Dense", {"units": 40}), ("Reshape", {"shape": [10, 4]}),
                   ("Flatten", {}), ("Dense", {"units": 10}), ("LayerNorm", {}))
    (fix,) = check(g, FACTS).fixes
    assert [edit.node_id for edit in fix.edits] == [ids["Output"], ids["Output"]]
