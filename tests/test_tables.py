"""`cnnsize tables`: every seed figure, published vs computed vs difference.

The computed side comes from analysing specs; the data file's
`expected_computed` is an independent hand derivation (written by another
person from the seeds), so agreement on every row checks the engine, the
specs and the formula evaluator at once."""

import json
import os
import subprocess
import sys
from fractions import Fraction

import pytest

from cnnsize.views import tables as T

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_seed_tables_ship_with_the_package():
    # a missing data file must fail, not skip every table test below
    assert os.path.isfile(T.DATA_FILE), T.DATA_FILE


@pytest.fixture(scope="module")
def data():
    return T.load_data()


@pytest.fixture(scope="module")
def built(data):
    return T.build(data=data)


def _rows(data, built):
    for t_raw, t in zip(data, built["tables"]):
        for raw, row in zip(t_raw["rows"], t["rows"]):
            yield t["id"], raw, row


def _spec_missing(raw, table):
    if raw.get("spec_inline"):
        return False
    specs = raw.get("spec", table.get("spec"))
    names = specs if isinstance(specs, list) else [specs]
    formula = str(raw.get("formula") or "")
    names += [w.split("@")[1].split("[")[0] for w in formula.replace("(", " ").replace(")", " ").split() if "@" in w]
    return any(n and not os.path.exists(os.path.join(ROOT, "specs", f"{n}.yaml")) for n in names)


def test_every_row_matches_the_independent_derivation(data, built):
    by_id = {t["id"]: t for t in data}
    mismatches, missing = [], []
    for tid, raw, row in _rows(data, built):
        if _spec_missing(raw, by_id[tid]):
            missing.append((tid, row["label"]))
            assert row["verdict"] == "not-computed" and "not in" in row["error"]
            continue
        assert row["error"] is None, (tid, row["label"], row["error"])
        want = T._exact(raw["expected_computed"])
        got = T._exact(row["computed"])
        # floats in the data file are ratios printed to 17 digits
        same = (
            got == want
            if not isinstance(want, Fraction) or want.denominator == 1
            else abs(got - want) <= abs(want) * Fraction(1, 10**12)
        )
        if not same or row["verdict"] != raw["verdict"]:
            mismatches.append(
                (tid, row["label"], row["computed"], raw["expected_computed"], row["verdict"], raw["verdict"])
            )
    assert mismatches == []
    assert missing == []  # every spec the tables name is in specs/


