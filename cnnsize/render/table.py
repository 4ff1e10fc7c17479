"""Rich terminal table of one analysis (renders only)."""

from __future__ import annotations

from typing import Any

from cnnsize.engine.analysis import Analysis
from cnnsize.engine.units import human


def _n(v: int, raw: bool, binary: bool = False) -> str:
    if raw:
        return f"{v:,} B" if binary else f"{v:,}"
    return human(v, binary=binary)


def _rf(r: Any) -> str:
    from cnnsize.engine.analysis import _rf_json

    size, _j, _s = _rf_json(r)
    if size is None:
        return "-"
    # fields after a transposed conv or an upsample can be fractional
    return "x".join(str(s) if isinstance(s, int) else f"{s:.2f}".rstrip("0").rstrip(".") for s in size)


def _title(a: Analysis) -> str:
    return (
        f"{a.model}  input {'x'.join(map(str, a.input_shape))}  batch {a.batch}  {a.dtype}  convention {a.convention}"
    )


def _columns(a: Analysis, raw: bool) -> list[tuple[str, str, str]]:
    t = a.totals
    return [
        ("layer", "total", "left"),
        ("type", "", "left"),
        ("output", "", "left"),
        ("units", _n(t["units"], raw), "right"),
        ("weights", _n(t["weights"], raw), "right"),
        ("biases", _n(t["biases"], raw), "right"),
        ("params", _n(t["params"], raw), "right"),
        ("connections", _n(t["connections"], raw), "right"),
        ("MACs", _n(t["macs"], raw), "right"),
        ("FLOPs", _n(t["flops"], raw), "right"),
        ("act. mem", _n(t["activation_bytes"], raw, True), "right"),
        ("RF", "", "right"),
    ]


def _rows(a: Analysis, raw: bool) -> list[tuple[str, ...]]:
    return [
        (
            r.name,
            r.kind,
            "x".join(map(str, r.output_shape)),
            _n(r.units, raw),
            _n(r.weights, raw),
            _n(r.biases, raw),
            _n(r.params, raw),
            _n(r.connections, raw),
            _n(r.macs, raw),
            _n(r.flops, raw),
            _n(r.activation_bytes, raw, True),
            _rf(r.rf),
        )
        for r in a.layers
    ]


def _summary(a: Analysis, raw: bool) -> str:
    t = a.totals
    b = lambda v: _n(v, raw, True)  # noqa: E731
    return (
        f"params {_n(t['params'], raw)} ({b(t['param_bytes'])})   MACs {_n(t['macs'], raw)}   FLOPs {_n(t['flops'], raw)}\n"
        f"activations {b(t['activation_bytes'])}   peak inference {b(t['peak_activation_bytes'])}   "
        f"training ({a.optimizer}, batch {a.batch}) {b(t['training_bytes'])}"
    )


def render(a: Analysis, console: Any, raw: bool = False) -> None:
    from rich import box
    from rich.table import Table

    table = Table(title=_title(a), box=box.SIMPLE_HEAD, show_footer=True, title_justify="left")
    for name, footer, justify in _columns(a, raw):
        table.add_column(name, footer=footer, justify=justify, no_wrap=True, min_width=5 if name == "layer" else None)  # type: ignore[arg-type]
    for row in _rows(a, raw):
        table.add_row(*row)
    console.print(table)
    console.print(_summary(a, raw), highlight=False)


def plain_ok(stream: Any) -> bool:
    """Whether rich would treat ``stream`` as a plain file: no colours, UTF-8.

    Mirrors rich.Console.is_terminal (TTY_COMPATIBLE, FORCE_COLOR, isatty)
    and its ASCII fallback for other encodings, without importing rich.
    """
    import os
    import sys

    env = os.environ
    if sys.platform == "win32" or env.get("TTY_COMPATIBLE", "") == "1" or "FORCE_COLOR" in env:
        return False
    if not (getattr(stream, "encoding", None) or "").lower().startswith("utf"):
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return env.get("TTY_COMPATIBLE", "") == "0" or isatty is None or not isatty()
    except ValueError:
        return True


def _safe(text: str) -> bool:
    # rich reads '[' as markup and ':name:' as an emoji, and measures wide
    # characters by cell; such text is left to rich itself
    return text.isascii() and text.isprintable() and "[" not in text and ":" not in text


def render_plain(a: Analysis, raw: bool = False, width: int = 220) -> str | None:
    """The table byte for byte as rich prints it to a plain file of ``width``
    columns (box SIMPLE_HEAD, no colour), without importing rich, which costs
    more than the whole analysis. None where the layout would need rich's
    wrapping, cropping or markup; the caller then renders with rich."""
    cols = _columns(a, raw)
    rows = _rows(a, raw)
    title = _title(a)
    summary = _summary(a, raw)
    widths = [max(len(name), len(footer)) for name, footer, _j in cols]
    widths[0] = max(widths[0], 5)
    for row in rows:
        for i, cell in enumerate(row):
            if len(cell) > widths[i]:
                widths[i] = len(cell)
    total = sum(widths) + 3 * len(widths) + 1
    if total > width or len(title) > total or any(len(line) > width for line in summary.split("\n")):
        return None
    if (
        not all(_safe(c) for row in rows for c in row)
        or not _safe(title)
        or not all(_safe(c) for col in cols for c in col[:2])
    ):
        return None
    right = [j == "right" for _n_, _f, j in cols]

    def line(cells: Any) -> str:
        return " " + " ".join(f" {c:>{w}} " if r else f" {c:<{w}} " for c, w, r in zip(cells, widths, right)) + " \n"

    blank = " " * total + "\n"
    out = [title.ljust(total) + "\n", blank, line(c[0] for c in cols), " " + "\u2500" * (total - 2) + " \n"]
    out.extend(line(row) for row in rows)
    out += [blank, line(c[1] for c in cols), blank, summary + "\n"]
    return "".join(out)
