"""Property tests: one-layer specs against the same layer built directly in torch.

For random configurations of each layer kind in 1-D, 2-D and 3-D, the
one-layer cnnsize spec (cnnsize.engine.load.parse of a dict, then analyze) must give
exactly what torch gives for the equivalent module, built here without any
help from cnnsize:

- output shape == the torch output's shape (batch axis dropped);
- params == sum(p.numel() for p in module.parameters());
- under convention "torch", the layer's flops == the total of
  torch.utils.flop_counter.FlopCounterMode for one forward at batch 1.

torch's formula (torch/utils/flop_counter.py, conv_flop_count): for a conv,
2 x prod(output spatial) x prod(kernel) x c_out x c_in/groups x batch; for a
transposed conv it uses the *input* spatial size instead of the output's
(w_shape there is (c_in, c_out/groups, *k)), i.e. 2 x prod(input spatial) x
prod(kernel) x c_in x c_out/groups: every input element meets every tap,
padding and cropping ignored. Linear is addmm/mm: 2 x in x out. Bias adds,
pools, padding (F.pad) and slicing count 0. This is exactly cnnsize's "torch"
preset: 2 x MACs of conv/fc with deconv MACs counted from the input side.

Runs are deterministic (derandomize=True, no example database). The number of
examples per kind is CNNSIZE_PROPERTY_EXAMPLES (default 200);
`-m slow` runs 2,000 per kind.
"""

from __future__ import annotations

import os

import pytest

torch = pytest.importorskip("torch")

import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from cnnsize.engine.analysis import analyze  # noqa: E402
from cnnsize.engine.load import parse  # noqa: E402

EXAMPLES = int(os.environ.get("CNNSIZE_PROPERTY_EXAMPLES", "200"))
SLOW_EXAMPLES = 2000

CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
DECONV = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
MAXPOOL = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}
AVGPOOL = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}
AAVG = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}
AMAX = {1: nn.AdaptiveMaxPool1d, 2: nn.AdaptiveMaxPool2d, 3: nn.AdaptiveMaxPool3d}
# largest kernel / input growth per rank: keeps every example a few ms
KMAX = {1: 5, 2: 4, 3: 3}
NSPAN = {1: 8, 2: 5, 3: 3}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # tiny kernels: thread start-up would dominate (30 ms vs 0.4 ms per example)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def profile(n: int = EXAMPLES):
    return settings(
        max_examples=n,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


# --- the two sides ----------------------------------------------------------


def cnnsize_layer(input_shape, layer):
    doc = {"cnnsize": 1, "name": "property", "input": list(input_shape), "layers": [layer]}
    a = analyze(parse(doc, "<property>"), convention="torch")
    assert len(a.layers) == 1
    return a.layers[0]


def torch_run(module_or_fn, params, input_shape):
    """Output shape (no batch axis), parameter count and FlopCounterMode total."""
    x = torch.zeros(1, *input_shape)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        y = module_or_fn(x)
    return tuple(y.shape[1:]), sum(p.numel() for p in params), counter.get_total_flops()


def assert_same(layer, input_shape, fn, params):
    shape, n_params, flops = torch_run(fn, params, input_shape)
    got = cnnsize_layer(input_shape, layer)
    assert got.output_shape == shape, (layer, input_shape)
    assert got.params == n_params, (layer, input_shape)
    assert got.flops == flops, (layer, input_shape, got.macs)
    assert 2 * got.macs == flops, (layer, input_shape)  # issue 2: "2 x MACs equal to FlopCounterMode"


def tf_same_pads(n, keff, s):
    # docs/spec.md: 'same' pads max((ceil(n/s)-1)*s + keff - n, 0), smaller half first
    total = max((-(-n // s) - 1) * s + keff - n, 0)
    return total // 2, total - total // 2


def fpad(pairs):
    """F.pad's argument: last axis first."""
    out = []
    for before, after in reversed(pairs):
        out += [before, after]
    return out


# --- strategies ---------------------------------------------------------------


@st.composite
def axes(draw, nd, lo, hi):
    """(spec value, per-axis tuple): one int for all axes, or one per axis."""
    if draw(st.booleans()):
        v = draw(st.integers(lo, hi))
        return v, (v,) * nd
    vals = tuple(draw(st.integers(lo, hi)) for _ in range(nd))
    return list(vals), vals


@st.composite
def conv_case(draw, depthwise=False, separable=False):
    nd = draw(st.integers(1, 3))
    if depthwise or separable:
        cin = draw(st.integers(1, 4))
        mult = draw(st.integers(1, 3))
        groups, cout = cin, cin * mult
    else:
        groups = draw(st.integers(1, 3))
        cin = groups * draw(st.integers(1, 3))
        cout = groups * draw(st.integers(1, 3))
    k_spec, k = draw(axes(nd, 1, KMAX[nd]))
    s_spec, s = draw(axes(nd, 1, 3))
    d_spec, d = draw(axes(nd, 1, 3 if nd < 3 else 2))
    keff = tuple(di * (ki - 1) + 1 for ki, di in zip(k, d))
    mode = draw(st.sampled_from(["int", "axes", "same", "valid", "pairs"]))
    if mode == "int":
        p = draw(st.integers(0, 3))
        pad_spec, pairs = p, ((p, p),) * nd
    elif mode == "axes":
        p_spec, ps = draw(axes(nd, 0, 3))
        pad_spec, pairs = p_spec, tuple((p, p) for p in ps)
    elif mode == "valid":
        pad_spec, pairs = "valid", ((0, 0),) * nd
    elif mode == "pairs":
        pairs = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(nd))
        pad_spec = [list(pr) for pr in pairs]
    else:
        pad_spec, pairs = "same", None
    if pairs is None:
        n = tuple(draw(st.integers(1, 1 + NSPAN[nd])) for _ in range(nd))
        pairs = tuple(tf_same_pads(ni, ke, si) for ni, ke, si in zip(n, keff, s))
    else:
        n = tuple(
            draw(st.integers(max(1, ke - a - b), max(1, ke - a - b) + NSPAN[nd])) for ke, (a, b) in zip(keff, pairs)
        )
    bias = draw(st.booleans())
    return dict(
        nd=nd,
        cin=cin,
        cout=cout,
        groups=groups,
        mult=cout // cin if groups == cin else None,
        k=k,
        s=s,
        d=d,
        pairs=pairs,
        n=n,
        bias=bias,
        mode=mode,
        spec=dict(kernel=k_spec, stride=s_spec, dilation=d_spec, padding=pad_spec, bias=bias),
    )


def torch_conv(c, cin, cout, groups):
    """A conv module and a forward that applies the spec's padding the torch way."""
    nd, mode, pairs = c["nd"], c["mode"], c["pairs"]
    common = dict(stride=c["s"], dilation=c["d"], groups=groups, bias=c["bias"])
    if mode == "int" or mode == "axes":
        m = CONV[nd](cin, cout, c["k"], padding=tuple(a for a, _ in pairs), **common)
        return m, m
    if mode == "valid":
        m = CONV[nd](cin, cout, c["k"], padding="valid", **common)
        return m, m
    if mode == "same" and all(si == 1 for si in c["s"]):
        # torch's own 'same' (stride 1 only), independent of the TF formula above
        m = CONV[nd](cin, cout, c["k"], padding="same", **common)
        return m, m
    m = CONV[nd](cin, cout, c["k"], padding=0, **common)
    return m, (lambda x: m(F.pad(x, fpad(pairs))))


@profile()
@given(conv_case())
def test_conv(c):
    m, fn = torch_conv(c, c["cin"], c["cout"], c["groups"])
    layer = {"type": "conv", "filters": c["cout"], "groups": c["groups"], **c["spec"]}
    assert_same(layer, (c["cin"], *c["n"]), fn, list(m.parameters()))


@profile(EXAMPLES // 2)
@given(conv_case(depthwise=True))
def test_dwconv(c):
    m, fn = torch_conv(c, c["cin"], c["cout"], c["cin"])
    layer = {"type": "dwconv", "multiplier": c["mult"], **c["spec"]}
    assert_same(layer, (c["cin"], *c["n"]), fn, list(m.parameters()))


@profile(EXAMPLES // 2)
@given(conv_case(separable=True), st.integers(1, 5))
def test_sepconv(c, filters):
    dw, dw_fn = torch_conv(c, c["cin"], c["cout"], c["cin"])
    pw = CONV[c["nd"]](c["cout"], filters, 1, bias=c["bias"])
    layer = {"type": "sepconv", "filters": filters, "multiplier": c["mult"], **c["spec"]}
    assert_same(layer, (c["cin"], *c["n"]), lambda x: pw(dw_fn(x)), [*dw.parameters(), *pw.parameters()])


@st.composite
def deconv_case(draw):
    nd = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 3))
    cin = groups * draw(st.integers(1, 3))
    cout = groups * draw(st.integers(1, 3))
    k_spec, k = draw(axes(nd, 1, KMAX[nd]))
    s_spec, s = draw(axes(nd, 1, 3))
    d_spec, d = draw(axes(nd, 1, 2))
    # output_padding must be smaller than stride or dilation (torch's rule)
    op = tuple(draw(st.integers(0, max(si, di) - 1)) for si, di in zip(s, d))
    op_spec = list(op) if draw(st.booleans()) or len(set(op)) > 1 else op[0]
    n = tuple(draw(st.integers(1, 1 + NSPAN[nd] // 2 + 1)) for _ in range(nd))
    full = tuple((ni - 1) * si + di * (ki - 1) + 1 + oi for ni, si, di, ki, oi in zip(n, s, d, k, op))
    mode = draw(st.sampled_from(["int", "axes", "valid", "pairs"]))
    # keep at least one output position on every axis
    if mode == "int":
        p = draw(st.integers(0, (min(full) - 1) // 2))
        pad_spec, pairs = p, ((p, p),) * nd
    elif mode == "axes":
        ps = tuple(draw(st.integers(0, (f - 1) // 2)) for f in full)
        pad_spec, pairs = list(ps), tuple((p, p) for p in ps)
    elif mode == "valid":
        pad_spec, pairs = "valid", ((0, 0),) * nd
    else:
        pairs = []
        for f in full:
            a = draw(st.integers(0, f - 1))
            pairs.append((a, draw(st.integers(0, f - 1 - a))))
        pairs = tuple(pairs)
        pad_spec = [list(pr) for pr in pairs]
    bias = draw(st.booleans())
    return dict(
        nd=nd,
        cin=cin,
        cout=cout,
        groups=groups,
        k=k,
        s=s,
        d=d,
        op=op,
        n=n,
        pairs=pairs,
        mode=mode,
        bias=bias,
        spec=dict(kernel=k_spec, stride=s_spec, dilation=d_spec, padding=pad_spec, output_padding=op_spec, bias=bias),
    )


@profile()
@given(deconv_case())
def test_deconv(c):
    nd, pairs = c["nd"], c["pairs"]
    common = dict(stride=c["s"], dilation=c["d"], groups=c["groups"], bias=c["bias"], output_padding=c["op"])
    if c["mode"] == "pairs":
        # torch pads transposed convs symmetrically only: run with padding 0 and
        # crop [before : len - after] on every axis, which is what padding p does
        m = DECONV[nd](c["cin"], c["cout"], c["k"], padding=0, **common)

        def fn(x):
            y = m(x)
            index = [slice(None), slice(None)] + [slice(a, y.shape[2 + i] - b) for i, (a, b) in enumerate(pairs)]
            return y[tuple(index)]
    else:
        m = DECONV[nd](c["cin"], c["cout"], c["k"], padding=tuple(a for a, _ in pairs), **common)
        fn = m
    layer = {"type": "deconv", "filters": c["cout"], "groups": c["groups"], **c["spec"]}
    assert_same(layer, (c["cin"], *c["n"]), fn, list(m.parameters()))


@st.composite
def pool_case(draw, with_dilation):
    nd = draw(st.integers(1, 3))
    c = draw(st.integers(1, 3))
    k_spec, k = draw(axes(nd, 1, KMAX[nd]))
    stride_given = draw(st.booleans())
    s_spec, s = draw(axes(nd, 1, 3)) if stride_given else (None, k)
    d_spec, d = draw(axes(nd, 1, 3 if nd < 3 else 2)) if with_dilation else (1, (1,) * nd)
    # torch: padding at most half the kernel (not the dilated window)
    mode = draw(st.sampled_from(["int", "axes", "valid"]))
    if mode == "int":
        p_spec = draw(st.integers(0, min(k) // 2))
        p = (p_spec,) * nd
    elif mode == "axes":
        p = tuple(draw(st.integers(0, ki // 2)) for ki in k)
        p_spec = list(p)
    else:
        p_spec, p = "valid", (0,) * nd
    keff = tuple(di * (ki - 1) + 1 for ki, di in zip(k, d))
    # torch's avg_pool3d (only it) also refuses an input smaller than the
    # kernel even when the padded input holds the window
    low = tuple(ke if nd == 3 and not with_dilation else max(1, ke - 2 * pi) for ke, pi in zip(keff, p))
    n = tuple(draw(st.integers(lo, lo + NSPAN[nd])) for lo in low)
    ceil_mode = draw(st.booleans())
    spec = dict(kernel=k_spec, padding=p_spec, ceil_mode=ceil_mode)
    if stride_given:
        spec["stride"] = s_spec
    if with_dilation:
        spec["dilation"] = d_spec
    return dict(nd=nd, c=c, k=k, s=s, d=d, p=p, n=n, ceil_mode=ceil_mode, spec=spec)


@profile()
@given(pool_case(with_dilation=True))
def test_maxpool(c):
    m = MAXPOOL[c["nd"]](c["k"], stride=c["s"], padding=c["p"], dilation=c["d"], ceil_mode=c["ceil_mode"])
    assert_same({"type": "maxpool", **c["spec"]}, (c["c"], *c["n"]), m, [])


@profile()
@given(pool_case(with_dilation=False), st.booleans())
def test_avgpool(c, count_include_pad):
    m = AVGPOOL[c["nd"]](
        c["k"], stride=c["s"], padding=c["p"], ceil_mode=c["ceil_mode"], count_include_pad=count_include_pad
    )
    layer = {"type": "avgpool", "count_include_pad": count_include_pad, **c["spec"]}
    assert_same(layer, (c["c"], *c["n"]), m, [])


@st.composite
def adaptive_case(draw):
    nd = draw(st.integers(1, 3))
    c = draw(st.integers(1, 3))
    n = tuple(draw(st.integers(1, 2 + NSPAN[nd])) for _ in range(nd))
    # outputs larger than the input are legal in torch (windows overlap)
    out = tuple(draw(st.integers(1, ni + 2)) for ni in n)
    out_spec = out[0] if len(set(out)) == 1 and draw(st.booleans()) else list(out)
    return nd, c, n, out, out_spec


@profile()
@given(adaptive_case(), st.booleans())
def test_adaptive_pool(case, is_max):
    nd, c, n, out, out_spec = case
    m = (AMAX if is_max else AAVG)[nd](out)
    layer = {"type": "adaptivemaxpool" if is_max else "adaptiveavgpool", "output": out_spec}
    assert_same(layer, (c, *n), m, [])


@profile(EXAMPLES // 4)
@given(st.integers(1, 3), st.integers(1, 4), st.data(), st.booleans())
def test_global_pool(nd, c, data, is_max):
    n = tuple(data.draw(st.integers(1, 2 + NSPAN[nd])) for _ in range(nd))
    m = (AMAX if is_max else AAVG)[nd](1)
    assert_same({"type": "globalmaxpool" if is_max else "globalavgpool"}, (c, *n), m, [])


@profile()
@given(st.integers(0, 3), st.integers(1, 4), st.data(), st.integers(1, 9), st.booleans())
def test_fc(nd, c, data, units, bias):
    """fc flattens its input: 0 to 3 spatial axes in front of a Linear."""
    n = tuple(data.draw(st.integers(1, 1 + NSPAN[max(nd, 1)])) for _ in range(nd))
    fan_in = c
    for ni in n:
        fan_in *= ni
    m = nn.Linear(fan_in, units, bias=bias)
    assert_same({"type": "fc", "units": units, "bias": bias}, (c, *n), lambda x: m(x.flatten(1)), list(m.parameters()))


# --- the same properties at scale (deselected by default) ----------------------


@pytest.mark.slow
@profile(SLOW_EXAMPLES)
@given(conv_case())
def test_conv_slow(c):
    test_conv.hypothesis.inner_test(c)


@pytest.mark.slow
@profile(SLOW_EXAMPLES)
@given(deconv_case())
def test_deconv_slow(c):
    test_deconv.hypothesis.inner_test(c)


@pytest.mark.slow
@profile(SLOW_EXAMPLES)
@given(pool_case(with_dilation=True))
def test_maxpool_slow(c):
    test_maxpool.hypothesis.inner_test(c)


@profile(EXAMPLES // 2)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 6), st.integers(1, 6), st.booleans())
def test_pixel_shuffle(c, r, h, w, functional):
    """C*r^2 x H x W -> C x rH x rW; no parameters, no FLOPs (torch counts none)."""
    m = nn.PixelShuffle(r)
    fn = (lambda x: F.pixel_shuffle(x, r)) if functional else m
    assert_same({"type": "pixel_shuffle", "scale": r}, (c * r * r, h, w), fn, [])
    assert cnnsize_layer((c * r * r, h, w), {"type": "pixel_shuffle", "scale": r}).output_shape == (c, r * h, r * w)


@profile(EXAMPLES // 2)
@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.data(), st.booleans())
def test_channel_shuffle(nd, groups, per_group, data, functional):
    """Shape unchanged; no parameters, no FLOPs (torch counts none)."""
    n = tuple(data.draw(st.integers(1, 1 + NSPAN[nd])) for _ in range(nd))
    m = nn.ChannelShuffle(groups)
    fn = (lambda x: F.channel_shuffle(x, groups)) if functional else m
    assert_same({"type": "channel_shuffle", "groups": groups}, (groups * per_group, *n), fn, [])
