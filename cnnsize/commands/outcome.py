"""How a command ends: the one table of exit codes, and the helpers that
print a failure and exit with its code. Commands import these; nothing here
imports a command, so cli.py only wires commands together."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click

EXIT_OK = 0
EXIT_BUDGET = 1
EXIT_USAGE = 2
EXIT_SPEC = 3
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130

# code -> meaning; docs/cli.md's exit-code table lists exactly these (a test checks)
EXIT_CODES: dict[int, str] = {
    EXIT_OK: "ok",
    EXIT_BUDGET: "a budget is exceeded",
    EXIT_USAGE: "usage error",
    EXIT_SPEC: "invalid spec or shape error",
    EXIT_INTERNAL: "internal error (a bug: please report it)",
    EXIT_INTERRUPTED: "interrupted",
}


def fail_spec(err: Any, fmt: str = "text") -> NoReturn:
    """Print every diagnostic of a SpecError and exit 3 (as JSON on stdout
    when the command was asked for JSON)."""
    diags = getattr(err, "diagnostics", [])
    skipped = list(getattr(err, "skipped", []))
    if fmt == "json":
        import json

        doc = {"schema": "cnnsize.diagnostics/1", "diagnostics": [d.to_json() for d in diags], "skipped": skipped}
        click.echo(json.dumps(doc, indent=2))
    else:
        for d in diags:
            click.echo(d.format(), err=True)
        n = sum(1 for d in diags if d.severity == "error")
        tail = ""
        if skipped:
            many = len(skipped) != 1
            tail = (
                f"; {len(skipped)} layer{'s' if many else ''} not analysed because "
                f"{'they depend' if many else 'it depends'} on a layer with an error"
            )
        if n > 1 or tail:
            click.echo(f"{n} error{'s' if n != 1 else ''}{tail}", err=True)
    sys.exit(EXIT_SPEC)


def exit_code_for(results: Any) -> int:
    """The exit code of ``cnnsize check``: 3 if any spec is invalid, else 1 if
    any budget is exceeded, else 0. ``results`` are items with ``status`` of
    "ok", "exceeded" or "invalid" (objects or dicts)."""
    statuses = {r["status"] if isinstance(r, dict) else r.status for r in results}
    if "invalid" in statuses:
        return EXIT_SPEC
    if "exceeded" in statuses:
        return EXIT_BUDGET
    return EXIT_OK


def usage_error(msg: str) -> NoReturn:
    """A bad option or argument: click prints the usage line and exits 2."""
    raise click.UsageError(msg)


def fail_budget(msg: str) -> NoReturn:
    """A limit would be exceeded (a budget, or memory a run would need): exit 1."""
    click.echo(f"cnnsize: {msg}", err=True)
    sys.exit(EXIT_BUDGET)


def interrupted() -> NoReturn:
    """Ctrl-C inside a command: click would turn it into 'Aborted!' and exit 1,
    which reads as "budget exceeded" to a CI job."""
    click.echo("cnnsize: interrupted", err=True)
    sys.exit(EXIT_INTERRUPTED)


def internal_error(exc: BaseException) -> NoReturn:
    """The last line of defence: a bug, as one line instead of a traceback."""
    click.echo(f"cnnsize: internal error: {type(exc).__name__}: {exc} (please report this with the spec)", err=True)
    sys.exit(EXIT_INTERNAL)
