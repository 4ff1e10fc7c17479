"""The layer-kind registry: one entry per kind holds every part of it.

An entry (:class:`Rule`) holds the keys the kind accepts (type checker,
default, description), the analysis rule (shape, params, MACs, FLOPs,
connections and receptive field, computed together), its category (which
convention presets read), how it becomes a torch module (``to_torch``), which
torch modules, functions and methods map back to it (``from_torch``) and its
ONNX mapping (``from_onnx``). A part a kind cannot have is a
:class:`Missing` with the reason; tests/test_registry.py fails on a part that
is neither.

The kinds themselves live in :mod:`cnnsize.engine.kinds`, one module per
family; importing that package fills :data:`RULES` and :data:`KINDS`. This
module holds the machinery only. No part of the engine imports torch, not even
inside a function: ``to_torch`` is handed torch's toolkit by materialize, and
the ``from_torch`` converters are handed the importer and the torch objects.

Rules raise :class:`RuleError` with the offending key; they never format
locations. FLOPs are returned by category (``ops``) so that convention presets
can reweight them without touching any rule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cnnsize.engine._readonly import ReadOnlySlots
from cnnsize.engine.errors import RuleError
from cnnsize.engine.geometry import RF, rf_global

Shape = tuple[int, ...]


# Plain classes rather than @dataclass: each dataclass exec()s generated code
# when its module is imported, which every run of the CLI pays for.


class Tensor:
    __slots__ = ("shape", "rf")

    def __init__(self, shape: Shape, rf: RF | None) -> None:
        self.shape = shape
        self.rf = rf


class Result:
    __slots__ = ("shape", "weights", "biases", "buffers", "macs", "ops", "connections", "rf", "counts")

    def __init__(
        self,
        shape: Shape,
        weights: int = 0,
        biases: int = 0,
        buffers: int = 0,
        macs: int = 0,
        ops: dict[str, int] | None = None,
        connections: int = 0,
        rf: RF | None = None,
        counts: dict[str, int] | None = None,
    ) -> None:
        self.shape = shape
        self.weights = weights
        self.biases = biases
        self.buffers = buffers  # stored but not trained: running statistics, fixed RBF codes
        self.macs = macs
        # non-MAC FLOPs by category; a fresh dict each (rules update it in place)
        self.ops: dict[str, int] = {} if ops is None else ops
        self.connections = connections
        self.rf = rf
        # Element counts that are not cnnsize FLOPs but that other tools' formulas
        # need (convention presets weight them): "act.<name>" elements through an
        # activation, "mac_out" a transposed conv counted from the output side,
        # "affine_out" elements scaled by an affine norm, "dropout" elements of an
        # active dropout, "upsample.<mode>" interpolated outputs.
        self.counts: dict[str, int] = {} if counts is None else counts

    @property
    def flops(self) -> int:
        return 2 * self.macs + sum(self.ops.values())


# --- key types --------------------------------------------------------------


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


MAX_DIM = 10**9


def t_int(minimum: int) -> Callable[[Any, str], Any]:
    def check(v: Any, key: str) -> Any:
        if type(v) is int and minimum <= v <= MAX_DIM:
            return v  # the common case, decided without the checks below
        if isinstance(v, float):
            raise RuleError(
                "bad-type",
                f"'{key}' must be an integer, got {v!r}",
                "write a whole number (use int()/round() in templates)",
                key,
            )
        if not _is_int(v):
            raise RuleError(
                "bad-type", f"'{key}' must be an integer, got {type(v).__name__} {v!r}", "write a whole number", key
            )
        if v < minimum:
            raise RuleError(
                "bad-value", f"'{key}' must be at least {minimum}, got {v}", f"use a value >= {minimum}", key
            )
        if v > MAX_DIM:
            raise RuleError(
                "limit-size",
                f"'{key}' = {v:,} exceeds the 10^9 limit on one dimension",
                "sizes are capped at 10^9 to catch typos (a fixed limit); check the value",
                key,
            )
        return v

    return check


def t_axes(minimum: int) -> Callable[[Any, str], Any]:
    one = t_int(minimum)

    def check(v: Any, key: str) -> Any:
        if type(v) is int and minimum <= v <= MAX_DIM:
            return v
        if isinstance(v, list):
            if not v:
                raise RuleError("bad-type", f"'{key}' is an empty list", "give an integer or one per spatial axis", key)
            return [one(x, key) for x in v]
        return one(v, key)

    return check


def t_bool(v: Any, key: str) -> Any:
    if v is True or v is False:
        return v
    raise RuleError("bad-type", f"'{key}' must be true or false, got {v!r}", "write true or false", key)


def t_bias(v: Any, key: str) -> Any:
    if v is True or v is False or v == "untied":
        return v
    raise RuleError(
        "bad-type",
        f"'bias' must be true, false or untied, got {v!r}",
        "untied gives one bias per output unit (LeNet 1989)",
        key,
    )


def t_padding(v: Any, key: str) -> Any:
    if type(v) is int and 0 <= v <= MAX_DIM:
        return v
    if v in ("same", "valid"):
        return v
    if isinstance(v, list) and v and all(isinstance(p, list) for p in v):
        for pair in v:
            for x in pair:
                t_int(0)(x, key)
        return v
    return t_axes(0)(v, key)


def t_number(minimum: float, exclusive: bool = False, maximum: float | None = None) -> Callable[[Any, str], Any]:
    def check(v: Any, key: str) -> Any:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise RuleError("bad-type", f"'{key}' must be a number, got {v!r}", "", key)
        if v < minimum or (exclusive and v == minimum) or (maximum is not None and v > maximum):
            rng = f"{'>' if exclusive else '>='} {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
            raise RuleError("bad-value", f"'{key}' must be {rng}, got {v}", "", key)
        return v

    return check


def t_choice(*choices: str) -> Callable[[Any, str], Any]:
    def check(v: Any, key: str) -> Any:
        if v not in choices:
            from cnnsize.engine.errors import did_you_mean

            raise RuleError(
                "bad-value",
                f"'{key}' must be one of {', '.join(choices)}, got {v!r}",
                did_you_mean(str(v), choices),
                key,
            )
        return v

    return check


def t_table(v: Any, key: str) -> Any:
    if not isinstance(v, list) or not v or not all(isinstance(r, list) and r for r in v):
        raise RuleError(
            "bad-type",
            "'table' must be a list of non-empty lists of input map indices",
            "e.g. [[0, 1, 2], [1, 2, 3]]",
            key,
        )
    for row in v:
        for x in row:
            t_int(0)(x, key)
        if len(set(row)) != len(row):
            raise RuleError(
                "bad-value", f"'table' row {row} repeats an input map", "list each input map once per row", key
            )
    return v


def t_shape(v: Any, key: str) -> Any:
    if not isinstance(v, list) or not v:
        raise RuleError("bad-type", f"'{key}' must be a list of integers", "e.g. [256, 6, 6]", key)
    for x in v:
        if x != -1:
            t_int(1)(x, key)
    if sum(1 for x in v if x == -1) > 1:
        raise RuleError("bad-value", f"'{key}' may contain -1 only once", "", key)
    return v


class Key(ReadOnlySlots):
    """One key a kind accepts: its checker, default, whether it is required,
    and what it means (the schema and docs/kinds.md print ``doc``)."""

    # read-only: one Key object serves many kinds (WINDOW_KEYS, ACT)
    __slots__ = ("check", "default", "required", "doc")
    check: Callable[[Any, str], Any]
    default: Any
    required: bool
    doc: str

    def __init__(self, check: Callable[[Any, str], Any], doc: str, default: Any = None, required: bool = False) -> None:
        self._init(check=check, default=default, required=required, doc=doc)


# --- the parts of an entry ---------------------------------------------------


class Missing:
    """A part a kind does not have, and why (the completeness test reads it)."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"Missing({self.reason!r})"


