"""Safety limits, keep-going diagnostics and numeric honesty."""

from __future__ import annotations

import json

import pytest

from cnnsize.engine.analysis import analyze
from cnnsize.engine.errors import SpecError
from cnnsize.engine.expr import ExprError, evaluate
from cnnsize.engine.load import loads_spec
from cnnsize.engine.spec import MAX_LAYERS
from cnnsize.engine.yamlload import MAX_ALIAS_NODES, load

HEAD = "cnnsize: 1\nname: t\ninput: [3, 32, 32]\n"


def errors(text: str, **kw) -> list:
    with pytest.raises(SpecError) as ei:
        spec = loads_spec(text, "s.yaml", keep_going=True)
        analyze(spec, **kw)
    return ei.value.diagnostics


def billion_laughs(levels: int = 9) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    names = "abcdefghijklmnop"
    for i in range(1, levels):
        lines.append(f"{names[i]}: &{names[i]} [" + ",".join([f"*{names[i - 1]}"] * 9) + "]")
    return HEAD + "\n".join(lines) + "\nlayers:\n  - {type: relu}\n"


def test_alias_bomb_refused_fast():
    text = billion_laughs()  # 9 levels: 9**9 = 387,420,489 "lol"s once expanded
    with pytest.raises(SpecError) as ei:
        load(text, "bomb.yaml")
    (d,) = ei.value.diagnostics
    assert d.code == "limit-alias"
    assert "MAX_ALIAS_NODES" in d.hint and "CNNSIZE_MAX_ALIAS_NODES" in d.hint
    # how fast: benchmarks/bench_hostile.py (no timed assertions in tests)


