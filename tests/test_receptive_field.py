"""Receptive fields against an independent oracle: torch autograd.

The oracle builds the same network in torch with every weight positive
(ones; pools become averages), picks one output unit, backpropagates from
it and reads off which input positions get a non-zero gradient. Per spatial
axis the *extent* [lo, hi] of those positions is the unit's receptive field:

- size   == hi - lo + 1
- centre == (lo + hi) / 2 == start + index * jump

(cnnsize: receptive_field, jump, start; geometry.AxisRF). The unit is picked
in the interior, so that no part of its field falls in the padding; where all
padding is zero, unit 0's field must begin at input position 0, so that
start == (size - 1) / 2.

Where the definition needs care:

- Extent, not support. Dilation and branches that see disjoint windows leave
  holes of zero gradient inside the field; the field is the hull.
- Max pools (and L2 pools and LeNet's subsampling) are measured as average pools with the same window (the same
  connectivity: a max's gradient goes to one argmax only, which would measure
  the winner, not the field). A dilated max pool is measured as a depthwise
  conv of ones with that dilation.
- Concat: channels from different branches see different windows; a
  spatial position's field is the union over all channels, so the oracle
  backpropagates from every channel at that position.
- Transposed convs have phases. Output unit o of a transposed conv (stride s,
  kernel k, dilation d, padding pb before) reads the input positions
  (o + pb - t*d) / s for the taps t that make this an integer: which taps,
  and so the field's size and centre, depend on (o + pb) mod s. cnnsize
  reports per axis the *largest* field over the phases (size), the mean
  spacing 1/s (jump), and the centre of the continuous window
  (o + pb - d*(k-1)/2) / s (start + o*jump), which is the mean of the real
  centres over one period of s units (the taps of phase r and of the mirror
  phase are mirror images, t -> k-1-t). Phases with no tap at all
  (e.g. k < s) read nothing but the bias and have no field. So after a
  transposed conv the test checks: max over a period of the measured sizes
  == size, and the mean of the measured centres over the non-empty phases
  of the period == start + (mean o) * jump. Layers after a transposed conv
  keep these averaged figures (sizes may become fractions, e.g. 3/2); they
  are not exact per unit and are not asserted here.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from cnnsize.engine.analysis import analyze  # noqa: E402
from cnnsize.engine.errors import SpecError  # noqa: E402
from cnnsize.engine.load import parse  # noqa: E402

CONV = {1: F.conv1d, 2: F.conv2d}
CONVT = {1: F.conv_transpose1d, 2: F.conv_transpose2d}
AVG = {1: F.avg_pool1d, 2: F.avg_pool2d}
SIZE = {1: 160, 2: 48}


def profile(n):
    return settings(
        max_examples=n,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def fpad(pairs):
    out = []
    for before, after in reversed(pairs):
        out += [before, after]
    return out


# --- oracle ops: each maps (x, channels) -> y with all weights positive ----------


def op_conv(nd, k, s, d, pairs):
    def f(x):
        w = torch.ones(1, x.shape[1], *k, dtype=x.dtype)
        return CONV[nd](F.pad(x, fpad(pairs)), w, stride=s, dilation=d)

    return f


def op_avg(nd, k, s, p, ceil_mode, count_include_pad):
    return lambda x: AVG[nd](x, k, s, p, ceil_mode=ceil_mode, count_include_pad=count_include_pad)


def op_dilated_pool(nd, k, s, d, p):
    def f(x):
        c = x.shape[1]
        w = torch.ones(c, 1, *k, dtype=x.dtype)
        return CONV[nd](x, w, stride=s, padding=p, dilation=d, groups=c)

    return f


def op_deconv(nd, k, s, d, pairs, op):
    def f(x):
        w = torch.ones(x.shape[1], 1, *k, dtype=x.dtype)
        y = CONVT[nd](x, w, stride=s, dilation=d, output_padding=op)
        # padding (before, after) crops the full output, as torch's padding does
        index = [slice(None), slice(None)] + [slice(a, y.shape[2 + i] - b) for i, (a, b) in enumerate(pairs)]
        return y[tuple(index)]

    return f


# --- layer strategies: (cnnsize layer dict, oracle op, total stride) -------------


def per_axis(nd, values):
    return values[0] if nd == 1 else list(values)


@st.composite
def conv_layer(draw, nd, zero_pad=False):
    k = tuple(draw(st.integers(1, 5)) for _ in range(nd))
    s = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    d = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    if zero_pad:
        pairs = ((0, 0),) * nd
        padding = 0
    elif draw(st.booleans()):
        pairs = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(nd))
        padding = [list(p) for p in pairs]
    else:
        ps = tuple(draw(st.integers(0, 3)) for _ in range(nd))
        pairs = tuple((p, p) for p in ps)
        padding = per_axis(nd, ps)
    layer = {
        "type": "conv",
        "filters": 1,
        "kernel": per_axis(nd, k),
        "stride": per_axis(nd, s),
        "dilation": per_axis(nd, d),
        "padding": padding,
    }
    return layer, op_conv(nd, k, s, d, pairs)


@st.composite
def pool_layer(draw, nd, zero_pad=False):
    k = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    s = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    p = (0,) * nd if zero_pad else tuple(draw(st.integers(0, ki // 2)) for ki in k)
    kind = draw(st.sampled_from(["maxpool", "avgpool", "dilated"]))
    layer = {
        "type": "avgpool" if kind == "avgpool" else "maxpool",
        "kernel": per_axis(nd, k),
        "stride": per_axis(nd, s),
        "padding": per_axis(nd, p),
    }
    if kind == "dilated":
        d = tuple(draw(st.integers(2, 3)) for _ in range(nd))
        layer["dilation"] = per_axis(nd, d)
        return layer, op_dilated_pool(nd, k, s, d, p)
    ceil_mode = draw(st.booleans())
    layer["ceil_mode"] = ceil_mode
    cip = draw(st.booleans())
    if kind == "avgpool":
        layer["count_include_pad"] = cip
    return layer, op_avg(nd, k, s, p, ceil_mode, cip)


@st.composite
def other_layer(draw, nd, zero_pad=False):
    """Kinds with the connectivity of a conv or an average: their fields must
    follow the same recurrence (pad shifts the start)."""
    kind = draw(st.sampled_from(["lppool", "subsample", "dwconv", "sepconv"] + ([] if zero_pad else ["pad"])))
    if kind == "pad":
        pairs = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(nd))
        return {"type": "pad", "padding": [list(p) for p in pairs]}, (lambda x: F.pad(x, fpad(pairs)))
    k = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    s = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    if kind in ("lppool", "subsample"):
        layer = {"type": kind, "kernel": per_axis(nd, k), "stride": per_axis(nd, s)}
        return layer, op_avg(nd, k, s, (0,) * nd, False, True)
    d = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    ps = (0,) * nd if zero_pad else tuple(draw(st.integers(0, 2)) for _ in range(nd))
    layer = {
        "type": kind,
        "kernel": per_axis(nd, k),
        "stride": per_axis(nd, s),
        "dilation": per_axis(nd, d),
        "padding": per_axis(nd, ps),
    }
    if kind == "sepconv":
        layer["filters"] = 1  # the 1x1 pointwise step adds nothing to the field
    return layer, op_dilated_pool(nd, k, s, d, ps)


@st.composite
def chain(draw, nd, zero_pad=False, max_len=4):
    n = draw(st.integers(1, max_len))
    layers = []
    for _ in range(n):
        layers.append(draw(st.one_of(conv_layer(nd, zero_pad), pool_layer(nd, zero_pad), other_layer(nd, zero_pad))))
    return layers


# --- running both sides ----------------------------------------------------------


def analyse(nd, n, layers, outputs=None):
    doc = {"cnnsize": 1, "name": "rf", "input": [1, *([n] * nd)], "layers": layers}
    if outputs:
        doc["outputs"] = outputs
    try:
        return analyze(parse(doc, "<rf>"))
    except SpecError as exc:
        # a random chain that shrinks the input to nothing is not a test case
        if all(d.code in ("window-too-large", "output-empty") for d in exc.diagnostics):
            assume(False)
        raise


def measure(forward, nd, n, index):
    """Per axis (lo, hi) of the non-zero input gradient of one output position."""
    x = torch.ones(1, 1, *([n] * nd), dtype=torch.float64, requires_grad=True)
    y = forward(x)
    y[(0, slice(None), *index)].sum().backward()
    g = x.grad[0, 0]
    assert bool((g >= 0).all())
    nz = g.nonzero()
    if len(nz) == 0:
        return None
    return [(int(nz[:, a].min()), int(nz[:, a].max())) for a in range(nd)]


def interior_units(shape, rf, n, limit=3):
    """Output positions whose predicted field lies wholly inside [1, n - 2]."""
    nd = len(shape)
    per_axis_ok = []
    for axis_rf, o in zip(rf, shape):
        ok = [
            i
            for i in range(o)
            if 1 <= axis_rf.start + i * axis_rf.jump - (axis_rf.size - 1) / 2
            and axis_rf.start + i * axis_rf.jump + (axis_rf.size - 1) / 2 <= n - 2
        ]
        per_axis_ok.append(ok)
    assume(all(per_axis_ok))
    picks = []
    for j in range(limit):
        # the middle one, and its neighbours, axis by axis
        picks.append(tuple(ok[min(len(ok) - 1, len(ok) // 2 + j)] for ok in per_axis_ok))
    assert nd == len(picks[0])
    return sorted(set(picks))


def compose(ops):
    def f(x):
        for op in ops:
            x = op(x)
        return x

    return f


def check_units(nd, n, layers, forward):
    a = analyse(nd, n, [lay[0] if isinstance(lay, tuple) else lay for lay in layers])
    last = a.layers[-1]
    rf = last.rf
    assert rf is not None
    for index in interior_units(last.output_shape[1:], rf, n):
        got = measure(forward, nd, n, index)
        assert got is not None, index
        for axis, ((lo, hi), axis_rf) in enumerate(zip(got, rf)):
            assert hi - lo + 1 == axis_rf.size, (axis, index, got)
            assert Fraction(lo + hi, 2) == axis_rf.start + index[axis] * axis_rf.jump, (axis, index, got)
    return a


# --- chains ----------------------------------------------------------------------


@profile(150)
@given(chain(1))
def test_chain_1d(layers):
    check_units(1, SIZE[1], layers, compose([op for _, op in layers]))


@profile(60)
@given(chain(2, max_len=3))
def test_chain_2d_per_axis(layers):
    check_units(2, SIZE[2], layers, compose([op for _, op in layers]))


@profile(80)
@given(chain(1, zero_pad=True))
def test_first_unit_start_without_padding(layers):
    """With no padding anywhere, unit 0's field starts at input position 0."""
    n = SIZE[1]
    a = check_units(1, n, layers, compose([op for _, op in layers]))
    (axis_rf,) = a.layers[-1].rf
    ((lo, hi),) = measure(compose([op for _, op in layers]), 1, n, (0,))
    assert lo == 0
    assert hi - lo + 1 == axis_rf.size
    assert Fraction(lo + hi, 2) == axis_rf.start == (axis_rf.size - 1) / 2


