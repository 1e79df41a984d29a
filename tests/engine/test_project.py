"""Project files: round trips, atomic saves, errors that name the JSON path, migrations."""

from __future__ import annotations

import copy
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import project as project_io
from engine import templates
from engine.project import Project, ProjectError, load, loads, save
from engine.validate import analyze


def template_doc(name="keras-mnist"):
    return json.loads(templates.path(name).read_text(encoding="utf-8"))


def node_index(doc, kind):
    return next(i for i, n in enumerate(doc["graph"]["nodes"]) if n["kind"] == kind)


def load_error(doc) -> str:
    with pytest.raises(ProjectError) as info:
        loads(json.dumps(doc), "test.netdraft")
    return str(info.value)


@pytest.mark.parametrize("name", templates.ORDER)
def test_save_then_load_gives_the_same_project(name, tmp_path):
    project = templates.open_template(name)
    path = save(project, tmp_path / f"{name}.netdraft")
    again = load(path)
    assert again == project
    assert again.graph == project.graph
    assert again.to_json() == project.to_json()
    assert again.graph.lint() == []


def test_save_keeps_model_and_ui_apart(tmp_path):
    doc = json.loads(save(templates.open_template("lenet-5"), tmp_path / "l.netdraft")
                     .read_text(encoding="utf-8"))
    assert doc["format"] == "netdraft" and doc["version"] == project_io.VERSION
    assert all("position" not in n for n in doc["graph"]["nodes"])
    assert set(doc["ui"]["positions"]) == {n["id"] for n in doc["graph"]["nodes"]}


