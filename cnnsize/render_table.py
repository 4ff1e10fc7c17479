"""Rich terminal table of one analysis (renders only)."""

from __future__ import annotations

from typing import Any

from .analysis import Analysis
from .units import human


def _n(v: int, raw: bool, binary: bool = False) -> str:
    if raw:
        return f"{v:,} B" if binary else f"{v:,}"
    return human(v, binary=binary)


def _rf(r: Any) -> str:
    from .analysis import _rf_json

    size, _j, _s = _rf_json(r)
    if size is None:
        return "-"
    # fields after a transposed conv or an upsample can be fractional
    return "x".join(str(s) if isinstance(s, int) else f"{s:.2f}".rstrip("0").rstrip(".") for s in size)


def render(a: Analysis, console: Any, raw: bool = False) -> None:
    from rich import box
    from rich.table import Table

    t = a.totals
    title = f"{a.model}  input {'x'.join(map(str, a.input_shape))}  batch {a.batch}  {a.dtype}  convention {a.convention}"
    table = Table(title=title, box=box.SIMPLE_HEAD, show_footer=True, title_justify="left")
    cols = [
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
    for name, footer, justify in cols:
        table.add_column(name, footer=footer, justify=justify, no_wrap=True, min_width=5 if name == "layer" else None)  # type: ignore[arg-type]
    for r in a.layers:
        table.add_row(
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
    console.print(table)
    b = lambda v: _n(v, raw, True)  # noqa: E731
    console.print(
        f"params {_n(t['params'], raw)} ({b(t['param_bytes'])})   MACs {_n(t['macs'], raw)}   FLOPs {_n(t['flops'], raw)}\n"
        f"activations {b(t['activation_bytes'])}   peak inference {b(t['peak_activation_bytes'])}   "
        f"training ({a.optimizer}, batch {a.batch}) {b(t['training_bytes'])}",
        highlight=False,
    )
