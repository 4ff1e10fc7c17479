"""Window arithmetic shared by every convolution and pooling rule.

One helper computes output sizes, the resolved padding and the effective
kernel for conv, transposed conv and all pools, as ONNX's
convPoolShapeInference serves Conv and the pools. Receptive-field transforms
live here too, so shapes and fields can never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import gcd, prod
from typing import TYPE_CHECKING, Any, NamedTuple, Union

from cnnsize.engine import fastpath
from cnnsize.engine._readonly import ReadOnlySlots
from cnnsize.engine.errors import RuleError

Pads = tuple[tuple[int, int], ...]
if TYPE_CHECKING:  # fractions (and the decimal module it loads) only when a field turns fractional
    from fractions import Fraction
Num = Union[int, "Fraction"]  # noqa: UP007 - a runtime alias must work on 3.10


def _div(x: Num, d: int) -> Num:
    """Exact division that stays an int when it can."""
    if isinstance(x, int) and x % d == 0:
        return x // d
    from fractions import Fraction

    return Fraction(x) / d


class AxisRF(NamedTuple):
    """Receptive field along one axis, in input-pixel coordinates.

    size: extent of one unit's field; jump: distance between adjacent units'
    centres; start2: twice the centre of the first unit's field (pixel 0 is
    at 0). Values are ints, and Fractions only after a transposed conv or an
    upsample: keeping the half-pixel centre doubled avoids Fraction arithmetic
    on the common path, which dominated analysis time.
    """

    size: Num
    jump: Num
    start2: Num

    @property
    def start(self) -> Num:
        return _div(self.start2, 2)


RF = tuple[AxisRF, ...]


def input_rf(nd: int) -> RF:
    return tuple(AxisRF(1, 1, 0) for _ in range(nd))


def per_axis(value: Any, nd: int, key: str, minimum: int) -> tuple[int, ...]:
    """An int, or one int per spatial axis, each at least ``minimum``."""
    if type(value) is int and (value >= minimum or not nd):
        return (value,) * nd
    vals = (value,) * nd if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(vals, (list, tuple)) or len(vals) != nd:
        raise RuleError(
            "bad-axes",
            f"'{key}' has {len(vals) if isinstance(vals, (list, tuple)) else 'no'} values but the input has {nd} "
            "spatial axes",
            f"give one integer, or {nd} (one per spatial axis)",
            key,
        )
    for v in vals:
        if not isinstance(v, int) or isinstance(v, bool):
            raise RuleError("bad-type", f"'{key}' must hold integers, got {v!r}", "write a whole number", key)
        if v < minimum:
            raise RuleError(
                "bad-value", f"'{key}' must be at least {minimum}, got {v}", f"use a value >= {minimum}", key
            )
    return tuple(vals)


class Window(ReadOnlySlots):
    # read-only: the memo in window() shares them
    __slots__ = ("out", "kernel", "stride", "dilation", "pads")
    out: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    pads: Pads

    def __init__(
        self,
        out: tuple[int, ...],
        kernel: tuple[int, ...],
        stride: tuple[int, ...],
        dilation: tuple[int, ...],
        pads: Pads,
    ) -> None:
        # one call a field, not _init(**fields): windows are made per layer
        set_ = object.__setattr__
        set_(self, "out", out)
        set_(self, "kernel", kernel)
        set_(self, "stride", stride)
        set_(self, "dilation", dilation)
        set_(self, "pads", pads)

    @property
    def keff(self) -> tuple[int, ...]:
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilation))

    @property
    def volume(self) -> int:
        return prod(self.kernel)


def resolve_padding(padding: Any, spatial: Sequence[int], keff: Sequence[int], stride: Sequence[int]) -> Pads:
    nd = len(spatial)
    if type(padding) is int and padding >= 0:
        return ((padding, padding),) * nd  # the common case, as per_axis() would resolve it
    if padding == "valid":
        return ((0, 0),) * nd
    if padding == "same":
        pads = []
        for n, k, s in zip(spatial, keff, stride):
            total = max((-(-n // s) - 1) * s + k - n, 0)
            pads.append((total // 2, total - total // 2))
        return tuple(pads)
    if isinstance(padding, (list, tuple)) and padding and all(isinstance(p, (list, tuple)) for p in padding):
        if len(padding) != nd or any(len(p) != 2 for p in padding):
            raise RuleError(
                "bad-padding",
                f"explicit padding needs {nd} pairs [before, after], one per spatial axis",
                "write e.g. [[1, 1], [2, 2]] for 2-D",
                "padding",
            )
        out = []
        for pair in padding:
            for v in pair:
                if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                    raise RuleError("bad-padding", f"padding values must be integers >= 0, got {v!r}", "", "padding")
            out.append((pair[0], pair[1]))
        return tuple(out)
    if isinstance(padding, str):
        raise RuleError(
            "bad-padding",
            f"unknown padding '{padding}'",
            "use an integer, 'same', 'valid' or [[before, after], ...]",
            "padding",
        )
    sym = per_axis(padding, nd, "padding", 0)
    return tuple((p, p) for p in sym)


def _key(v: Any) -> Any:
    """A hashable stand-in for a window argument, or None where two values
    could compare equal yet behave differently (bools and floats equal ints)."""
    t = type(v)
    if t is int or t is str:
        return v
    if t is list or t is tuple:
        out = []
        for x in v:
            k = _key(x)
            if k is None:
                return None
            out.append(k)
        return tuple(out)
    return None


def _memo_put(memo: dict[Any, Any], key: Any, value: Any, cap: int) -> Any:
    # bounded: a long-running search must not grow a memo without end
    if len(memo) >= cap:
        memo.clear()
    memo[key] = value
    return value


_WINDOWS: dict[Any, Window] = {}


def clear_memos() -> None:
    """Forget the memoised windows and receptive-field transforms (what a
    first analysis in a fresh process pays for; the benchmarks time it)."""
    _WINDOWS.clear()
    _RF_WINDOW.clear()
    _RF_MERGE.clear()


# With fast paths off (fastpath.set_enabled(False), CNNSIZE_FAST_PATHS=0) every
# call below computes afresh; fastpath.clear_memos() empties these memos too.
fastpath.register_memo(clear_memos)


def window(
    spatial: Sequence[int],
    kernel: Any,
    stride: Any,
    padding: Any,
    dilation: Any = 1,
    ceil_mode: bool = False,
    pool: bool = False,
) -> Window:
    """Output size of a sliding window (conv or pool), torch's arithmetic."""
    # Networks repeat the same few windows (every 3x3/1 conv at one size):
    # memoised on exact-typed arguments; a Window is immutable.
    if not fastpath.enabled():
        return _window(spatial, kernel, stride, padding, dilation, ceil_mode, pool)
    sp = tuple(spatial)
    if (
        type(kernel) is int
        and type(stride) is int
        and type(padding) is int
        and type(dilation) is int
        and all(type(n) is int for n in sp)
    ):
        key: Any = (sp, kernel, stride, padding, dilation, bool(ceil_mode), bool(pool))
    else:
        key = (_key(sp), _key(kernel), _key(stride), _key(padding), _key(dilation), bool(ceil_mode), bool(pool))
        if None in key:
            return _window(spatial, kernel, stride, padding, dilation, ceil_mode, pool)
    w = _WINDOWS.get(key)
    if w is None:
        w = _memo_put(_WINDOWS, key, _window(spatial, kernel, stride, padding, dilation, ceil_mode, pool), 4096)
    return w


