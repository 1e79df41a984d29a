"""The importers behind one call, for the designer's File > Import: a torchvision network
(with a weights file), an ONNX model or a Netdraft run, with the CLI's checks and words
(`main.py import` reads the same sources), and the torchvision networks one can choose.

Every failure is an ImportFailure worded as `main.py import` prints it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.importers.common import Imported
from engine.importers.safe_load import FAILED, UNREADABLE, ImportFailure

# Words in the message of a network with layers Netdraft has no block for (common.py): the
# designer then offers to keep it as one Backbone block.
UNMAPPED = "has no block for"


@dataclass(frozen=True)
class Network:
    """A torchvision classification network one can import."""

    name: str
    params: int        # parameters, from torchvision's weights metadata
    tested: bool       # its import is tested against torchvision itself


def catalog() -> list[Network]:
    """torchvision's classification networks, the tested ones first, then by name."""
    from torchvision import models

    from engine.importers.torchvision import TESTED

    found = []
    for name in models.list_models(module=models):
        try:
            params = int(models.get_model_weights(name).DEFAULT.meta["num_params"])
        except (ValueError, KeyError, AttributeError):
            params = 0
        found.append(Network(name, params, name in TESTED))
    return sorted(found, key=lambda n: (not n.tested, n.name))


def unmapped(message: str) -> bool:
    """Whether an import failed only because some layers have no block."""
    return UNMAPPED in message


def import_source(source: str, weights: str | None = None,
                  input_shape: tuple[int, ...] | None = None, collapse: bool = False,
                  keep_unknown: bool = False) -> Imported:
    """``source``: 'torchvision:NAME', a .onnx file, a run folder or a checkpoint."""
    if source.startswith("torchvision:"):
        from engine.importers.torchvision import import_torchvision

        _check_memory(weights)
        name = source.split(":", 1)[1]
        try:
            return import_torchvision(name, weights, tuple(input_shape or (3, 224, 224)),
                                      collapse=collapse, keep_unknown=keep_unknown)
        except ImportFailure:
            raise
        except Exception as exc:  # torch.fx cannot trace some networks (ViT's attention)
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            raise ImportFailure(f"torchvision's {name} cannot be imported: "
                                f"{type(exc).__name__}: {first}") from None
    path = Path(source)
    if source.lower().endswith(".onnx"):
        from engine.importers.onnx_import import import_onnx

        return import_onnx(source, keep_unknown=keep_unknown, collapse=collapse)
    if path.is_dir() or path.suffix.lower() in (".pt", ".pth", ".ckpt"):
        from engine.importers.runs import import_run

        if path.is_dir():
            _check_memory(next((str(path / n) for n in ("best.pt", "last.pt")
                                if (path / n).is_file()), None))
        else:
            _check_memory(source)
        return import_run(path)
    raise ImportFailure(f"{source}: unknown source; expected torchvision:NAME, a .onnx file, "
                        "a run directory or a checkpoint (.pt)", UNREADABLE)


def _check_memory(weights: str | None) -> None:
    """Refuse, before reading it, a weights file this machine's memory cannot hold."""
    if not weights or not Path(weights).is_file():
        return
    from engine.backend.preflight import NotEnoughMemory, check_import

    try:
        check_import(str(weights), Path(weights).stat().st_size)
    except NotEnoughMemory as exc:
        raise ImportFailure(str(exc), FAILED) from None
