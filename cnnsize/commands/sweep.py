"""``cnnsize sweep SPEC --input 3x{128..512..64}``: how params, MACs, FLOPs
and memory grow with input size and batch. A size at which the network
breaks is reported (naming the first layer that breaks) and the sweep goes
on with the other sizes."""

from __future__ import annotations

import sys

import click

from cnnsize.commands.common import (
    Options,
    analyse_spec,
    analysis_options,
    check_size,
    exact_option,
    is_plain,
    load,
    parse_shape,
    rank_error,
)
from cnnsize.commands.outcome import EXIT_SPEC, fail_spec, usage_error
from cnnsize.commands.output import emit, emit_rich, guard, output_option
from cnnsize.render.sweep import CHART_METRICS


@click.command()
@click.argument("spec", type=click.Path(dir_okay=False, path_type=str))
@click.argument("more_inputs", nargs=-1, metavar="")
@analysis_options(pattern=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "md"]), default="table", show_default=True)
@click.option(
    "--chart",
    "charts",
    multiple=True,
    type=click.Choice(CHART_METRICS),
    help="Add a bar chart of this metric (table and md; repeatable).",
)
@output_option
@exact_option
def sweep(
    spec: str,
    more_inputs: tuple[str, ...],
    opts: Options,
    fmt: str,
    charts: tuple[str, ...],
    output: str | None,
    exact: bool,
) -> None:
    """Analyse SPEC at every input size (and batch) of a sweep.

    Braces expand per axis: {a..b} (inclusive), {a..b..step}, {a..b..x2}
    (doubling) and {a,b,c}. Giving fewer spatial sizes than the spec's input
    repeats the last one, so 3x{128..512..64} sweeps square images. Left
    unquoted, the shell expands the braces itself (--input 3x128 3x192 ...);
    the sizes it passes are swept the same way."""
    from cnnsize.engine.errors import SpecError
    from cnnsize.render import sweep as render_sweep
    from cnnsize.views.sweep import MAX_POINTS, SweepSyntaxError, expand_axes, parse_axes, run

    if charts and fmt not in ("table", "md"):
        usage_error("--chart works with --format table or md")
    guard(output, [spec])
    # an unquoted 3x{128..512..64} reaches us shell-expanded: --input 3x128 3x192 ...
    patterns = [*opts.input_patterns, *more_inputs]
    try:
        if not patterns:
            raise SweepSyntaxError("give the sizes to sweep: --input 3x{128..512..64}")
        if more_inputs and not opts.input_patterns:
            raise SweepSyntaxError(f"unexpected argument {more_inputs[0]!r}; sizes go after --input")
        for p in more_inputs:
            if is_plain(p):
                parse_shape(p)  # as read_options checks those given after --input
        axes = [parse_axes(p) for p in patterns]
    except SweepSyntaxError as exc:
        usage_error(str(exc))
    for p, ax in zip(patterns, axes):
        for values in ax:
            for v in values:
                check_size(v, p)  # each size as --input of any other command checks it
    fmt_diag = "json" if fmt == "json" else "text"
    try:
        s = load(spec, opts)
        rank = len(s.input)
        for ax in axes:
            # fewer axes than the spec's input repeat the last (square inputs); more is the input-rank error
            if len(ax) > rank or (len(ax) < rank and len(ax) < 2):
                raise rank_error(s, len(ax), [])
    except SpecError as exc:
        fail_spec(exc, fmt_diag)
    try:
        inputs = list(dict.fromkeys(shape for p, ax in zip(patterns, axes) for shape in expand_axes(ax, rank, p)))
        batches = list(opts.batches)
        if len(inputs) * len(batches) > MAX_POINTS:
            raise SweepSyntaxError(f"{len(inputs)} inputs x {len(batches)} batches is more than {MAX_POINTS:,} points")
    except SweepSyntaxError as exc:
        usage_error(str(exc))

    def analyse(shape: tuple[int, ...], batch: int) -> object:
        return analyse_spec(s, opts, shape, batch)

    from functools import partial

    sweep_all = partial(
        run, s, inputs, batches, dtype=opts.dtype, convention=opts.convention, optimizer=opts.optimizer, analyse=analyse
    )
    total = len(inputs) * len(batches)
    if sys.stdout.isatty() and total > 1 and not output:
        from rich.console import Console
        from rich.progress import Progress

        with Progress(console=Console(stderr=True), transient=True) as prog:
            task = prog.add_task(f"sweeping {s.name}", total=total)
            data = sweep_all(advance=lambda: prog.advance(task))
    else:
        data = sweep_all()
    for p in data["points"]:
        if not p["ok"]:
            click.echo(render_sweep.failure_line(p), err=True)
    if fmt == "table":
        emit_rich(lambda con: render_sweep.render_table(data, con, exact, list(charts)), output, 200, 200)
    elif fmt == "json":
        emit(render_sweep.render_json(data), output)
    elif fmt == "csv":
        emit(render_sweep.render_csv(data), output)
    else:
        emit(render_sweep.render_md(data, exact, list(charts)), output)
    if not any(p["ok"] for p in data["points"]):
        sys.exit(EXIT_SPEC)  # no size could be analysed: the spec is unusable as swept
