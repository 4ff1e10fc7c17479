"""Command line: wires the subcommands together. Each lives in its own module
and is imported only when used, so ``cnnsize --help`` and ``cnnsize report``
start fast. Exit codes are decided in cnnsize.commands.outcome (one table)."""

from __future__ import annotations

import importlib
import sys

import click

from cnnsize import __version__
from cnnsize.commands.outcome import EXIT_OK, internal_error, interrupted

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
        internal_error(exc)
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
