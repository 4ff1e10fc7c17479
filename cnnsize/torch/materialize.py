"""Build a ``torch.nn.Module`` from an analysed spec.

Every layer becomes one submodule named after the layer (``.`` and other
characters that torch forbids in module names are replaced, see
``Materialized.module_names``), so that forward hooks see exactly one call per
spec layer, fused activation included. Parameter counts equal the analysis:
LeNet's partial connection tables are grouped convolutions whose weights have
exactly the table's size (not a masked dense weight), untied biases are one
parameter of the output's shape, RBF codes are a buffer.

The forward pass follows the graph in the analysis' topological order and
drops each tensor after its last consumer, as the peak-memory estimate
assumes.
"""

from __future__ import annotations

import re
from typing import Any

import torch
from torch import nn

from cnnsize.engine.kinds import RULES
from cnnsize.engine.registry import Missing
from cnnsize.torch import modules

DTYPES = {
    "float64": torch.float64,
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}


def build_layer(kind: str, p: dict[str, Any], in_shapes: list[tuple[int, ...]], out: tuple[int, ...]) -> nn.Module:
    """The module of one layer of kind ``kind`` (params ``p``, input shapes per
    sample): the registry entry's ``to_torch``."""
    rule = RULES.get(kind)
    if rule is None or isinstance(rule.to_torch, Missing):
        why = f" ({rule.to_torch.reason})" if rule is not None and isinstance(rule.to_torch, Missing) else ""
        raise NotImplementedError(f"layer kind {kind!r} has no torch builder{why}")
    module: nn.Module = rule.to_torch(p, in_shapes, out, modules)
    return module


# --- the model ----------------------------------------------------------------------

_SAFE = re.compile(r"[^0-9A-Za-z_]")


class Materialized(nn.Module):
    """A spec's graph as a torch module: one submodule per layer, forward in
    topological order, each tensor dropped after its last consumer."""

    def __init__(self, model: str, layers: list[tuple[str, list[str], nn.Module]], outputs: list[str]) -> None:
        super().__init__()
        self.model_name = model
        self.module_names: dict[str, str] = {}  # spec layer name -> submodule name
        self.spec_names: dict[str, str] = {}  # submodule name -> spec layer name
        used: set[str] = set()
        for name, _inputs, mod in layers:
            safe = _SAFE.sub("_", name) or "layer"
            base, k = safe, 2
            while safe in used or hasattr(self, safe) or safe == "input":
                safe, k = f"{base}_{k}", k + 1
            used.add(safe)
            self.add_module(safe, mod)
            self.module_names[name] = safe
            self.spec_names[safe] = name
        self.outputs = list(outputs)
        self.plan = [(name, self.module_names[name], list(inputs)) for name, inputs, _ in layers]
        uses: dict[str, int] = {}
        for _n, _s, ins in self.plan:
            for src in set(ins):
                uses[src] = uses.get(src, 0) + 1
        # after running layer i, the tensors whose last consumer it was
        self.frees: list[list[str]] = []
        seen: dict[str, int] = {}
        for _n, _s, ins in self.plan:
            dead = []
            for src in dict.fromkeys(ins):
                seen[src] = seen.get(src, 0) + 1
                if seen[src] == uses[src] and src not in self.outputs:
                    dead.append(src)
            self.frees.append(dead)

    def layer(self, name: str) -> nn.Module:
        """The submodule of spec layer ``name``."""
        return getattr(self, self.module_names[name])

    def layer_modules(self) -> list[tuple[str, nn.Module]]:
        return [(n, getattr(self, s)) for n, s, _ in self.plan]

    def forward(self, x: Any) -> Any:
        # a one-element list hands the input over, so it can be freed after its
        # last consumer like any other tensor (profiling measures live memory)
        env: dict[str, Any] = {"input": x.pop() if isinstance(x, list) else x}
        for (name, safe, ins), dead in zip(self.plan, self.frees):
            env[name] = getattr(self, safe)(*[env[i] for i in ins])
            for d in dead:
                del env[d]
        if len(self.outputs) == 1:
            return env[self.outputs[0]]
        return tuple(env[o] for o in self.outputs)


def _analysis(obj: Any) -> Any:
    from cnnsize.engine.analysis import Analysis, analyze
    from cnnsize.engine.load import load_spec, parse
    from cnnsize.engine.spec import Spec

    if isinstance(obj, Analysis):
        return obj
    if isinstance(obj, Spec):
        return analyze(obj)
    if isinstance(obj, dict):
        return analyze(parse(obj, "<dict>"))
    if isinstance(obj, str):
        return analyze(load_spec(obj))
    raise TypeError(f"materialize takes an Analysis, a Spec, a spec dict or a path, not {type(obj).__name__}")


def materialize(analysis_or_spec: Any, device: Any = "cpu", dtype: Any = "float32") -> Materialized:
    """Build the torch module of a spec (an Analysis, Spec, dict or path).

    ``device="meta"`` builds the whole model without allocating anything.
    Returns the module in eval mode.
    """
    if isinstance(dtype, str) and dtype not in DTYPES:
        raise ValueError(f"cannot materialize in {dtype}; use one of {', '.join(DTYPES)}")
    tdtype = DTYPES[dtype] if isinstance(dtype, str) else dtype
    a = _analysis(analysis_or_spec)
    shapes: dict[str, tuple[int, ...]] = {"input": tuple(a.input_shape)}
    built: list[tuple[str, list[str], nn.Module]] = []
    with torch.device(device):
        for r in a.layers:
            try:
                mod = build_layer(r.kind, r.definition.params, [shapes[i] for i in r.inputs], tuple(r.output_shape))
            except NotImplementedError as exc:
                raise NotImplementedError(f"layer '{r.name}' ({r.kind}): {exc}") from None
            shapes[r.name] = tuple(r.output_shape)
            built.append((r.name, list(r.inputs), mod))
        model = Materialized(a.model, built, list(a.outputs))
    return model.to(dtype=tdtype).eval()
