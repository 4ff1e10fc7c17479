"""The spec reader's fast path and its general path give the same Spec.

While ``fastpath.enabled()``, the common layer entry is defined in one pass
(cnnsize.engine.spec.layer.define_plain) and a Python dict's top-level
layers are not copied (cnnsize.engine.spec.dicts.wrap_spec); with the
switch off, every entry takes the general path (layer.define). Both must
give the same layers, field by field, and the same diagnostics, on the zoo
(specs/*.yaml), the golden cases (tests/cases/*), the bad-spec corpus
(tests/bad_specs/) and the edge cases below, read from YAML and as dicts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from cnnsize.engine import expr, fastpath
from cnnsize.engine.errors import SpecError
from cnnsize.engine.spec import expand as expand_mod
from cnnsize.engine.spec import read
from cnnsize.engine.yamlload import load_with_diagnostics

ROOT = Path(__file__).resolve().parents[1]
ZOO = sorted((ROOT / "specs").glob("*.yaml"))
GOLDEN = sorted((ROOT / "tests" / "cases").glob("*/spec.yaml"))
BAD = sorted((ROOT / "tests" / "bad_specs").glob("*/*.yaml"))


@contextmanager
def _switched(on: bool) -> Iterator[None]:
    before = fastpath.set_enabled(on)
    try:
        yield
    finally:
        fastpath.set_enabled(before)


def general_paths() -> Any:
    """Every fast path and memo off for the block (the process-wide switch)."""
    return _switched(False)


def fast_paths() -> Any:
    """Fast paths and memos on for the block, even under CNNSIZE_FAST_PATHS=0
    (else the comparisons here would compare the general path with itself)."""
    return _switched(True)


def dump(doc: Any, filename: str = "<spec>", diagnostics: Any = None) -> Any:
    """Everything the reader gives: each layer's every field, the spec's
    fields, and each diagnostic in full; or the SpecError it raises."""
    try:
        spec = read(doc, filename, None, list(diagnostics or []))
    except SpecError as exc:
        return ("raised", [_diag(d) for d in exc.diagnostics])
    layers = [
        (
            ld.name,
            ld.kind,
            ld.written_type,
            ld.params,
            ld.raw_inputs,
            ld.inputs,
            ld.loc,
            dict(ld.key_locs),
            ld.index,
            ld.scope.prefix,
            ld.scope.input_name,
            dict(ld.scope.local),
            ld.explicit_inputs,
            ld.block,
            ld.invalid,
            ld.instance,
            ld.instance_loc,
        )
        for ld in spec.layers
    ]
    top = (
        spec.name,
        spec.file,
        spec.input,
        spec.source,
        spec.description,
        spec.outputs,
        spec.budgets,
        spec.budget_locs,
        spec.vars,
        spec.input_loc,
        spec.loc,
        spec.complete,
        spec.check_dangling,
    )
    return layers, top, [_diag(d) for d in spec.diagnostics]


def _diag(d: Any) -> Any:
    return (d.code, d.message, d.hint, d.loc, d.layer, d.kind, d.block, d.instance, d.instance_loc)


def _yaml(path: Path) -> Any:
    return load_with_diagnostics(path.read_text(encoding="utf-8"), str(path))


def _reaches_reader(path: Path) -> bool:
    """False for files the YAML loader refuses: the reader never sees them."""
    try:
        _yaml(path)
    except (SpecError, UnicodeDecodeError):
        return False
    return True


def _dict(path: Path) -> Any:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError, ValueError):
        return None
    return doc


def both_ways(make: Any) -> tuple[Any, Any]:
    """(fast, general): ``make()`` builds a fresh document for each, so
    neither run can see the other's copies or memos."""
    with fast_paths():
        fast = dump(*make())
    with general_paths():
        general = dump(*make())
    return fast, general


# cases chosen when collected, so that none is skipped: a file the loader
# refuses, or that is no plain dict, has no reader path to compare
READABLE = [p for p in ZOO + GOLDEN + BAD if _reaches_reader(p)]
AS_DICT = [p for p in ZOO + GOLDEN + BAD if _dict(p) is not None]


def test_the_path_comparisons_cover_every_good_file() -> None:
    # only files of the bad-spec corpus may drop out (YAML syntax, tabs, ...)
    assert set(ZOO + GOLDEN) <= set(READABLE) and set(ZOO + GOLDEN) <= set(AS_DICT)
    assert len(set(BAD) & set(READABLE)) > len(BAD) // 2


