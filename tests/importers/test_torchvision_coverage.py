"""Every torchvision classification network imports or is refused in one clear line: no
traceback from `main.py import torchvision:NAME`, with or without --keep-unknown; and the
networks that once failed on their way in (MNASNet's state version, RegNet's widths computed
with tensors, ViT's attention, Inception v3's auxiliary head) import as torchvision computes."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from importer_helpers import (
    TOLERANCE,
    build_with_weights,
    max_diff,
    network_input,
    pixels,
    random_model,
    save_state,
)

from engine import weights
from engine.importers.safe_load import ImportFailure
from engine.importers.torchvision import import_torchvision
from engine.project import save

ROOT = Path(__file__).resolve().parents[2]


def _outcome(name: str, keep_unknown: bool) -> str:
    """'blocks', 'backbone' or the refusal; any other exception fails the test."""
    try:
        imported = import_torchvision(name, None, input_shape=(3, 224, 224),
                                      keep_unknown=keep_unknown)
    except ImportFailure as exc:
        message = str(exc)
        assert "\n" not in message and "Traceback" not in message, (name, message)
        assert exc.code in (1, 2), (name, exc.code)
        return f"refused: {message}"
    kinds = {n.kind for n in imported.project.graph.leaves()}
    assert imported.project.graph.lint() == [], name
    return "backbone" if "Backbone" in kinds else "blocks"


def test_every_torchvision_classifier_imports_or_is_refused_clearly():
    """Built on the meta device (no weights): the whole list takes seconds."""
    from torchvision import models

    outcomes = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in models.list_models(module=models):
            outcome = _outcome(name, keep_unknown=False)
            if outcome.startswith("refused"):
                assert "--keep-unknown" in outcome, (name, outcome)
                outcome = _outcome(name, keep_unknown=True)
            outcomes[name] = outcome
    # Each of these raised a traceback once (RegNet, ViT) or was refused (Inception v3,
    # ConvNeXt and ShuffleNet v2: kept as one Backbone before their kinds existed).
    convnext = [f"convnext_{size}" for size in ("tiny", "small", "base", "large")]
    shufflenet = [f"shufflenet_v2_{size}" for size in ("x0_5", "x1_0", "x1_5", "x2_0")]
    for name in ("mnasnet0_5", "regnet_y_400mf", "regnet_x_400mf", "inception_v3", *convnext,
                 *shufflenet):
        assert outcomes[name] == "blocks", (name, outcomes[name])
    for name in ("vit_b_16", "swin_t", "maxvit_t"):
        assert outcomes[name] == "backbone", (name, outcomes[name])
    # Issue 11's goal: every CNN as editable blocks; only the vision transformers are kept
    # whole (attention has no block).
    transformers = ("vit_", "swin_", "maxvit_")
    kept = {name: outcome for name, outcome in outcomes.items()
            if outcome != "blocks" and not name.startswith(transformers)}
    assert kept == {}
    assert len(outcomes) >= 80


def test_vit_refuses_another_input_size_in_one_line(tmp_path):
    with pytest.raises(ImportFailure) as failure:
        import_torchvision("vit_b_16", None, input_shape=(3, 64, 64), keep_unknown=True)
    assert "cannot run on 3×64×64" in str(failure.value) and "224" in str(failure.value)


@pytest.mark.slow
def test_vit_kept_as_one_backbone_runs(tmp_path):
    """torch.fx cannot trace into nn.MultiheadAttention; an uncut Backbone is the network
    itself, so nothing is traced to build it."""
    from engine.backend.build import build_module

    imported = import_torchvision("vit_b_32", None, input_shape=(3, 224, 224),
                                  keep_unknown=True)
    graph = imported.project.graph
    assert [n.kind for n in graph.leaves()] == ["Input", "Backbone", "Output"]
    assert any("MultiheadAttention ×12" in n for n in imported.notes)
    module = build_module(graph).eval()
    with torch.no_grad():
        assert module(pixels(224)).shape == (1, 1000)


def _import_built(tmp_path, name, model, size, suffix=".pth"):
    weights_file = save_state(model, tmp_path / f"{name}{suffix}")
    imported = import_torchvision(name, str(weights_file), input_shape=(3, size, size))
    project_path = tmp_path / f"{name}.netdraft"
    weights.save(imported.project, project_path, imported.tensors, "imported")
    save(imported.project, project_path)
    module, report = build_with_weights(imported.project, project_path)
    assert report.loaded and not report.fresh
    x = pixels(size)
    with torch.no_grad():
        ours, theirs = module(x), model(network_input(module, x))
    assert max_diff(ours, theirs) <= TOLERANCE * max(1.0, theirs.abs().max().item()), name
    return imported


@pytest.mark.parametrize("name,suffix", [("mnasnet0_5", ".pth"),
                                         ("mnasnet0_5", ".safetensors"),
                                         ("regnet_y_400mf", ".pth")])
def test_networks_that_raised_tracebacks_import_as_torchvision_computes(tmp_path, name,
                                                                       suffix):
    """MNASNet reads its state version from the file's metadata (torch.save keeps it;
    safetensors has none: the current version is assumed); RegNet computes its widths with
    tensors, which the meta device cannot give."""
    imported = _import_built(tmp_path, name, random_model(name), 64, suffix)
    assert all(n.kind != "Backbone" for n in imported.project.graph.leaves())


def test_inception_v3_weights_with_the_auxiliary_head_are_accepted(tmp_path):
    """torchvision's default inception_v3 holds AuxLogits; at inference it is unused."""
    from torchvision import models

    trained = random_model("inception_v3", aux_logits=False, init_weights=False)
    torch.manual_seed(0)
    model = models.inception_v3(weights=None, init_weights=False).eval()
    missing = model.load_state_dict(trained.state_dict(), strict=False).missing_keys
    assert missing and all(k.startswith("AuxLogits.") for k in missing)
    imported = _import_built(tmp_path, "inception_v3", model, 80)
    note = next(n for n in imported.notes if "AuxLogits" in n)
    assert "auxiliary" in note and "ignored" in note


