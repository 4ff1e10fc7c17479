"""Golden cases: `cnnsize report --format json` of every tests/cases/<name>/.

A case is a folder holding expected.json and either spec.yaml or case.json
({"spec": "<path from the repo root>", "args": [extra CLI arguments]}). The
report must equal expected.json exactly, except "cnnsize_version", which is
left out of both so a version bump does not touch every case.

expected.json is only ever rewritten on request:

    python -m pytest tests/test_golden.py --regen

and each one is checked by hand arithmetic in tests/test_golden_arithmetic.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from cnnsize.commands.cli import cli
from cnnsize.engine.kinds import RULES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES_DIR = os.path.join("tests", "cases")
CASES = sorted(d for d in os.listdir(os.path.join(ROOT, CASES_DIR)) if os.path.isdir(os.path.join(ROOT, CASES_DIR, d)))
SUMMED = ("units", "weights", "biases", "params", "connections", "macs", "flops", "activation_bytes", "param_bytes")
UNSTABLE = ("cnnsize_version",)


def case_command(name):
    """(spec path relative to the repo root, extra arguments)."""
    folder = os.path.join(CASES_DIR, name)
    cfg_path = os.path.join(ROOT, folder, "case.json")
    if os.path.exists(cfg_path):
        with open(cfg_path, encoding="utf-8") as fh:
            cfg = json.load(fh)
        return cfg["spec"], list(cfg.get("args", []))
    return os.path.join(folder, "spec.yaml").replace(os.sep, "/"), []


def expected_path(name):
    return os.path.join(ROOT, CASES_DIR, name, "expected.json")


def strip(report):
    return {k: v for k, v in report.items() if k not in UNSTABLE}


def run_report(name, monkeypatch):
    spec, args = case_command(name)
    if not os.path.exists(os.path.join(ROOT, spec)):
        pytest.skip(f"{spec} does not exist yet")
    # relative paths, so that "spec" and every "location" in the JSON are stable
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(cli, ["report", spec, "--format", "json", *args])
    assert result.exit_code == 0, result.output
    return strip(json.loads(result.stdout))


def load_expected(name):
    with open(expected_path(name), encoding="utf-8") as fh:
        return json.load(fh)


@pytest.mark.parametrize("name", CASES)
def test_case_matches_expected(name, request, monkeypatch):
    got = run_report(name, monkeypatch)
    if request.config.getoption("--regen"):
        with open(expected_path(name), "w", encoding="utf-8") as fh:
            fh.write(json.dumps(got, indent=2) + "\n")
        return
    assert os.path.exists(expected_path(name)), f"{name}: no expected.json; create it with --regen and check it by hand"
    want = load_expected(name)
    assert [lay["name"] for lay in got["layers"]] == [lay["name"] for lay in want["layers"]]
    for g, w in zip(got["layers"], want["layers"]):
        assert g == w, f"{name}: layer {g['name']}"
    assert got["totals"] == want["totals"], name
    assert got == want, name


@pytest.mark.parametrize("name", CASES)
def test_rows_sum_to_totals(name):
    report = load_expected(name)
    for key in SUMMED:
        assert sum(lay[key] for lay in report["layers"]) == report["totals"][key], (name, key)
    for lay in report["layers"]:
        assert lay["params"] == lay["weights"] + lay["biases"], (name, lay["name"])
        assert (
            lay["activation_bytes"]
            == lay["units"] * report["batch"] * {"float32": 4, "float16": 2, "bfloat16": 2, "int8": 1}[report["dtype"]]
        )
        if report["convention"] == "cnnsize":
            assert sum(lay["flops_by_category"].values()) == lay["flops"], (name, lay["name"])


def test_every_kind_has_a_case():
    covered = set()
    for name in CASES:
        covered |= {lay["type"] for lay in load_expected(name)["layers"]}
    assert set(RULES) - covered == set(), "layer kinds without a golden case"


def test_one_case_through_a_real_process():
    """The in-process runner above and `python -m cnnsize` print the same."""
    name = "merges"
    spec, args = case_command(name)
    out = subprocess.run(
        [sys.executable, "-m", "cnnsize", "report", spec, "--format", "json", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert strip(json.loads(out.stdout)) == load_expected(name)
