"""``cnnsize tables [NAME]``: the seed tables, published vs computed vs difference.

docs/tables.md is this command's Markdown output:
``python -m cnnsize tables --format md -o docs/tables.md`` (a test fails when
the committed file differs)."""

from __future__ import annotations

import os

import click

from cnnsize.commands.outcome import usage_error
from cnnsize.commands.output import emit, emit_rich, guard, output_option


@click.command()
@click.argument("name", required=False)
@click.option("--format", "fmt", type=click.Choice(["table", "json", "md"]), default="table", show_default=True)
@output_option
@click.option(
    "--specs",
    "specs_dir",
    type=click.Path(file_okay=False, exists=True),
    help="Directory of the specs the tables name (default: the repository's specs/).",
)
@click.option("--list", "list_", is_flag=True, help="List the table names and exit.")
def tables(name: str | None, fmt: str, output: str | None, specs_dir: str | None, list_: bool) -> None:
    """The seed tables: each published figure beside the value cnnsize computes,
    the difference, the convention that reproduces it, and a note wherever
    the published figure does not add up."""
    from cnnsize.engine.errors import did_you_mean
    from cnnsize.render import tables as render_tables
    from cnnsize.views.tables import DATA_FILE, DEFAULT_SPECS_DIR, Context, build, load_data

    data = load_data()
    ids = [t["id"] for t in data]
    if list_:
        for t in data:
            click.echo(f"{t['id']:<28} {t.get('title', '')}")
        return
    if name is not None and name not in ids:
        usage_error(f"no seed table '{name}'; {did_you_mean(name, ids) or 'see cnnsize tables --list'}")
    guard(output, [DATA_FILE, *_spec_files(specs_dir or DEFAULT_SPECS_DIR)])
    result = build(name, data, Context(specs_dir) if specs_dir else None)
    if fmt == "table":
        emit_rich(lambda con: render_tables.render_table(result, con), output, 160, 160)
        return
    emit(render_tables.render_json(result) if fmt == "json" else render_tables.render_md(result), output)


def _spec_files(folder: str) -> list[str]:
    """The files tables may read from its specs folder (-o may not be one)."""
    try:
        return [e.path for e in os.scandir(folder) if e.name.endswith(".yaml")]
    except OSError:
        return []
