"""The bundled templates: resources/templates/NAME.netdraft, each a complete project."""

from __future__ import annotations

from pathlib import Path

from engine.project import Project, ProjectError, load

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "resources" / "templates"
# Gallery order: from the lecture's first example to the deepest network.
ORDER = ("keras-mnist", "lenet-5", "alexnet", "vgg16", "googlenet", "resnet18", "resnet50",
         "resnet152")


def names() -> list[str]:
    found = {p.stem for p in TEMPLATE_DIR.glob("*.netdraft")}
    return [n for n in ORDER if n in found] + sorted(found - set(ORDER))


def path(name: str) -> Path:
    return TEMPLATE_DIR / f"{name}.netdraft"


def description(name: str) -> str:
    """A template's one-paragraph description, read without building its network (the
    welcome page lists every template at start)."""
    import json

    try:
        text = json.loads(path(name).read_text(encoding="utf-8")).get("description", "")
    except (OSError, ValueError, AttributeError):
        return ""
    return text if isinstance(text, str) else ""


def open_template(name: str) -> Project:
    # A name, not a path: "../x" or a 300-character name is no template, never a file read.
    if name not in names():
        shown = name if len(name) <= 60 else f"{name[:60]}…"
        raise ProjectError(f"there is no template {shown!r}; templates: " + ", ".join(names()))
    return load(path(name))
