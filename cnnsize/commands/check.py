"""``cnnsize check SPEC...``: hold specs to budgets (params, MACs, memory,
receptive field) in CI. Budgets come from flags and from each spec's
``budgets:`` block; a flag overrides the spec's budget of the same name.
The exit code is decided by :func:`cnnsize.commands.cli.exit_code_for`."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any

import click

from cnnsize.commands.common import analysis_options
from cnnsize.engine.units import human, parse_quantity


@dataclass(frozen=True)
class Budget:
    key: str  # name in the spec's budgets: block
    flag: str  # command-line flag
    metric: str  # what is measured, as printed
    total: str  # key in Analysis.totals
    bound: str  # "max" or "min"
    bytes: bool = False


# One row per budget; the spec's keys are cnnsize.engine.spec.BUDGET_KEYS.
BUDGETS: tuple[Budget, ...] = (
    Budget("max_params", "--max-params", "params", "params", "max"),
    Budget("max_weights", "--max-weights", "weights", "weights", "max"),
    Budget("max_macs", "--max-macs", "MACs", "macs", "max"),
    Budget("max_flops", "--max-flops", "FLOPs", "flops", "max"),
    Budget("max_connections", "--max-connections", "connections", "connections", "max"),
    Budget("max_units", "--max-units", "units", "units", "max"),
    Budget("max_activation_bytes", "--max-activation", "activation memory", "activation_bytes", "max", True),
    Budget("max_peak_bytes", "--max-peak-memory", "peak inference memory", "peak_activation_bytes", "max", True),
    Budget("max_training_bytes", "--max-training-memory", "training memory", "training_bytes", "max", True),
    Budget("min_receptive_field", "--min-receptive-field", "receptive field", "receptive_field", "min"),
    Budget("max_receptive_field", "--max-receptive-field", "receptive field", "receptive_field", "max"),
)
BY_KEY = {b.key: b for b in BUDGETS}


@dataclass
class Outcome:
    budget: Budget
    measured: int | float | None
    limit: int
    ok: bool
    source: str  # "flag" or "spec"
    file: str
    line: int | None = None
    col: int | None = None

    def where(self) -> str:
        return f"{self.file}:{self.line}:{self.col}" if self.line else self.file

    def limit_name(self) -> str:
        return self.budget.flag if self.source == "flag" else f"budgets.{self.budget.key}"

    def message(self) -> str:
        b = self.budget
        lim = _qty(self.limit, b.bytes)
        if self.measured is None:
            return f"{b.metric} is undefined for this network (no spatial output), so {self.limit_name()} {lim} cannot hold"
        verb = "exceeds" if b.bound == "max" else "is below"
        rel = "<=" if b.bound == "max" else ">="
        meas = _qty(self.measured, b.bytes)
        if self.ok:
            return f"{b.metric} {meas} {rel} {self.limit_name()} {lim}"
        over = self.measured - self.limit
        pct = f" ({over / self.limit:+.1%})" if self.limit else ""
        return f"{b.metric} {meas} {verb} {self.limit_name()} {lim}{pct}"

    def to_json(self) -> dict[str, Any]:
        return {
            "budget": self.budget.key,
            "flag": self.budget.flag,
            "metric": self.budget.total,
            "bound": self.budget.bound,
            "measured": self.measured,
            "limit": self.limit,
            "ok": self.ok,
            "source": self.source,
            "file": self.file,
            "line": self.line,
            "column": self.col,
            "message": self.message(),
        }


@dataclass
class Result:
    spec: str
    model: str | None = None
    outcomes: list[Outcome] = field(default_factory=list)
    diagnostics: list[Any] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.diagnostics:
            return "invalid"
        return "exceeded" if any(not o.ok for o in self.outcomes) else "ok"

    @property
    def violations(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]


def _qty(v: int | float, is_bytes: bool) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    exact = f"{v:,}"
    if is_bytes:
        return f"{exact} B ({human(v, binary=True)})" if v >= 1024 else f"{exact} B"
    return f"{exact} ({human(v)})" if v >= 1000 else exact


def _measure(b: Budget, totals: dict[str, Any]) -> int | float | None:
    v = totals.get(b.total)
    if b.total == "receptive_field":
        if not v:
            return None
        # every spatial axis must reach a minimum; none may pass a maximum
        return min(v) if b.bound == "min" else max(v)
    return v


def evaluate(a: Any, flags: dict[str, int]) -> list[Outcome]:
    """Each budget that applies to this analysis, measured against its limit."""
    spec = a.spec
    out = []
    for b in BUDGETS:
        if b.key in flags:
            limit, source, line, col = flags[b.key], "flag", None, None
        elif b.key in spec.budgets:
            loc = spec.budget_locs.get(b.key)
            limit, source = spec.budgets[b.key], "spec"
            line, col = (loc.line, loc.col) if loc else (None, None)
        else:
            continue
        measured = _measure(b, a.totals)
        if measured is None:
            ok = False
        elif b.bound == "max":
            ok = measured <= limit
        else:
            ok = measured >= limit
        out.append(Outcome(b, measured, limit, ok, source, spec.file, line, col))
    return out


def _analyse(
    path: str,
    input_: str | None,
    batch: int,
    dtype: str,
    convention: str,
    optimizer: str,
    sets: tuple[str, ...],
    flags: dict[str, int],
) -> Result:
    from cnnsize.commands.cli import parse_sets, parse_shape
    from cnnsize.engine.analysis import analyze
    from cnnsize.engine.errors import Diagnostic, SpecError
    from cnnsize.engine.load import load_spec

    shape = parse_shape(input_)
    try:
        spec = load_spec(path, parse_sets(sets))
        if shape is not None and spec.input and len(shape) != len(spec.input):
            raise SpecError(
                [
                    Diagnostic(
                        "input-rank",
                        f"--input has {len(shape)} sizes but the spec's input has {len(spec.input)}",
                        "give channels and the same number of spatial sizes",
                        spec.input_loc,
                    )
                ]
            )
        a = analyze(spec, input_shape=shape, batch=batch, dtype=dtype, convention=convention, optimizer=optimizer)
    except SpecError as exc:
        return Result(path, diagnostics=list(exc.diagnostics))
    except RecursionError:
        return Result(
            path, diagnostics=[Diagnostic("limit-depth", "the spec is nested too deeply to analyse", "simplify it")]
        )
    return Result(path, a.model, outcomes=evaluate(a, flags))


# -- GitHub workflow commands -------------------------------------------------


def gh_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def gh_prop(s: str) -> str:
    return gh_data(s).replace(":", "%3A").replace(",", "%2C")


def gh_annotation(level: str, message: str, file: str | None, line: int | None, col: int | None, title: str) -> str:
    props = []
    if file:
        props.append(f"file={gh_prop(file)}")
    if line:
        props.append(f"line={line}")
    if col:
        props.append(f"col={col}")
    props.append(f"title={gh_prop(title)}")
    return f"::{level} {','.join(props)}::{gh_data(message)}"


# -- output -------------------------------------------------------------------


def _text(results: list[Result]) -> list[str]:
    lines = []
    for r in results:
        if r.status == "invalid":
            lines.append(
                f"{r.spec}: invalid spec ({len(r.diagnostics)} error{'s' if len(r.diagnostics) != 1 else ''}, see above)"
            )
            continue
        if not r.outcomes:
            lines.append(f"{r.spec}: no budgets to check (give --max-params etc. or a budgets: block)")
            continue
        for o in r.violations:
            lines.append(f"{o.where()}: budget exceeded: {r.model}: {o.message()}")
        n, bad = len(r.outcomes), len(r.violations)
        if bad:
            lines.append(f"{r.spec}: FAIL: {r.model}: {bad} of {n} budget{'s' if n != 1 else ''} exceeded")
        else:
            lines.append(f"{r.spec}: ok: {r.model}: {n} budget{'s hold' if n != 1 else ' holds'}")
        lines.extend(f"  holds: {o.message()}" for o in r.outcomes if o.ok)
    return lines


def _github(results: list[Result]) -> list[str]:
    lines = []
    for r in results:
        for d in r.diagnostics:
            loc = d.loc
            msg = d.format() if loc is None else d.format()[len(str(loc)) + 2 :]
            level = "warning" if d.severity == "warning" else "error"
            lines.append(
                gh_annotation(
                    level,
                    msg,
                    loc.file if loc else r.spec,
                    loc.line if loc else None,
                    loc.col if loc else None,
                    "cnnsize spec",
                )
            )
        for o in r.violations:
            lines.append(gh_annotation("error", f"{r.model}: {o.message()}", o.file, o.line, o.col, "cnnsize budget"))
        if r.status == "ok":
            n = len(r.outcomes)
            lines.append(
                f"cnnsize: {r.spec}: {n} budget{'s hold' if n != 1 else ' holds'}"
                if n
                else f"cnnsize: {r.spec}: no budgets to check"
            )
    return lines


def _flag_values(values: dict[str, str | None]) -> dict[str, int]:
    from cnnsize.commands.cli import usage_error

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
    input_: str | None,
    batch: int,
    dtype: str,
    convention: str,
    optimizer: str,
    sets: tuple[str, ...],
    fmt: str,
    **budget_flags: str | None,
) -> None:
    """Check that each SPEC stays within its budgets.

    Budgets come from the flags below and from the spec's budgets: block (a
    flag wins over the spec's budget of the same name). Exit 0 when every
    budget holds, 1 when any is exceeded, 3 when a spec is invalid. Quantities
    take suffixes: 5M, 1.5G, 100MiB, 2GB.
    """
    from cnnsize.commands.cli import exit_code_for

    flags = _flag_values(budget_flags)
    results = [_analyse(p, input_, batch, dtype, convention, optimizer, sets, flags) for p in specs]
    code = exit_code_for(results)

    if fmt == "json":
        doc = {
            "schema": "cnnsize.check/1",
            "ok": code == 0,
            "exit_code": code,
            "results": [
                {
                    "spec": r.spec,
                    "model": r.model,
                    "status": r.status,
                    "checks": [o.to_json() for o in r.outcomes],
                    "diagnostics": [d.to_json() for d in r.diagnostics],
                }
                for r in results
            ],
        }
        click.echo(json.dumps(doc, indent=2))
    elif fmt == "github":
        for line in _github(results):
            click.echo(line)
    else:
        for r in results:
            for d in r.diagnostics:
                click.echo(d.format(), err=True)
        for line in _text(results):
            click.echo(line)
    sys.exit(code)
