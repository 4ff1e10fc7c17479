"""CSV export: one row per layer and a total row (report), or one row per
metric (compare). Integers are exact; nothing is computed here."""

from __future__ import annotations

import csv
import io
from typing import Any

from cnnsize.engine.analysis import SUMMED
from cnnsize.render.util import compare_headers, shape

LAYER_FIELDS = (
    "name", "type", "inputs", "output_shape", "units", "weights", "biases", "params", "buffers",
    "connections", "macs", "flops", "activation_bytes", "param_bytes", "receptive_field", "jump", "start", "block",
)  # fmt: skip
# the figures a total row sums (the engine sums the same ones)
TOTAL_FIELDS = SUMMED


def _cell(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return shape(v)
    return "" if v is None else v


def render(a: Any, exact: bool = False) -> str:
    from cnnsize.views.report import to_dict

    d = to_dict(a)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(LAYER_FIELDS)
    for layer in d["layers"]:
        # per-axis offsets can be fractional; ';' keeps them apart from sizes like 3x3
        row = dict(layer, inputs=";".join(layer["inputs"]), start=";".join(f"{x:g}" for x in layer["start"] or ()))
        w.writerow([_cell(row.get(f)) for f in LAYER_FIELDS])
    t = d["totals"]
    w.writerow([t[f] if f in TOTAL_FIELDS else ("total" if f == "name" else "") for f in LAYER_FIELDS])
    return buf.getvalue()


def render_compare(d: dict[str, Any], exact: bool = False) -> str:
    names, ratio_heads = compare_headers(d)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["metric", *names, *ratio_heads])
    for row in d["rows"]:
        ratios = ["" if r is None else repr(r) for r in row["ratios"][1:]]
        w.writerow([row["metric"], *(_cell(v) for v in row["values"]), *ratios])
    return buf.getvalue()
