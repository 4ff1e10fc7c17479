"""``cnnsize schema``: the JSON Schema of the spec format, for editors."""

from __future__ import annotations

import click


@click.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write to FILE instead of stdout.")
def schema(output: str | None) -> None:
    """Print the JSON Schema (Draft 2020-12) of the spec format.

    Point an editor's YAML language server at it for completion and checks:
    see docs/spec.md, "Editor support"."""
    from cnnsize.engine.schema import render

    text = render()
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        click.echo(text, nl=False)
