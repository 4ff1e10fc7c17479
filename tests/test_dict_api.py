"""The Python API (cnnsize.analyze_dict): a spec given as plain dicts gives
exactly what the same spec gives from YAML, whichever path its layers take.

Plain layer dicts are defined without being wrapped (spec.layer.define_plain,
the batch fast path); anything unusual goes through the general path. These
tests run every spec and every bad spec both ways and compare."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import cnnsize
from cnnsize.engine.analysis import Analysis
from cnnsize.engine.errors import SpecError
from cnnsize.engine.spec import expand
from tests.test_spec_paths import fast_paths, general_paths

ROOT = Path(__file__).resolve().parents[1]
GOOD = sorted((ROOT / "specs").glob("*.yaml")) + sorted((ROOT / "tests" / "cases").glob("*/spec.yaml"))
BAD = sorted((ROOT / "tests" / "bad_specs").glob("*/*.yaml"))


def outcome(doc: Any) -> Any:
    """Everything a user sees: every row and total, or every diagnostic."""
    try:
        a = cnnsize.analyze_dict(doc)
    except SpecError as exc:
        return [(d.code, d.message, d.hint, d.layer, d.kind, d.block, d.instance) for d in exc.diagnostics]
    return rows(a)


def rows(a: Analysis) -> Any:
    cols = (
        "name",
        "kind",
        "written_type",
        "inputs",
        "output_shape",
        "units",
        "weights",
        "biases",
        "buffers",
        "connections",
        "macs",
        "flops",
        "ops",
        "activation_bytes",
        "param_bytes",
        "rf",
        "block",
        "counts",
    )
    return [tuple(getattr(r, c) for c in cols) for r in a.layers], a.totals, a.outputs


def both_ways(doc: Any) -> tuple[Any, Any]:
    with fast_paths():
        fast = outcome(doc)
    with general_paths():
        slow = outcome(doc)
    return fast, slow


def _load(path: Path) -> Any:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.parent.name if p.name == "spec.yaml" else p.stem)
def test_good_specs_same_both_ways_and_as_yaml(path: Path) -> None:
    doc = _load(path)
    fast, slow = both_ways(doc)
    assert fast == slow
    assert fast == rows(cnnsize.analyze_file(str(path)))


def test_bad_specs_same_diagnostics_both_ways() -> None:
    compared = 0
    for path in BAD:
        doc = _load(path)
        if doc is None:
            continue
        fast, slow = both_ways(doc)
        assert fast == slow, path.name
        compared += 1
    assert compared > 150


def _spec(*layers: Any, **top: Any) -> dict[str, Any]:
    return {"cnnsize": 1, "name": "t", "input": [3, 16, 16], "layers": list(layers), **top}


CONV = {"type": "conv", "filters": 4, "kernel": 3}
EDGE_CASES = {
    "unnamed": _spec(dict(CONV), dict(CONV), {"type": "relu"}),
    "auto name taken": _spec({**CONV, "name": "conv_2"}, dict(CONV), dict(CONV)),
    "duplicate": _spec({**CONV, "name": "a"}, {**CONV, "name": "a"}),
    "tuple kernel": _spec({**CONV, "kernel": (3, 3)}),
    "list kernel": _spec({**CONV, "kernel": [3, 1]}),
    "template value": _spec({**CONV, "filters": "${w * 2}"}, vars={"w": 3}),
    "template name": _spec({**CONV, "name": "c${w}"}, vars={"w": 3}),
    "unknown key": _spec({**CONV, "filter": 3}),
    "missing key": _spec({"type": "conv", "kernel": 3}),
    "bad value": _spec({**CONV, "stride": 0}),
    "float value": _spec({**CONV, "filters": 4.0}),
    "inputs as str": _spec({**CONV, "name": "a"}, {**CONV, "name": "b", "inputs": "a"}),
    "inputs empty": _spec({**CONV, "name": "a"}, {**CONV, "inputs": []}),
    "inputs unknown": _spec({**CONV, "name": "a"}, {**CONV, "inputs": ["nope"]}),
    "forward input": _spec({**CONV, "name": "a", "inputs": ["b"]}, {**CONV, "name": "b", "inputs": ["a"]}),
    "repeat": _spec({**CONV, "repeat": 3, "padding": 1}),
    "when": _spec({**CONV, "when": False}, dict(CONV)),
    "unknown type": _spec({"type": "conv9", "filters": 4}),
    "name input": _spec({**CONV, "name": "input"}),
    "name with space": _spec({**CONV, "name": "a b"}),
    "non-str key": _spec({**CONV, 7: 1}),
    "defaults": _spec(dict(CONV), {"type": "fc", "units": 3}, defaults={"bias": False}),
    "merge": _spec(
        {**CONV, "name": "a", "padding": 1}, {**CONV, "name": "b", "padding": 1}, {"type": "add", "inputs": ["a", "b"]}
    ),
    "entry not a dict": _spec(dict(CONV), "relu"),
    "block": {
        **_spec({"block": "b", "w": 2}, {"type": "fc", "units": 2}),
        "blocks": {"b": {"args": {"w": None}, "layers": [{"type": "conv", "filters": "${w}", "kernel": 1}]}},
    },
}


@pytest.mark.parametrize("name", list(EDGE_CASES))
def test_edge_cases_same_both_ways(name: str) -> None:
    fast, slow = both_ways(EDGE_CASES[name])
    assert fast == slow


def test_plain_layers_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # otherwise the comparisons above would compare the general path with itself
    taken = []
    real = expand.define_plain

    def spy(*a: Any, **k: Any) -> Any:
        out = real(*a, **k)
        taken.append(out is not None)
        return out

    monkeypatch.setattr(expand, "define_plain", spy)
    doc = _load(ROOT / "specs" / "alexnet_torchvision.yaml")
    with fast_paths():
        cnnsize.analyze_dict(doc)
        assert len(taken) == len(doc["layers"]) and all(taken)
        taken.clear()
        cnnsize.analyze_file(str(ROOT / "specs" / "alexnet_torchvision.yaml"))
        assert len(taken) == len(doc["layers"]) and all(taken)


def test_callers_dicts_are_not_kept_or_changed() -> None:
    doc = _spec(
        {**CONV, "name": "a", "kernel": [3, 3], "padding": [[1, 1], [0, 0]]}, {**CONV, "name": "b", "inputs": ["a"]}
    )
    before = repr(doc)
    a = cnnsize.analyze_dict(doc)
    assert repr(doc) == before
    doc["layers"][1]["inputs"].append("zzz")
    doc["layers"][0]["filters"] = 99
    doc["layers"][0]["kernel"][0] = 5
    doc["layers"][0]["padding"][0][0] = 7
    assert a.layers[1].inputs == ["a"] and a.spec.layers[1].raw_inputs == ["a"]
    p = a.spec.layers[0].params
    assert (p["filters"], p["kernel"], p["padding"]) == (4, [3, 3], [[1, 1], [0, 0]])


def test_hostile_dicts_are_refused_not_recursed() -> None:
    """What the YAML loader refuses (alias bombs, self-reference, deep
    nesting) has a dict form too; each gets its diagnostic, never a hang or
    a RecursionError."""
    loop: list[Any] = []
    loop.append(loop)
    bomb: Any = "x"
    for _ in range(9):
        bomb = [bomb] * 9  # 9**9 leaves if copied out
    deep: Any = "x"
    for _ in range(200):
        deep = [deep]
    for value, code in ((loop, "recursive-value"), (bomb, "limit-alias"), (deep, "limit-depth")):
        for doc in (_spec(dict(CONV), description=value), _spec({**CONV, "note": value})):
            with pytest.raises(SpecError) as exc:
                cnnsize.analyze_dict(doc)
            assert [d.code for d in exc.value.diagnostics] == [code]
    shared = dict(CONV)
    a = cnnsize.analyze_dict(_spec(shared, shared, shared))  # one dict used three times is three layers
    assert len(a.layers) == 3


def test_analyze_many_is_analyze_dict_per_spec() -> None:
    docs = [_spec({**CONV, "filters": f}, {"type": "fc", "units": 3}) for f in (2, 3, 5)]
    many = cnnsize.analyze_many(docs, batch=4, dtype="float16")
    assert [rows(a) for a in many] == [rows(cnnsize.analyze_dict(d, batch=4, dtype="float16")) for d in docs]
    assert [a.totals["params"] for a in many] == [(27 * f + f) + (f * 14 * 14 * 3 + 3) for f in (2, 3, 5)]
    assert cnnsize.analyze_many(docs, totals_only=True, batch=4, dtype="float16") == [a.totals for a in many]


def test_analyze_many_errors_raise_or_return() -> None:
    bad = _spec({"type": "conv", "kernel": 3})
    docs = [_spec(dict(CONV)), bad, _spec(dict(CONV))]
    with pytest.raises(SpecError) as exc:
        cnnsize.analyze_many(docs)
    assert exc.value.diagnostics[0].code == "missing-key"
    assert "in spec 1 of the batch" in "".join(getattr(exc.value, "__notes__", []))
    out = cnnsize.analyze_many(iter(docs), errors="return")
    assert isinstance(out[0], Analysis) and isinstance(out[2], Analysis)
    assert isinstance(out[1], SpecError) and out[1].diagnostics[0].code == "missing-key"
    with pytest.raises(ValueError):
        cnnsize.analyze_many(docs, errors="ignore")


def _yaml_outcome(path: Path) -> Any:
    try:
        a = cnnsize.analyze_file(str(path))
    except SpecError as exc:
        # formatted: the one-pass path must point where the general one does
        return [d.format() for d in exc.diagnostics]
    return rows(a), [(ld.loc, ld.key_locs, ld.instance, ld.instance_loc) for ld in a.spec.layers]


@pytest.mark.parametrize("path", GOOD + BAD, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_yaml_specs_same_both_ways(path: Path) -> None:
    """YAML layers take the one-pass path too (with their locations)."""
    with fast_paths():
        fast = _yaml_outcome(path)
    with general_paths():
        slow = _yaml_outcome(path)
    assert fast == slow
