"""The peer rule tables of docs/peer_rules.md (executable copy: tests/peer_rules.py)
reproduce every recorded peer figure exactly: headline totals and per-layer values.

Needs no torch: it reads only tests/fixtures/peers/*.json (written by
benchmarks/record_peers.py).
"""

from __future__ import annotations

from collections import defaultdict
from math import prod

import pytest

from tests import peer_rules as R

MODELS = sorted(p.stem for p in R.FIXTURES.glob("*.json"))


@pytest.fixture(scope="module", params=MODELS)
def fx(request):
    f = R.load(request.param)
    return f, R.calls(f)


def by_path(rule, cs):
    out = defaultdict(int)
    for c in cs:
        if c.source == "module":
            out[c.path] += (
                rule[c.kind](c)
                if isinstance(rule, dict) and c.kind in rule
                else (0 if isinstance(rule, dict) else rule(c))
            )
    return out


# ----------------------------------------------------------------------------- headline totals
HEADLINES = {
    "fvcore": (("total",), R.FVCORE),
    "thop": (("macs",), R.THOP1),
    "ultralytics_thop": (("macs",), R.THOP2),
    "ptflops_pytorch": (("macs",), R.ptflops_pytorch),
    "ptflops_aten": (("macs",), R.PTFLOPS_ATEN),
    "torchinfo": (("total_mult_adds",), R._torchinfo_macs),
    "torch_flop_counter": (("total_flops",), R.TORCH_FLOP_COUNTER),
}


@pytest.mark.parametrize("peer", sorted(HEADLINES))
def test_headline(fx, peer):
    f, cs = fx
    (key,), rule = HEADLINES[peer]
    assert R.total(rule, cs) == f["peers"][peer]["headline"][key]


@pytest.mark.parametrize("metric", ["module_flops", "macs", "dmas"])
def test_torchscan_headline(fx, metric):
    f, cs = fx
    assert R.total(lambda c: R.torchscan(metric, c), cs) == f["peers"]["torchscan"]["headline"][metric]
    # "partial" exactly when some leaf kind has no formula for the metric
    kinds = {c.kind for c in cs if c.source == "module"}
    partial = bool(kinds - R.TORCHSCAN_SUPPORTED[metric])
    assert f["peers"]["torchscan"]["headline"]["status"][metric] == ("partial" if partial else "complete")


def test_torchscan_operator_flops_is_flop_counter(fx):
    f, _ = fx
    assert (
        f["peers"]["torchscan"]["headline"]["operator_flops"]
        == f["peers"]["torch_flop_counter"]["headline"]["total_flops"]
    )


def test_params(fx):
    f, cs = fx
    n = f["reference"]["params"]
    P = f["peers"]
    assert P["fvcore"]["headline"]["params"] == n
    assert P["ultralytics_thop"]["headline"]["params"] == n
    assert P["ptflops_pytorch"]["headline"]["params"] == n
    assert P["ptflops_aten"]["headline"]["params"] == n
    assert P["torchinfo"]["headline"]["total_params"] == n
    assert P["torchscan"]["headline"]["parameters"] == n
    # thop 0.1.1 profile(): params only of leaf modules that have a counting rule
    ruled = set(R.THOP1) | {"relu", "relu6", "maxpool", "adaptive_maxpool", "dropout"}
    leaves = {c.path: c for c in cs if c.source == "module"}  # each module once
    assert P["thop"]["headline"]["params"] == sum(c.params for c in leaves.values() if c.kind in ruled)


# ----------------------------------------------------------------------------- per layer
def test_fvcore_by_module(fx):
    f, cs = fx
    got = f["peers"]["fvcore"]["by_module"]
    for path, v in by_path(R.FVCORE, cs).items():
        assert got.get(path, 0) == v, path


def test_thop_per_layer(fx):
    f, cs = fx
    for peer, rule in (("thop", R.THOP1), ("ultralytics_thop", R.THOP2)):
        got = f["peers"][peer]["per_layer"]
        for path, v in by_path(rule, cs).items():
            assert got[path][0] == v, (peer, path)