def test_a_failed_save_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "model.netdraft"
    save(templates.open_template("keras-mnist"), path)
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(project_io.os, "replace", broken_replace)
    with pytest.raises(OSError):
        save(templates.open_template("lenet-5"), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.netdraft"]  # no temporary file left behind
    assert load(path).name == "keras-mnist"


def test_a_failed_write_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "model.netdraft"
    save(templates.open_template("keras-mnist"), path)
    before = path.read_bytes()

    def broken_fsync(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(project_io.os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        save(templates.open_template("lenet-5"), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.netdraft"]


def test_save_keeps_the_file_readable_like_any_other(tmp_path):
    """A temporary file is private (0600); the saved project must not stay so."""
    path = save(templates.open_template("lenet-5"), tmp_path / "model.netdraft")
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


# ------------------------------------------------------------------- errors
def test_a_bad_parameter_names_its_json_path_and_value():
    doc = template_doc()
    i = node_index(doc, "Conv2D")
    doc["graph"]["nodes"][i]["params"]["stride"] = 0
    message = load_error(doc)
    assert f"nodes[{i}].params.stride" in message
    assert "Received: 0" in message
    assert message.startswith("test.netdraft: ")


@pytest.mark.parametrize("mutate, where, value", [
    (lambda d: d["graph"]["nodes"][3].update(kind="Conv3D"), "nodes[3].kind", "'Conv3D'"),
    (lambda d: d["graph"]["nodes"][2].update(name=d["graph"]["nodes"][1]["name"]),
     "nodes[2].name", "'conv1_1'"),
    (lambda d: d["graph"]["nodes"][1]["params"].update(filtres=8), "nodes[1].params.filtres",
     "filtres"),
    (lambda d: d["graph"]["edges"][0].update(dst="n999"), "edges[0].dst", "'n999'"),
    (lambda d: d["graph"]["edges"][0].update(dst_port=-1), "edges[0].dst_port", "-1"),
    (lambda d: d["graph"]["nodes"][4].update(parent="n1"), "nodes[4].parent", "'n1'"),
    (lambda d: d["training"].update(lr="fast"), "training.lr", "'fast'"),
    (lambda d: d["training"].update(epoch=3), "training.epoch", "unknown setting"),
    (lambda d: d["ui"]["positions"].update(n1=[0]), "ui.positions.n1", "[0]"),
    (lambda d: d.update(graph=[]), "graph", "[]"),
    # These once crashed the loader instead of naming what is wrong:
    (lambda d: d["graph"]["nodes"][2].update(parent=[]), "nodes[2].parent", "[]"),
    (lambda d: d["graph"]["nodes"][3]["params"].update(rate=10**400), "nodes[3].params.rate",
     "expected a number"),
    (lambda d: d["training"].update(lr=-(10**400)), "training.lr", "expected a number"),
    (lambda d: d["ui"].update(collapsed=5), "ui.collapsed", "5"),
])
def test_load_errors_name_the_path_and_the_values(mutate, where, value):
    doc = template_doc()
    mutate(doc)
    message = load_error(doc)
    assert f": {where}: " in message
    assert value in message


def add_groups(doc, *groups):
    doc["graph"]["nodes"].extend({"id": gid, "kind": "Group", "name": name, "params": {},
                                  **({"parent": parent} if parent else {})}
                                 for gid, name, parent in groups)


# One case per rule of Graph.lint(): loading runs lint, so dropping a rule fails its case.
@pytest.mark.parametrize("mutate, where, words", [
    (lambda d: add_groups(d, ("g1", "outer", "g2"), ("g2", "inner", "g1")),
     "nodes[13].parent", ["'outer'", "loops back"]),
    (lambda d: d["graph"]["nodes"][4].update(parent="n1"),
     "nodes[4].parent", ["'conv1_2'", "'n1', not a group", "Input 'input_1'"]),
    (lambda d: d["graph"]["nodes"][4].update(parent="g9"),
     "nodes[4].parent", ["'conv1_2'", "missing group 'g9'"]),
    (lambda d: d["graph"]["nodes"][7].update(name="dense_1"),
     "nodes[8].name", ["'dense_1' is used more than once", "'n8'", "'n9'"]),
    (lambda d: d["graph"]["edges"][2].update(src="n99"), "edges[2].src", ["no node 'n99'"]),
    (lambda d: (add_groups(d, ("g1", "head", None)), d["graph"]["edges"][3].update(dst="g1")),
     "edges[3].dst", ["group 'g1'", "'head'"]),
    (lambda d: d["graph"]["edges"][3].update(src="n13"), "edges[3]", ["'n13' feeds itself"]),
    (lambda d: d["graph"]["edges"][5].update(src_port=-2), "edges[5].src_port", ["-2"]),
    (lambda d: d["graph"]["edges"].append({"src": "n1", "dst": "n13"}), "edges[12].dst_port",
     ["input 0 of 'n13' has two edges", "'n12'", "'n1'"]),
    # Not lint's (the graph keeps nodes by id and edges as a set): the document check's.
    (lambda d: d["graph"]["nodes"][5].update(id="n5"), "nodes[5].id", ["'n5' is used twice"]),
    (lambda d: d["graph"]["edges"].append(dict(d["graph"]["edges"][4])), "edges[12]",
     ["repeats edges[4]"]),
])
def test_loading_runs_every_graph_invariant(mutate, where, words):
    doc = template_doc()
    mutate(doc)
    message = load_error(doc)
    assert f"test.netdraft: {where}: " in message
    for word in words:
        assert word in message


def test_a_load_error_counts_the_other_broken_invariants():
    doc = template_doc()
    doc["graph"]["edges"][2].update(src="n98")
    doc["graph"]["edges"][3].update(src="n99")
    message = load_error(doc)
    assert "edges[2].src" in message and "(and 1 more problem in the graph)" in message
    doc = template_doc()
    doc["graph"]["edges"].append({"src": "n1", "dst": "n13"})
    assert "more problem" not in load_error(doc)  # one clash, however the graph indexes it


def test_a_cycle_of_edges_loads_and_analysis_reports_it():
    """The editor allows cycles (analysis shows them), so a file may hold one."""
    doc = template_doc()
    doc["graph"]["edges"].append({"src": "n5", "dst": "n4", "dst_port": 1})
    project = loads(json.dumps(doc))
    assert project.graph.lint() == []
    assert any(p.code == "cycle" for p in analyze(project.graph).problems)


def test_a_new_block_never_takes_a_deleted_blocks_id_that_has_stored_weights(tmp_path):
    project = templates.open_template("keras-mnist")
    graph = project.graph
    extra = graph.add_node("Dense", params={"units": 10})
    project.weights = {"file": "model.safetensors", "blocks": {extra.id: {
        "source": "trained", "shapes": {"weight": [10, 10], "bias": [10]}}}}
    graph.remove_node(extra.id)  # the weights section keeps it until weights are saved
    again = load(save(project, tmp_path / "model.netdraft"))
    fresh = again.graph.add_node("Dense", params={"units": 10})
    assert fresh.id not in again.weights["blocks"]
    assert again.graph.copy().new_id() not in again.weights["blocks"]


def test_unreadable_files_are_project_errors(tmp_path):
    with pytest.raises(ProjectError, match="no such file"):
        load(tmp_path / "missing.netdraft")
    (tmp_path / "half.netdraft").write_text('{"format": "netdraft", "ver', encoding="utf-8")
    with pytest.raises(ProjectError, match=r"not valid JSON at line 1, column \d+"):
        load(tmp_path / "half.netdraft")
    (tmp_path / "bin.netdraft").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ProjectError, match="cannot be read"):
        load(tmp_path / "bin.netdraft")
    with pytest.raises(ProjectError, match="newer Netdraft"):
        loads(json.dumps({**template_doc(), "version": 99}))
    with pytest.raises(ProjectError, match="not a Netdraft project"):
        loads(json.dumps({"format": "keras", "version": 1}))
    with pytest.raises(ProjectError, match="not a Netdraft project"):
        loads('{"format": "netdraft", "version": 1' + "0" * 5000 + "}")
    nested = json.dumps({**as_version0(template_doc()), "data": {"x": [[]]}})
    with pytest.raises(ProjectError):
        loads(nested.replace("[[]]", "[" * 950 + "]" * 950))
    with pytest.raises(ProjectError):
        loads("[" * 100_000 + "]" * 100_000)


# ---------------------------------------------------------------- migration
def as_version0(doc):
    """Version 0 kept each node's position inside the node and had no ui section."""
    old = copy.deepcopy(doc)
    positions = old.pop("ui")["positions"]
    for node in old["graph"]["nodes"]:
        node["position"] = positions[node["id"]]
    old["version"] = 0
    return old


def test_a_version0_document_migrates():
    current = template_doc("lenet-5")
    # Version 0 had positions only: other ui values (the accepted data shape) are newer.
    current["ui"] = {"positions": current["ui"]["positions"]}
    migrated = loads(json.dumps(as_version0(current)))
    assert migrated == Project.from_json(current)
    assert migrated.ui["positions"] == current["ui"]["positions"]
    assert analyze(migrated.graph).ok


# --------------------------------------------------------- mutated documents
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=8)
    | st.sampled_from([0, -1, 10**400, -(10**400), 1e308, -0.0])
    | st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
        ["n1", "n2", "Group", "Conv2D", "same", "valid", "netdraft", "input_1"]),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6)


