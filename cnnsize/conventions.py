"""Convention presets: what ``macs`` and ``flops`` mean.

Each preset is a small declarative table, not a special case in the engine:
which layer kinds contribute MACs, how many FLOPs a MAC is worth, and a
weight per non-MAC FLOP category (bias, act, norm, pool, merge, scale,
other). Rules report costs by category; a preset only reweights them.
docs/conventions.md holds the full text and the side-by-side comparison.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ALL_CATEGORIES = ("bias", "act", "norm", "pool", "merge", "scale", "other")
MAC_KINDS_ALL = None


@dataclass(frozen=True)
class Convention:
    name: str
    description: str
    flops_per_mac: int = 2
    # kinds whose MACs count (None: every kind that reports MACs)
    mac_kinds: frozenset[str] | None = None
    # weight of each non-MAC category in FLOPs (missing = 0)
    op_weights: Mapping[str, int] = field(default_factory=lambda: {c: 1 for c in ALL_CATEGORIES})
    # per-kind overrides of op_weights
    kind_op_weights: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    reference: str = ""

    def macs(self, kind: str, macs: int) -> int:
        if self.mac_kinds is not None and kind not in self.mac_kinds:
            return 0
        return macs

    def flops(self, kind: str, macs: int, ops: Mapping[str, int]) -> int:
        weights = self.kind_op_weights.get(kind, self.op_weights)
        total = self.flops_per_mac * (macs if self.mac_kinds is None or kind in self.mac_kinds else 0)
        # a plain loop: layers have one to three categories, a generator costs more
        for k, v in ops.items():
            total += v * weights.get(k, 0)
        return total

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "flops_per_mac": self.flops_per_mac,
            "mac_kinds": sorted(self.mac_kinds) if self.mac_kinds is not None else "all",
            "op_weights": dict(self.op_weights),
            "reference": self.reference,
        }


CONV_FC = frozenset({"conv", "dwconv", "sepconv", "deconv", "fc"})

CONVENTIONS: dict[str, Convention] = {
    c.name: c
    for c in (
        Convention(
            "cnnsize",
            "MACs of conv/fc/transposed conv/RBF; FLOPs = 2 x MACs + bias adds + every element-wise op (activations, norms, pools, merges), each per docs/conventions.md",
        ),
        Convention(
            "torchvision",
            "what torchvision's docs call GFLOPS: conv + fc multiply-accumulates, bias and everything else excluded; flops = 2 x macs",
            mac_kinds=CONV_FC,
            op_weights={},
            reference="torchvision.models weights meta '_ops'",
        ),
        Convention(
            "torch",
            "torch.utils.flop_counter.FlopCounterMode: 2 x MACs of convolutions (transposed from the input side) and matmuls; nothing else",
            mac_kinds=CONV_FC,
            op_weights={},
            reference="torch/utils/flop_counter.py",
        ),
    )
}


def get(name: str) -> Convention:
    try:
        return CONVENTIONS[name]
    except KeyError:
        from .errors import did_you_mean

        raise KeyError(f"unknown convention '{name}'; {did_you_mean(name, CONVENTIONS) or 'known: ' + ', '.join(CONVENTIONS)}") from None
