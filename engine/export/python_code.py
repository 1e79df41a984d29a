"""A standalone PyTorch file for a project: an nn.Module that reads like hand-written code.

The module's submodules carry GraphModule's names (engine.backend.build.module_attr in the
analysis's order), so ``state_dict()`` keys are the same both ways and a Netdraft checkpoint
or safetensors export loads into it. The file imports torch only — nothing from Netdraft —
and passes ``ruff check``.
"""

from __future__ import annotations

import importlib
import inspect
import re
import textwrap
from dataclasses import dataclass
from typing import Any

from engine.backend.build import BuildError, make_preprocess, module_attr
from engine.export import ExportError
from engine.export.forward_code import ForwardWriter, Method, format_call, natural_order
from engine.graph import Graph
from engine.layers import REGISTRY, HeadRole, LayerKind, Shape
from engine.layers.code import Code, NoCode
from engine.project import Project
from engine.validate import Analysis, analyze

INDENT = "    "
# The Input block's preprocessing, copied like a Code's helpers: GraphModule's own class.
PREPROCESS = "engine.backend.build.Preprocess"

LOAD_WEIGHTS = '''\
def load_weights(model, path):
    """Load Netdraft's weights: a .safetensors export, a state dict or a checkpoint (.pt)."""
    if str(path).endswith(".safetensors"):
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = state.get("model", state)
    model.load_state_dict(state)
    return model
'''


@dataclass
class ModelPlan:
    """What the generator knows about a project's network."""

    graph: Graph
    analysis: Analysis
    class_name: str
    attrs: dict[str, str]          # node id -> submodule name, as GraphModule names them
    codes: dict[str, Code]
    input_shape: tuple[int, ...]
    class_names: list[str]
    loss: str
    logits_method: str | None      # set when logits differ from forward's output
    head: HeadRole                 # what the last block's output means


def emit(kind: LayerKind, inputs: list[Shape], params: dict[str, Any], out: Shape) -> Code:
    """A block as PyTorch source, by its kind's ``emit``."""
    if kind.emit is None:
        raise NoCode(f"no Python code is defined for {kind.id} blocks; give the kind an emit "
                     "in its family file under engine/layers/")
    return kind.emit(inputs, params, out)


def helper_source(path: str) -> str:
    """The source of a class or function a Code needs (``engine.layers.modules.RBF``): the
    generated file holds a copy of the one definition Netdraft itself runs."""
    module, _, name = path.rpartition(".")
    return inspect.getsource(getattr(importlib.import_module(module), name))


def plan(project: Project, class_names: list[str] | None = None) -> ModelPlan:
    graph = project.graph
    analysis = analyze(graph)
    if not analysis.ok:
        listing = "\n".join(f"  - {p}" for p in analysis.problems)
        raise ExportError(f"the network has {len(analysis.problems)} problem(s); fix them "
                          f"before exporting:\n{listing}")
    attrs: dict[str, str] = {}
    codes: dict[str, Code] = {}
    taken: set[str] = set()
    input_shape: tuple[int, ...] = ()
    output: dict[str, Any] = {}
    for node_id in analysis.order:
        node = graph.nodes[node_id]
        kind = REGISTRY.get(node.kind)
        result = analysis.results[node_id]
        params = kind.resolve(node.params)
        if node.kind == "Input":
            input_shape = tuple(result.shape or ())
        elif node.kind == "Output":
            output = params
        else:
            attrs[node_id] = module_attr(node.name, taken)
        try:
            codes[node_id] = emit(kind, list(result.input_shapes), params,
                                  tuple(result.shape or ()))
        except (NoCode, ValueError) as exc:
            raise ExportError(f"{node.kind} '{node.name}' cannot be written as PyTorch "
                              f"code: {exc}") from None
    names = class_names or [n.strip() for n in output.get("class_names", "").split(",")
                            if n.strip()]
    head = graph.nodes[graph.predecessors(next(i for i in analysis.order
                                               if graph.nodes[i].kind == "Output"))[0]]
    head_kind = REGISTRY.get(head.kind)
    return ModelPlan(graph, analysis, class_identifier(project.name), attrs, codes,
                     input_shape, names, output.get("loss", "cross_entropy"),
                     "logits" if codes[head.id].scores is not None else None,
                     head_kind.head_role(head_kind.resolve(head.params)))


def class_identifier(name: str) -> str:
    """A project name as a class name.

    >>> class_identifier("lenet-5"), class_identifier("keras mnist"), class_identifier("3d")
    ('Lenet5', 'KerasMnist', 'Net3d')
    """
    words = re.findall(r"[A-Za-z0-9]+", name)
    ident = "".join(w[:1].upper() + w[1:] for w in words) or "Net"
    return f"Net{ident}" if ident[0].isdigit() else ident


