import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = os.path.join(ROOT, "specs")
for _p in (ROOT, os.path.join(ROOT, "tests")):
    if _p not in sys.path:
        sys.path.insert(0, _p)


def pytest_addoption(parser):
    parser.addoption(
        "--regen",
        action="store_true",
        default=False,
        help="rewrite tests/cases/*/expected.json from the current cnnsize (golden cases); never done otherwise",
    )


@pytest.fixture
def general_paths():
    """The engine with every fast path and memo off (cnnsize.engine.fastpath),
    restored afterwards; memos are emptied on the way in and out."""
    from cnnsize.engine import fastpath

    before = fastpath.set_enabled(False)
    try:
        yield
    finally:
        fastpath.set_enabled(before)
