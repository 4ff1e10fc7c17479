"""``cnnsize check SPEC...``: hold specs to budgets (params, MACs, memory,
receptive field) in CI. Budgets come from flags and from each spec's
``budgets:`` block; a flag overrides the spec's budget of the same name.
The exit code is decided by :func:`cnnsize.commands.outcome.exit_code_for`."""

from __future__ import annotations

import sys
from typing import Any

import click

from cnnsize.commands.common import Options, analyse, analysis_options
from cnnsize.commands.outcome import exit_code_for, usage_error
from cnnsize.engine.units import parse_quantity
from cnnsize.views.check import BUDGETS, Result, evaluate


def _analyse(path: str, opts: Options, flags: dict[str, int]) -> Result:
    """One spec's result; an invalid spec is a result too (check goes on)."""
    from cnnsize.engine.errors import SpecError

    try:
        a = analyse(path, opts)
    except SpecError as exc:
        return Result(path, diagnostics=list(exc.diagnostics))
    return Result(path, a.model, outcomes=evaluate(a, flags))


def _flag_values(values: dict[str, str | None]) -> dict[str, int]:
    out = {}
    for b in BUDGETS:
        text = values.get(b.key)
        if text is None:
            continue
        try:
            out[b.key] = parse_quantity(text)
        except ValueError as exc:
            usage_error(f"{b.flag} {text!r}: {exc}")
    return out


def _budget_options(fn: Any) -> Any:
    examples = {"max_params": "5M", "max_macs": "1G", "max_activation_bytes": "100MiB", "min_receptive_field": "224"}
    for b in reversed(BUDGETS):
        what = f"{b.metric} ({'bytes' if b.bytes else 'count'})"
        bound = "at most" if b.bound == "max" else "at least"
        eg = f", e.g. {examples[b.key]}" if b.key in examples else ""
        text = f"Require {what} {bound} N{eg}."
        if b.total == "receptive_field":
            text = f"Require the receptive field to be {bound} N on every spatial axis{eg}."
        fn = click.option(b.flag, b.key, metavar="N", help=text)(fn)
    return fn


@click.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=True, path_type=str))
@_budget_options
@analysis_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="github: workflow annotations (::error file=...,line=...::...).",
)
def check(
    specs: tuple[str, ...],
    opts: Options,
    fmt: str,
    **budget_flags: str | None,
) -> None:
    """Check that each SPEC stays within its budgets.

    Budgets come from the flags below and from the spec's budgets: block (a
    flag wins over the spec's budget of the same name). Exit 0 when every
    budget holds, 1 when any is exceeded, 3 when a spec is invalid. Quantities
    take suffixes: 5M, 1.5G, 100MiB, 2GB.
    """
    flags = _flag_values(budget_flags)
    results = [_analyse(p, opts, flags) for p in specs]
    code = exit_code_for(results)

    from cnnsize.render import check as render_check

    if fmt == "json":
        click.echo(render_check.render_json(results, code))
    elif fmt == "github":
        for line in render_check.render_github(results):
            click.echo(line)
    else:
        for r in results:
            for d in r.diagnostics:
                click.echo(d.format(), err=True)
        for line in render_check.render_text(results):
            click.echo(line)
    sys.exit(code)