ONNX_LATER = Missing("ONNX importer: issue 14")


class TorchMap:
    """Torch objects that map to a kind, and how.

    ``modules``, ``functions`` and ``methods`` are dotted names (resolved when
    the importer first runs, so the engine never imports torch) or, for
    methods, ``Tensor`` method names. ``convert(imp, node, target)`` receives
    the importer (``cnnsize.torch.importer._Importer``), the torch.fx node and
    the module instance, function or method name, and adds the spec layer
    (or reports the node unsupported) through the importer.
    """

    __slots__ = ("convert", "modules", "functions", "methods")

    def __init__(
        self,
        convert: Callable[[Any, Any, Any], None],
        modules: tuple[str, ...] = (),
        functions: tuple[str, ...] = (),
        methods: tuple[str, ...] = (),
    ) -> None:
        self.convert = convert
        self.modules = modules
        self.functions = functions
        self.methods = methods


class OnnxMap:
    """ONNX operators that map to a kind, and how.

    ``ops`` are operator types of the default domain (``Conv``, ``Gemm``).
    ``convert(imp, node)`` receives the ONNX importer
    (``cnnsize.onnx.importer._Importer``) and the ``onnx.NodeProto``, reads
    attributes and constant inputs through the importer and adds the spec
    layer (or reports the node unsupported) through it. The converters never
    import onnx: the importer hands them plain Python values.
    """

    __slots__ = ("convert", "ops", "doc")

    def __init__(self, convert: Callable[[Any, Any], None], ops: tuple[str, ...], doc: str) -> None:
        self.convert = convert
        self.ops = ops
        self.doc = doc  # how attributes and initializers become keys, and what is refused (docs/import.md)


