"""The engine: walk the layer graph in topological order, apply each rule,
attach locations to failures, and compute per-layer and total metrics.

This module (like the whole analysis path) imports no torch.
"""

from __future__ import annotations

from math import prod
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fractions import Fraction

    from cnnsize.engine.conventions import Convention

from cnnsize.engine import conventions, fastpath
from cnnsize.engine._gc import paused
from cnnsize.engine.errors import Diagnostic, RuleError, SpecError, in_source_order
from cnnsize.engine.geometry import RF, input_rf
from cnnsize.engine.kinds import RULES, Result, Tensor
from cnnsize.engine.spec import LayerDef, Spec
from cnnsize.engine.units import DTYPE_BYTES

OPTIMIZER_STATE = {"none": 0, "sgd": 0, "momentum": 1, "adam": 2}


# Plain classes rather than @dataclass: each dataclass exec()s generated code
# when its module is imported, which every run of the CLI pays for.


class LayerReport:
    """One layer's figures, with a link to the definition they were computed
    from (``definition``: the LayerDef, holding its parameters, key locations
    and block instance). ``name``, ``kind``, ``type``, ``inputs``, ``loc`` and
    ``block`` read through that link."""

    __slots__ = (
        "definition", "output_shape", "units", "weights", "biases", "buffers", "connections", "macs", "flops", "ops",
        "exact_macs", "activation_bytes", "param_bytes", "rf", "tensor_bytes", "counts",
    )  # fmt: skip

    def __init__(
        self,
        definition: LayerDef,
        output_shape: tuple[int, ...],
        units: int,
        weights: int,
        biases: int,
        buffers: int,
        connections: int,
        macs: int,
        flops: int,
        ops: dict[str, int],
        exact_macs: int,
        activation_bytes: int,
        param_bytes: int,
        rf: RF | None,
        tensor_bytes: int = 0,
        counts: dict[str, int] | None = None,
    ) -> None:
        self.definition = definition
        self.output_shape = output_shape
        self.units = units
        self.weights = weights
        self.biases = biases
        self.buffers = buffers
        self.connections = connections
        self.macs = macs
        self.flops = flops
        self.ops = ops
        self.exact_macs = exact_macs  # cnnsize's own count (the rule's), whatever the preset counts in macs
        self.activation_bytes = activation_bytes
        self.param_bytes = param_bytes
        self.rf = rf
        self.tensor_bytes = tensor_bytes  # the output tensor's bytes, whatever the convention counts
        self.counts: dict[str, int] = {} if counts is None else counts

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def kind(self) -> str:
        """The canonical layer kind (JSON ``type``)."""
        return self.definition.kind

    @property
    def written_type(self) -> str:
        """The kind as the spec wrote it (an alias, say)."""
        return self.definition.written_type

    @property
    def inputs(self) -> list[str]:
        return self.definition.inputs

    @property
    def loc(self) -> Any:
        return self.definition.loc

    @property
    def block(self) -> str | None:
        return self.definition.block

    @property
    def params(self) -> int:
        return self.weights + self.biases


class Analysis:
    def __init__(
        self,
        spec: Spec,
        input_shape: tuple[int, ...],
        batch: int,
        dtype: str,
        convention: str,
        optimizer: str,
        layers: list[LayerReport],
        totals: dict[str, Any],
        outputs: list[str],
        diagnostics: list[Diagnostic] | None = None,
    ) -> None:
        self.spec = spec
        self.input_shape = input_shape
        self.batch = batch
        self.dtype = dtype
        self.convention = convention
        self.optimizer = optimizer
        self.layers = layers
        self.totals = totals
        self.outputs = outputs
        self.diagnostics: list[Diagnostic] = [] if diagnostics is None else diagnostics

    @property
    def model(self) -> str:
        return self.spec.name

    def layer(self, name: str) -> LayerReport:
        for lr in self.layers:
            if lr.name == name:
                return lr
        raise KeyError(name)


def build_graph(spec: Spec) -> Any:
    """The layer graph as a networkx DiGraph: one node per layer plus 'input'.

    For users and the graph command. The analysis itself walks the same edges
    with plain lists (below), since importing networkx costs more than
    analysing a whole ResNet.
    """
    import networkx as nx

    g = nx.DiGraph()
    g.add_node("input", index=-1, kind="input")
    for ld in spec.layers:
        g.add_node(ld.name, index=ld.index, kind=ld.kind)
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


