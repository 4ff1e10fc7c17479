"""The one load-and-analyse path of every command that analyses a spec.

``report``, ``check``, ``compare``, ``sweep``, ``graph`` and ``profile``
declare ``--input --batch --dtype --convention --optimizer --set`` here
(:func:`analysis_options`), read them here (:class:`Options`) and load and
analyse through :func:`load` and :func:`analyse`, so a bad value or a spec
that cannot be analysed gives every command the same message and exit code.
``sweep`` reads patterns (``3x{128..512..64}``, ``1,2,4``) where the others
read one value; each size in a pattern is checked as a single value is.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import click

from cnnsize.commands.outcome import fail_spec, usage_error
from cnnsize.engine.analysis import OPTIMIZER_STATE
from cnnsize.engine.registry import MAX_DIM as MAX_SIZE
from cnnsize.engine.units import DTYPE_BYTES

# a batch's bound (sizes share the engine's MAX_DIM)
MAX_BATCH = 10**6
_INT = re.compile(r"\s*[0-9]+\s*")
SHAPE_HINT = "channels then up to 3 spatial sizes, each 1..10^9"
BATCH_HINT = "a batch size is a whole number 1..10^6"


class Options:
    """The shared options once read: what the analysis is asked for.
    ``input_shape`` is None where the spec's own input applies; ``sweep``
    holds its pattern texts in ``input_patterns`` and ``batches``."""

    __slots__ = ("input_shape", "batch", "dtype", "convention", "optimizer", "overrides", "input_patterns", "batches")

    def __init__(
        self,
        input_shape: tuple[int, ...] | None,
        batch: int,
        dtype: str,
        convention: str,
        optimizer: str,
        overrides: dict[str, Any],
        input_patterns: tuple[str, ...] = (),
        batches: tuple[int, ...] = (),
    ) -> None:
        self.input_shape = input_shape
        self.batch = batch
        self.dtype = dtype
        self.convention = convention
        self.optimizer = optimizer
        self.overrides = overrides
        self.input_patterns = input_patterns
        self.batches = batches

    def with_convention(self, convention: str) -> Options:
        return Options(
            self.input_shape,
            self.batch,
            self.dtype,
            convention,
            self.optimizer,
            self.overrides,
            self.input_patterns,
            self.batches,
        )


def analysis_options(
    fn: Callable[..., Any] | None = None, *, pattern: bool = False, fixed: dict[str, Any] | None = None
) -> Any:
    """Declare the shared options on a click command and hand it one
    ``opts: Options`` instead of six values. ``pattern``: --input and --batch
    take sweep patterns. ``fixed``: --convention or --optimizer not offered,
    their value fixed by the command (profile runs torch's own way)."""
    fixed = fixed or {}

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        from cnnsize.engine.conventions import CONVENTIONS

        @functools.wraps(fn)
        def wrapper(*args: Any, **kw: Any) -> Any:
            values = {k: kw.pop(k) for k in ("input_", "batch", "dtype", "convention", "optimizer", "sets") if k in kw}
            kw["opts"] = read_options(pattern=pattern, **fixed, **values)
            return fn(*args, **kw)

        if pattern:
            input_opt = click.option(
                "--input",
                "input_",
                multiple=True,
                metavar="PATTERN",
                help="Input sizes, e.g. 3x{128..512..64}, 3x{224,256}x{224,256}, 3x{64..512..x2} (repeatable).",
            )
            batch_opt = click.option(
                "--batch", default="1", show_default=True, metavar="LIST", help="Batch sizes: 8, 1,2,4,8 or 1..64..x2."
            )
        else:
            input_opt = click.option(
                "--input", "input_", metavar="CxHxW", help="Override the spec's input shape, e.g. 3x224x224."
            )
            batch_opt = click.option(
                "--batch", default="1", show_default=True, metavar="N", help="Batch size for memory figures."
            )
        opts = [
            input_opt,
            batch_opt,
            click.option("--dtype", type=click.Choice(sorted(DTYPE_BYTES)), default="float32", show_default=True),
        ]
        if "convention" not in fixed:
            opts.append(
                click.option(
                    "--convention",
                    type=click.Choice(sorted(CONVENTIONS)),
                    default="cnnsize",
                    show_default=True,
                    help="What MACs and FLOPs count (docs/conventions.md).",
                )
            )
        if "optimizer" not in fixed:
            opts.append(
                click.option(
                    "--optimizer",
                    type=click.Choice(sorted(OPTIMIZER_STATE)),
                    default="adam",
                    show_default=True,
                    help="Optimizer state in training memory.",
                )
            )
        opts.append(
            click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a spec var (repeatable).")
        )
        out: Callable[..., Any] = wrapper
        for o in reversed(opts):
            out = o(out)
        return out

    return deco if fn is None else deco(fn)


def read_options(
    *,
    input_: Any = None,
    batch: str = "1",
    dtype: str = "float32",
    convention: str = "cnnsize",
    optimizer: str = "adam",
    sets: tuple[str, ...] = (),
    pattern: bool = False,
) -> Options:
    """The shared options' texts as an Options; a bad value is a usage error (exit 2)."""
    if pattern:
        patterns = tuple(input_ or ())
        for p in patterns:
            if is_plain(p):
                parse_shape(p)  # a plain shape fails as it does everywhere else
        batches = tuple(parse_batches(batch))
        return Options(None, batches[0], dtype, convention, optimizer, parse_sets(sets), patterns, batches)
    shape = parse_shape(input_)
    return Options(shape, parse_batch(batch), dtype, convention, optimizer, parse_sets(sets))


def is_plain(text: str) -> bool:
    """Whether an --input text is one shape, not a pattern."""
    return not any(c in text for c in "{},") and ".." not in text


def parse_shape(text: str | None) -> tuple[int, ...] | None:
    """'3x224x224' -> (3, 224, 224)."""
    if text is None:
        return None
    parts = text.lower().replace(",", "x").split("x")
    if not all(_INT.fullmatch(p) for p in parts):
        usage_error(f"--input {text!r}: write sizes like 3x224x224")
    shape = tuple(int(p) for p in parts)
    if not 1 <= len(shape) <= 4:
        usage_error(f"--input {text!r}: {SHAPE_HINT}")
    for s in shape:
        check_size(s, text)
    return shape


def check_size(value: int, text: str) -> None:
    """One size of an --input (a shape or a pattern)."""
    if not 1 <= value <= MAX_SIZE:
        usage_error(f"--input {text!r}: {SHAPE_HINT}")


def parse_batch(text: str) -> int:
    if not _INT.fullmatch(text):
        usage_error(f"--batch {text!r}: {BATCH_HINT}")
    n = int(text)
    check_batch(n, text)
    return n


def check_batch(value: int, text: str) -> None:
    if not 1 <= value <= MAX_BATCH:
        usage_error(f"--batch {text!r}: {BATCH_HINT}")


def parse_batches(text: str) -> list[int]:
    """sweep's --batch: '8', '1,2,4,8' or '1..64..x2'."""
    if is_plain(text):
        return [parse_batch(text)]
    from cnnsize.views.sweep import SweepSyntaxError, expand_batches

    try:
        out = expand_batches(text)
    except SweepSyntaxError as exc:
        usage_error(str(exc))
    for n in out:
        check_batch(n, text)
    return out


def parse_sets(items: tuple[str, ...]) -> dict[str, Any]:
    """--set NAME=VALUE, VALUE read as YAML (0.5 a float, relu a string)."""
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


# -- the path -------------------------------------------------------------------


def _out_of_reach(path: str, exc: BaseException) -> Any:
    """A SpecError for a spec the process could not analyse at all."""
    from cnnsize.engine.errors import Diagnostic, Loc, SpecError

    if isinstance(exc, RecursionError):
        d = Diagnostic(
            "limit-depth",
            "the spec is nested too deeply to analyse",
            "simplify it (docs/errors.md lists the limits)",
            Loc(path, 0, 0),
        )
    else:
        d = Diagnostic(
            "limit-memory",
            "the machine ran out of memory analysing this spec",
            "make it smaller (docs/errors.md lists the limits)",
            Loc(path, 0, 0),
        )
    return SpecError([d])


def rank_error(spec: Any, given: int, extra: list[Any]) -> Any:
    from cnnsize.engine.errors import Diagnostic, SpecError

    return SpecError(
        [
            Diagnostic(
                "input-rank",
                f"--input has {given} sizes but the spec's input has {len(spec.input)}",
                "give channels and the same number of spatial sizes",
                spec.input_loc,
            ),
            *extra,
        ]
    )


def is_onnx(path: str) -> bool:
    return path.lower().endswith(".onnx")


def read_spec(path: str, opts: Options) -> Any:
    """The Spec at ``path`` (keep_going: every diagnostic at once). An
    ``.onnx`` file is imported first (cnnsize.onnx, the optional onnx
    package) at the requested --input; its problems are SpecErrors located
    at the file and node, like a spec's."""
    from cnnsize.engine.load import load_spec, loads_spec

    if not is_onnx(path):
        return load_spec(path, opts.overrides, keep_going=True)
    from cnnsize.onnx.importer import import_onnx
    from cnnsize.onnx.reading import OnnxImportError, not_installed

    try:
        res = import_onnx(path, opts.input_shape)
    except ImportError as exc:
        raise not_installed(path, exc) from None
    except OnnxImportError as exc:
        raise exc.spec_error() from None
    if res.folded:
        import click

        click.echo(
            f"cnnsize: note: {path}: BatchNormalization was folded at export into {len(res.folded)} layer(s) "
            "(BN's scale and statistics are not in the file; its shift became their bias, dropped when all zero)",
            err=True,
        )
    return loads_spec(res.yaml, path, opts.overrides, keep_going=True)


def load(path: str, opts: Options) -> Any:
    """The spec at ``path`` with --set applied; raises SpecError (every error
    of the spec, the engine's at its own input included) when it is invalid."""
    from cnnsize.engine.analysis import analyze
    from cnnsize.engine.errors import SpecError

    try:
        spec = read_spec(path, opts)
        if spec.diagnostics:
            analyze(spec, batch=opts.batch, dtype=opts.dtype, convention=opts.convention, optimizer=opts.optimizer)
            raise SpecError(spec.diagnostics)  # pragma: no cover - analyze raised
    except (RecursionError, MemoryError) as exc:
        raise _out_of_reach(path, exc) from None
    return spec


def analyse_spec(spec: Any, opts: Options, shape: tuple[int, ...] | None = None, batch: int | None = None) -> Any:
    """One analysis of a loaded spec; raises SpecError, out-of-memory and
    too-deep included."""
    from cnnsize.engine.analysis import analyze

    try:
        return analyze(
            spec,
            input_shape=shape if shape is not None else opts.input_shape,
            batch=opts.batch if batch is None else batch,
            dtype=opts.dtype,
            convention=opts.convention,
            optimizer=opts.optimizer,
        )
    except (RecursionError, MemoryError) as exc:
        raise _out_of_reach(spec.file, exc) from None


def analyse(path: str, opts: Options) -> Any:
    """The Analysis of the spec at ``path`` under ``opts``; raises SpecError
    with every diagnostic (the spec's own, a rank mismatch of --input, the
    engine's) and for a spec too deep or too large to analyse."""

    shape = opts.input_shape
    try:
        # keep_going: the spec's own errors and the engine's come in one run
        spec = read_spec(path, opts)
        if shape is not None and spec.input and len(shape) != len(spec.input):
            raise rank_error(spec, len(shape), spec.diagnostics)
    except (RecursionError, MemoryError) as exc:
        raise _out_of_reach(path, exc) from None
    return analyse_spec(spec, opts)


def analyse_or_exit(path: str, opts: Options, fmt: str = "text") -> Any:
    """:func:`analyse`, or every diagnostic printed and exit 3."""
    from cnnsize.engine.errors import SpecError

    try:
        return analyse(path, opts)
    except SpecError as exc:
        fail_spec(exc, "json" if fmt == "json" else "text")


def exact_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--raw``: figures as exact integers (61,100,840) instead of 61.1M; the
    commands and renderers call it ``exact`` (``raw`` names other things in
    the engine)."""
    return click.option("--raw", "exact", is_flag=True, help="Exact integers instead of 61.1M.")(fn)
