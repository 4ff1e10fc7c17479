"""The plain-text table (pipes, files) must be byte-identical to what rich
prints to a non-terminal, or decline (None) so that rich prints it."""

import glob
import io
import os

import pytest

from cnnsize import analyze_dict, analyze_file
from cnnsize.render.table import render, render_plain

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = sorted(glob.glob(os.path.join(ROOT, "specs", "*.yaml")))


def rich_text(a, raw, width):
    from rich.console import Console

    buf = io.StringIO()
    render(a, Console(file=buf, width=width, force_terminal=False, color_system=None), raw)
    return buf.getvalue()


@pytest.mark.parametrize("path", SPECS, ids=[os.path.basename(p) for p in SPECS])
def test_zoo_identical_to_rich(path):
    a = analyze_file(path)
    # one rich rendering per spec keeps the suite fast; --raw and width 200
    # are covered by the edge cases and resnet50 below
    plain = render_plain(a, False, 220)
    assert plain is not None and plain == rich_text(a, False, 220)


def _tiny(name="c1", model="t", units=10):
    return analyze_dict(
        {
            "cnnsize": 1,
            "name": model,
            "input": [3, 8, 8],
            "layers": [
                {"name": name, "type": "conv", "filters": 4, "kernel": 3},
                {"name": "fc", "type": "fc", "units": units},
            ],
        }
    )


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"name": "x" * 60},
        {"name": "x" * 150},  # wider than the console: rich crops, so plain declines
        {"model": "m" * 130},  # title wider than the table: rich wraps it
        {"model": "a [b] c"},  # markup
        {"name": "a:b:c"},  # emoji syntax
        {"model": "mod\u00e9le"},  # not ASCII
        {"units": 10**9},
    ],
)
def test_edge_cases_identical_or_declined(kw):
    a = _tiny(**kw)
    for raw in (False, True):
        for width in (220, 200, 100):
            plain = render_plain(a, raw, width)
            if plain is not None:
                assert plain == rich_text(a, raw, width)


def test_resnet50_raw_width_200():
    a = analyze_file(os.path.join(ROOT, "specs", "resnet50.yaml"))
    plain = render_plain(a, True, 200)
    assert plain is not None and plain == rich_text(a, True, 200)


def test_common_case_is_not_declined():
    assert render_plain(_tiny(), False, 220) is not None
    assert render_plain(analyze_file(os.path.join(ROOT, "specs", "resnet50.yaml")), True, 220) is not None
