"""Every layer kind, one module per family. Importing this package registers
them all in :mod:`cnnsize.engine.registry` (``RULES``, ``KINDS``).

Adding a kind: write its entry (keys with docs, rule, category, to_torch,
from_torch, from_onnx or a Missing with the reason) in its family's module,
add a row to the test tables, and regenerate the schema and docs/kinds.md
(``cnnsize schema -o docs/spec.schema.json``, ``python -m cnnsize.engine.schema --kinds-md -o docs/kinds.md``).
"""

from __future__ import annotations

from cnnsize.engine.kinds import activation as activation
from cnnsize.engine.kinds import conv as conv
from cnnsize.engine.kinds import dense as dense
from cnnsize.engine.kinds import legacy as legacy
from cnnsize.engine.kinds import merge as merge
from cnnsize.engine.kinds import norm as norm
from cnnsize.engine.kinds import pool as pool
from cnnsize.engine.kinds import shape as shape

# isort: split
# after shape: the order kinds register in is the order of docs/kinds.md and the schema
from cnnsize.engine.kinds import rearrange as rearrange
from cnnsize.engine.registry import COMMON_KEYS, KINDS, RULES, Key, Result, Rule, Tensor, kinds_in, t_int

__all__ = ["COMMON_KEYS", "KINDS", "RULES", "Key", "Result", "Rule", "Tensor", "kinds_in", "t_int"]
