"""``cnnsize report SPEC``: per-layer and total metrics of one spec."""

from __future__ import annotations

import click

from cnnsize.commands.common import analyse_path, analysis_options

# format name -> "module:function(analysis, raw) -> str"; the table is special
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
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write to FILE instead of stdout.")
@click.option("--raw", is_flag=True, help="Exact integers instead of 61.1M.")
def report(
    spec: str,
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
    """Per-layer size and cost report of SPEC."""
    a = analyse_path(spec, input_, batch, dtype, convention, optimizer, sets, fmt)
    if fmt == "table":
        from cnnsize.render import table as render_table

        if output:
            with open(output, "w", encoding="utf-8") as fh:
                text = render_table.render_plain(a, raw, 200) if render_table.plain_ok(fh) else None
                if text is not None:
                    fh.write(text)
                    return
                from rich.console import Console

                render_table.render(a, Console(file=fh, width=200), raw)
        else:
            import sys

            # rich's import alone outweighs the analysis: pipes get the same bytes without it
            text = render_table.render_plain(a, raw, 220) if render_table.plain_ok(sys.stdout) else None
            if text is not None:
                sys.stdout.write(text)
                return
            from rich.console import Console

            con = Console()
            # pipes and CI logs get the whole table instead of truncated cells
            render_table.render(a, con if con.is_terminal else Console(width=220), raw)
        return
    import importlib

    mod, fn = FORMATS[fmt].split(":")
    text = getattr(importlib.import_module(mod), fn)(a, raw)
    from cnnsize.commands.cli import emit

    emit(text, output)
