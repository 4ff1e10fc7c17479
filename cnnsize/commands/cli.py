"""Command line. Exit codes are decided here and nowhere else:
0 ok, 1 a budget is exceeded, 2 usage error, 3 invalid spec or shape error.
Subcommands live in their own modules and are imported only when used, so
``cnnsize --help`` and ``cnnsize report`` start fast."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click

from cnnsize import __version__

EXIT_OK = 0
EXIT_BUDGET = 1
EXIT_USAGE = 2
EXIT_SPEC = 3
EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 70

# name -> "module:attribute" of a click command; modules load lazily
COMMANDS: dict[str, str] = {
    "report": "cnnsize.commands.report:report",
    "profile": "cnnsize.commands.profile:profile",
    "import": "cnnsize.commands.import_:import_",
    "compare": "cnnsize.commands.compare:compare",
    "check": "cnnsize.commands.check:check",
    "schema": "cnnsize.commands.schema:schema",
    "graph": "cnnsize.commands.graph:graph",
    "sweep": "cnnsize.commands.sweep:sweep",
    "tables": "cnnsize.commands.tables:tables",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        mod, attr = target.split(":")
        cmd = getattr(importlib.import_module(mod), attr)
        assert isinstance(cmd, click.Command)
        return cmd


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(
    __version__,
    "--version",
    prog_name="cnnsize",
    message="%(prog)s, version %(version)s",
    help="Show the version and exit.",
)
def cli() -> None:
    """Exact size and cost reports for CNN architectures written as YAML specs."""


def fail_spec(err: Any, fmt: str = "text") -> NoReturn:
    """Print every diagnostic of a SpecError and exit 3."""
    diags = getattr(err, "diagnostics", [])
    if fmt == "json":
        import json

        doc = {
            "schema": "cnnsize.diagnostics/1",
            "diagnostics": [d.to_json() for d in diags],
            "skipped": list(getattr(err, "skipped", [])),
        }
        click.echo(json.dumps(doc, indent=2))
    else:
        for d in diags:
            click.echo(d.format(), err=True)
        n = sum(1 for d in diags if d.severity == "error")
        skipped = getattr(err, "skipped", [])
        tail = (
            f"; {len(skipped)} layer{'s' if len(skipped) != 1 else ''} not analysed because {'they depend' if len(skipped) != 1 else 'it depends'} on a layer with an error"
            if skipped
            else ""
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


def emit(text: str, output: str | None) -> None:
    """Data to FILE (-o) or stdout; diagnostics never come through here."""
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        click.echo(text, nl=not text.endswith("\n"))


def usage_error(msg: str) -> NoReturn:
    raise click.UsageError(msg)


def fail_budget(msg: str) -> NoReturn:
    """A limit would be exceeded (a budget, or memory a run would need): exit 1."""
    click.echo(f"cnnsize: {msg}", err=True)
    sys.exit(EXIT_BUDGET)


def interrupted() -> NoReturn:
    """Ctrl-C inside a command: click would turn it into 'Aborted!' and exit 1."""
    click.echo("cnnsize: interrupted", err=True)
    sys.exit(EXIT_INTERRUPTED)


def parse_shape(text: str | None) -> tuple[int, ...] | None:
    """'3x224x224' -> (3, 224, 224)."""
    if text is None:
        return None
    parts = text.lower().replace(",", "x").split("x")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        usage_error(f"--input {text!r}: write sizes like 3x224x224")
    if not 1 <= len(shape) <= 4 or any(s < 1 or s > 10**9 for s in shape):
        usage_error(f"--input {text!r}: channels then up to 3 spatial sizes, each 1..10^9")
    return shape


def parse_sets(items: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            usage_error(f"--set {item!r}: write name=value")
        k, v = item.split("=", 1)
        import yaml

        try:
            out[k.strip()] = yaml.safe_load(v)
        except yaml.YAMLError:
            out[k.strip()] = v
    return out


def run_guarded(fn: Callable[[], Any]) -> Any:
    """Turn any unexpected exception into a one-line message, never a traceback."""
    from cnnsize.engine.errors import SpecError

    try:
        return fn()
    except SpecError as exc:
        fail_spec(exc)
    except RecursionError:
        click.echo("cnnsize: error: input is nested too deeply to analyse", err=True)
        sys.exit(EXIT_SPEC)


def main() -> None:
    # standalone_mode=False: click would otherwise turn Ctrl-C into "Aborted!"
    # with exit 1, which reads as "budget exceeded" to a CI job.
    try:
        rv = cli.main(prog_name="cnnsize", standalone_mode=False)
    except (KeyboardInterrupt, click.exceptions.Abort):
        interrupted()
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - last line of defence: no tracebacks
        click.echo(f"cnnsize: internal error: {type(exc).__name__}: {exc} (please report this with the spec)", err=True)
        sys.exit(EXIT_INTERNAL)
    sys.exit(rv if isinstance(rv, int) else EXIT_OK)


def run() -> None:
    """The process entry point (the ``cnnsize`` script, ``python -m cnnsize``):
    main(), then the interpreter's exit without its final full collection.

    At exit CPython collects garbage over every object still alive (click's,
    PyYAML's, the analysis): 8 ms of a 72 ms ``cnnsize report``, for nothing,
    as the process ends. gc.freeze() moves them out of the collector's sight;
    they are still freed, and the standard streams flushed, as usual. Not in
    main(), which tests and other programs call in their own process."""
    import gc

    try:
        main()
    finally:
        gc.freeze()
