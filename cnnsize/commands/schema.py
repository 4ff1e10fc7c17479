"""``cnnsize schema``: the JSON Schema of the spec format, for editors."""

from __future__ import annotations

import click

from cnnsize.commands.output import emit, guard, output_option


@click.command()
@output_option
def schema(output: str | None) -> None:
    """Print the JSON Schema (Draft 2020-12) of the spec format.

    Point an editor's YAML language server at it for completion and checks:
    see docs/spec.md, "Editor support"."""
    from cnnsize.engine.schema import render

    guard(output)
    emit(render(), output)