# --- transposed convolution (phases) -----------------------------------------------


@st.composite
def deconv_layer(draw, nd):
    k = tuple(draw(st.integers(1, 5)) for _ in range(nd))
    s = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    d = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    op = tuple(draw(st.integers(0, max(si, di) - 1)) for si, di in zip(s, d))
    if draw(st.booleans()):
        pairs = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(nd))
        padding = [list(p) for p in pairs]
    else:
        ps = tuple(draw(st.integers(0, 3)) for _ in range(nd))
        pairs = tuple((p, p) for p in ps)
        padding = per_axis(nd, ps)
    layer = {
        "type": "deconv",
        "filters": 1,
        "kernel": per_axis(nd, k),
        "stride": per_axis(nd, s),
        "dilation": per_axis(nd, d),
        "padding": padding,
        "output_padding": per_axis(nd, op),
    }
    return layer, op_deconv(nd, k, s, d, pairs, op), s


@profile(120)
@given(chain(1, max_len=2), st.booleans(), deconv_layer(1))
def test_transposed_conv_phases(before, use_before, deconv):
    layers = (before if use_before else []) + [deconv[:2]]
    (s,) = deconv[2]
    n = 40
    a = analyse(1, n, [lay for lay, _ in layers])
    last = a.layers[-1]
    (axis_rf,) = last.rf
    forward = compose([op for _, op in layers])
    # one full period of s outputs, every one of whose possible inputs is interior
    prev_rf = a.layers[-2].rf[0] if len(a.layers) > 1 else None
    ok = [
        o
        for o in range(last.output_shape[1])
        if 1 <= axis_rf.start + o * axis_rf.jump - (axis_rf.size - 1) / 2 - (prev_rf.jump if prev_rf else 1) * 2
        and axis_rf.start + o * axis_rf.jump + (axis_rf.size - 1) / 2 + (prev_rf.jump if prev_rf else 1) * 2 <= n - 2
    ]
    assume(len(ok) >= s)
    period = ok[len(ok) // 2 - s // 2 :][:s]
    assume(len(period) == s)
    sizes, centres, units = [], [], []
    for o in period:
        got = measure(forward, 1, n, (o,))
        if got is None:
            continue  # a phase with no tap: only the bias
        ((lo, hi),) = got
        sizes.append(hi - lo + 1)
        centres.append(Fraction(lo + hi, 2))
        units.append(o)
    assert sizes, "every phase empty"
    assert max(sizes) == axis_rf.size
    assert sum(centres) / len(centres) == axis_rf.start + Fraction(sum(units), len(units)) * axis_rf.jump
    if s == 1:
        # a single phase: exact per unit
        assert set(sizes) == {axis_rf.size}
        assert all(c == axis_rf.start + o * axis_rf.jump for c, o in zip(centres, units))


def test_transposed_conv_phases_by_hand():
    """k=3, s=2, p=1 (a classic 2x upsampler) on a 1-D input.

    Output o reads input (o + 1 - t) / 2 for t in {0, 1, 2}: even o reads one
    input (o/2), odd o reads two ((o-1)/2 and (o+1)/2). cnnsize reports the
    larger field, 2, jump 1/2 and start (1 - 1) / 2 = 0: centre of o is o/2,
    which is exact for even o (o/2) and odd o ((o-1)/2 + (o+1)/2) / 2 = o/2.
    """
    n = 12
    a = analyse(1, n, [{"type": "deconv", "filters": 1, "kernel": 3, "stride": 2, "padding": 1}])
    (axis_rf,) = a.layers[0].rf
    assert (axis_rf.size, axis_rf.jump, axis_rf.start) == (2, Fraction(1, 2), 0)
    fwd = op_deconv(1, (3,), (2,), (1,), ((1, 1),), (0,))
    assert measure(fwd, 1, n, (10,)) == [(5, 5)]
    assert measure(fwd, 1, n, (11,)) == [(5, 6)]


# --- DAGs: branch + add, concat ---------------------------------------------------


@st.composite
def same_length_layer(draw, stride):
    """A conv or pool whose output length is ceil(n / stride) for any n:
    total padding = effective window - 1 (split in any way for convs)."""
    if draw(st.booleans()):
        k = draw(st.integers(1, 5))
        d = draw(st.integers(1, 3))
        total = d * (k - 1)
        before = draw(st.integers(0, total))
        layer = {
            "type": "conv",
            "filters": 1,
            "kernel": k,
            "dilation": d,
            "stride": stride,
            "padding": [[before, total - before]],
        }
        return layer, op_conv(1, (k,), (stride,), (d,), ((before, total - before),))
    k = 2 * draw(st.integers(0, 2)) + 1
    p = (k - 1) // 2
    kind = draw(st.sampled_from(["maxpool", "avgpool"]))
    layer = {"type": kind, "kernel": k, "stride": stride, "padding": p}
    return layer, op_avg(1, (k,), (stride,), (p,), False, True)


@st.composite
def branchy(draw):
    stride = draw(st.integers(1, 2))
    branches = []
    for b in "ab":
        depth = draw(st.integers(0 if stride == 1 else 1, 2))
        layers = [draw(same_length_layer(stride if i == 0 else 1)) for i in range(depth)]
        branches.append((b, layers))
    merge = draw(st.sampled_from(["add", "concat"]))
    tail = draw(st.lists(conv_layer(1), max_size=1))
    return branches, merge, tail


@profile(100)
@given(branchy())
def test_branch_and_merge(case):
    """Two branches from the input, merged by add or concat, then maybe a conv:
    the field of a merged unit is the hull of its branches' fields."""
    branches, merge, tail = case
    n = SIZE[1]
    spec_layers, ends, ops = [], [], {}
    for b, layers in branches:
        prev = "input"
        for i, (lay, _op) in enumerate(layers):
            name = f"{b}{i}"
            spec_layers.append({**lay, "name": name, "inputs": [prev]})
            prev = name
        ends.append(prev)
        ops[b] = compose([op for _, op in layers])
    spec_layers.append({"type": merge, "name": "merge", "inputs": ends})
    spec_layers += [lay for lay, _ in tail]

    def forward(x):
        ya, yb = ops["a"](x), ops["b"](x)
        y = ya + yb if merge == "add" else torch.cat([ya, yb], dim=1)
        for _lay, op in tail:
            y = op(y)
        return y

    check_units(1, n, spec_layers, forward)


def test_branch_with_disjoint_fields_by_hand():
    """Branch a (1x1 conv, padding 3 before) sees x[j-3]; branch b (1x1 conv,
    padding 3 after) sees x[j]. Their sum's field is the hull [j-3, j]:
    size 4, centre j - 3/2, with a hole of zero gradient at j-2 and j-1."""
    n = 20
    layers = [
        {"name": "a", "type": "conv", "filters": 1, "kernel": 1, "padding": [[3, 0]], "inputs": ["input"]},
        {"name": "b", "type": "conv", "filters": 1, "kernel": 1, "padding": [[0, 3]], "inputs": ["input"]},
        {"name": "sum", "type": "add", "inputs": ["a", "b"]},
    ]
    a = analyse(1, n, layers)
    assert (a.layer("a").rf[0].size, a.layer("a").rf[0].start) == (1, -3)
    assert (a.layer("b").rf[0].size, a.layer("b").rf[0].start) == (1, 0)
    (rf,) = a.layer("sum").rf
    assert (rf.size, rf.jump, rf.start) == (4, 1, Fraction(-3, 2))
    fa, fb = op_conv(1, (1,), (1,), (1,), ((3, 0),)), op_conv(1, (1,), (1,), (1,), ((0, 3),))
    x = torch.ones(1, 1, n, dtype=torch.float64, requires_grad=True)
    (fa(x) + fb(x))[0, 0, 10].backward()
    assert x.grad[0, 0].nonzero().flatten().tolist() == [7, 10]
    assert measure(lambda t: fa(t) + fb(t), 1, n, (10,)) == [(7, 10)]
    assert Fraction(7 + 10, 2) == rf.start + 10 * rf.jump


@settings(max_examples=150, derandomize=True, database=None, deadline=None)
@given(k=st.integers(1, 5), s=st.integers(1, 3), r=st.integers(1, 4), k2=st.integers(1, 5), p2=st.integers(0, 2))
def test_pixel_shuffle_field_is_nearest_upsampling(k, s, r, k2, p2):
    # pixel_shuffle's output position Y reads input position floor(Y / r),
    # the very map of nearest upsampling by r: the two give the same field
    # (same size, jump / r, same first centre), here and after a later conv
    def fields(middle):
        layers = [
            {"name": "a", "type": "conv", "filters": 2 * r * r, "kernel": k, "stride": s},
            {"name": "m", **middle},
            {"name": "b", "type": "conv", "filters": 3, "kernel": k2, "padding": p2},
        ]
        a = analyze(parse({"cnnsize": 1, "name": "t", "input": [1, 24, 24], "layers": layers}))
        return [q.rf for q in a.layers[1:]]

    shuffled = fields({"type": "pixel_shuffle", "scale": r})
    upsampled = fields({"type": "upsample", "scale": r})
    assert shuffled == upsampled
