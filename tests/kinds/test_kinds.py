"""Every layer kind, one table (cases.py), one helper (run_layer_test): shape rule, counts
and MACs against torch, generated code against the built module, ONNX against onnxruntime."""

from __future__ import annotations

import pytest

from engine.layers import REGISTRY, ShapeError
from engine.layers.base import CATEGORIES
from tests.kinds.cases import (
    BY_SHAPE_ONLY,
    CASES,
    DYNAMO,
    ONNX_DIFFERS,
    ONNX_SKIPPED,
    REFUSALS,
    SLOW,
)
from tests.kinds.layer_test import run_layer_test, torch_refuses


def _params(rows):
    return [pytest.param(*row, id=f"{row[0]}-{i}",
                         marks=[pytest.mark.slow] if row[0] in SLOW else [])
            for i, row in enumerate(rows)]


@pytest.mark.parametrize(("kind_id", "input_shapes", "params"), _params(CASES))
def test_kind(kind_id, input_shapes, params):
    row = (kind_id, input_shapes, params)
    onnx = ("differs" if row in [r for r, _ in ONNX_DIFFERS]
            else "skipped" if row in [r for r, _ in ONNX_SKIPPED] else "matches")
    result = run_layer_test(*row, onnx=onnx)
    if row in DYNAMO:
        assert result.exporter == "dynamo"


def test_the_onnx_lists_name_rows_of_the_table():
    named = DYNAMO + [row for row, _ in ONNX_DIFFERS + ONNX_SKIPPED]
    assert [row for row in named if row not in CASES] == []


def test_every_registered_kind_has_a_case():
    """Adding a layer kind means adding its row to tests/kinds/cases.py."""
    tested = {kind_id for kind_id, _, _ in CASES} | BY_SHAPE_ONLY
    assert set(REGISTRY.ids()) - tested == set(), "kinds without a row in CASES"
    assert tested - set(REGISTRY.ids()) == set(), "rows for kinds that no longer exist"


@pytest.mark.parametrize(("kind_id", "input_shapes", "params"), _params(REFUSALS))
def test_rule_refuses_what_torch_refuses(kind_id, input_shapes, params):
    kind = REGISTRY.get(kind_id)
    with pytest.raises(ShapeError):
        kind.shape(input_shapes, kind.resolve(params))
    torch_refuses(kind_id, input_shapes, params)


def test_input_and_output_by_shape():
    input_kind, output_kind = REGISTRY.get("Input"), REGISTRY.get("Output")
    assert input_kind.shape([], input_kind.resolve({"shape": [3, 224, 224]})) == (3, 224, 224)
    assert output_kind.shape([(10,)], output_kind.resolve({})) == (10,)
    with pytest.raises(ShapeError):
        output_kind.shape([(12,)], output_kind.resolve({}))


def test_every_kind_is_described_and_its_defaults_fit_its_schema():
    assert len(REGISTRY) >= 37
    for kind in REGISTRY:
        assert kind.help.strip(), kind.id
        assert kind.category in CATEGORIES, kind.id
        assert kind.check_params(kind.defaults()) == [], kind.id
        for param in kind.schema:
            assert param.help.strip(), f"{kind.id}.{param.name}"


def test_merges_take_two_or_more_inputs():
    assert [k.id for k in REGISTRY if k.arity is None] == ["Add", "Concat", "Multiply"]
