"""Rich terminal tables of one analysis and of a comparison (render only)."""

from __future__ import annotations

from typing import Any

from cnnsize.engine.analysis import Analysis
from cnnsize.engine.units import human


def _n(v: int, exact: bool, binary: bool = False) -> str:
    if exact:
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


def _columns(a: Analysis, exact: bool) -> list[tuple[str, str, str]]:
    t = a.totals
    return [
        ("layer", "total", "left"),
        ("type", "", "left"),
        ("output", "", "left"),
        ("units", _n(t["units"], exact), "right"),
        ("weights", _n(t["weights"], exact), "right"),
        ("biases", _n(t["biases"], exact), "right"),
        ("params", _n(t["params"], exact), "right"),
        ("connections", _n(t["connections"], exact), "right"),
        ("MACs", _n(t["macs"], exact), "right"),
        ("FLOPs", _n(t["flops"], exact), "right"),
        ("act. mem", _n(t["activation_bytes"], exact, True), "right"),
        ("RF", "", "right"),
    ]


def _rows(a: Analysis, exact: bool) -> list[tuple[str, ...]]:
    return [
        (
            r.name,
            r.kind,
            "x".join(map(str, r.output_shape)),
            _n(r.units, exact),
            _n(r.weights, exact),
            _n(r.biases, exact),
            _n(r.params, exact),
            _n(r.connections, exact),
            _n(r.macs, exact),
            _n(r.flops, exact),
            _n(r.activation_bytes, exact, True),
            _rf(r.rf),
        )
        for r in a.layers
    ]


def _summary(a: Analysis, exact: bool) -> str:
    t = a.totals
    b = lambda v: _n(v, exact, True)  # noqa: E731
    return (
        f"params {_n(t['params'], exact)} ({b(t['param_bytes'])})   MACs {_n(t['macs'], exact)}   FLOPs "
        f"{_n(t['flops'], exact)}\n"
        f"activations {b(t['activation_bytes'])}   peak inference {b(t['peak_activation_bytes'])}   "
        f"training ({a.optimizer}, batch {a.batch}) {b(t['training_bytes'])}"
    )


def render(a: Analysis, console: Any, exact: bool = False) -> None:
    from rich import box
    from rich.table import Table

    table = Table(title=_title(a), box=box.SIMPLE_HEAD, show_footer=True, title_justify="left")
    for name, footer, justify in _columns(a, exact):
        table.add_column(name, footer=footer, justify=justify, no_wrap=True, min_width=5 if name == ("layer") else None)  # type: ignore[arg-type]
    for row in _rows(a, exact):
        table.add_row(*row)
    console.print(table)
    console.print(_summary(a, exact), highlight=False)


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


def render_plain(a: Analysis, exact: bool = False, width: int = 220) -> str | None:
    """The table byte for byte as rich prints it to a plain file of ``width``
    columns (box SIMPLE_HEAD, no colour), without importing rich, which costs
    more than the whole analysis. None where the layout would need rich's
    wrapping, cropping or markup; the caller then renders with rich."""
    cols = _columns(a, exact)
    rows = _rows(a, exact)
    title = _title(a)
    summary = _summary(a, exact)
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


def render_compare(d: dict[str, Any], console: Any, exact: bool = False) -> None:
    """The terminal table of ``cnnsize compare``: one row per metric, one
    column per model, then each model's ratio to the first."""
    from rich import box
    from rich.table import Table

    from cnnsize.render import util as u

    names, ratio_heads = u.compare_headers(d)
    title = f"batch {d['batch']}  {d['dtype']}  convention {d['convention']}  (ratios to {names[0]})"
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("metric", no_wrap=True)
    for n in names:
        table.add_column(n, justify="right", no_wrap=True)
    for h in ratio_heads:
        table.add_column(h, justify="right", no_wrap=True, style="dim")
    for row in d["rows"]:
        vals, ratios = u.compare_cells(row, exact)
        table.add_row(row["label"], *vals, *ratios)
    console.print(table)
