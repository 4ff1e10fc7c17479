"""Several analyses side by side, as data: one row per metric, one value per
model, and each model's ratio to the first. Renderers of ``cnnsize compare``
start from :func:`to_dict`; none computes a figure of its own."""

from __future__ import annotations

from typing import Any

SCHEMA = "cnnsize.compare/1"

# key, label, kind of value ("shape", "count", "bytes", "rf")
METRICS: tuple[tuple[str, str, str], ...] = (
    ("input", "input", "shape"),
    ("units_with_input", "units (incl. input)", "count"),
    ("units", "units (excl. input)", "count"),
    ("params", "parameters", "count"),
    ("connections", "connections", "count"),
    ("macs", "MACs", "count"),
    ("flops", "FLOPs", "count"),
    ("activation_bytes", "activation memory", "bytes"),
    ("peak_activation_bytes", "peak inference memory", "bytes"),
    ("training_bytes", "training memory", "bytes"),
    ("receptive_field", "receptive field", "rf"),
    ("depth", "depth (weight layers)", "count"),
)


def _value(key: str, a: Any) -> Any:
    t = a.totals
    if key == "input":
        return list(a.input_shape)
    if key == "units_with_input":
        return t["units"] + t["input_units"]
    return t[key]


def _size(kind: str, v: Any, a: Any) -> int | float | None:
    """The number a ratio is taken of: input elements for a shape, the
    largest axis for a receptive field."""
    if v is None:
        return None
    if kind == "shape":
        return a.totals["input_units"]
    if kind == "rf":
        return max(v) if v else None
    return v


def to_dict(analyses: list[Any]) -> dict[str, Any]:
    from cnnsize import __version__

    first = analyses[0]
    rows = []
    for key, label, kind in METRICS:
        values = [_value(key, a) for a in analyses]
        sizes = [_size(kind, v, a) for v, a in zip(values, analyses)]
        base = sizes[0]
        ratios = [None if (s is None or not base) else s / base for s in sizes]
        rows.append({"metric": key, "label": label, "kind": kind, "values": values, "ratios": ratios})
    return {
        "schema": SCHEMA,
        "cnnsize_version": __version__,
        "batch": first.batch,
        "dtype": first.dtype,
        "convention": first.convention,
        "optimizer": first.optimizer,
        "models": [
            {
                "model": a.model,
                "spec": a.spec.file,
                "source": a.spec.source,
                "input": list(a.input_shape),
                "totals": dict(a.totals),
            }
            for a in analyses
        ],
        "rows": rows,
    }
