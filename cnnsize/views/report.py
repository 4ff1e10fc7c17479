"""The analysis as data: one dict in the ``cnnsize.report/1`` schema.

Every renderer (table, JSON, CSV, Markdown, HTML, LaTeX) starts from here or
from the Analysis object; none computes a metric of its own.
"""

from __future__ import annotations

from typing import Any

from cnnsize.engine.analysis import Analysis, LayerReport, _rf_json

SCHEMA = "cnnsize.report/1"


def layer_dict(r: LayerReport) -> dict[str, Any]:
    size, jump, start = _rf_json(r.rf)
    ld = r.definition
    return {
        "name": ld.name,
        "type": ld.kind,  # the canonical kind; the spec's own spelling is ld.written_type
        "inputs": ld.inputs,
        "output_shape": list(r.output_shape),
        "units": r.units,
        "weights": r.weights,
        "biases": r.biases,
        "params": r.params,
        "buffers": r.buffers,
        "connections": r.connections,
        "macs": r.macs,
        "flops": r.flops,
        "flops_by_category": {"mac": 2 * r.exact_macs, **r.ops},
        "activation_bytes": r.activation_bytes,
        "param_bytes": r.param_bytes,
        "receptive_field": size,
        "jump": jump,
        "start": start,
        "block": ld.block,
        "location": str(ld.loc) if ld.loc else None,
    }


def to_dict(a: Analysis) -> dict[str, Any]:
    from cnnsize import __version__
    from cnnsize.engine.conventions import get

    return {
        "schema": SCHEMA,
        "cnnsize_version": __version__,
        "model": a.model,
        "source": a.spec.source,
        "spec": a.spec.file,
        "input": list(a.input_shape),
        "batch": a.batch,
        "dtype": a.dtype,
        "convention": a.convention,
        "convention_definition": get(a.convention).description,
        # the peer release whose output the preset was checked against (tests/fixtures/peers)
        "convention_checked_against": get(a.convention).version or None,
        "optimizer": a.optimizer,
        "outputs": a.outputs,
        "layers": [layer_dict(r) for r in a.layers],
        "totals": dict(a.totals),
    }
