"""The command line as a user runs it: `python main.py COMMAND`, its output and exit codes
(0 ok, 1 problems found, 2 bad usage or an unreadable file — never a traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine import templates
from engine.project import save

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), *map(str, args)], cwd=cwd,
                            capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


@pytest.fixture(scope="module")
def mnist(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "mnist.netdraft"
    result = run("new", "--template", "keras-mnist", "-o", path)
    assert result.returncode == 0, result.stderr
    assert "keras-mnist" in result.stdout
    return path


def test_templates_lists_each_with_its_parameter_count():
    result = run("templates")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == list(templates.ORDER)
    by_name = {line.split()[0]: line for line in lines}
    assert "87,290 params" in by_name["keras-mnist"]
    assert "60,344,232 params (60,192,808 trainable)" in by_name["resnet152"]
    assert "The lecture's Keras CNN" in by_name["keras-mnist"]


def test_new_writes_the_template(mnist):
    assert json.loads(mnist.read_text(encoding="utf-8"))["name"] == "keras-mnist"


def test_new_refuses_an_unknown_template(tmp_path):
    result = run("new", "--template", "lenet-6", "-o", tmp_path / "x.netdraft")
    assert result.returncode == 2
    assert "there is no template 'lenet-6'" in result.stderr and "lenet-5" in result.stderr
    assert not (tmp_path / "x.netdraft").exists()


def test_new_into_a_missing_folder_is_a_clear_error(tmp_path):
    result = run("new", "--template", "lenet-5", "-o", tmp_path / "nowhere" / "x.netdraft")
    assert result.returncode == 2
    assert "cannot write" in result.stderr


def test_validate_a_sound_project(mnist):
    result = run("validate", mnist)
    assert result.returncode == 0
    assert "ok" in result.stdout and "87,290 params" in result.stdout


def test_validate_lists_problems_and_exits_1(tmp_path):
    project = templates.open_template("keras-mnist")
    g = project.graph
    g.set_param(g.by_name("dense_2").id, "units", 7)
    g.add_node("Conv2D", name="orphan")
    path = save(project, tmp_path / "broken.netdraft")
    result = run("validate", path)
    assert result.returncode == 1
    assert "2 problem(s)" in result.stdout
    assert "Conv2D 'orphan' has no input" in result.stdout
    assert "Output 'output' expects 10 class scores but receives 7" in result.stdout


@pytest.mark.parametrize("content, message", [
    ('{"broken": ', "not valid JSON at line 1"),
    ('{"format": "netdraft", "version": 1, "graph": {"nodes": [{"id": "n1", "kind": '
     '"Conv2D", "name": "c", "params": {"stride": 0}}]}}', "nodes[0].params.stride"),
    ("[1, 2]", "expected a JSON object"),
])
@pytest.mark.parametrize("command", ["validate", "summary"])
def test_a_damaged_file_is_a_clear_error_with_exit_2(tmp_path, command, content, message):
    path = tmp_path / "damaged.netdraft"
    path.write_text(content, encoding="utf-8")
    result = run(command, path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert result.stdout == ""


def test_a_missing_file_is_exit_2(tmp_path):
    result = run("validate", tmp_path / "nope.netdraft")
    assert result.returncode == 2
    assert "no such file" in result.stderr


def test_summary_text_ends_with_the_keras_footer(mnist):
    result = run("summary", mnist)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert 'Model: "keras-mnist"' == lines[0]
    for want in ("Total params: 87,290", "Trainable params: 87,162",
                 "Non-trainable params: 128"):
        assert want in lines
    assert any(line.startswith("conv1_2 (Conv2D)") and line.endswith("11,552")
               for line in lines)


def test_summary_json(mnist):
    result = run("summary", mnist, "--json")
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert (data["total_params"], data["trainable_params"], data["non_trainable_params"]) == (
        87_290, 87_162, 128)
    assert [row["params"] for row in data["rows"]] == [1040, 0, 0, 11552, 0, 0, 0, 73792,
                                                       256, 0, 650]
    assert data["problems"] == []


def test_bad_usage_is_exit_2():
    result = run("validate")
    assert result.returncode == 2
    assert "usage" in result.stderr
