"""Compatibility name for the layer-kind registry: the kinds live in
:mod:`cnnsize.engine.kinds` (one module per family) and the machinery in
:mod:`cnnsize.engine.registry`. Import from those; this module only keeps
older imports working until every caller has moved."""

from __future__ import annotations

from cnnsize.engine.kinds import COMMON_KEYS, KINDS, RULES, Key, Result, Rule, Tensor, t_int

__all__ = ["COMMON_KEYS", "KINDS", "RULES", "Key", "Result", "Rule", "Tensor", "t_int"]
