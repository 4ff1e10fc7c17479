"""Hand arithmetic for the golden cases (tests/cases/*/expected.json).

test_golden.py pins the tool's output to expected.json; this file checks that
expected.json is *right*, figure by figure, from the definitions in
docs/spec.md and design.md section 5, each written as the arithmetic that
derives it. It reads only the JSON files, never runs cnnsize.
"""

from __future__ import annotations

import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
F32 = 4


def load(name):
    path = os.path.join(ROOT, "tests", "cases", name, "expected.json")
    if not os.path.exists(path):
        pytest.skip(f"{path} not generated")
    with open(path, encoding="utf-8") as fh:
        report = json.load(fh)
    rows = {lay["name"]: lay for lay in report["layers"]}
    return report, rows


def test_convs():
    rep, r = load("convs")  # input 4x12x12
    g = r["grouped"]  # 8 filters, 3x3, stride 2, same, groups 2
    assert g["output_shape"] == [8, -(-12 // 2), -(-12 // 2)]
    assert g["weights"] == 8 * 3 * 3 * (4 // 2) and g["biases"] == 8
    assert g["macs"] == 8 * 6 * 6 * (3 * 3 * 2)
    assert g["connections"] == g["macs"] + 8 * 6 * 6
    assert g["flops"] == 2 * g["macs"] + 8 * 6 * 6
    d = r["dilated"]  # 6 filters, kernel [3, 2], dilation [2, 1], valid, no bias; input 8x6x6
    assert d["output_shape"] == [6, 6 - (2 * (3 - 1) + 1) + 1, 6 - 2 + 1]
    assert d["weights"] == 6 * 8 * 3 * 2 and d["biases"] == 0
    assert d["macs"] == 6 * 2 * 5 * (8 * 3 * 2) and d["flops"] == 2 * d["macs"]
    assert d["receptive_field"] == [3 + (5 - 1) * 2, 3 + (2 - 1) * 2]  # grouped's field 3, jump 2
    p = r["pairs"]  # 6 filters 3x3, padding [[1, 2], [0, 1]], untied bias, relu; input 6x2x5
    assert p["output_shape"] == [6, 2 + 1 + 2 - 3 + 1, 5 + 0 + 1 - 3 + 1]
    assert p["weights"] == 6 * 6 * 9 and p["biases"] == 6 * 3 * 4  # one bias per output unit
    assert p["flops"] == 2 * (72 * 54) + 72 + 72  # MACs, bias adds, relu
    t = r["table"]  # 1x1 conv, rows [[0, 1], [2, 3, 4], [5]]
    assert t["weights"] == 2 + 3 + 1 and t["biases"] == 3
    assert t["macs"] == 3 * 4 * (2 + 3 + 1) and t["connections"] == t["macs"] + 3 * 3 * 4
    w = r["dw"]  # depthwise 3x3, multiplier 2, padding 1, relu6; input 3x3x4
    assert w["output_shape"] == [3 * 2, 3, 4]
    assert w["weights"] == 3 * 2 * 9 and w["macs"] == 6 * 3 * 4 * 9
    assert w["flops"] == 2 * w["macs"] + 72 + 2 * 72  # relu6: 2 FLOPs per element
    s = r["sep"]  # separable: dw 3x3 stride 2 padding 1 on 6x3x4, then 1x1 to 5
    assert s["output_shape"] == [5, (3 + 2 - 3) // 2 + 1, (4 + 2 - 3) // 2 + 1]
    assert s["weights"] == 6 * 9 + 6 * 5 and s["biases"] == 6 + 5
    assert s["macs"] == 6 * 2 * 2 * 9 + 5 * 2 * 2 * 6
    u = r["up"]  # deconv 2 filters, 4x4, stride 2, padding 1, output_padding 1; input 5x2x2
    assert u["output_shape"] == [2, (2 - 1) * 2 - 2 + 4 + 1, (2 - 1) * 2 - 2 + 4 + 1]
    assert u["weights"] == 5 * 2 * 16 and u["biases"] == 2
    assert u["macs"] == 2 * 2 * 5 * 2 * 16  # from the input side: every input meets every tap
    # taps that land inside the 5 outputs per axis: input 0 loses tap 0 (at -1), input 1 keeps 4
    assert u["connections"] == (3 + 4) ** 2 * 5 * 2 + 2 * 5 * 5
    assert rep["totals"]["params"] == 152 + 288 + 396 + 9 + 60 + 95 + 162
    # peak: the input (4*12*12) and grouped's output alive together
    assert rep["totals"]["peak_activation_bytes"] == (4 * 144 + 288) * F32
    saved = (4 * 144 + rep["totals"]["units"]) * F32
    assert rep["totals"]["training_bytes"] == saved + 2 * 1162 * F32 + 2 * 1162 * F32  # + grads + Adam's 2 moments


def test_pools():
    rep, r = load("pools")  # input 2x11x11
    mp = r["mp"]  # 3x3 stride 2 padding 1 ceil_mode
    assert mp["output_shape"] == [2, -(-(11 + 2 - 3) // 2) + 1, 6]
    assert mp["connections"] == 2 * 36 * 9 and mp["flops"] == 2 * 36 * (9 - 1)  # comparisons
    dmp = r["dmp"]  # 2x2 dilation 2 stride 1: effective window 3
    assert dmp["output_shape"] == [2, 6 - 3 + 1, 4] and dmp["flops"] == 32 * 3
    ap = r["ap"]  # 2x2 stride 1 padding 1
    assert ap["output_shape"] == [2, 4 + 2 - 2 + 1, 5] and ap["flops"] == 50 * 4  # 3 adds + 1 divide
    lp = r["lp"]  # 2x2 L2 pool (stride = kernel)
    assert lp["output_shape"] == [2, (5 - 2) // 2 + 1, 2] and lp["flops"] == 8 * 2 * 4
    sub = r["sub"]  # LeCun subsampling 1x1 + sigmoid: 1 coefficient + 1 bias per map
    assert (sub["weights"], sub["biases"]) == (2, 2)
    assert sub["connections"] == 8 * (1 + 1) and sub["flops"] == 8 + 8 + 4 * 8  # scale, bias, sigmoid
    assert r["gmax"]["output_shape"] == [2, 1, 1] and r["gmax"]["flops"] == 2 * (2 * 2 - 1)
    assert r["gavg"]["connections"] == 2 * 5 * 5 and r["gavg"]["flops"] == 2 * 25
    aavg = r["aavg"]  # adaptive 6x6 -> 3x2: windows 2x3, each input in one window
    assert aavg["output_shape"] == [2, 3, 2] and aavg["connections"] == 2 * 6 * 6
    amax = r["amax"]  # adaptive 3x2 -> 2x2: axis 0 windows [0,2) and [1,3)
    assert amax["connections"] == 2 * (2 + 2) * (1 + 1) and amax["flops"] == 16 - 8
    assert rep["totals"]["params"] == 4
    assert rep["totals"]["peak_activation_bytes"] == (2 * 121 + 72) * F32


def test_norms():
    rep, r = load("norms")  # input 6x5x5: 150 units
    assert (r["bn"]["params"], r["bn"]["buffers"], r["bn"]["flops"]) == (
        2 * 6,
        2 * 6,
        2 * 150 + 150,
    )  # scale+shift, relu
    assert (r["bn_plain"]["params"], r["bn_plain"]["flops"]) == (0, 2 * 150)
    assert (r["ln"]["params"], r["ln"]["flops"]) == (2 * 150, 7 * 150)
    assert r["ln"]["connections"] == 150 * 150
    assert (r["gn"]["params"], r["gn"]["connections"]) == (2 * 6, 150 * (150 // 3))
    assert r["lrn"]["flops"] == 150 * (2 * 3 + 3) and r["lrn"]["connections"] == 150 * 3
    assert (r["drop"]["flops"], r["drop"]["connections"]) == (0, 0)
    assert rep["totals"]["params"] == 12 + 300 + 12
    # buffers (running mean and variance of both batchnorms) count in training memory
    assert rep["totals"]["training_bytes"] == (150 + 900) * F32 + 4 * 324 * F32 + 24 * F32


def test_activations():
    rep, r = load("activations")  # input 4x3x3: 36 units
    per_element = {
        "relu_1": 1,
        "relu6_1": 2,
        "leakyrelu_1": 2,
        "elu_1": 3,
        "sigmoid_1": 4,
        "tanh_1": 5,
        "gelu_1": 8,
        "silu_1": 5,
        "silu_2": 5,
        "hardswish_1": 5,
        "hardsigmoid_1": 3,
        "softplus_1": 3,
        "softmax_1": 3,
        "logsoftmax_1": 3,
        "identity_1": 0,
    }
    assert set(per_element) == set(r)
    for name, cost in per_element.items():
        assert r[name]["flops"] == 36 * cost, name
        assert r[name]["params"] == 0
    assert r["silu_2"]["type"] == "silu"  # written as swish
    assert r["softmax_1"]["connections"] == 36 * 4  # each output reads every channel at its position
    assert rep["totals"]["flops"] == 36 * (1 + 2 + 2 + 3 + 4 + 5 + 8 + 5 + 5 + 5 + 3 + 3 + 3 + 3)


def test_merges():
    rep, r = load("merges")  # input 8x6x6
    assert r["sum"]["flops"] == 288 + 288  # one add per element, relu
    assert r["cat"]["output_shape"] == [8 + 8, 6, 6] and r["cat"]["flops"] == 0
    assert r["squeeze"]["output_shape"] == [16, 1, 1]
    assert r["reduce"]["params"] == 16 * 4 + 4 and r["expand"]["params"] == 4 * 16 + 16
    assert r["expand"]["flops"] == 2 * 64 + 16 + 4 * 16  # MACs, bias, sigmoid
    ex = r["excite"]  # [16,6,6] x [16,1,1] broadcast
    assert ex["output_shape"] == [16, 6, 6] and ex["flops"] == 16 * 36 and ex["connections"] == 2 * 16 * 36
    assert r["three"]["flops"] == 2 * 576 and r["three"]["connections"] == 3 * 576
    assert r["rows"]["output_shape"] == [16, 6 + 6, 6]
    # rows 6..11 come from cat's rows 0..5: no start + index x jump fits both halves
    assert r["rows"]["receptive_field"] is None and r["three"]["receptive_field"] == [8, 8]
    assert rep["totals"]["params"] == (8 * 8 * 9 + 8) + (8 * 8 + 8) + 68 + 80
    # liveness walk (bytes/4): input 288; a, b, sum -> peak 4 x 288 = 1152 while sum runs;
    # ... excite 576 with cat 576 alive; three 576; rows 1152 with three and cat alive;
    # excite is read twice by three but dies after it (one consumer)
    assert rep["totals"]["peak_activation_bytes"] == (1152 + 576 + 576) * F32
    assert rep["totals"]["depth"] == 3  # a, reduce, expand on the longest path
    assert rep["totals"]["weight_layers"] == 4


def test_shape_ops():
    rep, r = load("shape_ops")  # input 3x4x5
    assert r["padded"]["output_shape"] == [3, 4 + 1 + 2, 5 + 0 + 3] and r["padded"]["flops"] == 0
    assert r["near"]["output_shape"] == [3, 14, 16] and r["near"]["flops"] == 0
    bil = r["bil"]
    assert bil["units"] == 3 * 10 * 12 and bil["flops"] == 360 * (2 * 4 - 1) and bil["connections"] == 360 * 4
    assert r["flat"]["output_shape"] == [360]
    assert r["back"]["output_shape"] == [360 // (6 * 4), 6, 4]
    fc1 = r["fc1"]
    assert (fc1["weights"], fc1["biases"], fc1["flops"]) == (360 * 7, 7, 2 * 2520 + 7 + 5 * 7)
    assert (r["fc2"]["params"], r["fc2"]["flops"]) == (7 * 5, 2 * 35)
    out = r["out"]  # RBF: fixed codes are buffers; (x - w)^2 summed: a subtraction and a MAC per term
    assert (out["params"], out["buffers"], out["macs"], out["flops"]) == (0, 3 * 5, 15, 2 * 15 + 15)
    assert rep["totals"]["units"] == 168 + 672 + 360 + 360 + 360 + 7 + 5 + 3


def test_blocks():
    rep, r = load("blocks")  # input 4x8x8; width 8; defaults bias false
    assert [lay["name"] for lay in rep["layers"]] == [
        "stem",
        "stage.0.c1",
        "stage.0.b1",
        "stage.0.c2",
        "stage.0.b2",
        "stage.0.proj",
        "stage.0.sum",
        "stage.1.c1",
        "stage.1.b1",
        "stage.1.c2",
        "stage.1.b2",
        "stage.1.sum",
        "pool",
        "head",
    ]  # proj only where down (i == 0)
    assert r["stem"]["params"] == 4 * 8 * 9 + 8  # bias: true overrides the default
    assert r["stage.0.c1"]["output_shape"] == [16, 4, 4] and r["stage.0.c1"]["params"] == 8 * 16 * 9
    assert r["stage.0.proj"]["inputs"] == ["stem"] and r["stage.0.proj"]["params"] == 8 * 16
    assert r["stage.0.sum"]["inputs"] == ["stage.0.b2", "stage.0.proj"]
    assert r["stage.1.sum"]["inputs"] == ["stage.1.b2", "stage.0.sum"]
    assert r["head"]["params"] == 16 * 10  # default bias false applies to fc too
    assert rep["totals"]["params"] == 296 + 3 * (16 * 16 * 9) + 8 * 16 * 9 + 4 * 32 + 128 + 160
    assert rep["totals"]["depth"] == 6  # stem, 2 x (c1, c2), head: proj is a shortcut
    assert rep["totals"]["weight_layers"] == 7


def test_blocks_torch_fp16():
    rep, r = load("blocks_torch_fp16")  # the blocks case, torch convention, batch 4, float16, momentum
    base, b = load("blocks")
    assert (rep["batch"], rep["dtype"], rep["convention"], rep["optimizer"]) == (4, "float16", "torch", "momentum")
    for name, lay in r.items():
        assert lay["flops"] == 2 * b[name]["macs"] if b[name]["type"] in ("conv", "fc") else lay["flops"] == 0
        assert lay["activation_bytes"] == b[name]["units"] * 4 * 2
        assert lay["param_bytes"] == b[name]["params"] * 2
    t = rep["totals"]
    assert (
        t["training_bytes"] == (256 + 3354) * 4 * 2 + 2 * 8776 * 2 + 8776 * 2 + 4 * (2 * 16) * 2
    )  # saved, params+grads, momentum, 4 bn x (mean, var) buffers
    # peak: stem's output (kept for proj) + c1 + b1, 8x8x8 + 2 x 16x4x4 values, batch 4, 2 bytes
    assert t["peak_activation_bytes"] == (512 + 256 + 256) * 4 * 2


def test_inputs_1d():
    rep, r = load("inputs_1d")  # input 2x32
    assert r["c1"]["output_shape"] == [4, (32 + 4 - 5) // 2 + 1]
    assert r["c1"]["flops"] == 2 * (64 * 2 * 5) + 64 + 64
    assert r["p1"]["output_shape"] == [4, -(-(16 - 3) // 2) + 1]
    assert r["up"]["output_shape"] == [4, 24] and r["up"]["flops"] == 96 * (2 * 2 - 1)
    assert r["t1"]["output_shape"] == [2, (24 - 1) * 2 + 3]
    assert r["t1"]["macs"] == 24 * 4 * 2 * 3 and r["t1"]["connections"] == 24 * 3 * 4 * 2 + 98
    assert r["head"]["weights"] == 2 * 49 * 3


def test_inputs_3d():
    rep, r = load("inputs_3d")  # input 1x8x10x10
    assert r["c1"]["output_shape"] == [4, 8, 10, 10] and r["c1"]["macs"] == 4 * 800 * 27
    assert r["p1"]["output_shape"] == [4, 4, 5, 5] and r["p1"]["flops"] == 400 * (8 - 1)
    assert r["c2"]["output_shape"] == [6, 4, (5 + 2 - 3) // 2 + 1, 3] and r["c2"]["weights"] == 6 * 9 * (4 // 2)
    assert r["t1"]["output_shape"] == [2, 8, 6, 6] and r["t1"]["macs"] == (4 * 3 * 3) * 6 * 2 * 8
    assert r["up"]["output_shape"] == [2, 8, 12, 12] and r["up"]["flops"] == 2304 * (2 * 8 - 1)
    assert r["ap"]["output_shape"] == [2, 2, 3, 3] and r["ap"]["connections"] == 2 * 8 * 12 * 12
    assert rep["totals"]["params"] == 112 + 114 + 98


def test_lenet5_reference():
    rep, r = load("lenet5")  # specs/lenet5.yaml, LeCun 1998
    assert r["C1"]["connections"] == 6 * 28 * 28 * (5 * 5 + 1)
    assert r["S2"]["connections"] == 6 * 14 * 14 * (2 * 2 + 1) and r["S2"]["params"] == 6 + 6
    # Table I: 6 maps read 3 S2 maps, 9 read 4, 1 reads all 6
    assert r["C3"]["weights"] == 5 * 5 * (6 * 3 + 9 * 4 + 1 * 6) and r["C3"]["biases"] == 16
    assert r["C3"]["connections"] == 10 * 10 * (1500 + 16)  # each position: every weight, plus 16 biases
    assert r["C5"]["output_shape"] == [120, 1, 1] and r["C5"]["params"] == 16 * 25 * 120 + 120
    assert r["output"]["connections"] == 84 * 10 and r["output"]["params"] == 0
    assert rep["totals"]["connections"] == 122_304 + 5_880 + 151_600 + 2_000 + 48_120 + 10_164 + 840


def test_alexnet_reference_torchvision_convention():
    rep, r = load("alexnet")  # specs/alexnet.yaml (two GPUs) under --convention torchvision
    assert rep["convention"] == "torchvision"
    assert r["conv1"]["macs"] == 96 * 55 * 55 * (3 * 11 * 11)
    assert r["conv2"]["macs"] == 256 * 27 * 27 * (96 // 2 * 5 * 5)  # groups=2
    assert r["conv3"]["macs"] == 384 * 13 * 13 * (256 * 3 * 3)
    assert r["conv4"]["macs"] == 384 * 13 * 13 * (384 // 2 * 3 * 3)
    assert r["conv5"]["macs"] == 256 * 13 * 13 * (384 // 2 * 3 * 3)
    assert [r[n]["macs"] for n in ("fc6", "fc7", "fc8")] == [256 * 6 * 6 * 4096, 4096 * 4096, 4096 * 1000]
    for lay in rep["layers"]:
        # torchvision counts conv + fc multiply-accumulates only; FLOPs = 2 x MACs
        assert lay["flops"] == 2 * lay["macs"]
        assert lay["macs"] == 0 or lay["type"] in ("conv", "fc")
    assert (
        rep["totals"]["macs"]
        == 105_415_200 + 223_948_800 + 149_520_384 + 112_140_288 + 74_760_192 + 37_748_736 + 16_777_216 + 4_096_000
    )


def test_pixel_shuffle():
    rep, r = load("pixel_shuffle")  # input 8x5x6; conv 3x3 pad 1 keeps 5x6
    conv = r["conv"]
    assert (conv["weights"], conv["biases"]) == (12 * 3 * 3 * 8, 12)
    assert conv["flops"] == 2 * (5 * 6) * (12 * 3 * 3 * 8) + 12 * 5 * 6
    up = r["up"]  # C*r^2 x H x W -> C x rH x rW with r = 2: 12 / 2^2 = 3 maps of 10 x 12
    assert up["output_shape"] == [12 // 2**2, 5 * 2, 6 * 2]
    assert (up["params"], up["macs"], up["flops"], up["connections"]) == (0, 0, 0, 0)
    # output position Y reads input position floor(Y / 2): the field of its source, neighbours 1/2 apart
    assert (up["receptive_field"], up["jump"], up["start"]) == ([3, 3], [0.5, 0.5], [0.0, 0.0])
    fuse = r["fuse"]  # 3 x 3 taps over positions 1/2 apart: 3 + (3 - 1) x 1/2 input pixels
    assert fuse["params"] == 4 * 3 * 3 * 3 + 4
    assert fuse["flops"] == 2 * (10 * 12) * (4 * 3 * 3 * 3) + 4 * 10 * 12
    assert fuse["receptive_field"] == [3 + (3 - 1) // 2, 3 + (3 - 1) // 2]
    up3 = r["up3"]  # the alias; r applied again: jump 1/2 / 2
    assert up3["type"] == "pixel_shuffle" and up3["output_shape"] == [4 // 4, 20, 24] and up3["jump"] == [0.25, 0.25]
    assert rep["totals"]["units"] == 12 * 30 + 3 * 120 + 4 * 120 + 1 * 480


def test_channel_shuffle():
    rep, r = load("channel_shuffle")  # input 12x8x8: a ShuffleNet unit with 3 groups
    g1 = r["gconv1"]  # 1x1, 12 -> 6 maps in 3 groups: 6 x 12/3 weights
    assert (g1["weights"], g1["biases"]) == (6 * (12 // 3), 6)
    assert g1["flops"] == 2 * 64 * (6 * 4) + 6 * 64 + 6 * 64  # MACs, bias, fused relu
    shuffle = r["shuffle"]  # a permutation of the channels: nothing changes size, nothing is computed
    assert shuffle["output_shape"] == [6, 8, 8]
    assert (shuffle["params"], shuffle["macs"], shuffle["flops"], shuffle["connections"]) == (0, 0, 0, 0)
    assert (shuffle["receptive_field"], shuffle["jump"]) == (g1["receptive_field"], g1["jump"])
    assert r["dw"]["params"] == 6 * 3 * 3 + 6
    assert r["gconv2"]["params"] == 12 * (6 // 3) + 12
    assert r["sum"]["flops"] == 12 * 64 + 12 * 64  # one add and one relu per element
    again = r["again"]  # the alias
    assert again["type"] == "channel_shuffle" and again["flops"] == 0 and again["receptive_field"] == [3, 3]
    assert rep["totals"]["params"] == 30 + 60 + 36
    assert rep["totals"]["units"] == (6 + 6 + 6 + 12 + 12 + 12) * 64
