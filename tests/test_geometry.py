"""The closed forms in cnnsize/engine/geometry.py against brute-force
enumeration and against the loop forms they replaced (kept here, and only
here, as oracles)."""

import json
import os
import random
import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from cnnsize.engine import fastpath, geometry
from cnnsize.engine.analysis import analyze
from cnnsize.engine.errors import SpecError
from cnnsize.engine.geometry import (
    AxisRF,
    Window,
    adaptive_max_window,
    adaptive_window_sum,
    rf_transposed,
    transposed_taps,
)
from cnnsize.engine.load import parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def brute_taps(n, o, k, s, d, pb):
    return sum(1 for i in range(n) for t in range(k) if 0 <= i * s + t * d - pb < o)


def loop_taps(n, o, k, s, d, pb):
    """The loop form cnnsize used before the closed form (3102630): once per
    tap, or once per input position when the kernel is the longer range."""
    total = 0
    if k <= n:
        for t in range(k):
            off = t * d - pb
            lo = max(0, -(off // s))
            hi = min(n - 1, (o - 1 - off) // s)
            if hi >= lo:
                total += hi - lo + 1
    else:
        for i in range(n):
            off = i * s - pb
            lo = max(0, -(off // d))
            hi = min(k - 1, (o - 1 - off) // d)
            if hi >= lo:
                total += hi - lo + 1
    return total


def loop_adaptive_windows(n, o):
    """The list form cnnsize used before (3102630): torch's adaptive window i
    spans [floor(i*n/o), ceil((i+1)*n/o))."""
    return [-(-((i + 1) * n) // o) - (i * n) // o for i in range(o)]


sizes = st.integers(1, 40)


@settings(max_examples=800, derandomize=True, database=None, deadline=None)
@given(n=sizes, o=st.integers(1, 120), k=sizes, s=st.integers(1, 9), d=st.integers(1, 9), pb=st.integers(0, 30))
def test_transposed_taps_closed_form_equals_the_loop_form(n, o, k, s, d, pb):
    # any output size, not only the one the layer would have: the strip may
    # cut the box anywhere
    assert transposed_taps(n, o, k, s, d, pb) == loop_taps(n, o, k, s, d, pb)


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(n=st.integers(1, 8), o=st.integers(1, 30), k=st.integers(1, 8), s=st.integers(1, 5), d=st.integers(1, 5))
def test_transposed_taps_closed_form_equals_enumeration(n, o, k, s, d):
    for pb in range(0, 6):
        assert transposed_taps(n, o, k, s, d, pb) == brute_taps(n, o, k, s, d, pb)


@settings(max_examples=1000, derandomize=True, database=None, deadline=None)
@given(n=st.integers(1, 300), o=st.integers(1, 300))
def test_adaptive_closed_forms_equal_the_list_form(n, o):
    windows = loop_adaptive_windows(n, o)
    assert adaptive_window_sum(n, o) == sum(windows)
    assert adaptive_max_window(n, o) == max(windows)


def test_adaptive_closed_forms_worked_examples():
    # 7 -> 3 outputs: windows [0,3), [2,5), [4,7) -> sizes 3, 3, 3: sum 9 = 7 + 3 - gcd(7, 3)
    assert (adaptive_window_sum(7, 3), adaptive_max_window(7, 3)) == (9, 3)
    # 5 -> 3: [0,2), [1,4), [3,5) -> 2, 3, 2: sum 7 = 5 + 3 - 1, largest 3 = floor(5/3) + 2 (5 mod 3 = 2 > gcd 1)
    assert (adaptive_window_sum(5, 3), adaptive_max_window(5, 3)) == (7, 3)
    # 6 -> 4: [0,2), [1,3), [3,5), [4,6) -> 2 each: 6 + 4 - gcd 2 = 8; 6 mod 4 = 2 is not > gcd 2
    assert (adaptive_window_sum(6, 4), adaptive_max_window(6, 4)) == (8, 2)


HUGE = [
    {"type": "deconv", "filters": 1, "kernel": 10**9},
    {"type": "deconv", "filters": 1, "kernel": 10**9, "stride": 7, "dilation": 3, "padding": 12345},
    {"type": "adaptiveavgpool", "output": 10**9},
    {"type": "adaptivemaxpool", "output": 999_999_937},
]


def test_sizes_at_the_limit_finish(tmp_path):
    # issue 15: these never finished (deconv) or ran past 120 s and 3.7 GB
    # (adaptive); closed forms make them O(1). A generous bound ("finishes"),
    # not a timing assertion.
    code = (
        "import json, sys\n"
        "from cnnsize.engine.analysis import analyze\n"
        "from cnnsize.engine.load import parse\n"
        "out = []\n"
        "for layer in json.loads(sys.argv[1]):\n"
        "    a = analyze(parse({'cnnsize': 1, 'name': 't', 'input': [1, 10**9], 'layers': [layer]}))\n"
        "    r = a.layers[0]\n"
        "    out.append([list(r.output_shape), r.connections, r.flops])\n"
        "print(json.dumps(out))\n"
    )
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    run = subprocess.run(
        [sys.executable, "-c", code, json.dumps(HUGE)], capture_output=True, text=True, timeout=10, env=env, cwd=ROOT
    )
    assert run.returncode == 0, run.stderr
    (d1, d2, aap, amp) = json.loads(run.stdout)
    n = k = 10**9
    # stride 1, no padding: output (n - 1) + k; every one of the n * k (input, tap) pairs lands
    assert d1[0] == [1, (n - 1) + k]
    assert d1[1] == n * k + d1[0][1]  # taps + one bias per output
    # 10^9 -> 10^9 outputs: each window one element, sum n + o - gcd = 10^9
    assert aap[0] == [1, 10**9] and aap[1] == 10**9
    o = 999_999_937  # a prime: gcd(10^9, o) = 1
    assert amp[0] == [1, o] and amp[1] == n + o - 1
    out2 = (n - 1) * 7 - 2 * 12345 + 3 * (k - 1) + 1
    assert d2[0] == [1, out2]
    assert d2[1] == loop_free_taps(n, out2, k, 7, 3, 12345) + out2


def loop_free_taps(n, o, k, s, d, pb):
    # the same count by inclusion-exclusion on the pairs that fall outside
    # [pb, pb + o): those below pb, then those at or past pb + o
    return (
        n * k - transposed_taps(n, pb, k, s, d, 0) - transposed_taps(n, (n - 1) * s + (k - 1) * d + 1, k, s, d, pb + o)
    )


def test_memos_obey_the_fast_path_switch():
    spec = {"cnnsize": 1, "name": "t", "input": [3, 32, 32], "layers": [{"type": "conv", "filters": 4, "kernel": 3}]}
    before = fastpath.set_enabled(False)
    try:
        analyze(parse(spec))
        assert not geometry._WINDOWS and not geometry._RF_WINDOW  # nothing remembered
        fastpath.set_enabled(True)
        analyze(parse(spec))
        assert geometry._WINDOWS  # remembered with the switch on
        fastpath.clear_memos()  # registered: the one clear empties these memos too
        assert not geometry._WINDOWS and not geometry._RF_WINDOW and not geometry._RF_MERGE
    finally:
        fastpath.set_enabled(before)


def brute_span(k, s, d):
    """Largest distance (in input positions) between two inputs feeding one output."""
    span = 0
    for r in range(s):
        taps = [t for t in range(k) if (t * d) % s == r]
        if taps:
            span = max(span, (taps[-1] - taps[0]) * d // s)
    return span


def test_transposed_closed_forms_match_enumeration():
    rng = random.Random(7)
    for _ in range(2000):
        n, k, s, d, pb = rng.randint(1, 12), rng.randint(1, 12), rng.randint(1, 5), rng.randint(1, 4), rng.randint(0, 6)
        o = max(1, (n - 1) * s - 2 * pb + d * (k - 1) + 1)
        assert transposed_taps(n, o, k, s, d, pb) == brute_taps(n, o, k, s, d, pb)
        w = Window((), (k,), (s,), (d,), ((pb, pb),))
        assert rf_transposed((AxisRF(1, 1, 0),), w)[0].size - 1 == brute_span(k, s, d)


def test_huge_transposed_kernel_is_cheap():
    # a 10^8-tap kernel on a 2-element input: connections = 2 * 10^8 pairs, all landing
    a = analyze(
        parse(
            {"cnnsize": 1, "name": "t", "input": [1, 2], "layers": [{"type": "deconv", "filters": 1, "kernel": 10**8}]}
        )
    )
    layer = a.layers[0]
    assert layer.output_shape == (1, (2 - 1) * 1 + 10**8)
    assert layer.connections == 2 * 10**8 + layer.units  # taps + one bias per output


def test_activation_must_be_a_name():
    doc = {
        "cnnsize": 1,
        "name": "t",
        "input": [3, 8, 8],
        "layers": [{"type": "conv", "filters": 4, "kernel": 3, "activation": ["relu"]}],
    }
    try:
        analyze(parse(doc))
    except SpecError as exc:
        assert [d.code for d in exc.diagnostics] == ["bad-type"]
    else:
        raise AssertionError("a list activation was accepted")


def _rf_of(layers, input_shape):
    a = analyze(parse({"cnnsize": 1, "name": "t", "input": input_shape, "layers": layers}))
    return {r.name: r for r in a.layers}


def test_field_after_a_whole_input_layer_stays_the_whole_input():
    # layernorm makes every unit see all 8x8 pixels; a 3x3 conv and a global
    # pool after it cannot see more than the 8x8 input (unpadded).
    rows = _rf_of(
        [
            {"name": "ln", "type": "layernorm"},
            {"name": "c", "type": "conv", "filters": 1, "kernel": 3},
            {"name": "g", "type": "globalavgpool"},
        ],
        [1, 8, 8],
    )
    assert [a.size for a in rows["c"].rf] == [8, 8]
    assert [a.size for a in rows["g"].rf] == [8, 8]
    assert [a.jump for a in rows["ln"].rf] == [0, 0]


def test_upsampled_global_unit_still_sees_only_the_input():
    rows = _rf_of(
        [
            {"name": "g", "type": "globalavgpool"},
            {"name": "up", "type": "upsample", "scale": 3},
            {"name": "f", "type": "flatten"},
        ],
        [1, 3, 3],
    )
    assert [a.size for a in rows["f"].rf] == [3, 3]