def test_json_has_every_table_with_published_computed_difference(data):
    out = subprocess.run(
        [sys.executable, "-m", "cnnsize", "tables", "--format", "json"], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["schema"] == "cnnsize.tables/1"
    assert [t["id"] for t in doc["tables"]] == [t["id"] for t in data]
    assert sum(doc["summary"].values()) == sum(len(t["rows"]) for t in data)
    for t in doc["tables"]:
        assert len(t["rows"]) == len(next(d for d in data if d["id"] == t["id"])["rows"])
        for r in t["rows"]:
            assert {"label", "published", "published_value", "computed", "difference", "verdict", "convention"} <= set(
                r
            )


def _row(built, tid, label_part):
    t = next(t for t in built["tables"] if t["id"] == tid)
    return next(r for r in t["rows"] if label_part in r["label"])


def test_published_figures_that_do_not_add_up_are_called_out(built):
    # AlexNet caption's 253,440 conv1 neurons vs 96 x 55 x 55 (Krizhevsky et al. 2012, Fig. 2 caption)
    r = _row(built, "alexnet-paper-caption", "conv1 neurons")
    assert (r["computed"], r["verdict"], r["difference"]) == (96 * 55 * 55, "does-not-add-up", 96 * 55 * 55 - 253_440)
    assert r["note"]
    # "1.9 MB vs 48.6 MB" (seed 003): AlexNet's conv+fc outputs in float32 round to 1.9 MiB, VGG-16's do not give 48.6
    alex = _row(built, "alexnet-vs-vgg16-003", "AlexNet total memory")
    assert alex["computed"] == (64 * 56 * 56 + 192 * 27 * 27 + 384 * 13 * 13 + 256 * 13 * 13 * 2 + 4096 * 2 + 1000) * 4
    assert alex["verdict"] == "rounded"
    vgg = _row(built, "alexnet-vs-vgg16-003", "VGG-16 total memory")
    assert (
        vgg["computed"]
        == (
            2 * 64 * 224 * 224
            + 2 * 128 * 112 * 112
            + 3 * 256 * 56 * 56
            + 3 * 512 * 28 * 28
            + 3 * 512 * 14 * 14
            + 4096 * 2
            + 1000
        )
        * 4
    )
    assert vgg["verdict"] == "does-not-add-up" and vgg["reproduced_by"]
    # "724M" (seed 004) = the two-GPU AlexNet's conv+fc MACs at 227, to the nearest million
    r = _row(built, "architectures-004", "724M")
    conv_fc_macs = (
        55 * 55 * 96 * 363
        + 27 * 27 * 256 * 1200
        + 13 * 13 * 384 * 2304
        + 13 * 13 * 384 * 1728
        + 13 * 13 * 256 * 1728
        + 9216 * 4096
        + 4096 * 4096
        + 4096 * 1000
    )
    assert (r["computed"], r["verdict"]) == (conv_fc_macs, "rounded")
    # "341k" (seed 004) is LeNet-5's 340,908 connections (LeCun et al. 1998, section II.B)
    r = _row(built, "architectures-004", "341k")
    assert (r["computed"], r["verdict"]) == (340_908, "rounded")


def test_committed_docs_tables_md_is_current(built):
    from cnnsize.render.tables import render_md

    with open(os.path.join(ROOT, "docs", "tables.md"), encoding="utf-8") as fh:
        committed = fh.read()
    assert committed == render_md(built), "regenerate: python -m cnnsize tables --format md -o docs/tables.md"


def test_cli_one_table_list_and_unknown_name():
    out = subprocess.run(
        [sys.executable, "-m", "cnnsize", "tables", "lenet-lecture-sizes", "--format", "md"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("\n## ") == 1 and "| C1 # connections | 117,600 | 117,600 | 0 | exact |" in out.stdout
    out = subprocess.run(
        [sys.executable, "-m", "cnnsize", "tables", "--list"], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0 and "lenet-lecture-sizes" in out.stdout
    out = subprocess.run(
        [sys.executable, "-m", "cnnsize", "tables", "lenet-lecture-size"], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 2 and "did you mean 'lenet-lecture-sizes'" in out.stderr
    out = subprocess.run(
        [sys.executable, "-m", "cnnsize", "tables", "alexnet-vs-vgg16-003"], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0 and "does not add up" in out.stdout and "Traceback" not in out.stderr


# --- the evaluator and the comparison, on small inline tables ---------------

TOY = {
    "cnnsize": 1,
    "name": "toy",
    "input": [3, 8, 8],
    "layers": [
        {"name": "a", "type": "conv", "filters": 4, "kernel": 3, "padding": 1},
        {"name": "b", "type": "conv", "filters": 4, "kernel": 3, "padding": 1, "inputs": ["input"]},
        {"name": "b2", "type": "conv", "filters": 4, "kernel": 3, "padding": 1},
        {"name": "cat", "type": "concat", "inputs": ["a", "b2"]},
        {"name": "pool", "type": "maxpool", "kernel": 2},
        {"name": "fc", "type": "fc", "units": 10},
    ],
}


def _value(formula, layer=None, metric="x", **extra):
    table = {"id": "t", "spec": None}
    row = {"label": "r", "metric": metric, "formula": formula, "layer": layer, "spec_inline": TOY, **extra}
    return T._Eval(T.Context(), table, row).value()


def test_formulas():
    conv_units = 4 * 8 * 8
    assert _value("sum(units, types=[conv])") == 3 * conv_units
    assert _value("sum(units, types=[conv, fc], exclude=[b2])") == 2 * conv_units + 10
    assert _value("sum(units, all)") == 3 * conv_units + 8 * 8 * 8 + 8 * 4 * 4 + 10
    assert _value("count(types=[concat])") == 1
    # input -> b -> b2 -> cat -> fc holds 3 weight layers; the branch through a only 2
    assert _value("path_depth(types=[conv, fc])") == 3
    assert _value("path_depth(types=[conv])") == 2
    assert _value("prod(input_shape)") == 3 * 8 * 8
    assert _value("input_shape") == [3, 8, 8]
    assert _value("weights(layer) / 4", layer="a") == 3 * 9
    assert _value("output_shape(layer)[0]", layer="cat") == 8
    assert _value("receptive_field(layer)[0]", layer="b2") == 5  # two 3x3 convs
    assert _value("(sum(params, types=[fc]) * 2) / 4") == Fraction((8 * 4 * 4 * 10 + 10) * 2, 4)
    assert _value(None, layer="fc", metric="params") == 8 * 4 * 4 * 10 + 10
    assert (
        _value(None, layer=None, metric="params") == 2 * (4 * 27 + 4) + (4 * 4 * 9 + 4) + 8 * 4 * 4 * 10 + 10
    )  # b2 reads 4 maps


def test_formula_at_another_spec_and_input():
    assert (
        T._rewrite_at("sum(params, all)@vgg16 / sum(params, all)@alexnet")
        == "__at__(sum(params, all), vgg16, '') / __at__(sum(params, all), alexnet, '')"
    )
    assert T._rewrite_at("(x * 4)@s[3x227x227]") == "__at__((x * 4), s, '3x227x227')"
    lenet = os.path.join(ROOT, "specs", "lenet5.yaml")
    if not os.path.exists(lenet):
        pytest.skip("no specs/lenet5.yaml")
    # LeNet-5 at 1x32x32 vs 1x36x36: C1 units 6*28*28 vs 6*32*32
    assert _value("units(C1)@lenet5 / units(C1)@lenet5[1x36x36]") == Fraction(28 * 28, 32 * 32)


@pytest.mark.parametrize(
    "formula, fragment",
    [
        ("__import__('os').system('true')", "unsupported"),
        ("open('x')", "unknown function"),
        ("sum(units, types=[conv]).real", "unsupported"),
        ("units(nothere)", "no layer 'nothere'"),
        ("sum(colour, all)", "unknown per-layer metric"),
        ("weights(layer)", "names none"),
        ("1 / count(types=[lrn])", "division by zero"),
        ("input_shape[7]", "cannot index"),
    ],
)
def test_formula_errors(formula, fragment):
    with pytest.raises(T.TableError, match=fragment):
        _value(formula)


def test_missing_spec_is_reported_not_raised():
    data = [
        {
            "id": "x",
            "spec": "no_such_spec",
            "rows": [
                {
                    "label": "p",
                    "metric": "params",
                    "layer": None,
                    "published": "1",
                    "published_value": 1,
                    "rounding": None,
                }
            ],
        }
    ]
    row = T.build(data=data)["tables"][0]["rows"][0]
    assert row["computed"] is None and row["verdict"] == "not-computed" and "no_such_spec" in row["error"]


def test_compare_modes():
    assert T.compare(4704, Fraction(4704), None) == ("exact", 0)
    assert T.compare(4704, Fraction(4705), None) == ("does-not-add-up", 1)
    million = {"mode": "nearest", "unit": 10**6}
    assert T.compare(724_000_000, Fraction(724_406_816), million) == ("rounded", 406_816)
    assert T.compare(724_000_000, Fraction(724_500_000), million)[0] == "does-not-add-up"  # half rounds up to 725M
    assert T.compare(25, Fraction(2558, 100), {"mode": "floor", "unit": 1})[0] == "rounded"
    assert T.compare(26, Fraction(2558, 100), {"mode": "floor", "unit": 1})[0] == "does-not-add-up"
    assert T.compare([0.9, 0.95], Fraction(919, 1000), {"mode": "range"}) == ("exact", 0)
    assert T.compare([0.9, 0.95], Fraction(96, 100), {"mode": "range"}) == ("does-not-add-up", Fraction(1, 100))
    assert T.compare(150, Fraction(152), {"mode": "lower_bound"})[0] == "exact"
    assert T.compare(150, Fraction(150), {"mode": "lower_bound"})[0] == "does-not-add-up"
    assert T.compare(10, Fraction(9), {"mode": "upper_bound"})[0] == "exact"
    # 0.1 MiB steps read as decimals: 1,992,294.4 B is 1.9 MiB exactly
    assert T.compare(1992294.4, Fraction(2_005_152), {"mode": "nearest", "unit": 104857.6})[0] == "rounded"
    assert T.compare([6, 28, 28], [Fraction(6), Fraction(28), Fraction(28)], None) == ("exact", "same")
    assert T.compare(1, None, None) == ("not-computed", None)
