"""Reading a spec: a loaded YAML document (or a Python dict) to a flat,
validated list of layers.

    model.py   the document model: Spec, LayerDef, the keys of each part
    reader.py  the top level (version, vars, input, defaults, blocks, outputs, budgets)
    expand.py  'when', block instances and 'repeat'
    layer.py   one layer entry: the general path and its fast path
    state.py   what expansion reads and writes (BuildState)
    dicts.py   a spec given as Python dicts, wrapped and bounded

Blocks and ``repeat`` are expanded, templates evaluated with the
allow-listed evaluator, every layer key checked against its rule's key
table. This package never runs the analysis: cnnsize.engine.load reads a
spec and reports the errors of both.
"""

from cnnsize.engine.spec.model import (
    BLOCK_KEYS,
    BUDGET_KEYS,
    FORMAT_VERSION,
    INSTANCE_KEYS,
    MAX_BLOCK_DEPTH,
    MAX_LAYERS,
    TOP_KEYS,
    LayerDef,
    Names,
    Spec,
)
from cnnsize.engine.spec.reader import read

__all__ = [
    "BLOCK_KEYS",
    "BUDGET_KEYS",
    "FORMAT_VERSION",
    "INSTANCE_KEYS",
    "MAX_BLOCK_DEPTH",
    "MAX_LAYERS",
    "TOP_KEYS",
    "LayerDef",
    "Names",
    "Spec",
    "read",
]
