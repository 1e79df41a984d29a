"""What the palette's search box means: which kind a query names, best match first, and the
parameters typed after it ("conv 32 3x3 relu", "dense 10 softmax", "input 3x32x32",
"dropout 0.5", "conv stride=2").

Qt-free and read from the registry's schemas (DESIGN.md rule 3): a bare whole number sets
the kind's first integer parameter (filters, units, classes; a pool's size when it has
none), "AxB" a size ("3x3"), "AxBxC" a shape, a decimal its first decimal parameter, a
word one of a choice's values (relu, same), and name=value any parameter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from engine.layers import REGISTRY, LayerKind, Param

_DIMS = re.compile(r"^\d+(?:[x×]\d+)*$")
_DECIMAL = re.compile(r"^\d*\.\d+$")


@dataclass
class Query:
    """A search: the kinds it matches (best first), the parameters typed for the best one,
    and what could not be read (said under the box, and Enter adds nothing)."""

    text: str
    kinds: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def best(self) -> str | None:
        return self.kinds[0] if self.kinds else None

    def describe(self) -> str:
        """What Enter does, in words, for the line under the box."""
        if not self.text.strip():
            return ""
        if not self.kinds:
            return f"No block matches '{self.text.strip()}'"
        if self.errors:
            return "; ".join(self.errors)
        shown = ", ".join(f"{k} {_words(v)}" for k, v in self.params.items())
        return f"Enter adds {self.best}" + (f" ({shown})" if shown else "")


def _words(value: Any) -> str:
    if isinstance(value, list):
        return "×".join(str(v) for v in value)
    return str(value)


def _param_like(token: str) -> bool:
    return bool(_DIMS.match(token) or _DECIMAL.match(token) or "=" in token)


def rank(words: list[str]) -> list[str]:
    """Kinds matching every word, best first: the name itself, a name starting with the
    query, a name containing it, then the words anywhere in the name, category or help."""
    if not words:
        return []
    joined = "".join(words)
    scored = []
    for order, kind in enumerate(k for k in REGISTRY if k.palette):
        name = kind.id.lower()
        haystack = f"{name} {kind.category} {kind.help}".lower()
        if name == joined:
            score = 0
        elif name.startswith(joined):
            score = 1
        elif joined in name:
            score = 2
        elif all(w in haystack for w in words):
            score = 3
        else:
            continue
        scored.append((score, len(name) if score < 3 else 0, order, kind.id))
    return [kind_id for *_key, kind_id in sorted(scored)]


def parse(text: str) -> Query:
    """The query's kinds and, for the best one, the parameters after its name."""
    query = Query(text)
    tokens = text.lower().split()
    words: list[str] = []
    for token in tokens:
        if _param_like(token):
            break
        words.append(token)
    rest = tokens[len(words):]
    kinds = rank(words)
    # Trailing words that match no kind together are values: "conv relu" is a relu Conv2D.
    while not kinds and len(words) > 1:
        rest.insert(0, words.pop())
        kinds = rank(words)
    query.kinds = kinds
    if kinds and rest:
        query.params, query.errors = read_params(REGISTRY.get(kinds[0]), rest)
    return query


def read_params(kind: LayerKind, tokens: list[str]) -> tuple[dict[str, Any], list[str]]:
    """The values the tokens give the kind's parameters, and why any token is refused."""
    from designer.editors import parse as parse_value  # the inspector's own reading

    params: dict[str, Any] = {}
    errors: list[str] = []
    editable = [p for p in kind.params if p.editable]
    by_name = {p.name.lower(): p for p in editable}

    def first(types: tuple[str, ...], length: int | None = None) -> Param | None:
        for p in editable:
            if p.type in types and p.name not in params:
                if length is None or p.type != "ints" or len(p.default or []) == length:
                    return p
        return None

    for token in tokens:
        param: Param | None
        value: Any = token
        if "=" in token:
            name, _sep, value = token.partition("=")
            param = by_name.get(name.strip())
            if param is None:
                names = ", ".join(p.name for p in editable) or "no parameters"
                errors.append(f"{kind.id} has no parameter '{name}' (it takes {names})")
                continue
        elif _DECIMAL.match(token):
            param = first(("float",))
        elif _DIMS.match(token):
            count = len(re.split("[x×]", token))
            if count == 1:
                param = first(("int",)) or first(("size",)) or first(("ints",), 1)
            elif count == 2:
                param = first(("size",)) or first(("ints",), 2)
            else:
                param = first(("ints",), count) or first(("ints",))
        else:
            param = next((p for p in editable if p.name not in params and (
                (p.type == "choice" and token in [str(c).lower() for c in p.choices])
                or (p.type == "padding" and token in ("same", "valid")))), None)
            if param is not None and param.type == "choice":
                value = next(c for c in param.choices if str(c).lower() == token)
        if param is None:
            errors.append(f"{kind.id} has no parameter for '{token}'")
            continue
        try:
            parsed = value if param.type == "choice" else parse_value(param, str(value))
        except ValueError as err:
            errors.append(f"{param.name}: {err}")
            continue
        if param.type == "size" and isinstance(parsed, list) and len(set(parsed)) == 1:
            parsed = parsed[0]  # "3x3" is a 3×3 kernel, written 3
        if param.type == "bool" and isinstance(parsed, str):
            parsed = parsed in ("true", "1", "yes", "on")
        reason = param.check(parsed)
        if reason:
            errors.append(f"{param.name}: {reason}. Received: {value}")
            continue
        params[param.name] = parsed
    return params, errors
