"""``cnnsize import torch MODULE:CALLABLE``: a torch model as a spec (torch.fx)."""

from __future__ import annotations

import os

import click

from cnnsize.commands.common import parse_shape
from cnnsize.commands.outcome import EXIT_SPEC, fail_spec, interrupted, usage_error
from cnnsize.commands.output import emit, guard


@click.group("import")
def import_() -> None:
    """Write a spec from a model of another framework."""


@import_.command("torch")
@click.argument("target", metavar="MODULE:CALLABLE")
@click.option(
    "--input", "input_", default="3x224x224", show_default=True, metavar="CxHxW", help="Per-sample input shape."
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Write the spec to FILE instead of stdout (atomically; never onto the model's file).",
)
@click.option("--name", help="Model name in the spec (default: the callable's name).")
@click.option("--flat", is_flag=True, help="One line per layer: no blocks for repeated modules.")
def torch_(target: str, input_: str, output: str | None, name: str | None, flat: bool) -> None:
    """Trace a torch.nn.Module with torch.fx and write the equivalent spec.

    MODULE:CALLABLE names a module object, or a callable that builds one with no
    arguments (it is called on the meta device: no weights are allocated), e.g.
    mypackage.models:resnet18 or path/to/models.py:Net. Nodes that the spec format
    cannot express are listed on stderr and in the spec's header (exit 0: the
    spec is written with stand-ins); a model that cannot be traced exits 3.
    """
    shape = parse_shape(input_)
    assert shape is not None
    module = target.rpartition(":")[0]
    guard(output, [module] if module.endswith(".py") or os.sep in module else [])
    try:
        from cnnsize.torch.importer import ImportFailure, import_module, load_callable
    except ImportError as exc:
        usage_error(str(exc))
    try:
        model = load_callable(target)
        res = import_module(model, shape, name or target.rpartition(":")[2], blocks=not flat)
    except ImportFailure as exc:
        click.echo(f"cnnsize: import: {exc}", err=True)
        raise SystemExit(EXIT_SPEC) from None
    except KeyboardInterrupt:
        interrupted()
    for u in res.unsupported:
        click.echo(f"cnnsize: warning: not expressed: {u}", err=True)
    for n in res.notes:
        click.echo(f"cnnsize: note: {n}", err=True)
    emit(res.yaml, output)
    if output:
        click.echo(f"wrote {output}: {len(res.spec['layers'])} layers", err=True)


@import_.command("onnx")
@click.argument("model", metavar="MODEL.onnx", type=click.Path(dir_okay=False))
@click.option(
    "--input",
    "input_",
    metavar="CxHxW",
    help="Per-sample input shape (needed when the model's spatial sizes are symbolic).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Write the spec to FILE instead of stdout (atomically; never onto the model's file).",
)
@click.option("--name", help="Model name in the spec (default: the graph's name).")
@click.option("--json", "as_json", is_flag=True, help="Errors as JSON diagnostics on stdout.")
def onnx_(model: str, input_: str | None, output: str | None, name: str | None, as_json: bool) -> None:
    """Read an ONNX model and write the equivalent spec.

    Every node maps to a layer kind through the registry (docs/import.md lists
    the operators); nodes that compute only constants or shapes are folded.
    Parameters are the initializers as stored: where the exporter folded
    BatchNormalization into a convolution, the spec's header names the
    layers. Any operator the registry does not know is listed, with its node
    name, in one error (exit 3).
    """
    shape = parse_shape(input_)
    guard(output, [model])
    from cnnsize.onnx.importer import import_onnx
    from cnnsize.onnx.reading import OnnxImportError, not_installed

    try:
        res = import_onnx(model, shape, name)
    except ImportError as exc:
        fail_spec(not_installed(model, exc), "json" if as_json else "text")
    except OnnxImportError as exc:
        fail_spec(exc.spec_error(), "json" if as_json else "text")
    except KeyboardInterrupt:
        interrupted()
    for n in res.notes:
        click.echo(f"cnnsize: note: {n}", err=True)
    if res.folded:
        click.echo(
            f"cnnsize: note: BatchNormalization folded at export into {len(res.folded)} layer(s): "
            + ", ".join(res.folded[:5])
            + (", ..." if len(res.folded) > 5 else ""),
            err=True,
        )
    emit(res.yaml, output)
    if output:
        click.echo(f"wrote {output}: {len(res.layers)} layers", err=True)