def test_ptflops_pytorch_per_module(fx):
    f, cs = fx
    p = f["peers"]["ptflops_pytorch"]
    mod = by_path(R.PTFLOPS_MODULE, cs)
    for path, rec in p["per_module"].items():
        assert rec["macs"] == mod[path], path
    assert p["module_hooks_total"] == sum(mod.values())
    # the patched functionals: everything else, attributed to the module that called them
    fun = defaultdict(int)
    for c in cs:
        if c.source == "module" and c.kind in R.PTFLOPS_FUNCTIONAL:
            fun[c.path] += R.PTFLOPS_FUNCTIONAL[c.kind](c)
        elif c.source == "functional" and c.kind == "adaptive_avgpool":
            fun[c.path] += c.numel_in()
    got = defaultdict(int)
    for call in p["functional_calls"]:
        got[call["module"]] += call["flops"]
    assert dict(got) == {k: v for k, v in fun.items() if v}


def test_ptflops_aten_top_level(fx):
    f, cs = fx
    got = f["peers"]["ptflops_aten"]["per_top_level_module"]
    want = defaultdict(int)
    for c in cs:
        if c.source == "module" and c.kind in R.PTFLOPS_ATEN:
            want[c.path.split(".")[0]] += R.PTFLOPS_ATEN[c.kind](c)
    for top, v in want.items():
        assert sum(got.get(top, {}).values()) == v, top


def test_torchinfo_per_layer(fx):
    f, cs = fx
    rows = [r for r in f["peers"]["torchinfo"]["per_layer"] if r["leaf"]]
    mods = [c for c in cs if c.source == "module"]
    assert [r["path"] for r in rows] == [c.path for c in mods]  # one row per call, in call order
    for r, c in zip(rows, mods):
        assert r["macs"] == R._torchinfo_macs(c), c.path


def test_torchinfo_memory(fx):
    f, cs = fx
    h = f["peers"]["torchinfo"]["headline"]
    mods = [c for c in cs if c.source == "module"]
    # "Forward/backward pass size": 2 x float32 outputs of every call of a leaf that has parameters
    assert h["total_output_bytes"] == sum(2 * 4 * c.numel_out() for c in mods if c.params > 0)
    assert h["total_param_bytes"] == 4 * f["reference"]["params"]
    # "Input size": sys.getsizeof(input.untyped_storage()) = nbytes + 64 (CPython 3.11, torch 2.13)
    assert h["total_input"] == 4 * prod(f["input"]) + 64
    assert h["estimated_total_bytes"] == h["total_input"] + h["total_output_bytes"] + h["total_param_bytes"]


def test_torchscan_per_layer(fx):
    f, cs = fx
    rows = [r for r in f["peers"]["torchscan"]["per_layer"] if "macs" in r]
    mods = [c for c in cs if c.source == "module"]
    assert [r["path"] for r in rows] == [c.path for c in mods]
    for r, c in zip(rows, mods):
        for metric in ("module_flops", "macs", "dmas"):
            assert r[metric] == R.torchscan(metric, c), (c.path, metric)


def test_torchscan_model_size(fx):
    f, _ = fx
    h = f["peers"]["torchscan"]["headline"]
    assert h["parameter_bytes"] == 4 * f["reference"]["params"]
    assert h["model_size_mib"] == round((h["parameter_bytes"] + h["buffer_bytes"]) / 1024**2, 2)


def test_flop_counter_by_module(fx):
    f, cs = fx
    got = f["peers"]["torch_flop_counter"]["by_module"]
    root = next(k for k in got if k != "Global" and "." not in k)
    for path, v in by_path(R.TORCH_FLOP_COUNTER, cs).items():
        if v:
            assert sum(got[f"{root}.{path}"].values()) == v, path


def test_fvcore_activations(fx):
    """fvcore ActivationCountAnalysis: output elements of conv / transposed conv / linear (matmul) ops only."""
    f, cs = fx
    assert f["peers"]["fvcore"]["headline"]["activations"] == sum(
        c.numel_out() for c in cs if c.kind in ("conv", "convtranspose", "linear")
    )


def test_ptflops_strings(fx):
    """as_strings=True: the MAC count / 1e9, 1e6 or 1e3, round(x, 2), with ' GMac'/' MMac'/' KMac'."""
    f, _ = fx
    for peer in ("ptflops_pytorch", "ptflops_aten"):
        h = f["peers"][peer]["headline"]
        macs = h["macs"]
        for div, unit in ((10**9, "GMac"), (10**6, "MMac"), (10**3, "KMac")):
            if macs // div > 0:
                assert h["as_strings"][0] == f"{round(macs / div, 2)} {unit}"
                break
