"""Reading weights files safely: state dicts through torch.load(weights_only=True), or
safetensors. A file that would run code when unpickled is refused before anything runs.

Every failure is an ImportFailure whose message names the file and says what to do; its code
is the CLI's exit code (2: an unreadable, damaged or unsafe file, 1: a failed import).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

UNREADABLE, FAILED = 2, 1


class ImportFailure(Exception):
    """An import that cannot go on; ``code`` is the exit code the CLI leaves with."""

    def __init__(self, message: str, code: int = FAILED) -> None:
        super().__init__(message)
        self.code = code


def read_state_dict(path: str | Path) -> dict[str, Any]:
    """A file's tensors by name (.safetensors, or a .pt/.pth/.bin state dict or checkpoint).

    A checkpoint dict is unwrapped (its 'state_dict' or 'model' entry), and DataParallel's
    'module.' prefixes are removed.
    """
    path = Path(path)
    if not path.is_file():
        raise ImportFailure(f"{path}: no such file", UNREADABLE)
    if path.suffix.lower() == ".safetensors":
        return read_safetensors(path)
    data = torch_load(path)
    return tensors_of(data, path)


def read_safetensors(path: Path) -> dict[str, Any]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ImportFailure(f"{path}: not a readable safetensors file ({exc}); is it "
                            "damaged or cut short?", UNREADABLE) from None


def torch_load(path: Path) -> Any:
    """torch.load with weights_only=True: only tensors and plain containers come back."""
    import pickle

    import torch

    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError as exc:
        raise ImportFailure(f"{path}: cannot be read ({exc.strerror or exc})",
                            UNREADABLE) from None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        wanted = _unsafe_global(str(exc)) or _scan_globals(path)
        raise ImportFailure(
            f"{path}: refused — this file holds Python objects beyond tensors"
            f"{f' ({wanted})' if wanted else ''}, and unpickling it could run code. Nothing "
            "was loaded or run. Save only the state dict (torch.save(model.state_dict(), "
            "FILE)) or use a .safetensors file.", UNREADABLE) from None
    except Exception as exc:  # torch raises RuntimeError, EOFError, KeyError… on bad bytes
        kind = "a zip archive cut short or damaged" if head[:2] == b"PK" else \
            "not a PyTorch weights file"
        raise ImportFailure(f"{path}: cannot be loaded: {kind} ({type(exc).__name__}: "
                            f"{_first_line(exc)})", UNREADABLE) from None


def _unsafe_global(message: str) -> str:
    match = re.search(r"[Uu]nsupported (?:global: )?GLOBAL ([\w.]+)", message)
    return f"it asks for {match.group(1)}" if match else ""


def _scan_globals(path: Path) -> str:
    """The Python callables a pickle names, read by pickletools without running anything."""
    import pickletools
    import zipfile

    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                name = next(n for n in archive.namelist() if n.endswith("data.pkl"))
                data = archive.read(name)
        else:
            data = path.read_bytes()
        found, strings = [], []
        for op, arg, _ in pickletools.genops(data):
            if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
                strings.append(arg)
            elif op.name == "GLOBAL":
                found.append(str(arg).replace(" ", "."))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(f"{strings[-2]}.{strings[-1]}")
    except Exception:  # a pickle too damaged to list: the refusal stands without names
        return ""
    unsafe = [g for g in dict.fromkeys(found) if not g.startswith(("torch.", "collections."))]
    return f"it asks for {', '.join(unsafe[:3])}" if unsafe else ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0][:160] if text else "").rstrip(".")


def tensors_of(data: Any, path: Path) -> dict[str, Any]:
    import torch

    if isinstance(data, dict):
        for key in ("state_dict", "model", "model_state_dict"):
            inner = data.get(key)
            if isinstance(inner, dict) and inner and all(
                    isinstance(v, torch.Tensor) for v in inner.values()):
                data = inner
                break
    if not isinstance(data, dict) or not data:
        raise ImportFailure(f"{path}: expected a state dict (names to tensors). Received: "
                            f"{type(data).__name__}", UNREADABLE)
    not_tensors = [k for k, v in data.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise ImportFailure(f"{path}: expected a state dict, but {len(not_tensors)} entries "
                            f"are not tensors, e.g. {not_tensors[:3]}", UNREADABLE)
    metadata = getattr(data, "_metadata", None)
    if all(k.startswith("module.") for k in data):
        data = {k[len("module."):]: v for k, v in data.items()}
        metadata = None if metadata is None else {
            k[len("module."):]: v for k, v in metadata.items() if k.startswith("module.")}
    state = OrderedDict(data)
    if metadata is not None:
        # Modules' state versions (MNASNet's reads its own): torch.save keeps them here.
        state._metadata = metadata  # type: ignore[attr-defined]
    return state
