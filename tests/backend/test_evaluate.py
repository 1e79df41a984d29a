"""evaluate and predict against a reference computed here with plain PyTorch and
scikit-learn's metrics, on a tiny trained model; their command lines and exit codes."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from sklearn import metrics

from engine.backend import eval_cli
from engine.backend.build import build_module
from engine.backend.data import DataError, open_data, target_of
from engine.backend.evaluate import WeightsError, evaluate, load_network, predict, read_weights
from engine.backend.images import digits
from engine.cli import CliError
from engine.project import save
from tests.backend.conftest import tiny_project
from tests.backend.trained import train_tiny


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("evaluate"))


def _reference(project, run):
    """What the run's weights say about its validation samples, computed by hand: the
    checkpoint's state dict in a freshly built module, the split as the trainer makes it,
    softmax over the logits, the mean cross-entropy."""
    state = torch.load(run / "best.pt", weights_only=True)
    model = build_module(project.graph)
    model.load_state_dict(state["model"])
    model.eval()
    data = open_data(project.settings("data"), target_of(project.graph))
    with torch.no_grad():
        logits = model.logits(data.val.x.float())
    probs = torch.softmax(logits, 1)
    return {"y": data.val.y.numpy(), "pred": logits.argmax(1).numpy(),
            "confidence": probs.max(1).values.numpy(),
            "top5": (logits.topk(5, 1).indices == data.val.y[:, None]).any(1).numpy(),
            "loss": F.cross_entropy(logits, data.val.y).item(), "state": state,
            "x": data.val.x}


def test_evaluate_matches_a_hand_computed_reference_and_sklearn(trained):
    project, _, run = trained
    ref = _reference(project, run)
    result = evaluate(load_network(project, run))
    np.testing.assert_array_equal(result.y_true, ref["y"])
    np.testing.assert_array_equal(result.y_pred, ref["pred"])
    np.testing.assert_allclose(result.confidence, ref["confidence"], rtol=1e-5)
    assert result.loss == pytest.approx(ref["loss"], rel=1e-5)
    assert result.top5 == pytest.approx(ref["top5"].mean())
    assert result.accuracy == pytest.approx(metrics.accuracy_score(ref["y"], ref["pred"]))
    assert 0.3 < result.accuracy < 0.99  # mistakes to count, and better than chance
    labels = list(range(10))
    np.testing.assert_array_equal(result.confusion(),
                                  metrics.confusion_matrix(ref["y"], ref["pred"],
                                                           labels=labels))
    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        ref["y"], ref["pred"], labels=labels, zero_division=0)
    rows = result.per_class()
    np.testing.assert_allclose([r["precision"] for r in rows], precision)
    np.testing.assert_allclose([r["recall"] for r in rows], recall)
    np.testing.assert_allclose([r["f1"] for r in rows], f1)
    assert [r["support"] for r in rows] == support.tolist()
    for average in ("macro", "weighted"):
        p, r, f, _ = metrics.precision_recall_fscore_support(ref["y"], ref["pred"],
                                                             average=average,
                                                             zero_division=0)
        assert result.averages()[average] == pytest.approx(
            {"precision": p, "recall": r, "f1": f})
    # The same figures the trainer reported for its best epoch.
    saved = ref["state"]["metrics"]
    assert result.accuracy == pytest.approx(saved["val_accuracy"])
    assert result.loss == pytest.approx(saved["val_loss"], rel=1e-5)
    assert result.confusion().tolist() == saved["confusion"]


def test_misclassified_matches_the_confusion_matrix_off_diagonal(trained):
    project, _, run = trained
    result = evaluate(load_network(project, run))
    wrong = result.misclassified()
    matrix = result.confusion()
    off = {(t, p): int(matrix[t, p]) for t in range(10) for p in range(10)
           if t != p and matrix[t, p]}
    assert Counter((w["true"], w["predicted"]) for w in wrong) == off
    assert len(wrong) == matrix.sum() - np.trace(matrix)
    ref = _reference(project, run)
    for w in wrong:
        assert ref["y"][w["index"]] == w["true"] and ref["pred"][w["index"]] == w["predicted"]
        assert w["confidence"] == pytest.approx(float(ref["confidence"][w["index"]]), rel=1e-5)
        assert w["true_name"] == str(w["true"])
    pairs = result.most_confused()
    assert [p["count"] for p in pairs] == sorted(off.values(), reverse=True)[:len(pairs)]
    assert off[(pairs[0]["true"], pairs[0]["predicted"])] == pairs[0]["count"]


def _png_folder(root, classes, per_class=6, size=20):
    """Class subfolders of digit images written as PNG at another size than the Input's."""
    x, y = digits(size, size)
    for name in classes:
        folder = root / name
        folder.mkdir(parents=True)
        for i, index in enumerate(np.flatnonzero(y.numpy() == int(name))[:per_class]):
            Image.fromarray(x[index, 0].numpy()).save(folder / f"{name}_{i}.png")
    return root


def test_data_folder_is_relabelled_by_class_name_and_names_files(trained, tmp_path):
    project, _, run = trained
    folder = _png_folder(tmp_path / "two", ["3", "7"])
    result = evaluate(load_network(project, run), str(folder))
    assert result.part == "all" and result.samples == 12
    assert set(result.y_true.tolist()) == {3, 7}  # the folder's own 0 and 1, by name
    for w in result.misclassified():
        assert w["file"].startswith(str(folder / str(w["true"])))
    # Streamed from disk (decoded by DataLoader workers): the same results, and a file
    # that cannot be read is skipped and counted without shifting the others.
    (folder / "7" / "broken.png").write_bytes(b"not a png")
    net = load_network(project, run)
    net.settings["data"].update(cache="stream", workers=1)
    streamed = evaluate(net, str(folder))
    assert len(streamed.skipped) == 1 and streamed.samples == 12
    assert streamed.files == result.files
    np.testing.assert_array_equal(streamed.y_pred, result.y_pred)
    np.testing.assert_allclose(streamed.confidence, result.confidence, rtol=1e-6)
    (tmp_path / "odd" / "cat").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "odd" / "cat" / "a.png")
    with pytest.raises(DataError, match="cat are not among the 10"):
        evaluate(load_network(project, run), str(tmp_path / "odd"))