# (params, input shapes, output shape, toolkit): the toolkit is the module
# cnnsize.torch.modules (torch.nn as .nn, cnnsize's own modules), handed in by
# materialize so that the engine never imports torch, not even lazily
ToTorch = Callable[[dict[str, Any], list[Shape], Shape, Any], Any]
Apply = Callable[[dict[str, Any], list[Tensor]], Result]

CATEGORIES = (
    "conv",  # sliding-window convolution (MACs over a window)
    "transposed_conv",
    "dense",  # fully connected
    "pool",
    "legacy",  # LeNet-era kinds (trainable subsampling, RBF units)
    "norm",
    "activation",
    "regularization",
    "merge",
    "shape",  # moves values, computes nothing
)


class Rule:
    """One layer kind's registry entry (the name stays ``Rule``: callers
    read ``RULES[kind].keys``, ``.aliases``, ``.inputs`` and ``.apply``)."""

    __slots__ = (
        "kind",
        "apply",
        "keys",
        "aliases",
        "inputs",
        "summary",
        "params_doc",
        "category",
        "pointwise",
        "to_torch",
        "from_torch",
        "from_onnx",
    )

    def __init__(
        self,
        kind: str,
        apply: Apply,
        keys: dict[str, Key],
        aliases: tuple[str, ...],
        inputs: str,
        summary: str,
        params_doc: str,
        category: str,
        pointwise: bool,
        to_torch: ToTorch | Missing,
        from_torch: tuple[TorchMap, ...] | Missing,
        from_onnx: tuple[OnnxMap, ...] | Missing,
    ) -> None:
        self.kind = kind
        self.apply = apply
        self.keys = keys
        self.aliases = aliases
        self.inputs = inputs  # "one" or "many"
        self.summary = summary
        self.params_doc = params_doc  # the trainable parameters, in words (docs/kinds.md)
        self.category = category
        # each output element reads only the input element at its index (an
        # activation, dropout): the importer lets a flatten move across it
        self.pointwise = pointwise
        self.to_torch = to_torch
        self.from_torch = from_torch
        self.from_onnx = from_onnx


RULES: dict[str, Rule] = {}
KINDS: dict[str, str] = {}  # alias (and the kind itself) -> canonical kind
COMMON_KEYS = {"name", "type", "inputs", "repeat", "note", "when"}

# In a torch model these kinds are calls (torch.cat, +, torch.flatten), not
# nn.Modules; any layer may say `functional: true|false`.
FUNCTIONAL_BY_DEFAULT = frozenset({"add", "mul", "concat", "flatten", "reshape"})


def add_alias(name: str, kind: str) -> None:
    """Make ``name`` another spelling of ``kind``; refused when taken."""
    if name in KINDS:  # like torch's flop registry: one formula per kind
        raise ValueError(f"layer kind {name!r} registered twice")
    KINDS[name] = kind


def register(
    kind: str,
    keys: dict[str, Key],
    *,
    category: str,
    summary: str,
    to_torch: ToTorch | Missing,
    from_torch: tuple[TorchMap, ...] | Missing,
    from_onnx: tuple[OnnxMap, ...] | Missing = ONNX_LATER,
    aliases: tuple[str, ...] = (),
    inputs: str = "one",
    pointwise: bool = False,
    params: str = "0",
) -> Callable[[Apply], Apply]:
    """Register the decorated rule as layer kind ``kind`` with all its parts.

    A kind or alias registered twice is refused (ValueError), as is an
    unknown category."""
    if category not in CATEGORIES:
        raise ValueError(f"layer kind {kind!r}: unknown category {category!r} (one of {', '.join(CATEGORIES)})")
    # `functional` changes no figure of cnnsize's own: it says whether the torch
    # model calls this layer as a function (F.adaptive_avg_pool2d, x + y) rather
    # than an nn.Module, which decides what hook-based tools (thop, ptflops,
    # torchinfo, torchscan) can see. Presets read it; fused activations stay modules.
    keys = {**keys, "functional": FUNCTIONAL_KEY[kind in FUNCTIONAL_BY_DEFAULT]}

    def deco(fn: Apply) -> Apply:
        taken = [n for n in (kind, *aliases) if n in KINDS]
        if taken:
            raise ValueError(f"layer kind {taken[0]!r} registered twice")
        for name in (kind, *aliases):
            add_alias(name, kind)
        RULES[kind] = Rule(
            kind, fn, keys, aliases, inputs, summary, params, category, pointwise, to_torch, from_torch, from_onnx
        )
        return fn

    return deco