def test_cli_gives_one_line_not_a_traceback(tmp_path):
    """Through main.py: ViT at a size it refuses is one line, exit 1."""
    result = subprocess.run(
        [sys.executable, "main.py", "import", "torchvision:vit_b_16", "--input-shape",
         "3,64,64", "--keep-unknown", "-o", str(tmp_path / "v.netdraft")],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode in (1, 2), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "vit_b_16 cannot run on 3×64×64" in result.stderr


class _ChannelsLastNorm(torch.nn.Module):
    """ConvNeXt's pattern: a LayerNorm over channels between two permutes."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3)
        self.norm = torch.nn.LayerNorm(8, eps=1e-6)
        self.fc = torch.nn.Linear(8, 4)

    def forward(self, x):
        x = self.norm(self.conv(x).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return self.fc(x.mean((2, 3)))


def test_onnx_layer_normalization_is_a_block_and_runs_in_a_kept_backbone(tmp_path):
    """ConvNeXt's LayerNormalization over the channels, between Transposes that move them last
    and back, is one LayerNorm2d block; kept as one Backbone (Swin's and ViT's files are) the
    op runs too: it was 'cannot run'."""
    from test_onnx_import import export, import_built

    torch.manual_seed(0)
    model = _ChannelsLastNorm().eval()
    with torch.no_grad():
        model.norm.weight.uniform_(0.5, 1.5)
        model.norm.bias.normal_(0, 0.2)
    path = export(model, 16, tmp_path / "ln.onnx", dynamo=True)
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    for collapse in (False, True):
        imported, module = import_built(path, tmp_path, collapse=collapse)
        kinds = [n.kind for n in imported.project.graph.leaves()]
        assert kinds == (["Input", "Backbone", "Output"] if collapse else
                         ["Input", "Conv2D", "LayerNorm2d", "GlobalAvgPool", "Dense", "Output"])
        with torch.no_grad():
            assert max_diff(module(x), model(x)) <= TOLERANCE


class _ShuffleBlock(torch.nn.Module):
    """ShuffleNet v2's unit: chunk the channels, one half through a branch, concat, shuffle."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3)
        self.branch = torch.nn.Conv2d(4, 4, 1)

    def forward(self, x):
        x1, x2 = self.conv(x).chunk(2, dim=1)
        x = torch.cat((x1, torch.relu(self.branch(x2))), dim=1)
        b, c, h, w = x.size()
        x = x.view(b, 2, c // 2, h, w).transpose(1, 2).contiguous().view(b, -1, h, w)
        return x.mean((2, 3))


def test_onnx_integer_division_and_where_run_in_a_kept_backbone(tmp_path):
    """TorchScript's ShuffleNet file slices at channels / 2 computed by an integer Div (torch's
    true division gave a float index: 'cannot run it'); VGG's dynamo file holds Where."""
    from test_onnx_import import export, import_built

    from engine.importers.onnx_module import OPS

    torch.manual_seed(0)
    model = _ShuffleBlock().eval()
    path = export(model, 16, tmp_path / "shuffle.onnx")
    _, module = import_built(path, tmp_path, keep_unknown=True)
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert max_diff(module(x), model(x)) <= TOLERANCE
    where = OPS["Where"](torch.tensor([True, False]), torch.tensor([1.0, 2.0]),
                         torch.tensor([3.0, 4.0]))
    assert where.tolist() == [1.0, 4.0]


def test_onnx_ops_of_transformer_files_run_as_onnx_defines_them():
    """ViT's and Swin's TorchScript ONNX files hold Mod, Equal, Expand and ConstantOfShape:
    they were 'cannot run' even as one Backbone."""
    from engine.importers.onnx_module import OPS

    a, b = torch.tensor([-3, 5]), torch.tensor([2, 2])
    assert OPS["Mod"](a, b).tolist() == [1, 1]  # fmod=0: the divisor's sign, as Python's %
    assert OPS["Mod"](a, b, fmod=1).tolist() == [-1, 1]
    assert OPS["Equal"](a, torch.tensor([-3, 4])).tolist() == [True, False]
    assert OPS["Expand"](torch.ones(3, 1), torch.tensor([2, 1, 4])).shape == (2, 3, 4)
    filled = OPS["ConstantOfShape"](torch.tensor([2, 3]), value=[1])
    assert filled.dtype == torch.int64 and filled.shape == (2, 3) and filled.eq(1).all()
    assert OPS["ConstantOfShape"](torch.tensor([2])).dtype == torch.float32


def test_onnx_ops_of_swin_and_maxvit_files_run_as_onnx_defines_them():
    """Swin's file reverses with negative Slice steps and writes with ScatterND, Range and
    Not; MaxViT's gathers with negative indices and multiplies with Einsum."""
    from engine.importers.onnx_module import OPS

    x = torch.arange(10).reshape(2, 5)
    reversed_ = OPS["Slice"](x, torch.tensor([-1]), torch.tensor([-2**63]), torch.tensor([1]),
                             torch.tensor([-1]))
    assert reversed_.tolist() == x.flip(1).tolist()
    assert OPS["Slice"](x, torch.tensor([3]), torch.tensor([0]), torch.tensor([1]),
                        torch.tensor([-2])).tolist() == [[3, 1], [8, 6]]
    assert OPS["Gather"](x, torch.tensor([-1, 0]), axis=1).tolist() == [[4, 0], [9, 5]]
    scattered = OPS["ScatterND"](torch.zeros(3, 2), torch.tensor([[2], [0]]),
                                 torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert scattered.tolist() == [[3.0, 4.0], [0.0, 0.0], [1.0, 2.0]]
    assert OPS["Range"](torch.tensor(1), torch.tensor(7), torch.tensor(2)).tolist() == [1, 3, 5]
    assert OPS["Not"](torch.tensor([True, False])).tolist() == [False, True]
    a, b = torch.rand(2, 3), torch.rand(3, 4)
    assert torch.allclose(OPS["Einsum"](a, b, equation="ij,jk->ik"), a @ b)


class _Shift(torch.nn.Module):
    """A tensor made in forward, as MaxViT's are: torch.fx keeps it as a constant."""

    def __init__(self) -> None:
        super().__init__()
        self.relu = torch.nn.ReLU()

    def forward(self, x):
        return self.relu(x) + torch.tensor(0.5)


def test_a_kept_backbone_with_traced_constants_loads_its_weights(tmp_path, monkeypatch):
    """The import traces twice (blocks, then the Backbone): the second trace numbered its
    constants from 1, the built network from 0, so the stored weights never fit (MaxViT's
    Backbone re-initialized: 1.5 off torchvision)."""
    from torchvision import models

    original = models.get_model_builder("squeezenet1_1")

    def builder(**kwargs):
        model = original(**kwargs)
        model.features[1] = _Shift()
        return model

    monkeypatch.setattr(models, "get_model_builder", lambda name: builder)
    torch.manual_seed(0)
    model = builder(weights=None).eval()
    weights_file = save_state(model, tmp_path / "s.pth")
    imported = import_torchvision("squeezenet1_1", str(weights_file), input_shape=(3, 64, 64),
                                  keep_unknown=True)
    project_path = tmp_path / "s.netdraft"
    weights.save(imported.project, project_path, imported.tensors, "imported")
    module, report = build_with_weights(imported.project, project_path)
    x = pixels(64)
    with torch.no_grad():
        assert max_diff(module(x), model(network_input(module, x))) <= TOLERANCE