def generate(project: Project, class_names: list[str] | None = None,
             with_training: bool = False, source: str = "") -> str:
    """The whole file as text."""
    model = plan(project, class_names)
    class_text, helpers = model_class(model)
    ordered = sorted(helpers, key=lambda path: path.rpartition(".")[2])
    parts = [helper_source(h) for h in ordered] + [class_text, LOAD_WEIGHTS]
    if with_training:
        from engine.export.training_code import training_section

        parts.append(training_section(project, model))
    else:
        parts.append(_demo(model))
    code = "\n\n".join(p.rstrip("\n") + "\n" for p in parts)  # two blank lines apart
    uses_f = re.search(r"\bF\.\w", code) is not None
    head = "\n\n".join([_header(project, model, source), _imports(with_training, uses_f),
                         _constants(model)])
    return head + "\n\n\n" + code


def model_class(model: ModelPlan) -> tuple[str, set[str]]:
    """The nn.Module class and the helper classes it needs."""
    helpers = {h for node_id in model.attrs for h in model.codes[node_id].helpers}
    taken = set(model.attrs.values())
    order = natural_order(model.graph, model.analysis.order)
    lines = [f"class {model.class_name}(nn.Module):",
             f'{INDENT}"""{_summary_line(model)}"""', "",
             f"{INDENT}def __init__(self):", f"{INDENT * 2}super().__init__()"]
    pre = _preprocess_args(model)
    pre_attr = ""
    if pre is not None:
        helpers.add(PREPROCESS)
        pre_attr = _own_name("preprocess", taken)
        lines.append(_preprocess_line(pre_attr, pre))
    lines += _init_lines(model, order)
    lines += _forward_methods(model, order, taken, pre_attr)
    return "\n".join(lines) + "\n", helpers


def _preprocess_line(attr: str, args: list[str]) -> str:
    """__init__'s line making the Input's preprocessing, one argument a line if too long."""
    line = f"{INDENT * 2}self.{attr} = Preprocess({', '.join(args)})"
    if len(line) > 88:
        listed = "".join(f"{INDENT * 3}{arg},\n" for arg in args)
        line = f"{INDENT * 2}self.{attr} = Preprocess(\n{listed}{INDENT * 2})"
    return line


def _init_lines(model: ModelPlan, order: list[str]) -> list[str]:
    """The rest of __init__: each block's submodule under a comment naming its group, then
    the initializers chosen in the designer."""
    lines: list[str] = []
    section = ""
    inits: list[str] = []
    for node_id in order:
        if node_id not in model.attrs:
            continue
        attr, code = model.attrs[node_id], model.codes[node_id]
        group = _group_path(model.graph, node_id)
        if group != section and code.module is not None:
            section = group
            lines.append(f"{INDENT * 2}# {group}" if group else "")
        if code.module is not None:
            lines.append(f"{INDENT * 2}self.{attr} = {code.module}")
        inits += [line.format(m=f"self.{attr}") for line in code.init]
    if inits:
        lines += ["", f"{INDENT * 2}# Initializers chosen in the designer (used when training "
                      "anew)."]
        lines += [INDENT * 2 + line for line in inits]
    return lines


def _forward_methods(model: ModelPlan, order: list[str], taken: set[str],
                     pre_attr: str) -> list[str]:
    """forward (with logits and features when the head's scores differ from its output),
    then a method for each group that can be one call."""
    split = model.logits_method is not None
    writer = ForwardWriter(model.graph, order, model.attrs, model.codes, taken,
                           split_head=split)
    top = writer.build()
    first = [f"x = self.{pre_attr}(x)"] if pre_attr else []
    if split:
        lines = _split_head_methods(model, writer, taken, top, first)
    else:
        lines = _method("forward", *writer.body(top, first))
    for method in writer.methods:
        lines += _method(method.name, *writer.body(method),
                         doc=f"The group '{model.graph.nodes[method.group_id or ''].name}'.")
    return lines


def _split_head_methods(model: ModelPlan, writer: ForwardWriter, taken: set[str],
                        top: Method, first: list[str]) -> list[str]:
    """forward and logits, each the head applied to features (everything before it), so a
    classification loss can take the scores before the head's final softmax."""
    features = _own_name("features", taken)
    code, attr = model.codes[writer.head], f"self.{model.attrs[writer.head]}"
    inner = f"self.{features}(x)"
    lines = _method("forward", ["x"], ["return " + format_call(code.call, attr, [inner])])
    model.logits_method = _own_name("logits", taken)
    lines += _method(model.logits_method, ["x"], [
        "return " + format_call(code.scores or "", attr, [inner])],
        doc="Scores for a classification loss: " + _scores_words(model.head))
    return lines + _method(features, *writer.body(top, first),
                           doc="Everything before the classifier head.")


