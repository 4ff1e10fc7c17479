"""One rule per layer kind: shape, params, MACs, FLOPs, connections and
receptive field, computed together in one place.

A rule declares the keys it accepts (with types and defaults) and an
``apply`` that maps input tensors to a :class:`Result`. Rules raise
:class:`RuleError` with the offending key; they never format locations.
FLOPs are returned by category (``ops``) so that convention presets can
reweight them without touching any rule.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from math import prod
from typing import Any

from cnnsize.engine._readonly import ReadOnlySlots
from cnnsize.engine.errors import RuleError
from cnnsize.engine.geometry import (
    RF,
    AxisRF,
    _div,
    per_axis,
    rf_global,
    rf_merge,
    rf_transposed,
    rf_window,
    transposed_out,
    transposed_taps,
    window,
)

Shape = tuple[int, ...]


# Plain classes rather than @dataclass: each dataclass exec()s generated code
# when its module is imported, which every run of the CLI pays for.


class Tensor:
    __slots__ = ("shape", "rf")

    def __init__(self, shape: Shape, rf: RF | None) -> None:
        self.shape = shape
        self.rf = rf


class Result:
    __slots__ = ("shape", "weights", "biases", "buffers", "macs", "ops", "connections", "rf", "params_affine", "counts")

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
        params_affine: int = 0,
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
        self.params_affine = params_affine  # affine norm parameters (counted in weights/biases too)
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
    if not isinstance(v, bool):
        raise RuleError("bad-type", f"'{key}' must be true or false, got {v!r}", "write true or false", key)
    return v


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


# cnnsize's FLOPs per element for each activation (a definition, documented in
# docs/conventions.md; peers disagree, presets reweight the "act" category).
ACTIVATIONS: dict[str, int] = {
    "relu": 1,
    "relu6": 2,
    "leakyrelu": 2,
    "elu": 3,
    "sigmoid": 4,
    "tanh": 5,
    "gelu": 8,
    "silu": 5,
    "swish": 5,
    "hardswish": 5,
    "hardsigmoid": 3,
    "softplus": 3,
    "softmax": 3,
    "logsoftmax": 3,
}


def t_activation(v: Any, key: str) -> Any:
    if type(v) is str and v in ACTIVATIONS:
        return v
    if v is None or v == "none" or v is False:
        return None
    if not isinstance(v, str):
        raise RuleError(
            "bad-type",
            f"'{key}' must be the name of one activation, got {v!r}",
            f"e.g. activation: relu; known: {', '.join(ACTIVATIONS)}",
            key,
        )
    if v not in ACTIVATIONS:
        from cnnsize.engine.errors import did_you_mean

        raise RuleError(
            "unknown-activation",
            f"unknown activation {v!r}",
            did_you_mean(str(v), ACTIVATIONS) or f"use one of: {', '.join(ACTIVATIONS)}",
            key,
        )
    return v


class Key(ReadOnlySlots):
    # read-only: one Key object serves many rules (WINDOW_KEYS, ACT)
    __slots__ = ("check", "default", "required", "doc")
    check: Callable[[Any, str], Any]
    default: Any
    required: bool
    doc: str

    def __init__(
        self, check: Callable[[Any, str], Any], default: Any = None, required: bool = False, doc: str = ""
    ) -> None:
        self._init(check=check, default=default, required=required, doc=doc)


REQ = object()


def K(check: Callable[[Any, str], Any], default: Any = None, required: bool = False) -> Key:
    return Key(check, default, required)


# --- the rules -------------------------------------------------------------


class Rule:
    def __init__(
        self,
        kind: str,
        apply: Callable[[dict[str, Any], list[Tensor]], Result],
        keys: dict[str, Key],
        aliases: tuple[str, ...] = (),
        inputs: str = "one",
        summary: str = "",
    ) -> None:
        self.kind = kind
        self.apply = apply
        self.keys = keys
        self.aliases = aliases
        self.inputs = inputs  # "one" or "many"
        self.summary = summary


RULES: dict[str, Rule] = {}
KINDS: dict[str, str] = {}  # alias -> canonical kind


# In a torch model these kinds are calls (torch.cat, +, torch.flatten), not
# nn.Modules; any layer may say `functional: true|false` (see FUNCTIONAL below).
FUNCTIONAL_BY_DEFAULT = frozenset({"add", "mul", "concat", "flatten", "reshape"})


def rule(
    kind: str, keys: dict[str, Key], aliases: tuple[str, ...] = (), inputs: str = "one", summary: str = ""
) -> Callable[..., Any]:
    # `functional` changes no figure of cnnsize's own: it says whether the torch
    # model calls this layer as a function (F.adaptive_avg_pool2d, x + y) rather
    # than an nn.Module, which decides what hook-based tools (thop, ptflops,
    # torchinfo, torchscan) can see. Presets read it; fused activations stay modules.
    keys = {**keys, "functional": K(t_bool, kind in FUNCTIONAL_BY_DEFAULT)}

    def deco(fn: Callable[[dict[str, Any], list[Tensor]], Result]) -> Callable[..., Any]:
        for name in (kind, *aliases):
            if name in KINDS:  # like torch's flop registry: one formula per kind
                raise ValueError(f"layer kind {name!r} registered twice")
            KINDS[name] = kind
        RULES[kind] = Rule(kind, fn, keys, aliases, inputs, summary or (fn.__doc__ or "").strip().split("\n")[0])
        return fn

    return deco


def _spatial(x: Tensor, kind: str) -> tuple[int, tuple[int, ...]]:
    if len(x.shape) < 2:
        raise RuleError(
            "needs-spatial",
            f"{kind} needs an input with spatial axes, got shape {list(x.shape)}",
            "put it before any fc/flatten layer, or reshape first",
        )
    return x.shape[0], tuple(x.shape[1:])


def fuse_act(p: dict[str, Any], units: int, ops: dict[str, int], counts: dict[str, int]) -> None:
    """A fused activation's FLOPs (category "act") and element count
    ("act.<name>", which presets weight), added to a rule's own."""
    a = p.get("activation")
    if a:
        if units:
            ops["act"] = ACTIVATIONS[a] * units
        counts[f"act.{a}"] = units


