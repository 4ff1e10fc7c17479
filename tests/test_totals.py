"""The one-pass totals (analysis._totals) against plain reference
definitions of the same figures, on every zoo spec and golden case; and every
identity that docs/conventions.md documents, under every preset x the zoo."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnsize.engine.analysis import LayerReport, _rf_json, analyze, consumers
from cnnsize.engine.conventions import CONVENTIONS
from cnnsize.engine.load import load_spec
from cnnsize.engine.spec import Spec

ROOT = Path(__file__).resolve().parents[1]
PATHS = sorted((ROOT / "specs").glob("*.yaml")) + sorted((ROOT / "tests" / "cases").glob("*/spec.yaml"))


def weight_depth(reports: list[LayerReport]) -> int:
    """Weight layers on the longest input-to-output path."""
    depth = {"input": 0}
    for r in reports:
        depth[r.name] = max(depth[s] for s in r.inputs) + (1 if r.exact_macs else 0)
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
    assert t["weight_layers"] == sum(1 for r in rows if r.exact_macs)
    first = next(r for r in rows if r.name in spec.outputs)
    assert t["receptive_field"] == _rf_json(first.rf)[0]


# --- the identities of docs/conventions.md ("Identities"), under every preset ---

ZOO = sorted((ROOT / "specs").glob("*.yaml"))
PRESETS = sorted(CONVENTIONS)
SUMMED = ("units", "weights", "biases", "params", "buffers", "connections", "macs", "flops", "activation_bytes")
SUMMED += ("param_bytes",)
# optimizer state per parameter byte, as docs/conventions.md ("Memory") states it
STATE = {"none": 0, "sgd": 0, "momentum": 1, "adam": 2}
# BatchNorm's num_batches_tracked: one int64 per BatchNorm layer (torch.nn.modules.batchnorm)
INT64 = 8


def _zoo(path: Path, cache: dict[Path, Spec] = {}) -> Spec:  # noqa: B006 - one parse per spec per worker
    if path not in cache:
        cache[path] = load_spec(str(path))
    return cache[path]


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("path", ZOO, ids=lambda p: p.stem)
def test_documented_identities_hold_under_every_preset(path: Path, preset: str) -> None:
    spec = _zoo(path)
    c = CONVENTIONS[preset]
    batch, dtype, optimizer = 2, "float16", "momentum"
    a = analyze(spec, batch=batch, dtype=dtype, optimizer=optimizer, convention=preset)
    t, rows, nbytes = a.totals, a.layers, 2
    tensor = [r.units * batch * nbytes for r in rows]  # each layer's output tensor

    # 1-2. rows: params = weights + biases, and every summed field adds up to its total
    for r in rows:
        assert r.params == r.weights + r.biases, r.name
    for key in SUMMED:
        assert t[key] == sum(getattr(r, key) for r in rows), key

    # 3-6. the derived totals, from the fields as this preset reports them
    assert t["saved_activation_bytes"] == t["input_bytes"] + sum(tensor)
    assert t["optimizer_state_bytes"] == STATE[optimizer] * t["param_bytes"]
    assert t["training_bytes"] == (
        t["saved_activation_bytes"] + 2 * t["param_bytes"] + t["optimizer_state_bytes"] + t["buffer_bytes"]
    )
    assert t["peak_activation_bytes"] == peak_bytes(rows, consumers(spec), set(spec.outputs), t["input_bytes"])

    # 7. what a preset may change, each a rule applied to rows and input before any total
    input_tensor = t["input_units"] * batch * nbytes
    assert t["input_bytes"] == input_tensor + c.input_extra_bytes
    for r, size in zip(rows, tensor):
        counted = c.activation_layers == "all" or r.params > 0
        assert r.activation_bytes == (c.activation_factor * size if counted else 0), r.name
        tracked = r.counts.get("bn_tracked", 0) if c.tracked_buffers else 0
        own = r.buffers - tracked  # the rule's buffers (running statistics)
        assert r.param_bytes == (r.params + (own if c.param_bytes_include_buffers else 0)) * nbytes, r.name
        if c.flops is None:
            assert r.flops == c.flops_per_mac * r.macs, r.name
    tracked_total = sum(r.counts.get("bn_tracked", 0) for r in rows) if c.tracked_buffers else 0
    if c.param_bytes_include_buffers:
        # its buffers' bytes are in param_bytes: counting them here too would
        # count them twice in training_bytes
        assert t["buffer_bytes"] == 0
    else:
        assert t["buffer_bytes"] == (t["buffers"] - tracked_total) * nbytes + INT64 * tracked_total

    # under cnnsize's own convention, the per-row definitions of the first table
    if preset == "cnnsize":
        for r, size in zip(rows, tensor):
            assert r.activation_bytes == size and r.param_bytes == r.params * nbytes
            assert r.flops == 2 * r.exact_macs + sum(r.ops.values()), r.name
        assert t["buffer_bytes"] == t["buffers"] * nbytes


def test_presets_that_change_memory_are_the_documented_ones() -> None:
    """The identities above are checked with each preset's memory switches;
    this pins which presets set them, as docs/conventions.md's table says."""
    changed = {
        name: (c.activation_layers, c.activation_factor, c.input_extra_bytes)
        + (c.param_bytes_include_buffers, c.tracked_buffers)
        for name, c in CONVENTIONS.items()
        if (c.activation_layers, c.activation_factor, c.input_extra_bytes) != ("all", 1, 0)
        or c.param_bytes_include_buffers
        or c.tracked_buffers
    }
    assert changed == {
        "torchinfo": ("with_params", 2, 64, False, False),
        "torchscan": ("all", 1, 0, False, True),
        "convnet-burden": ("all", 1, 0, True, False),
    }


@pytest.mark.parametrize(
    "path", PATHS[:3] + [p for p in PATHS if p.stem in ("googlenet", "resnet50")], ids=lambda p: p.stem
)
def test_rows_link_their_definitions(path: Path) -> None:
    """A report row keeps its LayerDef; what it used to copy reads through it."""
    spec = load_spec(str(path))
    defs = {ld.name: ld for ld in spec.layers}
    for r in analyze(spec).layers:
        ld = defs[r.name]
        assert r.definition is ld
        assert (r.kind, r.written_type, r.inputs, r.loc, r.block) == (
            ld.kind,
            ld.written_type,
            ld.inputs,
            ld.loc,
            ld.block,
        )
