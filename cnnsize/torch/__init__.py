"""Torch side of cnnsize: materialize a spec as an ``nn.Module``, profile it,
import torch models as specs.

This is the only part of cnnsize that imports torch; the analysis path never
loads this package.
"""

from __future__ import annotations

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("cnnsize.torch needs PyTorch, which is not installed: pip install 'cnnsize[torch]'") from exc

from cnnsize.torch.materialize import Materialized, materialize
from cnnsize.torch.modules import LEAF_MODULES, Layer

__all__ = ["materialize", "Materialized", "Layer", "LEAF_MODULES"]
