"""The performance contract: every fast path and memo in the engine
(cnnsize.engine.fastpath) changes no output byte.

Each output below is produced twice in one process, once with fast paths and
memos on (memos warm from earlier calls) and once through the general paths
only (the ``general_paths`` fixture), and the two texts must be identical:
the golden cases (tests/cases), every zoo spec's JSON report under every
convention preset and its table, and the diagnostics of the bad-spec corpus
(tests/bad_specs), as text and as JSON.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable

import pytest
from test_bad_specs import CASES as BAD_CASES
from test_bad_specs import CORPUS
from test_golden import CASES as GOLDEN_CASES
from test_golden import case_command

from cnnsize.engine import fastpath
from cnnsize.engine.conventions import CONVENTIONS
from tests.test_bad_specs import run_inprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ZOO = sorted(f for f in os.listdir(os.path.join(ROOT, "specs")) if f.endswith(".yaml"))


def cli(args: list[str]) -> str:
    """Exit code, stdout and stderr of the CLI entry point, run in-process."""
    code, out, err = run_inprocess(args)
    return f"rc={code}\n{out}\n--stderr--\n{err}"


def both_ways(produce: Callable[[], list[str]], warm: bool = True) -> tuple[list[str], list[str]]:
    """The outputs with fast paths on (after a first run, so that memos answer,
    unless ``produce`` repeats itself enough), then with the general paths only."""
    assert fastpath.enabled()
    if warm:
        produce()
    fast = produce()
    before = fastpath.set_enabled(False)
    try:
        general = produce()
    finally:
        fastpath.set_enabled(before)
    return fast, general


@pytest.fixture(autouse=True)
def _fast_paths_on(monkeypatch):
    # the comparison needs both settings, whatever the suite runs under
    # (CNNSIZE_FAST_PATHS=0 in CI's second run)
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("COLUMNS", "300")
    before = fastpath.set_enabled(True)
    yield
    fastpath.set_enabled(before)


@pytest.mark.parametrize("name", GOLDEN_CASES)
def test_golden_case_same_both_ways(name: str) -> None:
    spec, args = case_command(name)
    fast, general = both_ways(lambda: [cli(["report", spec, "--format", "json", *args])])
    assert fast == general
    assert fast[0].startswith("rc=0\n"), fast[0]


def zoo_outputs(path: str) -> list[str]:
    """The table and the JSON report as the CLI prints them, then the JSON
    report under every preset from one parse of the spec (what the CLI does
    per run, without parsing the spec a dozen times). The table's --raw form
    differs only in the renderer, and rendering a table costs twenty times
    an analysis, so it is left out."""
    from cnnsize.engine.analysis import analyze
    from cnnsize.engine.load import load_spec
    from cnnsize.render.json import render

    out = [cli(["report", path]), cli(["report", path, "--format", "json"])]
    spec = load_spec(path)
    out += [render(analyze(spec, convention=c)) for c in CONVENTIONS]
    return out


@pytest.mark.parametrize("spec", ZOO)
def test_zoo_spec_same_both_ways(spec: str) -> None:
    path = f"specs/{spec}"
    fast, general = both_ways(lambda: zoo_outputs(path), warm=False)
    labels = ["table", "json (CLI)", *(f"json --convention {c}" for c in CONVENTIONS)]
    for label, f, g in zip(labels, fast, general, strict=True):
        assert f == g, label
    for f in fast[:2]:
        assert f.startswith("rc=0\n"), f[:2000]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_spec_same_both_ways(case: str) -> None:
    path = os.path.relpath(os.path.join(CORPUS, case), ROOT)
    runs = [["report", path], ["report", path, "--format", "json"]]
    fast, general = both_ways(lambda: [cli(args) for args in runs])
    for args, f, g in zip(runs, fast, general):
        assert f == g, " ".join(args)
        assert f.startswith("rc=3\n"), (args, f[:2000])


def test_general_paths_touch_no_process_state(general_paths, monkeypatch) -> None:
    """With fast paths off, an analysis pauses no garbage collector and
    remembers nothing in the engine's memos (this module's own memo at least;
    the others are emptied by the switch and checked by their owners)."""
    from cnnsize.engine import conventions

    calls: list[str] = []
    monkeypatch.setattr(gc, "disable", lambda: calls.append("disable"))
    assert not fastpath.enabled()
    cli(["report", "specs/resnet18.yaml", "--format", "json", "--convention", "thop"])
    assert calls == []
    assert conventions._FORMS == {}


def test_fast_paths_pause_the_collector_and_fill_the_memo(monkeypatch) -> None:
    """The other side of the test above, so that it cannot pass vacuously."""
    from cnnsize.engine import conventions

    calls: list[str] = []
    monkeypatch.setattr(gc, "disable", lambda: calls.append("disable"))
    cli(["report", "specs/resnet18.yaml", "--format", "json", "--convention", "thop"])
    assert "disable" in calls
    assert conventions._FORMS != {}
