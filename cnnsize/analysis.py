"""The engine: walk the layer graph in topological order, apply each rule,
attach locations to failures, and compute per-layer and total metrics.

This module (like the whole analysis path) imports no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from math import prod
from typing import Any

import networkx as nx

from . import conventions as conv_mod
from .errors import Diagnostic, RuleError, SpecError, in_source_order
from .geometry import RF, input_rf
from .rules import RULES, Tensor
from .spec import LayerDef, Spec
from .units import DTYPE_BYTES

OPTIMIZER_STATE = {"none": 0, "sgd": 0, "momentum": 1, "adam": 2}


@dataclass(slots=True)
class LayerReport:
    name: str
    kind: str
    type: str
    inputs: list[str]
    output_shape: tuple[int, ...]
    units: int
    weights: int
    biases: int
    buffers: int
    connections: int
    macs: int
    flops: int
    ops: dict[str, int]
    raw_macs: int
    activation_bytes: int
    param_bytes: int
    rf: RF | None
    loc: Any = None
    block: str | None = None

    @property
    def params(self) -> int:
        return self.weights + self.biases


@dataclass
class Analysis:
    spec: Spec
    input_shape: tuple[int, ...]
    batch: int
    dtype: str
    convention: str
    optimizer: str
    layers: list[LayerReport]
    totals: dict[str, Any]
    outputs: list[str]
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def model(self) -> str:
        return self.spec.name

    def layer(self, name: str) -> LayerReport:
        for lr in self.layers:
            if lr.name == name:
                return lr
        raise KeyError(name)


def build_graph(spec: Spec) -> nx.DiGraph:
    """The layer graph: one node per layer plus 'input'; edges carry data."""
    g = nx.DiGraph()
    g.add_node("input", index=-1)
    for ld in spec.layers:
        g.add_node(ld.name, index=ld.index)
    for ld in spec.layers:
        for src in ld.inputs:
            g.add_edge(src, ld.name)
    return g


def _at(d: Diagnostic, ld: LayerDef) -> Diagnostic:
    """Name the block instance when the layer comes from a block: its
    location is in the block definition, shared by every instance."""
    if ld.instance is not None:
        d.block, d.instance, d.instance_loc = ld.block, ld.instance, ld.instance_loc
    return d


def _topological(g: nx.DiGraph, spec: Spec, diags: list[Diagnostic] | None = None) -> list[LayerDef]:
    """Layers in data-flow order (ties in source order).

    Each cycle is reported once (into ``diags``, or raised without it); the
    layers on it are returned marked invalid so that the rest of the graph
    is still analysed and only what depends on the cycle is skipped.
    """
    by_name = {ld.name: ld for ld in spec.layers}
    if not nx.is_directed_acyclic_graph(g):
        found: list[Diagnostic] = []
        for comp in nx.strongly_connected_components(g):
            if len(comp) == 1 and not any(g.has_edge(n, n) for n in comp):
                continue
            members = sorted((by_name[n] for n in comp if n in by_name), key=lambda ld: ld.index)
            first = members[0]
            cycle = [u for u, _v in nx.find_cycle(g.subgraph(comp), first.name)]
            found.append(
                _at(
                    Diagnostic(
                        "cycle",
                        f"the layers form a cycle: {' -> '.join([*cycle, cycle[0]])}",
                        "a layer's inputs must come earlier in the data flow; check 'inputs:'",
                        first.key_locs.get("inputs", first.loc),
                        first.name,
                        first.kind,
                    ),
                    first,
                )
            )
            for ld in members:
                ld.invalid = True
            g = g.copy()
            g.remove_edges_from([(u, v) for u, v in g.edges(comp) if v in comp])
        if diags is None:
            raise SpecError(found)
        diags.extend(found)
    order = nx.lexicographical_topological_sort(g, key=lambda n: g.nodes[n].get("index", -1))
    return [by_name[n] for n in order if n in by_name]


def _check_dangling(spec: Spec, g: nx.DiGraph) -> list[Diagnostic]:
    diags = []
    outputs = set(spec.outputs)
    for ld in spec.layers:
        if ld.invalid:
            continue  # its own error is reported; do not add another
        if g.out_degree(ld.name) == 0 and ld.name not in outputs:
            diags.append(
                Diagnostic(
                    "dangling-output",
                    "nothing consumes this layer's output and it is not listed in 'outputs:'",
                    f"feed it to a later layer, or add it to outputs: [{', '.join([*spec.outputs, ld.name])}]",
                    ld.loc,
                    ld.name,
                    ld.kind,
                )
            )
            _at(diags[-1], ld)
    return diags


def analyze(
    spec: Spec,
    *,
    input_shape: tuple[int, ...] | None = None,
    batch: int = 1,
    dtype: str = "float32",
    convention: str = "cnnsize",
    optimizer: str = "adam",
) -> Analysis:
    """Analyse a parsed spec. Raises SpecError with every problem found: the
    spec's own (``spec.diagnostics``, from parsing with keep_going) and those
    of every layer whose definition and inputs are valid, in source order."""
    conv = conv_mod.get(convention)
    if dtype not in DTYPE_BYTES:
        raise ValueError(f"unknown dtype {dtype!r}; known: {', '.join(DTYPE_BYTES)}")
    if optimizer not in OPTIMIZER_STATE:
        raise ValueError(f"unknown optimizer {optimizer!r}; known: {', '.join(OPTIMIZER_STATE)}")
    if batch < 1:
        raise ValueError("batch must be at least 1")
    nbytes = DTYPE_BYTES[dtype]
    shape = tuple(input_shape) if input_shape else spec.input
    diags = list(spec.diagnostics)
    if not spec.complete or not shape:
        raise SpecError(in_source_order(diags))
    g = build_graph(spec)
    if spec.check_dangling:
        diags += _check_dangling(spec, g)
    order = _topological(g, spec, diags)

    tensors: dict[str, Tensor | None] = {"input": Tensor(shape, input_rf(len(shape) - 1))}
    reports: list[LayerReport] = []
    skipped: list[str] = []
    for ld in order:
        if ld.invalid:
            tensors[ld.name] = None  # its error is already reported
            continue
        ins = [tensors.get(n) for n in ld.inputs]
        if any(t is None for t in ins):
            tensors[ld.name] = None  # an upstream layer failed; it was reported there
            skipped.append(ld.name)
            continue
        rule = RULES[ld.kind]
        try:
            if rule.inputs == "one" and len(ins) != 1:
                raise RuleError("too-many-inputs", f"{ld.kind} takes one input, got {len(ins)}", "merge them first with add or concat", "inputs")
            res = rule.apply(ld.params, ins)  # type: ignore[arg-type]
        except RuleError as exc:
            loc = ld.key_locs.get(exc.key, ld.loc) if exc.key else ld.loc
            diags.append(_at(Diagnostic(exc.code, exc.message, exc.hint, loc, ld.name, ld.kind), ld))
            tensors[ld.name] = None
            continue
        except (ArithmeticError, ValueError, TypeError, KeyError, IndexError, MemoryError) as exc:
            # a rule bug must still be reported with the layer's location
            diags.append(_at(Diagnostic("internal-error", f"cnnsize could not compute this layer ({type(exc).__name__}: {exc})", "please report this spec as a bug", ld.loc, ld.name, ld.kind), ld))
            tensors[ld.name] = None
            continue
        units = prod(res.shape)
        if any(d < 1 for d in res.shape):
            diags.append(_at(Diagnostic("output-empty", f"output shape {list(res.shape)} has an empty axis", "use a larger input or less downsampling", ld.loc, ld.name, ld.kind), ld))
            tensors[ld.name] = None
            continue
        tensors[ld.name] = Tensor(res.shape, res.rf)
        params = res.weights + res.biases
        reports.append(
            LayerReport(
                name=ld.name,
                kind=ld.kind,
                type=ld.type,
                inputs=list(ld.inputs),
                output_shape=res.shape,
                units=units,
                weights=res.weights,
                biases=res.biases,
                buffers=res.buffers,
                connections=res.connections,
                macs=conv.macs(ld.kind, res.macs),
                flops=conv.flops(ld.kind, res.macs, res.ops),
                ops=res.ops,
                raw_macs=res.macs,
                activation_bytes=units * batch * nbytes,
                param_bytes=params * nbytes,
                rf=res.rf,
                loc=ld.loc,
                block=ld.block,
            )
        )
    if diags:
        raise SpecError(in_source_order(diags), skipped)
    input_bytes = prod(shape) * batch * nbytes
    totals = _totals(reports, spec, g, input_bytes, batch, nbytes, optimizer, prod(shape))
    return Analysis(spec, shape, batch, dtype, convention, optimizer, reports, totals, list(spec.outputs))


SUMMED = ("units", "weights", "biases", "params", "buffers", "connections", "macs", "flops", "activation_bytes", "param_bytes")


def _totals(reports: list[LayerReport], spec: Spec, g: nx.DiGraph, input_bytes: int, batch: int, nbytes: int, optimizer: str, input_units: int) -> dict[str, Any]:
    t: dict[str, Any] = {k: 0 for k in SUMMED}
    for r in reports:
        t["units"] += r.units
        t["weights"] += r.weights
        t["biases"] += r.biases
        t["params"] += r.params
        t["buffers"] += r.buffers
        t["connections"] += r.connections
        t["macs"] += r.macs
        t["flops"] += r.flops
        t["activation_bytes"] += r.activation_bytes
        t["param_bytes"] += r.param_bytes
    t["input_units"] = input_units
    t["input_bytes"] = input_bytes
    t["peak_activation_bytes"] = peak_bytes(reports, g, set(spec.outputs), input_bytes)
    t["buffer_bytes"] = t["buffers"] * nbytes
    # saved for backward: the input and every layer output; then params,
    # grads (same size as params) and optimizer state per parameter.
    t["saved_activation_bytes"] = input_bytes + t["activation_bytes"]
    t["optimizer_state_bytes"] = t["param_bytes"] * OPTIMIZER_STATE[optimizer]
    t["training_bytes"] = t["saved_activation_bytes"] + 2 * t["param_bytes"] + t["optimizer_state_bytes"] + t["buffer_bytes"]
    t["depth"] = sum(1 for r in reports if r.raw_macs)  # layers with weights that multiply: conv/fc depth
    outs = [r for r in reports if r.name in spec.outputs]
    t["receptive_field"] = _rf_json(outs[0].rf)[0] if outs and outs[0].rf is not None else None
    return t


def peak_bytes(reports: list[LayerReport], g: nx.DiGraph, outputs: set[str], input_bytes: int) -> int:
    """Largest sum of live tensors, walking the topological order.

    A tensor is born when its layer runs and dies after its last consumer;
    network outputs live to the end. Peak is taken while a layer's inputs and
    its output are both alive.
    """
    size = {r.name: r.activation_bytes for r in reports}
    size["input"] = input_bytes
    remaining = {n: g.out_degree(n) for n in size}
    live = input_bytes
    peak = live
    for r in reports:
        live += r.activation_bytes
        peak = max(peak, live)
        for src in set(r.inputs):
            remaining[src] -= 1
            if remaining[src] == 0 and src not in outputs:
                live -= size[src]
    return peak


def _num(x: Fraction) -> int | float:
    return int(x) if x.denominator == 1 else float(x)


def _rf_json(rf: RF | None) -> tuple[list[Any] | None, list[Any] | None, list[Any] | None]:
    if rf is None:
        return None, None, None
    return [_num(a.size) for a in rf], [_num(a.jump) for a in rf], [float(a.start) for a in rf]
