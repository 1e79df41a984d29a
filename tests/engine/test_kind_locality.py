"""One place per kind: tools/kind_locality.py, checked on the real tree and on made-up ones."""

from __future__ import annotations

from pathlib import Path

from engine.layers import REGISTRY
from tools import kind_locality


def _tree(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (root / "main.py").write_text("", encoding="utf-8")
    return root


def test_every_kind_is_named_in_its_family_file_and_at_most_one_other():
    found = kind_locality.naming_files(REGISTRY.ids())
    assert kind_locality.over_limit(found) == {}
    for kind in REGISTRY:
        assert found[kind.id], f"{kind.id} is named nowhere: is its family file scanned?"


def test_a_kind_named_in_a_third_file_is_reported(tmp_path):
    root = _tree(tmp_path, {
        "engine/layers/conv.py": 'KIND = "Conv2D"\n',
        "engine/export/emitters.py": 'EMITTERS = {"Conv2D": None}\n',
        "designer/inspector.py": 'if kind == "Conv2D": pass\n',
        # a docstring that mentions a kind is prose, not a lookup by id
        "engine/summary.py": '"""Conv2D blocks are summed here."""\n',
    })
    found = kind_locality.naming_files(["Conv2D"], root)
    assert found["Conv2D"] == ["engine/export/emitters.py", "engine/layers/conv.py",
                               "designer/inspector.py"]
    assert set(kind_locality.over_limit(found)) == {"Conv2D"}


def test_onnx_operator_names_in_onnx_files_are_not_kinds(tmp_path):
    root = _tree(tmp_path, {
        "engine/layers/merge.py": 'KIND = "Add"\n',
        "engine/importers/onnx_module.py": 'OPS = {"Add": None}\n',
        "engine/importers/onnx_patterns.py": 'OPS = ("Add",)\n',
        "engine/transfer.py": 'plan = ("Add",)\n',
    })
    found = kind_locality.naming_files(["Add"], root)
    assert found["Add"] == ["engine/layers/merge.py", "engine/transfer.py"]
    assert kind_locality.over_limit(found) == {}


def test_input_and_output_may_be_named_anywhere(tmp_path):
    root = _tree(tmp_path, {f"engine/m{i}.py": 'x = "Input"\n' for i in range(4)})
    found = kind_locality.naming_files(["Input"], root)
    assert len(found["Input"]) == 4
    assert kind_locality.over_limit(found) == {}