def locations(value, path=()):
    """Every (container path, key) in a JSON tree, so a mutation can reach any of them."""
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += locations(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += locations(item, (*path, i))
    return found


def mutate(doc, data):
    """Replace, delete or insert at random places, a few times over."""
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        where = data.draw(st.sampled_from(locations(doc)), label="where")
        if not where:
            continue
        parent = doc
        for key in where[:-1]:
            parent = parent[key]
        key = where[-1]
        action = data.draw(st.sampled_from(["replace", "delete", "insert", "retype"]))
        if action == "replace":
            parent[key] = data.draw(JSON_VALUES, label="value")
        elif action == "delete":
            del parent[key]
        elif action == "retype":
            parent[key] = [parent[key]] if not isinstance(parent[key], list) else {}
        elif isinstance(parent, dict):
            parent[data.draw(st.text(max_size=6), label="new key")] = data.draw(JSON_VALUES)
        else:
            parent.insert(key, data.draw(JSON_VALUES, label="inserted"))
    return doc


SMALL = template_doc("keras-mnist")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), version0=st.booleans())
def test_mutated_documents_raise_only_project_errors(data, version0):
    doc = mutate(as_version0(SMALL) if version0 else copy.deepcopy(SMALL), data)
    try:
        Project.from_json(copy.deepcopy(doc))
    except ProjectError:
        pass
    try:
        project = loads(json.dumps(doc))
    except ProjectError as exc:
        assert str(exc)
        return
    # What loads is sound: the graph keeps its invariants and analysis does not raise.
    assert project.graph.lint() == []
    analyze(project.graph)
    assert loads(json.dumps(project.to_json())) == project


@settings(max_examples=100, deadline=None)
@given(doc=JSON_VALUES)
def test_arbitrary_json_raises_only_project_errors(doc):
    with pytest.raises(ProjectError):
        Project.from_json(doc)