def _ops(**parts: int) -> dict[str, int]:
    return {k: v for k, v in parts.items() if v}


def _rf(x: Tensor, fn: Callable[[RF], RF]) -> RF | None:
    return fn(x.rf) if x.rf is not None else None


WINDOW_KEYS = {
    "kernel": K(t_axes(1), required=True),
    "stride": K(t_axes(1), 1),
    "padding": K(t_padding, 0),
    "dilation": K(t_axes(1), 1),
}
ACT = {"activation": K(t_activation, None)}


def _conv_core(
    p: dict[str, Any], x: Tensor, filters: int, groups: int, kind: str, table: list[list[int]] | None = None
) -> Result:
    c, sp = _spatial(x, kind)
    if c % groups:
        raise RuleError(
            "groups-mismatch",
            f"{c} input channels are not divisible by groups={groups}",
            "choose groups that divide the input channels",
            "groups",
        )
    if filters % groups:
        raise RuleError(
            "groups-mismatch",
            f"filters={filters} is not divisible by groups={groups}",
            "choose groups that divide the filters",
            "groups",
        )
    w = window(sp, p["kernel"], p["stride"], p["padding"], p["dilation"])
    kvol = w.volume
    positions = prod(w.out)
    units = filters * positions
    bias = p.get("bias", True)
    if table is not None:
        if groups != 1:
            raise RuleError("bad-value", "'table' and 'groups' cannot be combined", "drop one", "table")
        if len(table) != filters:
            raise RuleError(
                "table-mismatch",
                f"'table' has {len(table)} rows but filters={filters}",
                "give one row per output map",
                "table",
            )
        bad = [i for row in table for i in row if i >= c]
        if bad:
            raise RuleError(
                "table-mismatch",
                f"'table' names input map {bad[0]} but the input has {c} maps (0..{c - 1})",
                "",
                "table",
            )
        taps = kvol * sum(len(r) for r in table)
    else:
        taps = filters * kvol * (c // groups)
    biases = filters if bias is True else units if bias == "untied" else 0
    macs = positions * taps
    has_bias = bias is not False
    ops = {"bias": units} if has_bias and units else {}
    counts = {
        "mac_dense": positions * kvol * c * filters if table is None else macs
    }  # as if groups were 1 (Netscope ignores them)
    fuse_act(p, units, ops, counts)
    rf = rf_window(x.rf, w) if x.rf is not None else None
    # positional (shape, weights, biases, buffers, macs, ops, connections, rf,
    # params_affine, counts): keyword calls cost twice as much on this path
    return Result((filters, *w.out), taps, biases, 0, macs, ops, macs + (units if has_bias else 0), rf, 0, counts)


@rule(
    "conv",
    {
        "filters": K(t_int(1), required=True),
        **WINDOW_KEYS,
        "groups": K(t_int(1), 1),
        "bias": K(t_bias, True),
        "table": K(t_table),
        **ACT,
    },
    aliases=("conv1d", "conv2d", "conv3d", "convolution"),
    summary="convolution (1-D/2-D/3-D; groups, dilation, untied bias, connection table)",
)
def conv(p: dict[str, Any], ins: list[Tensor]) -> Result:
    return _conv_core(p, ins[0], p["filters"], p["groups"], "conv", p.get("table"))


@rule(
    "dwconv",
    {**WINDOW_KEYS, "multiplier": K(t_int(1), 1), "bias": K(t_bias, True), **ACT},
    aliases=("depthwise",),
    summary="depthwise convolution (groups = channels)",
)
def dwconv(p: dict[str, Any], ins: list[Tensor]) -> Result:
    c = ins[0].shape[0]
    return _conv_core(p, ins[0], c * p["multiplier"], c, "dwconv")


@rule(
    "sepconv",
    {
        "filters": K(t_int(1), required=True),
        **WINDOW_KEYS,
        "multiplier": K(t_int(1), 1),
        "bias": K(t_bias, True),
        **ACT,
    },
    aliases=("separable",),
    summary="depthwise separable convolution (depthwise then 1x1)",
)
def sepconv(p: dict[str, Any], ins: list[Tensor]) -> Result:
    x = ins[0]
    c = x.shape[0]
    dw = _conv_core({**p, "activation": None}, x, c * p["multiplier"], c, "sepconv")
    mid = Tensor(dw.shape, dw.rf)
    pw = _conv_core({**p, "kernel": 1, "stride": 1, "padding": 0, "dilation": 1}, mid, p["filters"], 1, "sepconv")
    ops = dict(dw.ops)
    for k, v in pw.ops.items():
        ops[k] = ops.get(k, 0) + v
    return Result(
        counts={**pw.counts, "mac_dense": dw.counts["mac_dense"] + pw.counts["mac_dense"]},
        shape=pw.shape,
        weights=dw.weights + pw.weights,
        biases=dw.biases + pw.biases,
        macs=dw.macs + pw.macs,
        ops=ops,
        connections=dw.connections + pw.connections,
        rf=pw.rf,
    )


@rule(
    "deconv",
    {
        "filters": K(t_int(1), required=True),
        **WINDOW_KEYS,
        "output_padding": K(t_axes(0), 0),
        "groups": K(t_int(1), 1),
        "bias": K(t_bool, True),
        **ACT,
    },
    aliases=("convtranspose", "transposed_conv", "conv_transpose"),
    summary="transposed convolution, counted from the input side",
)
def deconv(p: dict[str, Any], ins: list[Tensor]) -> Result:
    x = ins[0]
    c, sp = _spatial(x, "deconv")
    groups, filters = p["groups"], p["filters"]
    if c % groups or filters % groups:
        raise RuleError(
            "groups-mismatch",
            f"channels {c} and filters {filters} must both be divisible by groups={groups}",
            "",
            "groups",
        )
    if p["padding"] in ("same", "valid") and p["padding"] != "valid":
        raise RuleError("bad-padding", "transposed conv takes explicit padding, not 'same'", "give integers", "padding")
    k = per_axis(p["kernel"], len(sp), "kernel", 1)
    s = per_axis(p["stride"], len(sp), "stride", 1)
    d = per_axis(p["dilation"], len(sp), "dilation", 1)
    from cnnsize.engine.geometry import Window, resolve_padding

    pads = resolve_padding(p["padding"], sp, [1] * len(sp), s)
    op = per_axis(p["output_padding"], len(sp), "output_padding", 0)
    for o_, s_, d_ in zip(op, s, d):
        if o_ >= max(s_, d_):
            raise RuleError(
                "bad-value", f"output_padding {o_} must be smaller than stride or dilation", "", "output_padding"
            )
    w = Window((), k, s, d, pads)
    out = transposed_out(sp, w, op)
    kvol = prod(k)
    cin_g = c // groups
    # Every input element is multiplied by every tap: MACs from the input side.
    macs = prod(sp) * c * (filters // groups) * kvol
    units = filters * prod(out)
    landed = prod(transposed_taps(n, o, kk, ss, dd, pb) for n, o, kk, ss, dd, (pb, _) in zip(sp, out, k, s, d, pads))
    bias = p["bias"]
    ops = _ops(bias=units if bias else 0)
    # what a tool that counts a transposed conv like a conv over its
    # output gets: every output element times C_in/groups x kernel taps
    # (overlaps and taps landing in the padding included)
    # convnet-burden's numel(X) x numel(F(:,:,1,:)) reads C_in where C_out/groups belongs
    counts = {"mac_out": units * cin_g * kvol, "mac_in_cin": prod(sp) * c * kvol * c}
    fuse_act(p, units, ops, counts)
    return Result(
        shape=(filters, *out),
        weights=cin_g * filters * kvol,
        biases=filters if bias else 0,
        macs=macs,
        ops=ops,
        connections=landed * cin_g * filters + (units if bias else 0),
        rf=_rf(x, lambda r: rf_transposed(r, w)),
        counts=counts,
    )


POOL_KEYS = {
    "kernel": K(t_axes(1), required=True),
    "stride": K(t_axes(1), None),
    "padding": K(t_padding, 0),
    "ceil_mode": K(t_bool, False),
}


def _written_window(p: dict[str, Any], units: int, nd: int) -> dict[str, int]:
    # outputs x the kernel size as written, a single int NOT raised to the
    # number of axes: what torchscan 0.2.0 multiplies by (it reads
    # nn.MaxPool2d(3).kernel_size == 3 as a 3-element window)
    k, s = p["kernel"], p["stride"] if p.get("stride") is not None else p["kernel"]
    # and outputs x stride area: convnet-burden's pool count is 2 x that
    return {
        "window_written": units * (k if isinstance(k, int) else prod(k)),
        "out_x_stride": units * (s**nd if isinstance(s, int) else prod(s)),
    }


def _pool(p: dict[str, Any], x: Tensor, kind: str, dilation: Any = 1) -> tuple[Any, int, int, int]:
    c, sp = _spatial(x, kind)
    stride = p["stride"] if p.get("stride") is not None else p["kernel"]
    w = window(sp, p["kernel"], stride, p["padding"], dilation, p["ceil_mode"], pool=True)
    units = c * prod(w.out)
    return w, units, w.volume, c


@rule(
    "maxpool",
    {**POOL_KEYS, "dilation": K(t_axes(1), 1)},
    aliases=("max_pool", "maxpool1d", "maxpool2d", "maxpool3d"),
    summary="max pooling",
)
def maxpool(p: dict[str, Any], ins: list[Tensor]) -> Result:
    w, units, win, c = _pool(p, ins[0], "maxpool", p["dilation"])
    return Result(
        (c, *w.out),
        ops=_ops(pool=units * (win - 1)),
        connections=units * win,
        rf=_rf(ins[0], lambda r: rf_window(r, w)),
        counts=_written_window(p, units, len(w.out)),
    )


@rule(
    "avgpool",
    {**POOL_KEYS, "count_include_pad": K(t_bool, True)},
    aliases=("avg_pool", "avgpool1d", "avgpool2d", "avgpool3d"),
    summary="average pooling",
)
def avgpool(p: dict[str, Any], ins: list[Tensor]) -> Result:
    w, units, win, c = _pool(p, ins[0], "avgpool")
    # (win - 1) adds and one divide per output
    return Result(
        (c, *w.out),
        ops=_ops(pool=units * win),
        connections=units * win,
        rf=_rf(ins[0], lambda r: rf_window(r, w)),
        counts=_written_window(p, units, len(w.out)),
    )


@rule("lppool", {**POOL_KEYS, "p": K(t_number(1), 2)}, aliases=("l2pool",), summary="power-average (L2) pooling")
def lppool(p: dict[str, Any], ins: list[Tensor]) -> Result:
    w, units, win, c = _pool(p, ins[0], "lppool")
    # win powers, win - 1 adds, one root
    return Result(
        (c, *w.out), ops=_ops(pool=units * 2 * win), connections=units * win, rf=_rf(ins[0], lambda r: rf_window(r, w))
    )


@rule(
    "subsample",
    {"kernel": K(t_axes(1), required=True), "stride": K(t_axes(1), None), **ACT},
    summary="LeCun's trainable subsampling: sum of a window x coefficient + bias, per map",
)
def subsample(p: dict[str, Any], ins: list[Tensor]) -> Result:
    w, units, win, c = _pool({**p, "padding": 0, "ceil_mode": False}, ins[0], "subsample")
    ops = _ops(pool=units * (win - 1), scale=units, bias=units)
    counts: dict[str, int] = {}
    fuse_act(p, units, ops, counts)
    return Result(
        (c, *w.out),
        weights=c,
        biases=c,
        ops=ops,
        counts=counts,
        connections=units * (win + 1),
        rf=_rf(ins[0], lambda r: rf_window(r, w)),
    )


def _global(x: Tensor, kind: str, per_out: Callable[[int], int]) -> Result:
    c, sp = _spatial(x, kind)
    n = prod(sp)
    return Result(
        (c, *([1] * len(sp))),
        ops=_ops(pool=c * per_out(n)),
        connections=c * n,
        rf=_rf(x, lambda r: rf_global(r, sp)),
    )


@rule("globalavgpool", {}, aliases=("gap", "global_avg_pool"), summary="global average pooling (output C x 1 x 1)")
def globalavgpool(p: dict[str, Any], ins: list[Tensor]) -> Result:
    return _global(ins[0], "globalavgpool", lambda n: n)


@rule("globalmaxpool", {}, aliases=("global_max_pool",), summary="global max pooling")
def globalmaxpool(p: dict[str, Any], ins: list[Tensor]) -> Result:
    return _global(ins[0], "globalmaxpool", lambda n: n - 1)


def _adaptive_windows(n: int, o: int) -> list[int]:
    # torch's adaptive pooling: window i spans [floor(i*n/o), ceil((i+1)*n/o))
    return [-(-((i + 1) * n) // o) - (i * n) // o for i in range(o)]


def _adaptive(p: dict[str, Any], x: Tensor, kind: str, is_max: bool) -> Result:
    c, sp = _spatial(x, kind)
    out = per_axis(p["output"], len(sp), "output", 1)
    per_axis_windows = [_adaptive_windows(n, o) for n, o in zip(sp, out)]
    total = c * prod(sum(ws) for ws in per_axis_windows)  # sum over outputs of window volume
    units = c * prod(out)
    if out == sp:
        rf = x.rf
    elif all(n % o == 0 for n, o in zip(sp, out)):
        ww = window(sp, [n // o for n, o in zip(sp, out)], [n // o for n, o in zip(sp, out)], 0)
        rf = _rf(x, lambda r: rf_window(r, ww))
    else:
        # windows of varying size: report the largest, as a worst case
        ww = window(sp, [max(ws) for ws in per_axis_windows], [max(1, n // o) for n, o in zip(sp, out)], 0)
        rf = _rf(x, lambda r: rf_window(r, ww))
    return Result((c, *out), ops=_ops(pool=total - units if is_max else total), connections=total, rf=rf)


@rule(
    "adaptiveavgpool",
    {"output": K(t_axes(1), required=True)},
    aliases=("adaptive_avg_pool",),
    summary="adaptive average pooling to a fixed output size",
)
def adaptiveavgpool(p: dict[str, Any], ins: list[Tensor]) -> Result:
    return _adaptive(p, ins[0], "adaptiveavgpool", False)


@rule(
    "adaptivemaxpool",
    {"output": K(t_axes(1), required=True)},
    aliases=("adaptive_max_pool",),
    summary="adaptive max pooling",
)
def adaptivemaxpool(p: dict[str, Any], ins: list[Tensor]) -> Result:
    return _adaptive(p, ins[0], "adaptivemaxpool", True)


def _flat_rf(x: Tensor) -> RF | None:
    return _rf(x, lambda r: rf_global(r, x.shape[1:])) if len(x.shape) > 1 else x.rf


@rule(
    "fc",
    {"units": K(t_int(1), required=True), "bias": K(t_bool, True), **ACT},
    aliases=("linear", "dense", "fullyconnected"),
    summary="fully connected (flattens its input)",
)
def fc(p: dict[str, Any], ins: list[Tensor]) -> Result:
    x = ins[0]
    fan_in = prod(x.shape)
    units, bias = p["units"], p["bias"]
    macs = fan_in * units
    ops = _ops(bias=units if bias else 0)
    counts: dict[str, int] = {}
    fuse_act(p, units, ops, counts)
    return Result(
        (units,),
        weights=macs,
        biases=units if bias else 0,
        macs=macs,
        ops=ops,
        connections=macs + (units if bias else 0),
        rf=_flat_rf(x),
        counts=counts,
    )


@rule("rbf", {"units": K(t_int(1), required=True)}, summary="Euclidean RBF output units with fixed codes (LeNet-5)")
def rbf(p: dict[str, Any], ins: list[Tensor]) -> Result:
    x = ins[0]
    fan_in = prod(x.shape)
    units = p["units"]
    # y_i = sum_j (x_j - w_ij)^2: one subtraction and one multiply-accumulate per term
    return Result(
        (units,),
        buffers=units * fan_in,
        macs=units * fan_in,
        ops=_ops(other=units * fan_in),
        connections=units * fan_in,
        rf=_flat_rf(x),
    )


@rule("flatten", {}, summary="flatten to a vector (no cost)")
def flatten(p: dict[str, Any], ins: list[Tensor]) -> Result:
    return Result((prod(ins[0].shape),), rf=_flat_rf(ins[0]))


@rule("reshape", {"shape": K(t_shape, required=True)}, summary="reshape per sample (no cost)")
def reshape(p: dict[str, Any], ins: list[Tensor]) -> Result:
    x = ins[0]
    n = prod(x.shape)
    shape = list(p["shape"])
    known = prod(v for v in shape if v != -1)
    if -1 in shape:
        if n % known:
            raise RuleError(
                "reshape-mismatch", f"cannot reshape {n} values into {shape}", "the sizes must divide", "shape"
            )
        shape[shape.index(-1)] = n // known
    elif known != n:
        raise RuleError(
            "reshape-mismatch",
            f"cannot reshape {list(x.shape)} ({n} values) into {shape} ({known} values)",
            "keep the number of values",
            "shape",
        )
    rf = x.rf if tuple(shape[1:]) == x.shape[1:] else (_flat_rf(x) if len(shape) == 1 else None)
    return Result(tuple(shape), rf=rf)


@rule(
    "pad",
    {
        "padding": K(t_padding, required=True),
        "mode": K(t_choice("constant", "reflect", "replicate", "circular"), "constant"),
    },
    summary="explicit padding (no FLOPs)",
)
def pad(p: dict[str, Any], ins: list[Tensor]) -> Result:
    from cnnsize.engine.geometry import resolve_padding

    x = ins[0]
    c, sp = _spatial(x, "pad")
    if p["padding"] == "same":
        raise RuleError("bad-padding", "'same' has no meaning for a pad layer", "give integers", "padding")
    pads = resolve_padding(p["padding"], sp, [1] * len(sp), [1] * len(sp))
    out = tuple(n + a + b for n, (a, b) in zip(sp, pads))
    rf = _rf(x, lambda r: tuple(AxisRF(a.size, a.jump, a.start2 - 2 * pb * a.jump) for a, (pb, _) in zip(r, pads)))
    return Result((c, *out), rf=rf)


@rule(
    "upsample",
    {
        "scale": K(t_axes(1)),
        "size": K(t_axes(1)),
        "mode": K(t_choice("nearest", "linear", "bilinear", "bicubic", "trilinear"), "nearest"),
    },
    summary="upsampling by an integer scale or to a size",
)
def upsample(p: dict[str, Any], ins: list[Tensor]) -> Result:
    x = ins[0]
    c, sp = _spatial(x, "upsample")
    if (p.get("scale") is None) == (p.get("size") is None):
        raise RuleError("bad-value", "upsample needs exactly one of 'scale' and 'size'", "e.g. scale: 2", "scale")
    if p.get("scale") is not None:
        sc = per_axis(p["scale"], len(sp), "scale", 1)
        out = tuple(n * s for n, s in zip(sp, sc))
    else:
        out = per_axis(p["size"], len(sp), "size", 1)
    units = c * prod(out)
    mode = p["mode"]
    taps = {"nearest": 1, "linear": 2, "bilinear": 4, "trilinear": 8, "bicubic": 16}[mode]
    # interpolation: taps multiplies and taps - 1 adds per output
    flops = 0 if taps == 1 else units * (2 * taps - 1)
    reach = {"nearest": 0, "bicubic": 3}.get(mode, 1)

    def tr(r: RF) -> RF:
        return tuple(AxisRF(a.size + reach * a.jump, _div(a.jump * n, o), a.start2) for a, n, o in zip(r, sp, out))

    return Result(
        (c, *out), ops=_ops(other=flops), connections=units * taps, rf=_rf(x, tr), counts={f"upsample.{mode}": units}
    )


def _norm_params(p: dict[str, Any], n: int) -> tuple[int, int]:
    return (n, n) if p["affine"] else (0, 0)


@rule(
    "batchnorm",
    {"affine": K(t_bool, True), **ACT},
    aliases=("bn", "batchnorm1d", "batchnorm2d", "batchnorm3d"),
    summary="batch normalization (inference: one scale and shift per element)",
)
def batchnorm(p: dict[str, Any], ins: list[Tensor]) -> Result:
    x = ins[0]
    c = x.shape[0]
    units = prod(x.shape)
    w, b = _norm_params(p, c)
    ops = {"norm": 2 * units} if units else {}
    # torch keeps one more buffer per BatchNorm: num_batches_tracked (an int64)
    counts = {"affine_out": units if p["affine"] else 0, "bn_tracked": 1}
    fuse_act(p, units, ops, counts)
    return Result(x.shape, w, b, 2 * c, 0, ops, units, x.rf, w + b, counts)  # positional, as in _conv_core


@rule("layernorm", {"affine": K(t_bool, True)}, summary="layer normalization over each sample")
def layernorm(p: dict[str, Any], ins: list[Tensor]) -> Result:
    x = ins[0]
    units = prod(x.shape)
    w, b = _norm_params(p, units)
    # mean, centre, square, sum, scale by 1/std = 5 per element; affine 2 more
    return Result(
        x.shape,
        weights=w,
        biases=b,
        params_affine=w + b,
        ops=_ops(norm=units * (7 if p["affine"] else 5)),
        connections=units * units,
        rf=_flat_rf(x),
        counts={"affine_out": units if p["affine"] else 0},
    )


@rule("groupnorm", {"groups": K(t_int(1), required=True), "affine": K(t_bool, True)}, summary="group normalization")
def groupnorm(p: dict[str, Any], ins: list[Tensor]) -> Result:
    x = ins[0]
    c = x.shape[0]
    if c % p["groups"]:
        raise RuleError("groups-mismatch", f"{c} channels are not divisible by groups={p['groups']}", "", "groups")
    units = prod(x.shape)
    w, b = _norm_params(p, c)
    per_group = units // p["groups"]
    return Result(
        x.shape,
        weights=w,
        biases=b,
        params_affine=w + b,
        ops=_ops(norm=units * (7 if p["affine"] else 5)),
        connections=units * per_group,
        rf=x.rf,
        counts={"affine_out": units if p["affine"] else 0},
    )


@rule(
    "lrn",
    {"size": K(t_int(1), 5)},
    aliases=("localresponsenorm",),
    summary="local response normalization across channels",
)
def lrn(p: dict[str, Any], ins: list[Tensor]) -> Result:
    x = ins[0]
    units = prod(x.shape)
    n = p["size"]
    # n squares, n - 1 adds, then scale, add k, power, divide
    return Result(x.shape, ops=_ops(norm=units * (2 * n + 3)), connections=units * n, rf=x.rf)


@rule("dropout", {"p": K(t_number(0, maximum=1), 0.5)}, summary="dropout (identity at inference: explicitly zero cost)")
def dropout(p: dict[str, Any], ins: list[Tensor]) -> Result:
    return Result(ins[0].shape, rf=ins[0].rf, counts={"dropout": prod(ins[0].shape) if p["p"] > 0 else 0})


@rule("identity", {}, summary="identity (zero cost)")
def identity(p: dict[str, Any], ins: list[Tensor]) -> Result:
    return Result(ins[0].shape, rf=ins[0].rf)


def _make_activation(name: str, cost: int) -> None:
    def act(p: dict[str, Any], ins: list[Tensor]) -> Result:
        x = ins[0]
        units = prod(x.shape)
        return Result(
            x.shape,
            ops=_ops(act=cost * units),
            connections=units * (x.shape[0] if name in ("softmax", "logsoftmax") else 1),
            rf=x.rf,
            counts={f"act.{name}": units},
        )

    rule(name, {}, summary=f"{name} activation ({cost} FLOP{'s' if cost > 1 else ''} per element)")(act)


for _name, _cost in ACTIVATIONS.items():
    if _name != "swish":
        _make_activation(_name, _cost)
KINDS["swish"] = "silu"


def _check_merge(ins: list[Tensor], kind: str) -> None:
    if len(ins) < 2:
        raise RuleError(
            "merge-inputs", f"{kind} needs at least two inputs, got {len(ins)}", "list them in 'inputs:'", "inputs"
        )


def _broadcast(shapes: Sequence[Shape], kind: str) -> Shape:
    nd = max(len(s) for s in shapes)
    out = []
    for axis in range(nd):
        dims = {s[axis] if axis < len(s) else 1 for s in shapes} - {1}
        if len(dims) > 1:
            raise RuleError(
                "shape-mismatch",
                f"{kind} inputs have shapes {' and '.join(str(list(s)) for s in shapes)} that differ on axis {axis}",
                "make the shapes equal (a 1x1 conv or a pool on one branch), or broadcast with size 1",
                "inputs",
            )
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def _elementwise(ins: list[Tensor], kind: str, strict: bool) -> Result:
    _check_merge(ins, kind)
    shapes = [t.shape for t in ins]
    first = shapes[0]
    if shapes.count(first) == len(shapes):
        shape = first  # what broadcasting equal shapes gives
    else:
        if strict:
            _broadcast(shapes, kind)  # raises with the axis that differs
            raise RuleError(
                "shape-mismatch",
                f"{kind} inputs have different shapes {[list(s) for s in shapes]}",
                "make them equal",
                "inputs",
            )
        shape = _broadcast(shapes, kind)
    units = prod(shape)
    return Result(
        shape, ops=_ops(merge=units * (len(ins) - 1)), connections=units * len(ins), rf=rf_merge([t.rf for t in ins])
    )


@rule("add", {**ACT}, inputs="many", summary="element-wise sum of equal shapes (residual)")
def add(p: dict[str, Any], ins: list[Tensor]) -> Result:
    r = _elementwise(ins, "add", True)
    fuse_act(p, prod(r.shape), r.ops, r.counts)
    return r


@rule("mul", {}, inputs="many", summary="element-wise product with broadcasting (squeeze-excite)")
def mul(p: dict[str, Any], ins: list[Tensor]) -> Result:
    return _elementwise(ins, "mul", False)


@rule(
    "concat",
    {"axis": K(t_int(0), 0)},
    inputs="many",
    aliases=("cat",),
    summary="concatenation along an axis (channels by default); zero FLOPs",
)
def concat(p: dict[str, Any], ins: list[Tensor]) -> Result:
    _check_merge(ins, "concat")
    axis = p["axis"]
    ranks = {len(t.shape) for t in ins}
    if len(ranks) > 1:
        raise RuleError(
            "shape-mismatch", f"concat inputs have different ranks: {[list(t.shape) for t in ins]}", "", "inputs"
        )
    rank = ranks.pop()
    if axis >= rank:
        raise RuleError("bad-value", f"axis {axis} is out of range for rank {rank}", f"use 0..{rank - 1}", "axis")
    for a in range(rank):
        if a != axis and len({t.shape[a] for t in ins}) > 1:
            raise RuleError(
                "shape-mismatch",
                f"concat inputs differ on axis {a} (not the concat axis {axis}): {' vs '.join(str(list(t.shape)) for t in ins)}",
                "make the spatial sizes equal (padding or stride on one branch)",
                "inputs",
            )
    shape = list(ins[0].shape)
    shape[axis] = sum(t.shape[axis] for t in ins)
    units = prod(shape)
    # along channels a position's field is the union of the inputs' fields at
    # that position; along a spatial axis the second input's positions restart
    # at 0, so no single start + index x jump describes them
    rf = rf_merge([t.rf for t in ins]) if axis == 0 else None
    return Result(tuple(shape), connections=units, rf=rf)


COMMON_KEYS = {"name", "type", "inputs", "repeat", "note", "when"}
