"""``cnnsize graph SPEC``: the layer graph with tensor shapes on the edges."""

from __future__ import annotations

import click

from cnnsize.commands.common import Options, analyse_or_exit, analysis_options
from cnnsize.commands.output import emit, guard, output_option


@click.command()
@click.argument("spec", type=click.Path(dir_okay=False, path_type=str))
@analysis_options
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid", show_default=True)
@click.option(
    "--direction",
    type=click.Choice(["TB", "LR"]),
    default="TB",
    show_default=True,
    help="Top to bottom or left to right.",
)
@output_option
def graph(spec: str, opts: Options, fmt: str, direction: str, output: str | None) -> None:
    """Print the layer graph of SPEC as a Mermaid flowchart or Graphviz DOT.

    Nodes are layers (name and kind); each edge is labelled with the shape of
    the tensor it carries, per sample. Paste Mermaid into Markdown (GitHub
    renders it) or pipe DOT to `dot -Tsvg`."""
    from cnnsize.engine.analysis import build_graph
    from cnnsize.render import graph as render_graph

    guard(output, [spec])
    a = analyse_or_exit(spec, opts)
    g = build_graph(a.spec)
    text = (
        render_graph.mermaid(a, g, "TD" if direction == "TB" else "LR")
        if fmt == "mermaid"
        else render_graph.dot(a, g, direction)
    )
    emit(text, output)
