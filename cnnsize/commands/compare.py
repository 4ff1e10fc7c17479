"""``cnnsize compare SPEC...``: totals side by side, one column per model,
one row per metric, and each model's ratio to the first."""

from __future__ import annotations

import importlib

import click

from cnnsize.commands.common import analyse_path, analysis_options

# format name -> "module:function(compare_dict, raw) -> str"; the table prints through rich
FORMATS: dict[str, str] = {
    "json": "cnnsize.render.json:render_compare",
    "csv": "cnnsize.render.csv:render_compare",
    "md": "cnnsize.render.md:render_compare",
    "html": "cnnsize.render.html:render_compare",
    "latex": "cnnsize.render.latex:render_compare",
}


def _rich_table(d: dict, raw: bool, console: object) -> None:
    from rich import box
    from rich.table import Table

    from cnnsize.render import util as u

    names, ratio_heads = u.compare_headers(d)
    title = f"batch {d['batch']}  {d['dtype']}  convention {d['convention']}  (ratios to {names[0]})"
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("metric", no_wrap=True)
    for n in names:
        table.add_column(n, justify="right", no_wrap=True)
    for h in ratio_heads:
        table.add_column(h, justify="right", no_wrap=True, style="dim")
    for row in d["rows"]:
        vals, ratios = u.compare_cells(row, raw)
        table.add_row(row["label"], *vals, *ratios)
    console.print(table)  # type: ignore[attr-defined]


@click.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=True, path_type=str))
@analysis_options
@click.option("--format", "fmt", type=click.Choice(["table", *FORMATS]), default="table", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write to FILE instead of stdout.")
@click.option("--raw", is_flag=True, help="Exact integers instead of 61.1M.")
def compare(
    specs: tuple[str, ...],
    input_: str | None,
    batch: int,
    dtype: str,
    convention: str,
    optimizer: str,
    sets: tuple[str, ...],
    fmt: str,
    output: str | None,
    raw: bool,
) -> None:
    """Compare the totals of several SPECs side by side.

    One column per model, one row per metric, then each model's ratio to the
    first. --input and --set apply to every spec.
    """
    from cnnsize.views.compare import to_dict

    d = to_dict([analyse_path(p, input_, batch, dtype, convention, optimizer, sets, fmt) for p in specs])
    if fmt == "table":
        from rich.console import Console

        if output:
            with open(output, "w", encoding="utf-8") as fh:
                _rich_table(d, raw, Console(file=fh, width=200))
        else:
            con = Console()
            _rich_table(d, raw, con if con.is_terminal else Console(width=220))
        return
    mod, fn = FORMATS[fmt].split(":")
    text = getattr(importlib.import_module(mod), fn)(d, raw)
    from cnnsize.commands.cli import emit

    emit(text, output)