def _own_name(name: str, taken: set[str]) -> str:
    """A name for the generator's own members; GraphModule reserves 'preprocess' and
    'logits', so blocks rarely hold them."""
    own, i = name, 1
    while own in taken:
        i += 1
        own = f"{name}_{i}"
    taken.add(own)
    return own


def _method(name: str, params: list[str], body: list[str], doc: str = "") -> list[str]:
    lines = ["", f"{INDENT}def {name}(self, {', '.join(params)}):"]
    if doc:
        lines.append(f'{INDENT * 2}"""{doc}"""')
    return lines + [INDENT * 2 + line if line else "" for line in body]


def _scores_words(head: HeadRole) -> str:
    if head is HeadRole.DISTANCES:
        return "RBF distances negated (the nearest centre scores highest)."
    return "the output before its final softmax."


def _summary_line(model: ModelPlan) -> str:
    shape = "×".join(str(d) for d in model.input_shape)
    totals = model.analysis.totals()
    return f"Input N×{shape}; {totals['params']:,} parameters."


def _group_path(graph: Graph, node_id: str) -> str:
    names = [graph.nodes[g].name for g in reversed(graph.ancestors_of(node_id))]
    return " / ".join(names)


def _preprocess_args(model: ModelPlan) -> list[str] | None:
    node = next(graph_node for graph_node in model.graph.leaves() if graph_node.kind == "Input")
    try:
        pre = make_preprocess(node)
    except BuildError as exc:
        raise ExportError(str(exc), 2) from None
    if pre.identity:
        return None
    args = ["INPUT_SHAPE"]
    if pre.scale != 1.0:
        args.append(f"scale={_float32(pre.scale)}")
    for name in ("mean", "std"):
        tensor = getattr(pre, name)
        if tensor is not None:
            values = ", ".join(_float32(v) for v in tensor.flatten().tolist())
            args.append(f"{name}=[{values}]")
    return args


def _float32(value: float) -> str:
    """The shortest decimal that torch reads back as the same float32 value.

    >>> _float32(0.48500001430511475), _float32(1 / 255)
    ('0.485', '0.003921569')
    """
    import struct

    target = struct.pack("f", value)
    for digits in range(1, 18):
        text = f"{value:.{digits}g}"
        if struct.pack("f", float(text)) == target:
            return text if any(c in text for c in ".e") else text + ".0"
    return repr(value)


def _docstring_text(text: str) -> str:
    """Text that cannot end or break the docstring it goes into."""
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


def _header(project: Project, model: ModelPlan, source: str) -> str:
    where = f" from {_docstring_text(source)}" if source else ""
    description = _docstring_text(textwrap.fill(project.description, 88))
    shape = "×".join(str(d) for d in model.input_shape)
    lines = [f'"""{_docstring_text(project.name)}: a PyTorch model written by Netdraft{where}.',
             ""]
    if description:
        lines += [description, ""]
    lines += [
        f"Input: float tensors N×{shape}, as loaded; the model applies the Input block's",
        "preprocessing itself. Netdraft's weights load as they are:",
        "    model.load_state_dict(safetensors.torch.load_file(PATH))",
        '"""',
    ]
    return "\n".join(lines)


def _imports(with_training: bool, uses_f: bool) -> str:
    lines = []
    if with_training:
        lines += ["import argparse", "import math", "import os", "import random",
                  "from pathlib import Path", ""]
    lines += ["import torch"] + (["import torch.nn.functional as F"] if uses_f else [])
    return "\n".join(lines + ["from torch import nn"])


def _constants(model: ModelPlan) -> str:
    names = ", ".join(f'"{_escape(n)}"' for n in model.class_names)
    wrapped = textwrap.fill(names, 84, subsequent_indent=INDENT, break_long_words=False,
                            break_on_hyphens=False)
    class_list = f"[\n{INDENT}{wrapped.strip()},\n]" if len(names) > 70 else f"[{names}]"
    return "\n".join([f"INPUT_SHAPE = {tuple(model.input_shape)}",
                      f"CLASS_NAMES = {class_list}"])


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _demo(model: ModelPlan) -> str:
    return "\n".join([
        'if __name__ == "__main__":',
        f"{INDENT}import sys",
        "",
        f"{INDENT}model = {model.class_name}().eval()",
        f"{INDENT}if len(sys.argv) > 1:",
        f"{INDENT * 2}load_weights(model, sys.argv[1])",
        f"{INDENT}with torch.no_grad():",
        f"{INDENT * 2}scores = model(torch.rand(2, *INPUT_SHAPE))",
        f'{INDENT}print(f"{{type(model).__name__}}: output {{tuple(scores.shape)}}")',
    ])