def consumers(spec: Spec) -> dict[str, int]:
    """How many edges leave each tensor (out-degree in the layer graph)."""
    out = {"input": 0}
    for ld in spec.layers:
        out[ld.name] = 0
    fast = fastpath.enabled()
    for ld in spec.layers:
        ins = ld.inputs
        if fast and len(ins) == 1:
            out[ins[0]] += 1
            continue
        # a layer that reads a tensor twice (add: [x, y, x]) is one consumer,
        # as peak_bytes releases it once per consuming layer
        for src in set(ins):
            out[src] += 1
    return out


def topological(spec: Spec, diags: list[Diagnostic] | None = None) -> list[LayerDef]:
    """Layers in data-flow order, ties broken by source order.

    Specs are almost always written in order, so that is checked first in one
    linear pass (a fast path: Kahn's algorithm gives that same order); otherwise
    Kahn's algorithm with a heap keyed on source order.
    Each cycle is an error: raised, or with ``diags`` appended to it, its
    layers marked invalid and the walk resumed past them, so that the rest of
    the graph is still analysed and only what depends on a cycle is skipped.
    """
    layers = spec.layers
    pos = {ld.name: i for i, ld in enumerate(layers)}
    pos["input"] = -1
    if fastpath.enabled() and all(pos[src] < i for i, ld in enumerate(layers) for src in ld.inputs):
        return list(layers)
    import heapq

    indeg = [len(ld.inputs) - ld.inputs.count("input") for ld in layers]
    succ: list[list[int]] = [[] for _ in layers]
    for i, ld in enumerate(layers):
        for src in ld.inputs:
            if src != "input":
                succ[pos[src]].append(i)
    placed = [False] * len(layers)
    order: list[LayerDef] = []
    heap = [i for i, d in enumerate(indeg) if d == 0]
    heapq.heapify(heap)
    found: list[Diagnostic] = []

    def place(i: int) -> None:
        placed[i] = True
        order.append(layers[i])
        for j in succ[i]:
            indeg[j] -= 1
            if indeg[j] == 0 and not placed[j]:
                heapq.heappush(heap, j)

    while True:
        while heap:
            i = heapq.heappop(heap)
            if not placed[i]:
                place(i)
        if len(order) == len(layers):
            break
        # Follow unplaced inputs from the first unplaced layer until a layer
        # repeats: that closes a cycle (every unplaced layer has one).
        path: list[int] = []
        seen: dict[int, int] = {}
        i = next(k for k in range(len(layers)) if not placed[k])
        while i not in seen:
            seen[i] = len(path)
            path.append(i)
            i = next(pos[s] for s in layers[i].inputs if s != "input" and not placed[pos[s]])
        cycle = [layers[k] for k in path[seen[i] :]][::-1]
        first = min(cycle, key=lambda ld: ld.index)
        names = [ld.name for ld in cycle]
        found.append(
            _at(
                Diagnostic(
                    "cycle",
                    f"the layers form a cycle: {' -> '.join([*names, names[0]])}",
                    "a layer's inputs must come earlier in the data flow; check 'inputs:'",
                    first.key_locs.get("inputs", first.loc),
                    first.name,
                    first.kind,
                ),
                first,
            )
        )
        if diags is None:
            raise SpecError(found)
        for ld in cycle:
            ld.invalid = True
            place(pos[ld.name])
    if diags is not None:
        diags.extend(found)
    return order


def _check_dangling(spec: Spec, used: dict[str, int]) -> list[Diagnostic]:
    diags = []
    outputs = set(spec.outputs)
    for ld in spec.layers:
        if ld.invalid:
            continue  # its own error is reported; do not add another
        if used[ld.name] == 0 and ld.name not in outputs:
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


@paused
def _check_options(dtype: str, optimizer: str, batch: int) -> None:
    if dtype not in DTYPE_BYTES:
        raise ValueError(f"unknown dtype {dtype!r}; known: {', '.join(DTYPE_BYTES)}")
    if optimizer not in OPTIMIZER_STATE:
        raise ValueError(f"unknown optimizer {optimizer!r}; known: {', '.join(OPTIMIZER_STATE)}")
    if batch < 1:
        raise ValueError("batch must be at least 1")


