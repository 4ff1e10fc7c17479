"""``cnnsize sweep SPEC --input 3x{128..512..64}``: how params, MACs, FLOPs
and memory grow with input size and batch. A size at which the network
breaks is reported (naming the first layer that breaks) and the sweep goes
on with the other sizes."""

from __future__ import annotations

import sys
from typing import Any

import click

from cnnsize.engine.analysis import OPTIMIZER_STATE
from cnnsize.engine.conventions import CONVENTIONS
from cnnsize.engine.units import DTYPE_BYTES, human

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


def _shape(p: dict[str, Any]) -> str:
    return "x".join(map(str, p["input"]))


def _cell(v: int, binary: bool, raw: bool) -> str:
    return f"{v:,}" if raw else human(v, binary=binary)


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
            w.writerow([_shape(p), p["batch"], *(p[m] for m in data["metrics"]), "", ""])
        else:
            w.writerow(
                [_shape(p), p["batch"], *([""] * len(data["metrics"])), p["error"].get("layer") or "", p["message"]]
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
    names = [_shape(p) + (f" b{p['batch']}" if multi_batch else "") for p in pts]
    top = max(p[metric] for p in pts)
    wname = max(len(n) for n in names)
    lines = [f"{label} ({data['model']})"]
    for n, p in zip(names, pts):
        lines.append(f"  {n:<{wname}}  {bar(p[metric], top):<{BAR_WIDTH}}  {human(p[metric], binary=binary)}")
    return "\n".join(lines) + "\n"


def render_md(data: dict[str, Any], raw: bool, charts: list[str]) -> str:
    head = ["input", "batch", *(t for _k, t, _b in COLUMNS), "note"]
    lines = [
        f"**{data['model']}**: sweep, {data['dtype']}, convention {data['convention']}, training with {data['optimizer']}",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---", "---:", *(["---:"] * len(COLUMNS)), "---"]) + "|",
    ]
    for p in data["points"]:
        if p["ok"]:
            cells = [_cell(p[k], b, raw) for k, _t, b in COLUMNS]
            note = ""
        else:
            cells = ["-"] * len(COLUMNS)
            note = _short_error(p).replace("|", "\\|")
        lines.append("| " + " | ".join([_shape(p), str(p["batch"]), *cells, note]) + " |")
    for m in charts:
        chart = render_chart(data, m)
        if chart:
            lines += ["", "```text", chart.rstrip("\n"), "```"]
    return "\n".join(lines) + "\n"


def render_table(data: dict[str, Any], console: Any, raw: bool, charts: list[str]) -> None:
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
        lead = [_shape(p)] + ([] if one_batch else [str(p["batch"])])
        if p["ok"]:
            t.add_row(*lead, *(_cell(p[k], b, raw) for k, _t, b in COLUMNS), *([""] if failed else []))
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


@click.command()
@click.argument("spec", type=click.Path(dir_okay=False, path_type=str))
@click.argument("more_inputs", nargs=-1, metavar="")
@click.option(
    "--input",
    "input_",
    multiple=True,
    metavar="PATTERN",
    help="Input sizes, e.g. 3x{128..512..64}, 3x{224,256}x{224,256}, 3x{64..512..x2} (repeatable).",
)
@click.option(
    "--batch", "batch", default="1", show_default=True, metavar="LIST", help="Batch sizes: 8, 1,2,4,8 or 1..64..x2."
)
@click.option("--dtype", type=click.Choice(sorted(DTYPE_BYTES)), default="float32", show_default=True)
@click.option(
    "--convention",
    type=click.Choice(sorted(CONVENTIONS)),
    default="cnnsize",
    show_default=True,
    help="What MACs and FLOPs count (docs/conventions.md).",
)
@click.option(
    "--optimizer",
    type=click.Choice(sorted(OPTIMIZER_STATE)),
    default="adam",
    show_default=True,
    help="Optimizer state in training memory.",
)
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a spec var (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "md"]), default="table", show_default=True)
@click.option(
    "--chart",
    "charts",
    multiple=True,
    type=click.Choice(CHART_METRICS),
    help="Add a bar chart of this metric (table and md; repeatable).",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write to FILE instead of stdout.")
@click.option("--raw", is_flag=True, help="Exact integers instead of 61.1M.")
def sweep(
    spec: str,
    more_inputs: tuple[str, ...],
    input_: tuple[str, ...],
    batch: str,
    dtype: str,
    convention: str,
    optimizer: str,
    sets: tuple[str, ...],
    fmt: str,
    charts: tuple[str, ...],
    output: str | None,
    raw: bool,
) -> None:
    """Analyse SPEC at every input size (and batch) of a sweep.

    Braces expand per axis: {a..b} (inclusive), {a..b..step}, {a..b..x2}
    (doubling) and {a,b,c}. Giving fewer spatial sizes than the spec's input
    repeats the last one, so 3x{128..512..64} sweeps square images. Left
    unquoted, the shell expands the braces itself (--input 3x128 3x192 ...);
    the sizes it passes are swept the same way."""
    from cnnsize.commands.cli import EXIT_SPEC, fail_spec, parse_sets, usage_error
    from cnnsize.engine.errors import SpecError
    from cnnsize.engine.load import load_spec
    from cnnsize.views.sweep import MAX_POINTS, SweepSyntaxError, expand_batches, expand_inputs, run

    if charts and fmt not in ("table", "md"):
        usage_error("--chart works with --format table or md")
    overrides = parse_sets(sets)
    try:
        s = load_spec(spec, overrides)
    except SpecError as exc:
        fail_spec(exc, "json" if fmt == "json" else "text")
    try:
        # an unquoted 3x{128..512..64} reaches us shell-expanded: --input 3x128 3x192 ...
        patterns = [*input_, *more_inputs]
        if not patterns:
            raise SweepSyntaxError("give the sizes to sweep: --input 3x{128..512..64}")
        if more_inputs and not input_:
            raise SweepSyntaxError(f"unexpected argument {more_inputs[0]!r}; sizes go after --input")
        inputs = list(dict.fromkeys(shape for p in patterns for shape in expand_inputs(p, len(s.input))))
        batches = expand_batches(batch)
        if len(inputs) * len(batches) > MAX_POINTS:
            raise SweepSyntaxError(f"{len(inputs)} inputs x {len(batches)} batches is more than {MAX_POINTS:,} points")
    except SweepSyntaxError as exc:
        usage_error(str(exc))
    total = len(inputs) * len(batches)
    if sys.stdout.isatty() and total > 1 and not output:
        from rich.console import Console
        from rich.progress import Progress

        with Progress(console=Console(stderr=True), transient=True) as prog:
            task = prog.add_task(f"sweeping {s.name}", total=total)
            data = run(
                s,
                inputs,
                batches,
                dtype=dtype,
                convention=convention,
                optimizer=optimizer,
                advance=lambda: prog.advance(task),
            )
    else:
        data = run(s, inputs, batches, dtype=dtype, convention=convention, optimizer=optimizer)
    for p in data["points"]:
        if not p["ok"]:
            click.echo(f"{_shape(p)} batch {p['batch']}: {p['message']}", err=True)
    if fmt == "table":
        from rich.console import Console

        if output:
            with open(output, "w", encoding="utf-8") as fh:
                render_table(data, Console(file=fh, width=200), raw, list(charts))
        else:
            con = Console()
            render_table(data, con if con.is_terminal else Console(width=200), raw, list(charts))
    else:
        text = {
            "json": lambda: render_json(data),
            "csv": lambda: render_csv(data),
            "md": lambda: render_md(data, raw, list(charts)),
        }[fmt]()
        if output:
            with open(output, "w", encoding="utf-8") as fh:
                fh.write(text)
        else:
            click.echo(text, nl=False)
    if not any(p["ok"] for p in data["points"]):
        sys.exit(EXIT_SPEC)  # no size could be analysed: the spec is unusable as swept