def _window(
    spatial: Sequence[int], kernel: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool, pool: bool
) -> Window:
    nd = len(spatial)
    k = per_axis(kernel, nd, "kernel", 1)
    s = per_axis(stride, nd, "stride", 1)
    d = per_axis(dilation, nd, "dilation", 1)
    keff = tuple(di * (ki - 1) + 1 for ki, di in zip(k, d))
    pads = resolve_padding(padding, spatial, keff, s)
    out = []
    for axis, (n, ke, st, (pb, pa)) in enumerate(zip(spatial, keff, s, pads)):
        if pool and max(pb, pa) * 2 > ke:
            raise RuleError(
                "pool-padding",
                f"pool padding {max(pb, pa)} is more than half the window {ke} on axis {axis}",
                "a window that could lie wholly in the padding is meaningless; use padding <= kernel/2",
                "padding",
            )
        span = n + pb + pa - ke
        if span < 0:
            raise RuleError(
                "window-too-large",
                f"window {ke} is larger than the padded input {n + pb + pa} on axis {axis} (input {n}, padding "
                f"{pb}+{pa})",
                "use a smaller kernel or dilation, more padding, or a larger input",
                "kernel",
            )
        o = (-(-span // st) if ceil_mode else span // st) + 1
        if ceil_mode and (o - 1) * st >= n + pb:
            # torch drops a last window that would start in the right padding
            o -= 1
        out.append(o)
    return Window(tuple(out), k, s, d, pads)


def transposed_out(spatial: Sequence[int], w: Window, output_padding: Sequence[int]) -> tuple[int, ...]:
    out = []
    for n, st, ke, (pb, pa), op in zip(spatial, w.stride, w.keff, w.pads, output_padding):
        o = (n - 1) * st - pb - pa + ke + op
        if o <= 0:
            raise RuleError(
                "output-empty",
                f"transposed conv output would have size {o}",
                "reduce padding or increase stride/kernel",
                "padding",
            )
        out.append(o)
    return tuple(out)


def _floor_sum(n: int, m: int, a: int, b: int) -> int:
    """sum(floor((a*i + b) / m) for i in range(n)) for n >= 0, m >= 1, a, b >= 0,
    by the Euclid-like reduction (AtCoder Library's floor_sum): O(log m) steps,
    whatever n is."""
    total = 0
    while True:
        if a >= m:
            total += (n - 1) * n // 2 * (a // m)
            a %= m
        if b >= m:
            total += n * (b // m)
            b %= m
        y_max = a * n + b
        if y_max < m:
            return total
        n, b, m, a = y_max // m, y_max % m, a, m


def _pairs_at_most(x: int, n: int, k: int, s: int, d: int) -> int:
    """Number of (i, t) with 0 <= i < n, 0 <= t < k and i*s + t*d <= x."""
    if x < 0:
        return 0
    # taps t <= full have every i in range (x - t*d >= (n-1)*s); taps t > last have none
    last = min(k - 1, x // d)
    full = min(last, (x - (n - 1) * s) // d) if x >= (n - 1) * s else -1
    total = (full + 1) * n
    # taps full < t <= last: floor((x - t*d) / s) + 1 positions each; with
    # u = last - t running 0 .. last - full - 1 that is floor((u*d + x - last*d) / s) + 1
    count = last - full
    if count > 0:
        total += count + _floor_sum(count, s, d, x - last * d)
    return total


def transposed_taps(n: int, o: int, k: int, s: int, d: int, pb: int) -> int:
    """Number of (input position, tap) pairs that land inside the output.

    Counting connections of a transposed conv exactly: taps that land in the
    cropped padding feed no output unit. Input position i and tap t land at
    i*s + t*d - pb, so this counts the lattice points of a box within a
    strip: a floor sum, O(log) in the sizes rather than a loop over taps
    (tests/test_geometry.py keeps the loop as the oracle).
    """
    return _pairs_at_most(o - 1 + pb, n, k, s, d) - _pairs_at_most(pb - 1, n, k, s, d)


def adaptive_window_sum(n: int, o: int) -> int:
    """Sum over the o outputs of torch's adaptive windows on an axis of n.

    Window i spans [floor(i*n/o), ceil((i+1)*n/o)). ceil((i+1)n/o) is
    floor((i+1)n/o) plus 1 unless o divides (i+1)n, so the floors telescope
    to n and the ones count the i in 1..o with o not dividing i*n: o minus the
    gcd(n, o) multiples of o/gcd.
    """
    return n + o - gcd(n, o)


def adaptive_max_window(n: int, o: int) -> int:
    """The largest of torch's adaptive windows on an axis of n to o outputs.

    With q = n/o and f = frac(i*n/o), window i is ceil(i*n/o + q) - floor(i*n/o)
    = ceil(f + q): floor(q) + 2 when f + frac(q) > 1, else floor(q) + 1
    (exactly q when o divides n). The largest f is (o - g)/o, g = gcd(n, o),
    so a window of floor(q) + 2 exists exactly when n mod o > g.
    """
    r = n % o
    if r == 0:
        return n // o
    return n // o + (2 if r > gcd(n, o) else 1)


# --- receptive-field transforms ------------------------------------------------


# Receptive fields depend on the kernels, strides and paddings on the path,
# not on widths: an architecture search that varies widths (or one spec
# analysed at several batch sizes) asks for the same transforms again and
# again. Memoised on the exact input field and window; values compare by
# number (a Fraction equal to an int gives the same figures either way).
_RF_WINDOW: dict[Any, Any] = {}
_RF_MERGE: dict[Any, Any] = {}


def rf_window(rf: RF, w: Window) -> RF:
    if not fastpath.enabled():
        return _rf_window(rf, w)
    key = (rf, w.kernel, w.dilation, w.stride, w.pads)
    hit = _RF_WINDOW.get(key)
    if hit is None:
        hit = _memo_put(_RF_WINDOW, key, _rf_window(rf, w), 8192)
    return hit  # type: ignore[no-any-return]


def _rf_window(rf: RF, w: Window) -> RF:
    out = []
    for a, k, d, st, (pb, _pa) in zip(rf, w.kernel, w.dilation, w.stride, w.pads):
        ke = d * (k - 1) + 1
        if ke == 1 and st == 1 and pb == 0 and type(a.jump) is int:
            out.append(a)  # a 1x1/1 window leaves the field as it is (same values, same types)
            continue
        out.append(AxisRF(a.size + (ke - 1) * a.jump, a.jump * st, a.start2 + (ke - 1 - 2 * pb) * a.jump))
    return tuple(out)


def rf_transposed(rf: RF, w: Window) -> RF:
    out = []
    for a, k, st, d, (pb, _pa) in zip(rf, w.kernel, w.stride, w.dilation, w.pads):
        # Taps reaching one output share a residue of t*d mod st: they step by
        # p = st/gcd(d, st) taps, i.e. d/gcd input positions. The widest class
        # starts at tap 0, so the largest span is floor((k-1)/p) * d/gcd.
        g = gcd(d, st)
        span = (k - 1) // (st // g) * (d // g)
        out.append(
            AxisRF(a.size + span * a.jump, _div(a.jump, st), a.start2 + _div(a.jump * (2 * pb - d * (k - 1)), st))
        )
    return tuple(out)


def rf_global(rf: RF, spatial: Sequence[int]) -> RF:
    """Units that all see the whole input along every axis (fc, global pool,
    layernorm). Their fields coincide, so the jump between them is 0: later
    layers then keep the whole-input field instead of growing past it."""
    return tuple(AxisRF(a.size + (n - 1) * a.jump, 0, a.start2 + (n - 1) * a.jump) for a, n in zip(rf, spatial))


def rf_merge(rfs: Sequence[RF | None]) -> RF | None:
    """Union of the fields of several inputs (add, concat, mul)."""
    if not fastpath.enabled():
        return _rf_merge(rfs)
    key = tuple(rfs)
    hit = _RF_MERGE.get(key)
    if hit is None:
        hit = _memo_put(_RF_MERGE, key, _rf_merge(rfs), 8192)
    return hit  # type: ignore[no-any-return]


def _rf_merge(rfs: Sequence[RF | None]) -> RF | None:
    known = [r for r in rfs if r is not None]
    if not known or len(known) != len(rfs) or len({len(r) for r in known}) != 1:
        return None
    out = []
    for axes in zip(*known):
        # doubled coordinates keep the half-pixel edges integral
        lo2 = min(a.start2 - (a.size - 1) for a in axes)
        hi2 = max(a.start2 + (a.size - 1) for a in axes)
        out.append(AxisRF(_div(hi2 - lo2, 2) + 1, max(a.jump for a in axes), _div(lo2 + hi2, 2)))
    return tuple(out)
