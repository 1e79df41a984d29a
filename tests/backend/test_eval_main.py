"""`python main.py evaluate` and `predict` as a user runs them: one JSON object on stdout,
warnings and errors on stderr, the exit codes of DESIGN.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.backend.images import digits
from tests.backend.trained import train_tiny

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("main"))


def _main(*args):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_evaluate_prints_one_json_object(trained):
    _, path, run = trained
    done = _main("evaluate", path, "--weights", run, "--device", "cpu", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    matrix = np.array(doc["confusion"])
    assert doc["samples"] == matrix.sum() == 450
    assert doc["accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())
    assert len(doc["misclassified"]) == matrix.sum() - np.trace(matrix)


def test_predict_prints_the_top_classes(trained, tmp_path):
    _, path, run = trained
    x, y = digits(28, 28)
    image = tmp_path / "seven.png"
    Image.fromarray(x[int(np.flatnonzero(y.numpy() == 7)[0]), 0].numpy()).save(image)
    done = _main("predict", path, "--weights", run, image, "--top", "3", "--json")
    assert done.returncode == 0, done.stderr
    (prediction,) = json.loads(done.stdout)["predictions"]
    assert prediction["image"] == str(image) and len(prediction["top"]) == 3
    done = _main("predict", path, "--weights", run, image)
    assert done.returncode == 0 and done.stdout.startswith(str(image))


def test_errors_are_one_line_with_exit_2(trained, tmp_path):
    _, path, _ = trained
    done = _main("evaluate", path, "--weights", tmp_path / "no-run")
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr
    done = _main("predict", path, "--weights", tmp_path / "no-run")  # no IMAGE
    assert done.returncode == 2
