"""Sweeps: analyse one spec at many input sizes and batch sizes.

``3x{128..512..64}`` expands per axis: ``{a..b}`` is every integer from a to
b inclusive, ``{a..b..s}`` steps by s, ``{a..b..x2}`` multiplies by 2, and
``{a,b,c}`` lists values (each may itself be a range). Axes vary
independently (their product is swept), except that when fewer spatial
sizes are given than the spec's input has, the last one is repeated:
``3x{128..512..64}`` on a 3x224x224 spec sweeps square inputs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import product
from typing import Any

from cnnsize.engine.errors import Diagnostic, SpecError

MAX_POINTS = 10_000
SCHEMA = "cnnsize.sweep/1"
METRICS = ("params", "macs", "flops", "activation_bytes", "peak_activation_bytes", "training_bytes")

_RANGE = re.compile(r"^(\d+)\.\.(\d+)(?:\.\.(x?)(\d+))?$")


class SweepSyntaxError(ValueError):
    pass


def _values(part: str, what: str) -> list[int]:
    """One axis: '224', '{224,256}', '{128..512..64}', '{1..64..x2}'."""
    part = part.strip()
    if not part:
        raise SweepSyntaxError(f"{what}: an axis is empty")
    if part.startswith("{") and part.endswith("}"):
        items = part[1:-1].split(",")
    elif "{" in part or "}" in part:
        raise SweepSyntaxError(f"{what}: unbalanced braces in {part!r}")
    else:
        items = [part]
    out: list[int] = []
    for item in items:
        item = item.strip()
        if item.isascii() and item.isdigit():  # '²'.isdigit() is true, int('²') fails
            out.append(int(item))
            continue
        m = _RANGE.match(item)
        if not m:
            raise SweepSyntaxError(
                f"{what}: cannot read {item!r}; write 224, {{224,256}}, {{128..512..64}} or {{1..64..x2}}"
            )
        start, stop = int(m.group(1)), int(m.group(2))
        times, step = m.group(3) == "x", int(m.group(4) or 1)
        if start > stop:
            raise SweepSyntaxError(f"{what}: range {item!r} runs backwards; write the smaller value first")
        if step < 1 or (times and step < 2):
            raise SweepSyntaxError(f"{what}: the step of {item!r} must be at least {'2' if times else '1'}")
        v = start
        while v <= stop:
            out.append(v)
            if len(out) > MAX_POINTS:
                raise SweepSyntaxError(f"{what}: {item!r} has more than {MAX_POINTS:,} values")
            if times and v == 0:
                break
            v = v * step if times else v + step
    if any(v < 1 for v in out):
        raise SweepSyntaxError(f"{what}: sizes must be at least 1")
    return out


def _split_axes(text: str) -> list[str]:
    """Split on 'x' outside braces (inside them 'x' means a multiplying step)."""
    parts, depth, cur = [], 0, ""
    for ch in text.strip().lower():
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                raise SweepSyntaxError(f"--input {text!r}: unbalanced braces")
        if ch == "x" and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if depth:
        raise SweepSyntaxError(f"--input {text!r}: unbalanced braces")
    parts.append(cur)
    return parts


def parse_axes(text: str) -> list[list[int]]:
    """The values of each axis of an --input pattern (syntax only: the
    command checks each size as it checks a single --input)."""
    return [_values(p, f"--input {text!r}") for p in _split_axes(text)]


def expand_inputs(text: str, rank: int) -> list[tuple[int, ...]]:
    """All input shapes of a pattern, for a spec whose input has ``rank`` axes."""
    return expand_axes(parse_axes(text), rank, text)


def expand_axes(axes: list[list[int]], rank: int, text: str) -> list[tuple[int, ...]]:
    """The shapes of parsed axes: their product, the last spatial axis
    repeated up to ``rank`` axes."""
    if len(axes) > rank or (len(axes) < rank and len(axes) < 2):
        raise SweepSyntaxError(
            f"--input {text!r} has {len(axes)} axes but the spec's input has {rank} (channels, then spatial sizes)"
        )
    count = 1
    for a in axes:
        count *= len(a)
    if count > MAX_POINTS:
        raise SweepSyntaxError(f"--input {text!r} expands to {count:,} shapes; the limit is {MAX_POINTS:,}")
    fill = rank - len(axes)
    return [(*combo, *([combo[-1]] * fill)) for combo in product(*axes)]


def expand_batches(text: str) -> list[int]:
    """'1', '1,2,4,8', '{1..64..x2}' or '1..64..x2'."""
    t = text.strip()
    if not t.startswith("{"):
        t = "{" + t + "}"
    return _values(t, f"--batch {text!r}")


def first_failure(err: SpecError, order: dict[str, int]) -> Diagnostic:
    """The diagnostic of the earliest layer (in graph order) that breaks."""
    diags = [d for d in err.diagnostics if d.severity == "error"] or err.diagnostics
    return min(diags, key=lambda d: (order.get(d.layer or "", len(order)), d.loc.line if d.loc else 0))


def run(
    spec: Any,
    inputs: list[tuple[int, ...]],
    batches: list[int],
    *,
    dtype: str = "float32",
    convention: str = "cnnsize",
    optimizer: str = "adam",
    analyse: Callable[[tuple[int, ...], int], Any] | None = None,
    advance: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Analyse every (input, batch) pair; a size that fails becomes a point
    with its error instead of stopping the sweep. ``analyse(shape, batch)``:
    how one point is analysed (the command's shared path); by default
    cnnsize.engine.analysis.analyze with the settings above."""
    if analyse is None:
        from cnnsize.engine.analysis import analyze

        def analyse(shape: tuple[int, ...], batch: int) -> Any:
            return analyze(
                spec, input_shape=shape, batch=batch, dtype=dtype, convention=convention, optimizer=optimizer
            )

    if len(inputs) * len(batches) > MAX_POINTS:
        raise SweepSyntaxError(f"{len(inputs)} inputs x {len(batches)} batches is more than {MAX_POINTS:,} points")
    order = {ld.name: ld.index for ld in spec.layers}
    points: list[dict[str, Any]] = []
    for shape, batch in product(inputs, batches):
        point: dict[str, Any] = {"input": list(shape), "batch": batch}
        try:
            a = analyse(shape, batch)
        except SpecError as exc:
            d = first_failure(exc, order)
            point.update(ok=False, error=d.to_json(), message=d.format())
        else:
            point["ok"] = True
            point.update({k: a.totals[k] for k in METRICS})
        points.append(point)
        if advance is not None:
            advance()
    return {
        "schema": SCHEMA,
        "model": spec.name,
        "spec": spec.file,
        "dtype": dtype,
        "convention": convention,
        "optimizer": optimizer,
        "metrics": list(METRICS),
        "points": points,
    }
