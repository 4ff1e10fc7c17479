"""Renderers of a sweep (schema cnnsize.sweep/1): table, md, csv, json and
the bar charts. They only format the dict cnnsize.views.sweep.run built."""

from __future__ import annotations

from typing import Any

from cnnsize.engine.units import human

COLUMNS = (
    ("params", "params", False),
    ("macs", "MACs", False),
    ("flops", "FLOPs", False),
    ("activation_bytes", "activations", True),
    ("peak_activation_bytes", "peak memory", True),
    ("training_bytes", "training memory", True),
)
CHART_METRICS = ("params", "macs", "flops", "activation_bytes", "peak_activation_bytes", "training_bytes")
# terminal headers, short enough for 80 columns
SHORT = {"activations": "act.", "peak memory": "peak", "training memory": "training"}
BAR_WIDTH = 40
_EIGHTHS = " ▏▎▍▌▋▊▉"


def shape(p: dict[str, Any]) -> str:
    return "x".join(map(str, p["input"]))


def _cell(v: int, binary: bool, exact: bool) -> str:
    return f"{v:,}" if exact else human(v, binary=binary)


def _short_error(p: dict[str, Any]) -> str:
    e = p["error"]
    who = f"layer '{e['layer']}' ({e['kind']}): " if e.get("layer") else ""
    return f"{who}{e['message']}"


def render_csv(data: dict[str, Any]) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["input", "batch", *data["metrics"], "error_layer", "error"])
    for p in data["points"]:
        if p["ok"]:
            w.writerow([shape(p), p["batch"], *(p[m] for m in data["metrics"]), "", ""])
        else:
            w.writerow(
                [shape(p), p["batch"], *([""] * len(data["metrics"])), p["error"].get("layer") or "", p["message"]]
            )
    return buf.getvalue()


def render_json(data: dict[str, Any]) -> str:
    import json

    return json.dumps(data, indent=2) + "\n"


def bar(value: int, top: int, width: int = BAR_WIDTH) -> str:
    """A horizontal bar of value/top in eighths of a character."""
    if top <= 0:
        return ""
    eighths = round(value * width * 8 / top)
    full, rest = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[rest] if rest else "")


def render_chart(data: dict[str, Any], metric: str) -> str:
    label = dict((k, t) for k, t, _b in COLUMNS)[metric]
    binary = dict((k, b) for k, _t, b in COLUMNS)[metric]
    pts = [p for p in data["points"] if p["ok"]]
    if not pts:
        return ""
    multi_batch = len({p["batch"] for p in data["points"]}) > 1
    names = [shape(p) + (f" b{p['batch']}" if multi_batch else "") for p in pts]
    top = max(p[metric] for p in pts)
    wname = max(len(n) for n in names)
    lines = [f"{label} ({data['model']})"]
    for n, p in zip(names, pts):
        lines.append(f"  {n:<{wname}}  {bar(p[metric], top):<{BAR_WIDTH}}  {human(p[metric], binary=binary)}")
    return "\n".join(lines) + "\n"


def render_md(data: dict[str, Any], exact: bool, charts: list[str]) -> str:
    head = ["input", "batch", *(t for _k, t, _b in COLUMNS), "note"]
    lines = [
        f"**{data['model']}**: sweep, {data['dtype']}, convention {data['convention']}, training with "
        f"{data['optimizer']}",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---", "---:", *(["---:"] * len(COLUMNS)), "---"]) + "|",
    ]
    for p in data["points"]:
        if p["ok"]:
            cells = [_cell(p[k], b, exact) for k, _t, b in COLUMNS]
            note = ""
        else:
            cells = ["-"] * len(COLUMNS)
            note = _short_error(p).replace("|", "\\|")
        lines.append("| " + " | ".join([shape(p), str(p["batch"]), *cells, note]) + " |")
    for m in charts:
        chart = render_chart(data, m)
        if chart:
            lines += ["", "```text", chart.rstrip("\n"), "```"]
    return "\n".join(lines) + "\n"


def render_table(data: dict[str, Any], console: Any, exact: bool, charts: list[str]) -> None:
    from rich import box
    from rich.table import Table

    batches = {p["batch"] for p in data["points"]}
    one_batch = len(batches) == 1
    title = (
        f"{data['model']}  sweep  {data['dtype']}  convention {data['convention']}  training with {data['optimizer']}"
    )
    if one_batch:
        title += f"  batch {next(iter(batches))}"
    t = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False, collapse_padding=True)
    t.add_column("input", no_wrap=True)
    if not one_batch:
        t.add_column("batch", justify="right", no_wrap=True)
    for _k, title_, _b in COLUMNS:
        t.add_column(SHORT.get(title_, title_), justify="right", no_wrap=True)
    failed = any(not p["ok"] for p in data["points"])
    if failed:
        t.add_column("note", overflow="fold")
    for p in data["points"]:
        lead = [shape(p)] + ([] if one_batch else [str(p["batch"])])
        if p["ok"]:
            t.add_row(*lead, *(_cell(p[k], b, exact) for k, _t, b in COLUMNS), *([""] if failed else []))
        else:
            e = p["error"]
            note = f"breaks at '{e['layer']}'" if e.get("layer") else e["code"]
            t.add_row(*lead, *(["-"] * len(COLUMNS)), "[red]" + _escape(note) + "[/red]")
    console.print(t)
    if failed:
        console.print(
            "(errors with their locations are on stderr; --format json has them too)", highlight=False, style="dim"
        )
    for m in charts:
        chart = render_chart(data, m)
        if chart:
            console.print(chart, highlight=False, markup=False)


def _escape(s: str) -> str:
    from rich.markup import escape

    return escape(s)


def failure_line(p: dict[str, Any]) -> str:
    """The stderr line of a point that could not be analysed."""
    return f"{shape(p)} batch {p['batch']}: {p['message']}"