def _apply(ld: LayerDef, ins: list[Tensor]) -> Result | Diagnostic:
    """One layer's rule on its inputs, or the located diagnostic of its failure."""
    rule = RULES[ld.kind]
    try:
        if rule.inputs == "one" and len(ins) != 1:
            raise RuleError(
                "too-many-inputs",
                f"{ld.kind} takes one input, got {len(ins)}",
                "merge them first with add or concat",
                "inputs",
            )
        res: Result = rule.apply(ld.params, ins)
    except RuleError as exc:
        loc = ld.key_locs.get(exc.key, ld.loc) if exc.key else ld.loc
        return _at(Diagnostic(exc.code, exc.message, exc.hint, loc, ld.name, ld.kind), ld)
    except (ArithmeticError, ValueError, TypeError, KeyError, IndexError, MemoryError) as exc:
        # a rule bug must still be reported with the layer's location
        what = f"cnnsize could not compute this layer ({type(exc).__name__}: {exc})"
        return _at(Diagnostic("internal-error", what, "please report this spec as a bug", ld.loc, ld.name, ld.kind), ld)
    if res.shape and min(res.shape) < 1:
        what = f"output shape {list(res.shape)} has an empty axis"
        hint = "use a larger input or less downsampling"
        return _at(Diagnostic("output-empty", what, hint, ld.loc, ld.name, ld.kind), ld)
    return res


def _row(
    ld: LayerDef, res: Result, ins: list[Tensor], preset: Convention, native: bool, batch: int, nbytes: int
) -> LayerReport:
    """A layer's report row: the rule's result counted under the preset.
    ``native``: the preset counts as cnnsize does, MACs, FLOPs and bytes."""
    units = prod(res.shape)
    tensor_bytes = units * batch * nbytes
    params = res.weights + res.biases
    # positional, in LayerReport.__init__'s order: a call with 16 keywords
    # costs three times as much, a tenth of analysing a ResNet
    if native:
        return LayerReport(
            ld, res.shape, units, res.weights, res.biases, res.buffers, res.connections, res.macs, res.flops,
            res.ops, res.macs, tensor_bytes, params * nbytes, res.rf, tensor_bytes, res.counts,
        )  # fmt: skip
    terms = conventions.layer_terms(res, [t.shape for t in ins])
    functional = bool(ld.params.get("functional", False))
    return LayerReport(
        ld,
        res.shape,
        units,
        res.weights,
        res.biases,
        res.buffers + preset.tracked(res.counts),
        res.connections,
        preset.layer_macs(ld.kind, terms, functional),
        preset.layer_flops(ld.kind, terms, functional),
        res.ops,
        res.macs,
        preset.activation_bytes(tensor_bytes, params),
        preset.param_bytes(params, res.buffers, nbytes),
        res.rf,
        tensor_bytes,
        res.counts,
    )  # fmt: skip


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
    preset = conventions.get(convention)
    fast = fastpath.enabled()
    native = fast and conventions.is_native(preset) and conventions.memory_is_native(preset)
    _check_options(dtype, optimizer, batch)
    nbytes = DTYPE_BYTES[dtype]
    shape = tuple(input_shape) if input_shape else spec.input
    diags = list(spec.diagnostics)
    if not spec.complete or not shape:
        raise SpecError(in_source_order(diags))
    used = consumers(spec)
    if spec.check_dangling:
        diags += _check_dangling(spec, used)
    order = topological(spec, diags)

    tensors: dict[str, Tensor | None] = {"input": Tensor(shape, input_rf(len(shape) - 1))}
    reports: list[LayerReport] = []
    skipped: list[str] = []
    for ld in order:
        if ld.invalid:
            tensors[ld.name] = None  # its error is already reported
            continue
        srcs = ld.inputs
        if fast and len(srcs) == 1:
            t0 = tensors.get(srcs[0])
            ins = [t0]
            missing = t0 is None
        else:
            ins = [tensors.get(n) for n in srcs]
            missing = any(t is None for t in ins)
        if missing:
            tensors[ld.name] = None  # an upstream layer failed; it was reported there
            skipped.append(ld.name)
            continue
        res = _apply(ld, ins)  # type: ignore[arg-type]
        if isinstance(res, Diagnostic):
            diags.append(res)
            tensors[ld.name] = None
            continue
        tensors[ld.name] = Tensor(res.shape, res.rf)
        reports.append(_row(ld, res, ins, preset, native, batch, nbytes))  # type: ignore[arg-type]
    if diags:
        raise SpecError(in_source_order(diags), skipped)
    input_bytes = preset.input_bytes(prod(shape) * batch * nbytes)
    totals = _totals(reports, spec, used, input_bytes, nbytes, optimizer, prod(shape), preset)
    return Analysis(spec, shape, batch, dtype, convention, optimizer, reports, totals, list(spec.outputs))


