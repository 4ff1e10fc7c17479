"""JSON renderer (schema cnnsize.report/1)."""

from __future__ import annotations

import json

from cnnsize.engine.analysis import Analysis
from cnnsize.views.report import to_dict


def render(a: Analysis, exact: bool = False) -> str:
    return json.dumps(to_dict(a), indent=2) + "\n"


def render_compare(d: dict, exact: bool = False) -> str:
    return json.dumps(d, indent=2) + "\n"
