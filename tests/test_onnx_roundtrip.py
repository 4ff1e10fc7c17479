"""Zoo specs through torch and ONNX and back (issue 14, item 4):
spec -> cnnsize.torch.materialize -> torch.onnx.export -> cnnsize import onnx
-> analysis, equal to the spec's own analysis.

torch's legacy exporter with TrainingMode.PRESERVE and no constant folding
keeps BatchNormalization: params and MACs equal exactly, layer by layer. The
dynamo exporter folds every BatchNormalization into the conv before it: the
file then holds the conv's new bias (C values) instead of BN's scale and
shift (2C), which is exactly the difference asserted (docs/import.md)."""

from __future__ import annotations

import contextlib
import io
import os
import warnings

import pytest

pytest.importorskip("onnx")
torch = pytest.importorskip("torch")

from cnnsize.engine.analysis import analyze  # noqa: E402
from cnnsize.engine.load import load_spec, loads_spec  # noqa: E402
from cnnsize.onnx.importer import import_onnx  # noqa: E402
from cnnsize.torch.materialize import materialize  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# together they hold conv (1x1 to 7x7, asymmetric kernels, strides, padding),
# dwconv, batchnorm, relu, relu6, maxpool (ceil_mode), avgpool
# (count_include_pad), globalavgpool, adaptive pools, concat, add, flatten,
# dropout, fc (docs/import.md has the table for every zoo spec)
LEGACY = ["resnet18", "mobilenet_v1", "mobilenet_v2", "squeezenet1_0", "googlenet", "inception_v3", "densenet121"]
DYNAMO = ["resnet18", "mobilenet_v2"]


def _export(spec: str, path: str, dynamo: bool) -> object:
    a = analyze(load_spec(os.path.join(ROOT, "specs", f"{spec}.yaml")))
    torch.manual_seed(0)
    m = materialize(a).eval()
    # running statistics away from (0, 1): a folded BN leaves a non-zero bias
    for mod in m.modules():
        if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
            mod.running_mean.uniform_(-1, 1)
            mod.running_var.uniform_(0.5, 2)
    x = torch.randn(1, *a.input_shape)
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        if dynamo:
            pytest.importorskip("onnxscript")
            torch.onnx.export(m, (x,), path, dynamo=True)
        else:
            torch.onnx.export(
                m, (x,), path, dynamo=False, training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False
            )
    return a


def _figures(analysis) -> list[tuple[int, int, tuple[int, ...]]]:
    """(params, MACs, output shape) of every layer with a weight or a MAC, sorted
    (layer names and the order of parallel branches differ after export)."""
    return sorted((r.weights + r.biases, r.macs, tuple(r.output_shape)) for r in analysis.layers if r.weights or r.macs)


@pytest.mark.parametrize("spec", LEGACY)
def test_legacy_export_round_trips_exactly(spec, tmp_path):
    path = str(tmp_path / f"{spec}.onnx")
    a = _export(spec, path, dynamo=False)
    res = import_onnx(path)
    b = analyze(loads_spec(res.yaml))
    assert res.folded == []
    assert b.totals["params"] == a.totals["params"]
    assert b.totals["macs"] == a.totals["macs"]
    assert b.totals["buffers"] == a.totals["buffers"]  # BN's running statistics
    assert _figures(b) == _figures(a)


@pytest.mark.parametrize("spec", DYNAMO)
def test_dynamo_export_round_trips_modulo_bn_folding(spec, tmp_path):
    path = str(tmp_path / f"{spec}.onnx")
    a = _export(spec, path, dynamo=True)
    res = import_onnx(path)
    b = analyze(loads_spec(res.yaml))
    bns = [r for r in a.layers if r.kind == "batchnorm"]
    # every BN follows a bias-free conv in these specs: folding removes its
    # scale and shift (2C) and gives the conv a bias (C)
    assert len(res.folded) == len(bns) > 0
    c_bn = sum(r.output_shape[0] for r in bns)
    assert b.totals["params"] == a.totals["params"] - 2 * c_bn + c_bn
    assert b.totals["macs"] == a.totals["macs"]  # BN has no MACs; the convs keep theirs
    assert b.totals["buffers"] == 0 and not any(r.kind == "batchnorm" for r in b.layers)


def test_legacy_default_export_folds_bn_and_says_so(tmp_path):
    # torch's legacy exporter in eval mode folds BN into the conv before it
    # (constant folding, its default) and names the computed weight onnx::Conv_N
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, bias=False), torch.nn.BatchNorm2d(8), torch.nn.ReLU()).eval()
    path = str(tmp_path / "folded.onnx")
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (torch.randn(1, 3, 8, 8),), path, dynamo=False)
    res = import_onnx(path)
    a = analyze(loads_spec(res.yaml))
    assert [r.kind for r in a.layers] == ["conv", "relu"]
    assert len(res.folded) == 1 and "BatchNormalization was folded" in res.yaml
    # the file's conv: 8 x 3 x 3 x 3 weights and the 8-value bias BN left behind
    assert a.totals["params"] == 8 * 3 * 3 * 3 + 8