def test_predict_matches_the_reference_on_images_decoded_as_training_does(trained, tmp_path):
    project, _, run = trained
    folder = _png_folder(tmp_path / "imgs", ["2", "5"], per_class=2)
    files = sorted(str(p) for p in folder.rglob("*.png"))
    # The trainer's reading of the same files: the folder as a dataset.
    settings = dict(project.settings("data"), dataset=str(folder), val_fraction=0.0)
    data = open_data(settings, target_of(project.graph))
    x = data.train.x[[data.train.paths.index(f) for f in files]]
    model = build_module(project.graph)
    model.load_state_dict(read_weights(run).model)
    model.eval()
    with torch.no_grad():
        probs = torch.softmax(model.logits(x.float()), 1)
    results = predict(load_network(project, run), files, top=3)
    assert [r.image for r in results] == files
    for r, p in zip(results, probs):
        values, classes = p.topk(3)
        assert [c for c, _ in r.top] == classes.tolist()
        np.testing.assert_allclose([v for _, v in r.top], values.numpy(), rtol=1e-5)


def test_weights_for_another_network_are_refused_naming_the_tensors(trained):
    _, _, run = trained
    other = tiny_project()
    other.graph.set_param(next(n.id for n in other.graph.leaves() if n.name == "conv1"),
                          "filters", 8)
    with pytest.raises(WeightsError, match=r"do not fit .*conv1.weight is 4×1×3×3 in the "
                                           r"checkpoint and 8×1×3×3 in the network"):
        load_network(other, run)


# ------------------------------------------------------------- the command line
def _cli(argv, capsys):
    parser = argparse.ArgumentParser()
    eval_cli.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    try:
        code = args.handler(args)
    except CliError as exc:
        code = exc.code
        print(f"error: {exc}", file=sys.stderr)
    out, err = capsys.readouterr()
    return code, out, err


def test_evaluate_json_and_text(trained, capsys):
    project, path, run = trained
    code, out, _ = _cli(["evaluate", str(path), "--weights", str(run), "--device", "cpu",
                         "--json"], capsys)
    assert code == 0
    doc = json.loads(out)
    result = evaluate(load_network(project, run))
    assert doc["accuracy"] == pytest.approx(result.accuracy)
    assert doc["confusion"] == result.confusion().tolist()
    assert len(doc["misclassified"]) == len(result.misclassified())
    assert doc["part"] == "validation" and doc["samples"] == 450 and doc["epoch"] == 2
    assert {"top5", "loss", "per_class", "averages", "most_confused"} <= set(doc)
    code, out, _ = _cli(["evaluate", str(path), "--weights", str(run / "last.pt"),
                         "--device", "cpu"], capsys)
    assert code == 0
    assert f"accuracy {result.accuracy:.2%}" in out and "weighted avg" in out
    assert "confusion matrix (rows: true class" in out and "misclassified:" in out


def test_predict_json_and_text(trained, tmp_path, capsys):
    _, path, run = trained
    folder = _png_folder(tmp_path / "imgs", ["4"], per_class=2)
    files = sorted(str(p) for p in folder.rglob("*.png"))
    code, out, _ = _cli(["predict", str(path), "--weights", str(run), *files, "--top", "2",
                         "--json"], capsys)
    assert code == 0
    doc = json.loads(out)
    assert [p["image"] for p in doc["predictions"]] == files
    assert all(len(p["top"]) == 2 for p in doc["predictions"])
    first = doc["predictions"][0]["top"]
    assert first[0]["probability"] >= first[1]["probability"]
    code, out, _ = _cli(["predict", str(path), "--weights", str(run), files[0]], capsys)
    assert code == 0 and out.startswith(files[0]) and "  5. " in out


@pytest.mark.parametrize("case,code,words", [
    ("no_run", 2, "no such run directory"),
    ("damaged", 2, "cannot be loaded"),
    ("other_network", 2, "do not fit"),
    ("no_data", 2, "no such dataset"),
    ("too_many_classes", 1, "12 classes"),
    ("bad_image", 2, "cannot be read as an image"),
    ("device", 2, "--device tpu"),
])
def test_exit_codes(trained, tmp_path, capsys, case, code, words):
    _, path, run = trained
    weights, extra, command = str(run), [], "evaluate"
    if case == "no_run":
        weights = str(tmp_path / "nothing")
    elif case == "damaged":
        (tmp_path / "bad.pt").write_bytes(b"PK\x03\x04 not really")
        weights = str(tmp_path / "bad.pt")
    elif case == "other_network":
        other = tiny_project(classes=5)
        path = tmp_path / "other.netdraft"
        save(other, path)
    elif case == "no_data":
        extra = ["--data", str(tmp_path / "missing")]
    elif case == "too_many_classes":
        np.savez(tmp_path / "c.npz", x=np.zeros((12, 8, 8), np.uint8), y=np.arange(12))
        extra = ["--data", str(tmp_path / "c.npz")]
    elif case == "bad_image":
        (tmp_path / "x.png").write_bytes(b"not an image")
        command, extra = "predict", [str(tmp_path / "x.png")]
    elif case == "device":
        extra = ["--device", "tpu"]
    got, out, err = _cli([command, str(path), "--weights", weights, *extra], capsys)
    assert got == code, err
    assert words in err and out == ""
