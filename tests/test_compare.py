"""`cnnsize compare`: one column per model, one row per metric, ratios to the
first model; the seed lecture's "LeNet (1989) / LeNet (1998) / AlexNet (2012)"
comparison is the model for it (shared/seeds/000_*.txt)."""

import json
import os
import subprocess
import sys

import pytest
from specs_inline import LENET1989, VGG16, VGG16_MACS, VGG16_PARAMS

from cnnsize.engine.analysis import analyze
from cnnsize.engine.load import loads_spec
from cnnsize.views.compare import METRICS, to_dict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args):
    return subprocess.run([sys.executable, "-m", "cnnsize", *args], cwd=ROOT, capture_output=True, text=True)


@pytest.fixture(scope="module")
def cmp():
    return to_dict([analyze(loads_spec(LENET1989, "lenet1989.yaml")), analyze(loads_spec(VGG16, "vgg16.yaml"))])


def rows(d):
    return {r["metric"]: r for r in d["rows"]}


def test_rows_are_the_metrics_in_order(cmp):
    assert [r["metric"] for r in cmp["rows"]] == [k for k, _l, _t in METRICS]
    assert [m["model"] for m in cmp["models"]] == ["LeNet-1989", "VGG-16"]


def test_lenet1989_column_matches_the_paper(cmp):
    r = rows(cmp)
    # LeCun et al. 1989: 1,256 units counting the 16x16 input, 9,760 free
    # parameters, 64,660 connections (the seed's table rounds it to 65,000)
    assert r["units_with_input"]["values"][0] == 1256 == 16 * 16 + 12 * 8 * 8 + 12 * 4 * 4 + 30 + 10
    assert r["units"]["values"][0] == 1256 - 16 * 16
    assert r["params"]["values"][0] == 9760
    assert r["connections"]["values"][0] == 64660
    assert r["input"]["values"][0] == [1, 16, 16]
    assert r["depth"]["values"][0] == 4


def test_vgg16_column_and_ratios(cmp):
    r = rows(cmp)
    assert r["params"]["values"][1] == VGG16_PARAMS
    assert r["macs"]["values"][1] == VGG16_MACS
    assert r["params"]["ratios"] == [1.0, VGG16_PARAMS / 9760]
    # the input row's ratio compares input sizes: 3*224*224 over 16*16
    assert r["input"]["ratios"][1] == (3 * 224 * 224) / (16 * 16)
    # receptive fields: LeNet-1989's output sees 25x25 (H2: 5 + 4*2 = 13,
    # H3 reads all of H2's 4x4 with jump 4: 13 + 3*4 = 25); VGG-16's 404x404
    assert r["receptive_field"]["values"] == [[25, 25], [404, 404]]
    assert r["receptive_field"]["ratios"][1] == 404 / 25
    assert r["depth"]["values"][1] == 13 + 3


def test_cli_table_and_json(tmp_path):
    a, b = tmp_path / "lenet1989.yaml", tmp_path / "vgg16.yaml"
    a.write_text(LENET1989)
    b.write_text(VGG16)
    out = run("compare", str(a), str(b), "--raw")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    head = next(ln for ln in lines if "metric" in ln)
    assert head.split() == ["metric", "LeNet-1989", "VGG-16", "VGG-16", "/", "first"]
    params = next(ln for ln in lines if ln.strip().startswith("parameters"))
    assert params.split() == ["parameters", "9,760", "138,357,544", "14,176x"]
    units = next(ln for ln in lines if "units (incl. input)" in ln)
    assert units.split()[-3] == "1,256"
    js = run("compare", str(a), str(b), "--format", "json")
    d = json.loads(js.stdout)
    assert d["schema"] == "cnnsize.compare/1"
    assert d["models"][1]["totals"]["params"] == VGG16_PARAMS


def test_cli_invalid_spec_exits_3(tmp_path):
    good, bad = tmp_path / "ok.yaml", tmp_path / "bad.yaml"
    good.write_text(LENET1989)
    bad.write_text(LENET1989.replace("units: 30", "units: thirty"))
    out = run("compare", str(good), str(bad))
    assert out.returncode == 3
    assert f"{bad}:" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.skipif(
    not os.path.exists(os.path.join(ROOT, "specs", "lenet1989.yaml")),
    reason="specs/lenet1989.yaml not in this checkout",
)
def test_zoo_lenet1989_matches_the_paper():
    out = run("compare", "specs/lenet1989.yaml", "--format", "json")
    (m,) = json.loads(out.stdout)["models"]
    t = m["totals"]
    assert (t["units"] + t["input_units"], t["params"], t["connections"]) == (1256, 9760, 64660)
