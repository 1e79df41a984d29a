"""A weights file that would run code when unpickled is refused and runs nothing; damaged
files give a clear error, never a traceback."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine.importers.safe_load import ImportFailure, read_state_dict

ROOT = Path(__file__).resolve().parents[2]


class Payload:
    """Unpickling this would create a file: the side effect the tests look for."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def crafted(tmp_path: Path, legacy: bool) -> tuple[Path, Path]:
    marker = tmp_path / "the-payload-ran"
    path = tmp_path / ("legacy.pth" if legacy else "zipped.pt")
    state = {"conv1.weight": torch.zeros(64, 3, 7, 7), "evil": Payload(marker)}
    if legacy:
        with open(path, "wb") as handle:
            pickle.dump(state, handle)
    else:
        torch.save(state, path)
    return path, marker


@pytest.mark.parametrize("legacy", [False, True])
def test_a_pickle_that_would_run_code_is_refused_and_runs_nothing(tmp_path, legacy):
    path, marker = crafted(tmp_path, legacy)
    with pytest.raises(ImportFailure) as failure:
        read_state_dict(path)
    message = str(failure.value)
    assert failure.value.code == 2
    assert "refused" in message and "could run code" in message and str(path) in message
    assert "system" in message  # names what it asked for
    assert not marker.exists()


def test_the_cli_refuses_it_with_exit_2_and_no_side_effect(tmp_path):
    path, marker = crafted(tmp_path, legacy=False)
    output = tmp_path / "r18.netdraft"
    out = subprocess.run([sys.executable, "main.py", "import", "torchvision:resnet18",
                          "--weights", str(path), "-o", str(output)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2
    assert "refused" in out.stderr and "Traceback" not in out.stderr
    assert not marker.exists() and not output.exists()
    assert not list(tmp_path.glob("*.safetensors"))


@pytest.mark.parametrize("content, words", [
    (b"", "not a PyTorch weights file"),
    (b"PK\x03\x04 cut short", "cut short or damaged"),
    (b"just text", "not a PyTorch weights file"),
])
def test_damaged_weights_files_give_a_clear_error(tmp_path, content, words):
    path = tmp_path / "w.pth"
    path.write_bytes(content)
    with pytest.raises(ImportFailure) as failure:
        read_state_dict(path)
    assert failure.value.code == 2 and words in str(failure.value)


def test_damaged_safetensors_and_missing_files(tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ImportFailure, match="not a readable safetensors file"):
        read_state_dict(path)
    with pytest.raises(ImportFailure, match="no such file"):
        read_state_dict(tmp_path / "absent.pth")


def test_checkpoints_are_unwrapped_and_dataparallel_prefixes_removed(tmp_path):
    path = tmp_path / "c.pt"
    torch.save({"epoch": 3, "state_dict": {"module.fc.weight": torch.ones(2, 2)}}, path)
    assert list(read_state_dict(path)) == ["fc.weight"]
    torch.save({"fc.weight": torch.ones(2), "note": "text"}, path)
    with pytest.raises(ImportFailure, match="are not tensors"):
        read_state_dict(path)
