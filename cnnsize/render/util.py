"""Formatting shared by the export renderers (CSV, Markdown, HTML, LaTeX):
which columns a per-layer table has and how a value is written. Nothing here
computes a metric; values come from ``report.to_dict`` or ``compare.to_dict``."""

from __future__ import annotations

from typing import Any

from cnnsize.engine.units import human

# per-layer table: (field of a layer dict, heading, kind)
LAYER_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("name", "layer", "text"),
    ("type", "type", "text"),
    ("output_shape", "output", "shape"),
    ("units", "units", "count"),
    ("weights", "weights", "count"),
    ("biases", "biases", "count"),
    ("params", "params", "count"),
    ("connections", "connections", "count"),
    ("macs", "MACs", "count"),
    ("flops", "FLOPs", "count"),
    ("activation_bytes", "act. mem", "bytes"),
    ("receptive_field", "RF", "shape"),
)


def shape(v: Any) -> str:
    if v is None or (isinstance(v, (list, tuple)) and not v):
        return "-"
    if isinstance(v, (list, tuple)):
        return "x".join(_num(x) for x in v)
    return str(v)


def _num(x: Any) -> str:
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return f"{x:g}" if isinstance(x, float) else str(x)


def value(v: Any, kind: str, exact: bool) -> str:
    """One cell: with thousands separators when ``exact`` (``--raw``), else 61.1M / 12.2 MiB."""
    if kind == "text":
        return "" if v is None else str(v)
    if kind in ("shape", "rf"):
        return shape(v)
    if v is None:
        return "-"
    if exact:
        return f"{v:,} B" if kind == "bytes" else f"{v:,}"
    return human(v, binary=kind == "bytes")


def exact_text(v: Any, kind: str) -> str:
    """The exact figure, for tooltips and CSV."""
    if kind in ("shape", "rf"):
        return shape(v)
    if v is None:
        return ""
    return f"{v:,} B" if kind == "bytes" else f"{v:,}"


def ratio(r: float | None) -> str:
    if r is None:
        return "-"
    if r >= 100:
        return f"{r:,.0f}x"
    if r >= 10:
        return f"{r:.1f}x"
    if r >= 0.01:
        return f"{r:.2f}x"
    return f"{r:.2g}x"


def total_row(d: dict[str, Any]) -> dict[str, Any]:
    """The totals of a report dict laid out like a layer row."""
    t = d["totals"]
    return {k: t.get(k) for k, _h, kind in LAYER_COLUMNS if kind == "count" or k == "activation_bytes"} | {
        "name": "total"
    }


def subtitle(d: dict[str, Any]) -> str:
    return f"input {shape(d['input'])} · batch {d['batch']} · {d['dtype']} · convention {d['convention']}"


def summary(d: dict[str, Any], exact: bool) -> list[tuple[str, str, str]]:
    """(label, formatted, exact) for the headline totals of a report."""
    t = d["totals"]
    items = [
        ("params", t["params"], "count"),
        ("param memory", t["param_bytes"], "bytes"),
        ("MACs", t["macs"], "count"),
        ("FLOPs", t["flops"], "count"),
        ("activations", t["activation_bytes"], "bytes"),
        ("peak inference", t["peak_activation_bytes"], "bytes"),
        (f"training ({d['optimizer']}, batch {d['batch']})", t["training_bytes"], "bytes"),
    ]
    return [(label, value(v, kind, exact), exact_text(v, kind)) for label, v, kind in items]


def compare_headers(d: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Model column headings and ratio column headings (each model / the first)."""
    names = [m["model"] for m in d["models"]]
    return names, [f"{n} / first" for n in names[1:]]


def compare_cells(row: dict[str, Any], exact: bool) -> tuple[list[str], list[str]]:
    kind = row["kind"]
    return [value(v, kind, exact) for v in row["values"]], [ratio(r) for r in row["ratios"][1:]]
