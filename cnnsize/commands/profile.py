"""``cnnsize profile SPEC``: materialize the spec in torch, run it, and print
every estimate next to what the run measured (docs/profile.md)."""

from __future__ import annotations

import sys
from typing import Any

import click

from cnnsize.commands.common import Options, analyse_or_exit, analyse_spec, analysis_options, exact_option
from cnnsize.commands.outcome import fail_budget, fail_spec, interrupted, usage_error
from cnnsize.commands.output import emit, emit_rich, guard, output_option
from cnnsize.engine.errors import SpecError

PROFILE_DTYPES = ["float32", "float16", "bfloat16", "float64"]


@click.command()
@click.argument("spec", type=click.Path(dir_okay=True, path_type=str))
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
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
@analysis_options(fixed={"convention": "cnnsize", "optimizer": "none"})
@click.option("--format", "fmt", type=click.Choice(["table", "json", "md", "csv"]), default="table", show_default=True)
@output_option
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
@exact_option
def profile(
    spec: str,
    device: str,
    opts: Options,
    repeat: int,
    warmup: int,
    fmt: str,
    output: str | None,
    force: bool,
    memory_limit: str | None,
    profile_name: str | None,
    recalibrate: bool,
    threads: int | None,
    exact: bool,
) -> None:
    """Run SPEC in torch and compare every estimate with the measurement.

    Per layer: output shape and parameters (must be equal), FLOPs against
    torch's FlopCounterMode (torch convention, must be equal), activation bytes
    against the tensors produced, and time (median after warm-up) against a
    roofline estimate. Refuses (exit 1) when the estimated peak memory exceeds
    the memory available, unless --force.
    """
    try:
        _run(
            spec,
            device,
            opts,
            repeat,
            warmup,
            fmt,
            output,
            force,
            memory_limit,
            profile_name,
            recalibrate,
            threads,
            exact,
        )
    except KeyboardInterrupt:
        interrupted()


def _run(
    spec: str,
    device: str,
    opts: Options,
    repeat: int,
    warmup: int,
    fmt: str,
    output: str | None,
    force: bool,
    memory_limit: str | None,
    profile_name: str | None,
    recalibrate: bool,
    threads: int | None,
    exact: bool,
) -> None:
    import re

    from cnnsize.engine.units import parse_quantity

    batch, dtype = opts.batch, opts.dtype
    if dtype not in PROFILE_DTYPES:
        usage_error(
            f"--dtype {dtype}: profile runs {', '.join(PROFILE_DTYPES)} (it times a floating-point forward pass in "
            "torch)"
        )

    if not re.fullmatch(r"cpu|cuda(:\d+)?", device):
        usage_error(f"--device {device!r}: use cpu, cuda or cuda:N")
    limit = None
    if memory_limit is not None:
        try:
            limit = parse_quantity(memory_limit)
        except ValueError as exc:
            usage_error(f"--memory-limit: {exc}")
    guard(output, [spec])
    a = analyse_or_exit(spec, opts, fmt)
    try:
        a_torch = analyse_spec(a.spec, opts.with_convention("torch"), a.input_shape)
    except SpecError as exc:
        fail_spec(exc, "json" if fmt == "json" else "text")
    try:
        import torch

        from cnnsize.torch import devices, memory_check
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
                f"--device {device}: torch {torch.__version__} sees no CUDA device (is this a CPU-only build, or is no "
                "GPU visible?)"
            )
        idx = int(device.split(":")[1]) if ":" in device else 0
        if idx >= torch.cuda.device_count():
            usage_error(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) are visible")

    # before anything is allocated: does the estimate fit?
    try:
        mem = memory_check.check_memory(a, device, limit)
    except memory_check.MemoryRefused as exc:
        if not force:
            fail_budget(
                f"refusing to profile '{a.model}' at batch {batch}, {dtype}: {exc}; use a smaller --batch, or --force "
                "to run anyway"
            )
        click.echo(f"cnnsize: warning: {exc}; running anyway (--force)", err=True)
        est = memory_check.estimated_peak(a)
        mem = {
            **est,
            "available_bytes": exc.available,
            "available_source": exc.source,
            "margin_factor": memory_check.MARGIN_FACTOR,
            "margin_bytes": memory_check.MARGIN_BYTES,
            "forced": True,
        }

    progress = _progress()
    try:
        if progress is not None:
            progress.start()
            task = progress.add_task("calibrating device", total=None)
            progress.refresh()
        try:
            devprof = devices.resolve_profile(device, dtype, profile_name, recalibrate)
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
            from cnnsize.engine.errors import Diagnostic

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
    _emit(result, fmt, output, exact)
    if result["totals"]["mismatched_layers"]:
        click.echo(
            f"cnnsize: warning: {result['totals']['mismatched_layers']} layer(s) where the estimate and the run "
            "disagree (marked MISMATCH)",
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


def _emit(result: dict[str, Any], fmt: str, output: str | None, exact: bool) -> None:
    from cnnsize.render import profile as render_profile

    if fmt == "table":
        emit_rich(lambda con: render_profile.render_table(result, con, exact), output, 240, 240)
        return
    emit(render_profile.FORMATS[fmt](result, exact), output)