_FUNCTIONAL_DOC = (
    "true when the torch model calls this layer as a function (F.*, x + y), not an nn.Module; "
    "only hook-based --convention presets care"
)
FUNCTIONAL_KEY = {flag: Key(t_bool, _FUNCTIONAL_DOC, flag) for flag in (False, True)}


def kinds_in(category: str) -> tuple[str, ...]:
    """The kinds of one category, in registration order."""
    return tuple(k for k, r in RULES.items() if r.category == category)


# --- helpers the rules share ------------------------------------------------------


def spatial(x: Tensor, kind: str) -> tuple[int, tuple[int, ...]]:
    if len(x.shape) < 2:
        raise RuleError(
            "needs-spatial",
            f"{kind} needs an input with spatial axes, got shape {list(x.shape)}",
            "put it before any fc/flatten layer, or reshape first",
        )
    return x.shape[0], tuple(x.shape[1:])


def ops_of(**parts: int) -> dict[str, int]:
    return {k: v for k, v in parts.items() if v}


def rf_of(x: Tensor, fn: Callable[[RF], RF | None]) -> RF | None:
    return fn(x.rf) if x.rf is not None else None


def flat_rf(x: Tensor) -> RF | None:
    return rf_of(x, lambda r: rf_global(r, x.shape[1:])) if len(x.shape) > 1 else x.rf


# --- torch attribute values -> spec values (pure Python, for the converters) --------


def axes_value(v: Any) -> Any:
    """A tuple of equal values as one int (shorter specs); otherwise a list."""
    if isinstance(v, (tuple, list)):
        vals = [int(x) for x in v]
        return vals[0] if len(set(vals)) == 1 else vals
    return int(v)


def padding_value(v: Any, nd: int) -> Any:
    if isinstance(v, str):
        return v
    return axes_value(v if isinstance(v, (tuple, list)) else (v,) * nd)


# --- ONNX attribute values -> spec values (pure Python, for the converters) ---------


def onnx_pads(pads: list[int] | None, nd: int) -> Any:
    """ONNX ``pads`` [b1, b2, ..., e1, e2, ...] as a spec padding: one int when
    every side is equal, one per axis when each axis is symmetric, else
    [before, after] pairs."""
    if not pads:
        return 0
    pairs = [(int(pads[i]), int(pads[i + nd])) for i in range(nd)]
    if all(b == e for b, e in pairs):
        return axes_value([b for b, _ in pairs])
    return [[b, e] for b, e in pairs]


def onnx_auto_pads(
    auto_pad: str, spatial_in: tuple[int, ...], kernel: list[int], stride: list[int], dilation: list[int]
) -> list[int] | None:
    """Explicit ONNX pads for ``auto_pad`` SAME_UPPER/SAME_LOWER (None for
    NOTSET: the node's own pads apply; zeros for VALID)."""
    nd = len(spatial_in)
    if auto_pad in ("", "NOTSET"):
        return None
    if auto_pad == "VALID":
        return [0] * (2 * nd)
    before, after = [], []
    for n, k, s, d in zip(spatial_in, kernel, stride, dilation):
        total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
        small, big = total // 2, total - total // 2
        before.append(small if auto_pad == "SAME_UPPER" else big)
        after.append(big if auto_pad == "SAME_UPPER" else small)
    return before + after


def onnx_window(imp: Any, node: Any, kernel: list[int]) -> dict[str, Any]:
    """kernel, stride, padding and dilation of an ONNX Conv, ConvTranspose or
    pool node (``auto_pad`` resolved to explicit pads on the node's input)."""
    nd = len(kernel)
    stride = [int(v) for v in imp.attr(node, "strides", [1] * nd)]
    dilation = [int(v) for v in imp.attr(node, "dilations", [1] * nd)]
    src = imp.in_shape(node)
    pads = imp.attr(node, "pads")
    auto = imp.attr(node, "auto_pad", "NOTSET")
    if auto not in ("", "NOTSET") and src is not None:
        pads = onnx_auto_pads(auto, tuple(src[1:]), kernel, stride, dilation)
    return {
        "kernel": axes_value(kernel),
        "stride": axes_value(stride),
        "padding": onnx_pads(pads, nd),
        "dilation": axes_value(dilation),
    }


def call_args(node: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """A torch.fx call's positional and keyword arguments by parameter name."""
    return {**dict(zip(names, node.args)), **dict(node.kwargs)}
