"""Renderers of a profile result (schema cnnsize.profile/1): table, md, csv,
json. They only format the dict that cnnsize.torch.profile built."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from cnnsize.engine.units import human


def _t(s: float | None) -> str:
    if s is None:
        return "-"
    if s >= 1:
        return f"{s:.3g} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} us"


def _ratio(v: float | None) -> str:
    return "-" if v is None else f"{v:.3g}"


def _n(v: Any, exact: bool, binary: bool = False) -> str:
    if v is None:
        return "-"
    return f"{v:,}" if exact else human(v, binary=binary)


def _check(row: dict[str, Any]) -> str:
    return "ok" if not row["mismatches"] else "MISMATCH " + ",".join(row["mismatches"])


def _shape(row: dict[str, Any]) -> str:
    s = "x".join(map(str, row["output_shape"]))
    if row["measured_output_shape"] != row["output_shape"]:
        s += " != " + "x".join(map(str, row["measured_output_shape"] or []))
    return s


COLUMNS = [
    ("layer", "left"),
    ("type", "left"),
    ("output", "left"),
    ("params", "right"),
    ("FLOPs est", "right"),
    ("FLOPs meas", "right"),
    ("act est", "right"),
    ("act meas", "right"),
    ("time", "right"),
    ("roofline", "right"),
    ("ratio", "right"),
    ("bound", "left"),
    ("check", "left"),
]


def _rows(d: dict[str, Any], exact: bool) -> list[list[str]]:
    rows = []
    for r in d["layers"]:
        params = _n(r["params"], exact) + (
            "" if r["params"] == r["measured_params"] else f" != {_n(r['measured_params'], exact)}"
        )
        rows.append(
            [
                r["name"],
                r["type"],
                _shape(r),
                params,
                _n(r["flops"], exact),
                _n(r["measured_flops"], exact),
                _n(r["activation_bytes"], exact, True),
                _n(r["measured_activation_bytes"], exact, True),
                _t(r["time_s"]),
                _t(r["roofline_s"]),
                _ratio(r["time_ratio"]),
                r["bound"],
                _check(r),
            ]
        )
    return rows


def _footer(d: dict[str, Any], exact: bool) -> list[str]:
    t = d["totals"]
    return [
        "total",
        "",
        "",
        _n(t["params"], exact)
        + ("" if t["params"] == t["measured_params"] else f" != {_n(t['measured_params'], exact)}"),
        _n(t["flops"], exact),
        _n(t["measured_flops"], exact),
        _n(t["activation_bytes"], exact, True),
        _n(t["measured_activation_bytes"], exact, True),
        _t(t["time_layers_s"]),
        _t(t["roofline_s"]),
        _ratio(t["time_ratio"]),
        "",
        "ok" if not t["mismatched_layers"] else f"{t['mismatched_layers']} MISMATCHED",
    ]


def _title(d: dict[str, Any]) -> str:
    dev = d["device"]
    return (
        f"{d['model']}  input {'x'.join(map(str, d['input']))}  batch {d['batch']}  {d['dtype']}  "
        f"on {dev['torch_device']} ({dev['name']}, {dev['threads']} threads, torch {dev['torch']})  "
        f"median of {d['repeat']} after {d['warmup']} warm-up"
    )


def _notes(d: dict[str, Any]) -> list[str]:
    t = d["totals"]
    p = d["device_profile"]
    peaks = ", ".join(f"{k} {v / 1e9:,.1f} GFLOP/s" for k, v in p["matrix_flops_per_s"].items())
    lines = [
        f"FLOPs: convention {d['flops_convention']} (estimate) vs torch.utils.flop_counter.FlopCounterMode "
        "(measured), whole batch",
        f"device profile: {p['name']}: {peaks}; bandwidth {p['bandwidth_bytes_per_s'] / 1e9:,.1f} GB/s; {p['source']}",
        "roofline = max(work FLOPs / peak, bytes moved / bandwidth) per layer; ratio = measured / roofline (1 = at "
        "the roofline; above 1 = slower)",
        f"time: sum of layer medians {_t(t['time_layers_s'])} (forward hooks); whole forward without hooks, median "
        f"{_t(t['time_forward_s'])}; "
        f"per-layer ratio from {_ratio(t['time_ratio_min'])} to {_ratio(t['time_ratio_max'])}",
        f"peak memory: estimate {human(t['peak_bytes'], binary=True)} (params + buffers + peak activations), measured "
        f"{human(t['measured_peak_bytes'], binary=True)}; "
        f"measured as {t['peak_method']}; max RSS grew {human(t['maxrss_growth_bytes'], binary=True)}",
    ]
    m = d.get("memory_check")
    if m:
        lines.append(
            f"memory check: needed {human(m['with_margin'], binary=True)} with margin, available "
            f"{human(m['available_bytes'], binary=True)} ({m['available_source']})"
        )
    if t["mismatched_layers"]:
        lines.append(
            f"{t['mismatched_layers']} layer(s) where an estimate and the run disagree: see 'check' (this is a cnnsize "
            "bug; please report it)"
        )
    return lines


def render_table(d: dict[str, Any], console: Any, exact: bool = False) -> None:
    from rich import box
    from rich.table import Table

    table = Table(title=_title(d), box=box.SIMPLE_HEAD, show_footer=True, title_justify="left")
    for (name, justify), foot in zip(COLUMNS, _footer(d, exact)):
        table.add_column(name, footer=foot, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for row in _rows(d, exact):
        table.add_row(*row, style="bold red" if row[-1] != "ok" else None)
    console.print(table)
    for line in _notes(d):
        console.print(line, highlight=False, soft_wrap=True)


def render_md(d: dict[str, Any], exact: bool = False) -> str:
    out = [
        f"**{_title(d)}**",
        "",
        "| " + " | ".join(c for c, _ in COLUMNS) + " |",
        "|" + "|".join("---:" if j == "right" else "---" for _, j in COLUMNS) + "|",
    ]
    for row in [*_rows(d, exact), _footer(d, exact)]:
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    out.append("")
    out += [f"- {line}" for line in _notes(d)]
    return "\n".join(out) + "\n"


CSV_FIELDS = [
    "name",
    "type",
    "output_shape",
    "measured_output_shape",
    "params",
    "measured_params",
    "flops",
    "measured_flops",
    "activation_bytes",
    "measured_activation_bytes",
    "work_flops",
    "bytes_moved",
    "time_s",
    "time_min_s",
    "roofline_s",
    "time_ratio",
    "bound",
    "mismatches",
]


def render_csv(d: dict[str, Any], exact: bool = False) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for r in d["layers"]:
        vals = []
        for k in CSV_FIELDS:
            v = r[k]
            if isinstance(v, list):
                v = "x".join(map(str, v)) if k != "mismatches" else ";".join(v)
            vals.append("" if v is None else v)
        w.writerow(vals)
    return buf.getvalue()


def render_json(d: dict[str, Any], exact: bool = False) -> str:
    return json.dumps(d, indent=2) + "\n"


FORMATS = {"json": render_json, "md": render_md, "csv": render_csv}
