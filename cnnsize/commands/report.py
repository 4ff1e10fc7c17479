"""``cnnsize report SPEC``: per-layer and total metrics of one spec."""

from __future__ import annotations

import click

from cnnsize.commands.common import Options, analyse_or_exit, analysis_options, exact_option
from cnnsize.commands.output import emit, guard, opened, output_option

# format name -> "module:function(analysis, exact) -> str"; the table is special
# because it prints through rich.
FORMATS: dict[str, str] = {
    "json": "cnnsize.render.json:render",
    "csv": "cnnsize.render.csv:render",
    "md": "cnnsize.render.md:render",
    "html": "cnnsize.render.html:render",
    "latex": "cnnsize.render.latex:render",
}


@click.command()
@click.argument("spec", type=click.Path(dir_okay=True, path_type=str))
@analysis_options
@click.option("--format", "fmt", type=click.Choice(["table", *FORMATS]), default="table", show_default=True)
@output_option
@exact_option
def report(spec: str, opts: Options, fmt: str, output: str | None, exact: bool) -> None:
    """Per-layer size and cost report of SPEC."""
    guard(output, [spec])
    a = analyse_or_exit(spec, opts, fmt)
    if fmt != "table":
        import importlib

        mod, fn = FORMATS[fmt].split(":")
        emit(getattr(importlib.import_module(mod), fn)(a, exact), output)
        return
    from cnnsize.render import table as render_table

    if output:
        with opened(output) as fh:
            text = render_table.render_plain(a, exact, 200) if render_table.plain_ok(fh) else None
            if text is not None:
                fh.write(text)
                return
            from rich.console import Console

            render_table.render(a, Console(file=fh, width=200), exact)
        return
    import sys

    # rich's import alone outweighs the analysis: pipes get the same bytes without it
    text = render_table.render_plain(a, exact, 220) if render_table.plain_ok(sys.stdout) else None
    if text is not None:
        sys.stdout.write(text)
        return
    from rich.console import Console

    con = Console()
    # pipes and CI logs get the whole table instead of truncated cells
    render_table.render(a, con if con.is_terminal else Console(width=220), exact)
