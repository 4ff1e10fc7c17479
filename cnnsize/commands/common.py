"""Options shared by the commands that analyse a spec, and the one function
that turns them into an Analysis (or exits 3 with every diagnostic)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from cnnsize.engine.analysis import OPTIMIZER_STATE
from cnnsize.engine.units import DTYPE_BYTES


def analysis_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    from cnnsize.engine.conventions import CONVENTIONS

    opts = [
        click.option("--input", "input_", metavar="CxHxW", help="Override the spec's input shape, e.g. 3x224x224."),
        click.option(
            "--batch",
            type=click.IntRange(1, 10**6),
            default=1,
            show_default=True,
            help="Batch size for memory figures.",
        ),
        click.option("--dtype", type=click.Choice(sorted(DTYPE_BYTES)), default="float32", show_default=True),
        click.option(
            "--convention",
            type=click.Choice(sorted(CONVENTIONS)),
            default="cnnsize",
            show_default=True,
            help="What MACs and FLOPs count (docs/conventions.md).",
        ),
        click.option(
            "--optimizer",
            type=click.Choice(sorted(OPTIMIZER_STATE)),
            default="adam",
            show_default=True,
            help="Optimizer state in training memory.",
        ),
        click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a spec var (repeatable)."),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


def analyse_path(
    path: str,
    input_: str | None,
    batch: int,
    dtype: str,
    convention: str,
    optimizer: str,
    sets: tuple[str, ...],
    fmt: str = "text",
) -> Any:
    from cnnsize.commands.cli import fail_spec, parse_sets, parse_shape
    from cnnsize.engine.analysis import analyze
    from cnnsize.engine.errors import SpecError
    from cnnsize.engine.load import load_spec

    shape = parse_shape(input_)
    overrides = parse_sets(sets)
    try:
        # keep_going: the spec's own errors and the engine's come in one run
        spec = load_spec(path, overrides, keep_going=True)
        if shape is not None and spec.input and len(shape) != len(spec.input):
            from cnnsize.engine.errors import Diagnostic

            raise SpecError(
                [
                    Diagnostic(
                        "input-rank",
                        f"--input has {len(shape)} sizes but the spec's input has {len(spec.input)}",
                        "give channels and the same number of spatial sizes",
                        spec.input_loc,
                    ),
                    *spec.diagnostics,
                ]
            )
        return analyze(spec, input_shape=shape, batch=batch, dtype=dtype, convention=convention, optimizer=optimizer)
    except SpecError as exc:
        fail_spec(exc, "json" if fmt == "json" else "text")
    except RecursionError:
        from cnnsize.engine.errors import Diagnostic, Loc

        fail_spec(
            SpecError(
                [
                    Diagnostic(
                        "limit-depth",
                        "the spec is nested too deeply to analyse",
                        "simplify it (docs/errors.md lists the limits)",
                        Loc(path, 0, 0),
                    )
                ]
            ),
            "json" if fmt == "json" else "text",
        )
    except MemoryError:
        from cnnsize.engine.errors import Diagnostic, Loc

        fail_spec(
            SpecError(
                [
                    Diagnostic(
                        "limit-memory",
                        "the machine ran out of memory analysing this spec",
                        "make it smaller (docs/errors.md lists the limits)",
                        Loc(path, 0, 0),
                    )
                ]
            ),
            "json" if fmt == "json" else "text",
        )