SUMMED = (
    "units",
    "weights",
    "biases",
    "params",
    "buffers",
    "connections",
    "macs",
    "flops",
    "activation_bytes",
    "param_bytes",
)


def _totals(
    reports: list[LayerReport],
    spec: Spec,
    used: dict[str, int],
    input_bytes: int,
    nbytes: int,
    optimizer: str,
    input_units: int,
    preset: conventions.Convention,
) -> dict[str, Any]:
    """Sums of the rows, then the figures derived from them: every preset's
    memory rules are already in the rows and in ``input_bytes``."""
    # one pass with local sums (dict updates per field cost more than the analysis)
    units = weights = biases = buffers = connections = macs = flops = act = pbytes = wlayers = 0
    for r in reports:
        units += r.units
        weights += r.weights
        biases += r.biases
        buffers += r.buffers
        connections += r.connections
        macs += r.macs
        flops += r.flops
        act += r.activation_bytes
        pbytes += r.param_bytes
        if r.exact_macs:
            wlayers += 1
    sums = (units, weights, biases, weights + biases, buffers, connections, macs, flops, act, pbytes)
    t: dict[str, Any] = dict(zip(SUMMED, sums))
    t["input_units"] = input_units
    t["input_bytes"] = input_bytes
    t["peak_activation_bytes"] = peak_bytes(reports, used, set(spec.outputs), input_bytes)
    tracked = sum(preset.tracked(r.counts) for r in reports) if preset.tracked_buffers else 0
    t["buffer_bytes"] = preset.buffer_bytes(t["buffers"], tracked, nbytes)
    # saved for backward: the input and every layer output; then params,
    # grads (same size as params) and optimizer state per parameter.
    t["saved_activation_bytes"] = input_bytes + sum(r.tensor_bytes for r in reports)
    t["optimizer_state_bytes"] = t["param_bytes"] * OPTIMIZER_STATE[optimizer]
    t["training_bytes"] = (
        t["saved_activation_bytes"] + 2 * t["param_bytes"] + t["optimizer_state_bytes"] + t["buffer_bytes"]
    )
    t["depth"] = weight_depth(reports)
    t["weight_layers"] = wlayers
    outs = [r for r in reports if r.name in spec.outputs]
    t["receptive_field"] = _rf_json(outs[0].rf)[0] if outs and outs[0].rf is not None else None
    return t


def weight_depth(reports: list[LayerReport]) -> int:
    """Weight layers (conv, fc, ...) on the longest input-to-output path: the
    depth papers quote (VGG-16: 16, ResNet-50: 50, GoogLeNet: 22)."""
    depth: dict[str, int] = {"input": 0}
    fast = fastpath.enabled()
    for r in reports:
        ld = r.definition  # once, rather than two property calls
        ins = ld.inputs
        deepest = depth[ins[0]] if fast and len(ins) == 1 else max(depth[s] for s in ins)
        depth[ld.name] = deepest + (1 if r.exact_macs else 0)
    return max(depth.values())


def peak_bytes(reports: list[LayerReport], used: dict[str, int], outputs: set[str], input_bytes: int) -> int:
    """Largest sum of live tensors, walking the topological order.

    A tensor is born when its layer runs and dies after its last consumer;
    network outputs live to the end. Peak is taken while a layer's inputs and
    its output are both alive.
    """
    size = {r.definition.name: r.tensor_bytes for r in reports}
    size["input"] = input_bytes
    remaining = dict(used)
    live = input_bytes
    peak = live
    fast = fastpath.enabled()
    for r in reports:
        live += r.tensor_bytes
        if live > peak:
            peak = live
        ins = r.definition.inputs
        for src in ins if fast and len(ins) == 1 else set(ins):
            remaining[src] -= 1
            if remaining[src] == 0 and src not in outputs:
                live -= size[src]
    return peak


def _num(x: int | Fraction) -> int | float:
    return x if isinstance(x, int) else int(x) if x.denominator == 1 else float(x)


def _rf_json(rf: RF | None) -> tuple[list[Any] | None, list[Any] | None, list[Any] | None]:
    if rf is None:
        return None, None, None
    return [_num(a.size) for a in rf], [_num(a.jump) for a in rf], [float(a.start) for a in rf]
