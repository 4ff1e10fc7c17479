"""The one-pass totals (analysis._totals) against plain reference
definitions of the same figures, on every zoo spec and golden case."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnsize.engine.analysis import LayerReport, _rf_json, analyze, consumers
from cnnsize.engine.load import load_spec

ROOT = Path(__file__).resolve().parents[1]
PATHS = sorted((ROOT / "specs").glob("*.yaml")) + sorted((ROOT / "tests" / "cases").glob("*/spec.yaml"))


def weight_depth(reports: list[LayerReport]) -> int:
    """Weight layers on the longest input-to-output path."""
    depth = {"input": 0}
    for r in reports:
        depth[r.name] = max(depth[s] for s in r.inputs) + (1 if r.raw_macs else 0)
    return max(depth.values())


def peak_bytes(reports: list[LayerReport], used: dict[str, int], outputs: set[str], input_bytes: int) -> int:
    """Largest sum of live tensors: born when the layer runs, freed after the
    last consumer (outputs never), peak taken with inputs and output alive."""
    size = {"input": input_bytes, **{r.name: r.tensor_bytes for r in reports}}
    remaining = dict(used)
    live = peak = input_bytes
    for r in reports:
        live += r.tensor_bytes
        peak = max(peak, live)
        for src in set(r.inputs):
            remaining[src] -= 1
            if remaining[src] == 0 and src not in outputs:
                live -= size[src]
    return peak


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.parent.name if p.name == "spec.yaml" else p.stem)
@pytest.mark.parametrize("batch", [1, 3])
def test_one_pass_totals_equal_the_definitions(path: Path, batch: int) -> None:
    spec = load_spec(str(path))
    a = analyze(spec, batch=batch)
    t = a.totals
    rows = a.layers
    assert t["depth"] == weight_depth(rows)
    assert t["peak_activation_bytes"] == peak_bytes(rows, consumers(spec), set(spec.outputs), t["input_bytes"])
    assert t["saved_activation_bytes"] == t["input_bytes"] + sum(r.tensor_bytes for r in rows)
    assert t["weight_layers"] == sum(1 for r in rows if r.raw_macs)
    first = next(r for r in rows if r.name in spec.outputs)
    assert t["receptive_field"] == _rf_json(first.rf)[0]
