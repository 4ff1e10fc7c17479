"""``cnnsize profile SPEC``: materialize the spec in torch, run it, and print
every estimate next to what the run measured (docs/profile.md)."""

from __future__ import annotations

import sys
from typing import Any

import click

PROFILE_DTYPES = ["float32", "float16", "bfloat16", "float64"]


@click.command()
@click.argument("spec", type=click.Path(dir_okay=True, path_type=str))
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option("--batch", type=click.IntRange(1, 10**6), default=1, show_default=True)
@click.option(
    "--repeat",
    type=click.IntRange(1, 10**6),
    default=10,
    show_default=True,
    help="Timed forward passes (the median is reported).",
)
@click.option(
    "--warmup",
    type=click.IntRange(0, 10**6),
    default=3,
    show_default=True,
    help="Untimed forward passes before timing.",
)
@click.option("--dtype", type=click.Choice(PROFILE_DTYPES), default="float32", show_default=True)
@click.option("--input", "input_", metavar="CxHxW", help="Override the spec's input shape.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a spec var (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "md", "csv"]), default="table", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write to FILE instead of stdout.")
@click.option(
    "--force", is_flag=True, help="Run even if the estimated peak memory exceeds what the device has available."
)
@click.option(
    "--memory-limit", metavar="SIZE", help="Refuse above SIZE (e.g. 2GiB) instead of the device's available memory."
)
@click.option(
    "--device-profile",
    "profile_name",
    metavar="NAME",
    help="Roofline for a named device of devices.yaml instead of this one's.",
)
@click.option(
    "--recalibrate", is_flag=True, help="Measure this device's FLOP/s and bandwidth again instead of using the cache."
)
@click.option("--threads", type=click.IntRange(1, 4096), help="CPU threads for torch (default: torch's own choice).")
@click.option("--raw", is_flag=True, help="Exact integers instead of 61.1M.")
def profile(
    spec: str,
    device: str,
    batch: int,
    repeat: int,
    warmup: int,
    dtype: str,
    input_: str | None,
    sets: tuple[str, ...],
    fmt: str,
    output: str | None,
    force: bool,
    memory_limit: str | None,
    profile_name: str | None,
    recalibrate: bool,
    threads: int | None,
    raw: bool,
) -> None:
    """Run SPEC in torch and compare every estimate with the measurement.

    Per layer: output shape and parameters (must be equal), FLOPs against
    torch's FlopCounterMode (torch convention, must be equal), activation bytes
    against the tensors produced, and time (median after warm-up) against a
    roofline estimate. Refuses (exit 1) when the estimated peak memory exceeds
    the memory available, unless --force.
    """
    from cnnsize.commands.cli import interrupted

    try:
        _run(
            spec,
            device,
            batch,
            repeat,
            warmup,
            dtype,
            input_,
            sets,
            fmt,
            output,
            force,
            memory_limit,
            profile_name,
            recalibrate,
            threads,
            raw,
        )
    except KeyboardInterrupt:
        interrupted()


def _run(
    spec: str,
    device: str,
    batch: int,
    repeat: int,
    warmup: int,
    dtype: str,
    input_: str | None,
    sets: tuple[str, ...],
    fmt: str,
    output: str | None,
    force: bool,
    memory_limit: str | None,
    profile_name: str | None,
    recalibrate: bool,
    threads: int | None,
    raw: bool,
) -> None:
    import re

    from cnnsize.commands.cli import fail_budget, usage_error
    from cnnsize.commands.common import analyse_path
    from cnnsize.engine.analysis import analyze
    from cnnsize.engine.units import parse_quantity

    if not re.fullmatch(r"cpu|cuda(:\d+)?", device):
        usage_error(f"--device {device!r}: use cpu, cuda or cuda:N")
    limit = None
    if memory_limit is not None:
        try:
            limit = parse_quantity(memory_limit)
        except ValueError as exc:
            usage_error(f"--memory-limit: {exc}")
    a = analyse_path(spec, input_, batch, dtype, "cnnsize", "none", sets, "json" if fmt == "json" else "text")
    a_torch = analyze(a.spec, input_shape=a.input_shape, batch=batch, dtype=dtype, convention="torch", optimizer="none")
    try:
        import torch

        from cnnsize.torch import profile as prof
    except ImportError as exc:
        usage_error(
            str(exc) if "cnnsize[torch]" in str(exc) else f"profile needs PyTorch ({exc}): pip install 'cnnsize[torch]'"
        )
    if threads is not None:
        torch.set_num_threads(threads)
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            usage_error(
                f"--device {device}: torch {torch.__version__} sees no CUDA device (is this a CPU-only build, or is no GPU visible?)"
            )
        idx = int(device.split(":")[1]) if ":" in device else 0
        if idx >= torch.cuda.device_count():
            usage_error(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) are visible")

    # before anything is allocated: does the estimate fit?
    try:
        mem = prof.check_memory(a, device, limit)
    except prof.MemoryRefused as exc:
        if not force:
            fail_budget(
                f"refusing to profile '{a.model}' at batch {batch}, {dtype}: {exc}; use a smaller --batch, or --force to run anyway"
            )
        click.echo(f"cnnsize: warning: {exc}; running anyway (--force)", err=True)
        est = prof.estimated_peak(a)
        mem = {
            **est,
            "available_bytes": exc.available,
            "available_source": exc.source,
            "margin_factor": prof.MARGIN_FACTOR,
            "margin_bytes": prof.MARGIN_BYTES,
            "forced": True,
        }

    progress = _progress()
    try:
        if progress is not None:
            progress.start()
            task = progress.add_task("calibrating device", total=None)
            progress.refresh()
        try:
            devprof = prof.resolve_profile(device, dtype, profile_name, recalibrate)
        except KeyError as exc:
            usage_error(str(exc.args[0]))
        except ValueError as exc:
            usage_error(str(exc))

        def tick(stage: str, i: int, n: int) -> None:
            if progress is not None:
                progress.update(task, description=f"{stage}", completed=i, total=n)
                progress.refresh()

        try:
            result = prof.profile(a, a_torch, device, repeat, warmup, devprof, mem, tick)
        except NotImplementedError as exc:
            from cnnsize.commands.cli import fail_spec
            from cnnsize.engine.errors import Diagnostic, SpecError

            fail_spec(
                SpecError(
                    [
                        Diagnostic(
                            "no-torch-form",
                            str(exc),
                            "this layer can be analysed but not materialized in torch",
                            a.spec.loc,
                        )
                    ]
                )
            )
    finally:
        if progress is not None:
            progress.stop()
    _emit(result, fmt, output, raw)
    if result["totals"]["mismatched_layers"]:
        click.echo(
            f"cnnsize: warning: {result['totals']['mismatched_layers']} layer(s) where the estimate and the run disagree (marked MISMATCH)",
            err=True,
        )


def _progress() -> Any:
    """A progress bar on stderr when it is a terminal; None in pipes and CI logs.
    Refreshed only between passes (no refresh thread competing with the timed run)."""
    if not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        auto_refresh=False,
    )


def _emit(result: dict[str, Any], fmt: str, output: str | None, raw: bool) -> None:
    from cnnsize.render import profile as render_profile

    if fmt == "table":
        from rich.console import Console

        if output:
            with open(output, "w", encoding="utf-8") as fh:
                render_profile.render_table(result, Console(file=fh, width=240), raw)
        else:
            con = Console()
            render_profile.render_table(result, con if con.is_terminal else Console(width=240), raw)
        return
    text = render_profile.FORMATS[fmt](result, raw)
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        click.echo(text, nl=not text.endswith("\n"))
