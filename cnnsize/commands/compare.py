"""``cnnsize compare SPEC...``: totals side by side, one column per model,
one row per metric, and each model's ratio to the first."""

from __future__ import annotations

import importlib

import click

from cnnsize.commands.common import Options, analyse_or_exit, analysis_options, exact_option
from cnnsize.commands.output import emit, emit_rich, guard, output_option

# format name -> "module:function(compare_dict, exact) -> str"; the table prints through rich
FORMATS: dict[str, str] = {
    "json": "cnnsize.render.json:render_compare",
    "csv": "cnnsize.render.csv:render_compare",
    "md": "cnnsize.render.md:render_compare",
    "html": "cnnsize.render.html:render_compare",
    "latex": "cnnsize.render.latex:render_compare",
}


@click.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=True, path_type=str))
@analysis_options
@click.option("--format", "fmt", type=click.Choice(["table", *FORMATS]), default="table", show_default=True)
@output_option
@exact_option
def compare(specs: tuple[str, ...], opts: Options, fmt: str, output: str | None, exact: bool) -> None:
    """Compare the totals of several SPECs side by side.

    One column per model, one row per metric, then each model's ratio to the
    first. --input and --set apply to every spec.
    """
    from cnnsize.views.compare import to_dict

    guard(output, specs)
    d = to_dict([analyse_or_exit(p, opts, fmt) for p in specs])
    if fmt == "table":
        from cnnsize.render.table import render_compare

        emit_rich(lambda con: render_compare(d, con, exact), output, 200, 220)
        return
    mod, fn = FORMATS[fmt].split(":")
    emit(getattr(importlib.import_module(mod), fn)(d, exact), output)