@pytest.mark.parametrize("path", READABLE, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_yaml_same_both_ways(path: Path) -> None:
    fast, general = both_ways(lambda: (*_yaml(path)[:1], str(path), _yaml(path)[1]))
    assert fast == general


@pytest.mark.parametrize("path", AS_DICT, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_dict_same_both_ways(path: Path) -> None:
    fast, general = both_ways(lambda: (_dict(path), "<dict>"))
    assert fast == general


CONV = {"type": "conv", "filters": 4, "kernel": 3}


def _spec(*layers: Any, **top: Any) -> dict[str, Any]:
    return {"cnnsize": 1, "name": "t", "input": [3, 8, 8], "layers": list(layers), **top}


# entries at the edge of what the fast path takes: each must come out the
# same whichever path defines it (the first taken, the rest refused by it)
EDGE: dict[str, Any] = {
    "plain": _spec(dict(CONV), {"type": "fc", "units": 2}),
    "alias type": _spec({"type": "convolution", "filters": 4, "kernel": 3}),
    "named, inputs by name": _spec({**CONV, "name": "a"}, {**CONV, "name": "b", "inputs": ["a"]}),
    "inputs as one string": _spec({**CONV, "name": "a"}, {**CONV, "inputs": "a"}),
    "inputs templated": _spec({**CONV, "name": "a1"}, {**CONV, "inputs": ["a${n}"]}, vars={"n": 1}),
    "inputs not a list": _spec({**CONV, "inputs": 3}),
    "inputs empty": _spec({**CONV, "inputs": []}),
    "undefined input": _spec({**CONV, "inputs": ["zz"]}),
    "duplicate name": _spec({**CONV, "name": "a"}, {**CONV, "name": "a"}),
    "auto name taken by the user": _spec({**CONV, "name": "conv_2"}, dict(CONV), dict(CONV)),
    "name 'input'": _spec({**CONV, "name": "input"}),
    "name with a space": _spec({**CONV, "name": "a b"}),
    "name templated": _spec({**CONV, "name": "c${n}"}, vars={"n": 3}),
    "repeat": _spec({**CONV, "repeat": 3}),
    "repeat with inputs": _spec({**CONV, "name": "a"}, {**CONV, "repeat": 2, "inputs": ["a"]}),
    "when true": _spec({**CONV, "when": "${n > 0}"}, vars={"n": 1}),
    "when false": _spec(dict(CONV), {**CONV, "when": "${n > 0}"}, vars={"n": 0}),
    "when not a bool": _spec({**CONV, "when": 3}),
    "unknown key": _spec({**CONV, "filter": 4}),
    "missing key": _spec({"type": "conv", "kernel": 3}),
    "bad value": _spec({**CONV, "filters": 0}),
    "value of the wrong type": _spec({**CONV, "kernel": {"a": 1}}),
    "tuple value": _spec({**CONV, "kernel": (3, 3)}),
    "null on an optional key": _spec({**CONV, "stride": None}),
    "templated value": _spec({**CONV, "filters": "${w * 2}"}, vars={"w": 3}),
    "template error": _spec({**CONV, "filters": "${nope}"}),
    "defaults, plain": _spec(dict(CONV), defaults={"bias": False}),
    "defaults, list": _spec(dict(CONV), defaults={"stride": [2, 2]}),
    "defaults, template": _spec(dict(CONV), defaults={"stride": "${s}"}, vars={"s": 2}),
    "defaults, bad": _spec(dict(CONV), defaults={"stride": 0}),
    "note not text": _spec({**CONV, "note": 3}),
    "note text": _spec({**CONV, "note": "why"}),
    "unknown type": _spec({"type": "convv", "filters": 4}),
    "no type": _spec({"filters": 4}),
    "type not text": _spec({"type": 3}),
    "layer not a mapping": _spec(dict(CONV), [1, 2]),
    "type and block": _spec({"type": "conv", "block": "b"}),
    "block instance": {
        **_spec({"block": "b", "w": 2}, {"block": "b", "w": 3, "repeat": 2}),
        "blocks": {"b": {"args": {"w": None}, "layers": [{**CONV, "filters": "${w}"}, {"type": "relu"}]}},
    },
    "block output and when": {
        **_spec({"block": "b", "k": 0}, {"block": "b", "k": 1, "name": "x"}),
        "blocks": {
            "b": {
                "args": {"k": None},
                "output": "c",
                "layers": [{**CONV, "name": "c"}, {"type": "relu", "when": "${k > 0}"}],
            }
        },
    },
    "block output missing": {
        **_spec({"block": "b"}, dict(CONV)),
        "blocks": {"b": {"output": "zz", "layers": [dict(CONV)]}},
    },
    "block all left out": {
        **_spec({"block": "b"}, dict(CONV)),
        "blocks": {"b": {"layers": [{**CONV, "when": False}]}},
    },
    "keys not text": {**_spec(dict(CONV)), 3: "x"},
    "layers not a list": {**_spec(), "layers": {"a": 1}},
    "too many layers": _spec(*[dict(CONV) for _ in range(5)]),
}


@pytest.mark.parametrize("name", list(EDGE))
def test_edge_cases_same_both_ways(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if name == "too many layers":
        monkeypatch.setenv("CNNSIZE_MAX_LAYERS", "3")
    fast, general = both_ways(lambda: (EDGE[name], "<dict>"))
    assert fast == general
    # the same entries written as YAML (with locations)
    text = yaml.safe_dump({str(k): v for k, v in EDGE[name].items()}, sort_keys=False)
    fast, general = both_ways(lambda: (*load_with_diagnostics(text, "edge.yaml")[:1], "edge.yaml"))
    assert fast == general


def _hostile() -> dict[str, Any]:
    loop: list[Any] = []
    loop.append(loop)
    deep: Any = 3
    for _ in range(200):
        deep = [deep]
    bomb: Any = 3
    for _ in range(9):
        bomb = [bomb] * 9  # 9**9 leaves if copied out
    return {"contains itself": loop, "too deep": deep, "alias bomb": bomb}


@pytest.mark.parametrize("key", ["kernel", "padding", "inputs", "note"])
@pytest.mark.parametrize("what", list(_hostile()))
def test_hostile_values_same_both_ways(key: str, what: str) -> None:
    """A Python value the YAML loader could not produce, in a layer key:
    refused with its diagnostic either way, never a RecursionError."""
    fast, general = both_ways(lambda: (_spec({**CONV, key: _hostile()[what]}), "<dict>"))
    assert fast == general
    assert fast[0] == "raised" and [d[0] for d in fast[1]] == [
        {"contains itself": "recursive-value", "too deep": "limit-depth", "alias bomb": "limit-alias"}[what]
    ]


def test_the_fast_path_is_taken_and_only_while_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    # otherwise the comparisons above would compare the general path with itself
    taken: list[bool] = []
    real = expand_mod.define_plain

    def spy(*a: Any, **k: Any) -> Any:
        out = real(*a, **k)
        taken.append(out is not None)
        return out

    monkeypatch.setattr(expand_mod, "define_plain", spy)
    doc = _spec(dict(CONV), {"type": "fc", "units": 2}, {**CONV, "repeat": 2})
    with fast_paths():
        dump(doc)
    assert taken == [True, True, False]  # a repeat is the general path's
    taken.clear()
    with general_paths():
        dump(doc)
    assert taken == []


def test_memos_obey_the_switch() -> None:
    """With the switch off, template expressions are parsed on every use
    (no lru_cache consulted or filled); turning it off empties them."""
    with fast_paths():
        expr.render("${a + 1}", {"a": 1})
        assert expr._parse_cached.cache_info().currsize > 0
    with general_paths():
        assert expr._parse_cached.cache_info().currsize == 0
        assert expr._lone_cached.cache_info().currsize == 0
        assert expr.render("${a + 2}", {"a": 1}) == 3
        assert expr._parse_cached.cache_info().currsize == 0
        assert expr._lone_cached.cache_info().currsize == 0


def test_the_reader_does_not_import_the_analysis() -> None:
    """No back edge: reading a spec imports neither the analysis nor the
    entry points above both (cnnsize.engine.load)."""
    import subprocess
    import sys

    code = (
        "import sys, cnnsize.engine.spec\n"
        "bad = [m for m in sys.modules if m in ('cnnsize.engine.analysis', 'cnnsize.engine.load')]\n"
        "print(','.join(bad))\n"
    )
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert p.stdout.strip() == ""
