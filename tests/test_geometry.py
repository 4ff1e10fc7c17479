"""The closed forms in cnnsize/geometry.py against brute-force enumeration."""

import random

from cnnsize.engine.analysis import analyze
from cnnsize.engine.errors import SpecError
from cnnsize.engine.geometry import AxisRF, Window, rf_transposed, transposed_taps
from cnnsize.engine.load import parse


def brute_taps(n, o, k, s, d, pb):
    return sum(1 for i in range(n) for t in range(k) if 0 <= i * s + t * d - pb < o)


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