def test_alias_bomb_through_cli_under_a_second(tmp_path):
    import subprocess
    import sys

    from tests.test_bad_specs import ROOT

    p = tmp_path / "bomb.yaml"
    p.write_text(billion_laughs(12))  # 9**12 nodes if expanded
    # the timeout only guards against a hang; speed is benchmarks/bench_hostile.py's
    out = subprocess.run(
        [sys.executable, "-m", "cnnsize", "report", str(p)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 3 and "limit-alias" in out.stderr and "Traceback" not in out.stderr


def test_aliases_below_the_limit_are_fine():
    # 9 aliases of a 10-node list: 90 extra nodes
    text = HEAD + "k: &k [1, 2, 3, 4, 5, 6, 7, 8, 9]\nlayers:\n  - {type: relu}\n"
    load(text + "x: [" + ", ".join(["*k"] * 9) + "]\n")
    assert MAX_ALIAS_NODES == 100_000


def test_alias_limit_set_by_environment(monkeypatch):
    # 5 levels: aliases add 9 * (10 + 91 + 820 + 7381) = 74,718 nodes
    load(billion_laughs(5))
    monkeypatch.setenv("CNNSIZE_MAX_ALIAS_NODES", "74717")
    with pytest.raises(SpecError) as ei:
        load(billion_laughs(5))
    assert "74,717 extra nodes" in ei.value.diagnostics[0].message


@pytest.mark.parametrize(
    "body, each",
    [
        ("  - {type: relu, repeat: 1000000}\n", 1),
        ("  - {block: b, repeat: 1000}\nblocks:\n  b: {layers: [{type: relu, repeat: 1000}]}\n", 1000),
        ("  - {type: relu, repeat: '${10**12}'}\n", 1),
    ],
)
def test_repeat_past_layer_limit_refused_at_once(body, each):
    ds = errors(HEAD + "layers:\n" + body)
    (d,) = ds
    assert d.code == "limit-layers"
    assert f"{MAX_LAYERS:,}-layer limit" in d.message
    assert "MAX_LAYERS" in d.hint and "CNNSIZE_MAX_LAYERS=" in d.hint
    if each > 1:
        assert f"of {each:,} layers each" in d.message


def test_layer_limit_raised_by_environment(monkeypatch):
    text = HEAD + "layers:\n  - {type: relu, repeat: 50}\n"
    monkeypatch.setenv("CNNSIZE_MAX_LAYERS", "40")
    (d,) = errors(text)
    assert d.code == "limit-layers" and "40-layer limit" in d.message and "CNNSIZE_MAX_LAYERS=80" in d.hint
    monkeypatch.setenv("CNNSIZE_MAX_LAYERS", "50")
    assert len(analyze(loads_spec(text)).layers) == 50


HOSTILE = [
    "'a' * 10**9",
    "[0] * 10**9",
    "10**10**10",
    "'%0999999999d' % 1",
    "round(5, -10**9)",
    "2**64 * 2**64 * 2**64 * 2**64 * 2",
    "1e308 * 10",
    "(-8) ** 0.5",
    "__import__('os').system('true')",
    "().__class__.__bases__[0].__subclasses__()",
    "(lambda: 1)()",
    "[x for x in [1]]",
    "{'a': 1}",
    "open('/etc/passwd')",
    "f.__globals__",
    "1 < 'a'",
    "make_divisible(8, 0)",
    "-" * 990 + "1",
    "(" * 300 + "1" + ")" * 300,
    "1" + "+1" * 600,
]


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_expressions_refused_quickly(source):
    with pytest.raises(ExprError):
        evaluate(source, {"f": 8})


def test_allowed_expressions():
    scope = {"f": 64, "w": 0.75}
    assert evaluate("f // 2", scope) == 32
    assert evaluate("int(f * w)", scope) == 48
    assert evaluate("make_divisible(f * w, 8)", scope) == 48
    assert evaluate("'c' + 'd'", scope) == "cd"
    assert evaluate("max([1, f])", scope) == 64
    assert evaluate("2 ** 64", scope) == 18446744073709551616


def test_float_where_int_required_in_template():
    ds = errors(HEAD + "vars: {filters: 64}\nlayers:\n  - {type: conv, filters: '${filters / 2}', kernel: 3}\n")
    (d,) = ds
    assert d.code == "bad-type" and "32.0" in d.message and "int()" in d.hint
    assert (d.loc.line, d.loc.col) == (6, 27)  # the quoted template's first character
    spec = loads_spec(HEAD + "vars: {filters: 64}\nlayers:\n  - {type: conv, filters: '${filters // 2}', kernel: 3}\n")
    assert analyze(spec).layers[0].output_shape == (32, 30, 30)


def test_sizes_beyond_float_precision_stay_exact(tmp_path):
    # three primes near 10^9: every product is far past 2**53
    p1, p2, p3 = 999_999_937, 999_999_929, 999_999_893
    text = (
        f"cnnsize: 1\nname: big\ninput: [{p1}, {p2}]\nlayers:\n  - {{name: act, type: relu}}\n"
        f"  - {{name: fc, type: fc, units: {p3}, bias: false}}\n"
    )
    a = analyze(loads_spec(text))
    act, fc = a.layer("act"), a.layer("fc")
    assert act.units == p1 * p2 and act.units > 2**53
    assert float(act.units) != act.units  # a float could not hold it
    assert act.activation_bytes == p1 * p2 * 4
    assert fc.weights == p1 * p2 * p3 and fc.macs == p1 * p2 * p3
    assert a.totals["flops"] == 2 * p1 * p2 * p3 + p1 * p2  # fc MACs x 2, plus 1 per relu element
    # and through the JSON report
    f = tmp_path / "big.yaml"
    f.write_text(text)
    from tests.test_bad_specs import run_inprocess

    code, out, _err = run_inprocess(["report", str(f), "--format", "json"])
    assert code == 0
    layers = {r["name"]: r for r in json.loads(out)["layers"]}
    assert layers["fc"]["macs"] == p1 * p2 * p3 and layers["act"]["units"] == p1 * p2


def test_keep_going_unknown_key_and_impossible_shape():
    ds = errors(
        HEAD + "layers:\n  - {type: conv, filters: 8, kernel: 3, bogus: 1}\n  - {type: maxpool, kernel: 2}\n"
        "  - {type: conv, filters: 8, kernel: 40}\n"
    )
    assert [(d.code, d.loc.line) for d in ds] == [("unknown-key", 5), ("window-too-large", 7)]


def test_dependents_of_invalid_layer_are_skipped():
    text = (
        HEAD + "layers:\n  - {name: a, type: conv, filters: x, kernel: 3}\n"
        "  - {name: b, type: conv, filters: 8, kernel: 99}\n  - {name: c, type: relu}\n"
    )
    with pytest.raises(SpecError) as ei:
        analyze(loads_spec(text, keep_going=True))
    assert [d.code for d in ei.value.diagnostics] == ["bad-type"]
    assert ei.value.skipped == ["b", "c"]


def test_default_parse_also_reports_engine_errors():
    # without keep_going, parse raises with everything, the engine's findings included
    with pytest.raises(SpecError) as ei:
        loads_spec(HEAD + "layers:\n  - {type: relu, bogus: 1}\n  - {type: conv, filters: 8, kernel: 40}\n")
    assert [d.code for d in ei.value.diagnostics] == ["unknown-key", "window-too-large"]


def test_block_instance_named():
    text = HEAD + (
        "blocks:\n  bottleneck:\n    args: {f: ~}\n    layers:\n      - {type: conv, filters: '${f}', kernel: 1}\n"
        "      - {type: conv, filters: '${f / 2}', kernel: 3}\n"
        "layers:\n  - {name: layer1, block: bottleneck, repeat: 3, f: 8}\n"
    )
    (d,) = errors(text)
    # one error for the three instances: the location is the block definition's
    assert d.code == "bad-type" and d.block == "bottleneck" and d.instance == "layer1.0" and d.more_instances == 2
    assert (d.loc.line, d.instance_loc.line) == (9, 11)
    assert "in block 'bottleneck' instance layer1.0 at line 11, and 2 more instances" in d.format()


def test_shape_error_in_block_names_instance():
    text = HEAD + (
        "blocks:\n  bottleneck:\n    args: {f: ~}\n    layers:\n      - {type: conv, filters: '${f}', kernel: 1}\n"
        "      - {type: conv, filters: '${f}', kernel: 3, groups: 3}\n"
        "layers:\n  - {name: layer1, block: bottleneck, repeat: 3, f: 8}\n"
    )
    with pytest.raises(SpecError) as ei:
        analyze(loads_spec(text, keep_going=True))
    (d,) = ei.value.diagnostics
    # 8 channels do not divide into 3 groups; the instances after layer1.0 read
    # its output, so they are skipped rather than reported again
    assert d.code == "groups-mismatch" and d.instance == "layer1.0" and d.loc.line == 9
    assert "in block 'bottleneck' instance layer1.0 at line 11" in d.format()
    assert ei.value.skipped == ["layer1.1.conv_1", "layer1.1.conv_2", "layer1.2.conv_1", "layer1.2.conv_2"]


def test_several_errors_of_one_layer():
    ds = errors(HEAD + "layers:\n  - {type: conv, filters: 0, kernel: x, stride: -1, foo: 1}\n")
    assert [d.code for d in ds] == ["bad-value", "bad-type", "bad-value", "unknown-key"]
    assert [d.loc.col for d in ds] == sorted(d.loc.col for d in ds)


def test_int_bits_limit_read_from_environment_per_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    """Template limits are read once per parse (not per value) and still
    follow the environment: a raised limit admits 2**300, a lowered one
    refuses 2**20, and nothing stays frozen after the parse."""
    from cnnsize.engine import expr
    from cnnsize.engine.load import loads_spec

    text = (
        "cnnsize: 1\nname: t\ninput: [3, 8, 8]\nlayers:\n"
        "  - {type: conv, filters: '${(2**60 * 2**60 * 2**60 * 2**60 * 2**60) // (2**60 * 2**60 * 2**60 * 2**60 * "
        "2**50)}', kernel: 1}\n"
    )
    with pytest.raises(SpecError) as exc:
        loads_spec(text)
    assert exc.value.diagnostics[0].code == "template" and "256 bits" in exc.value.diagnostics[0].message
    monkeypatch.setenv("CNNSIZE_MAX_INT_BITS", "512")
    assert loads_spec(text).layers[0].params["filters"] == 2**10
    monkeypatch.setenv("CNNSIZE_MAX_INT_BITS", "16")
    with pytest.raises(SpecError) as exc:
        loads_spec(
            "cnnsize: 1\nname: t\ninput: [3, 8, 8]\nlayers:\n"
            "  - {type: conv, filters: '${2**20 // 2**15}', kernel: 1}\n"
        )
    assert "16 bits" in exc.value.diagnostics[0].message
    assert expr._FROZEN is None
