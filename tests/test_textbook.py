"""The textbook tables, reproduced exactly by `cnnsize report SPEC --format json`.

Every number below is a published figure; the comment next to it names where
it was published (shared/references.md collects them, with the conventions
each assumes). Where a published figure does not add up, the test says so
and asserts the figure that does, never a bent rule.
"""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from cnnsize.commands.cli import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def report(spec, *args):
    path = os.path.join("specs", spec)
    if not os.path.exists(os.path.join(ROOT, path)):
        pytest.skip(f"{path} does not exist yet (written on the specs branch)")
    old = os.getcwd()
    os.chdir(ROOT)
    try:
        result = CliRunner().invoke(cli, ["report", path, "--format", "json", *args])
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    rep = json.loads(result.stdout)
    return rep, {lay["name"]: lay for lay in rep["layers"]}


def column(rows, names, key):
    return [rows[n][key] for n in names]


# --- LeNet-5, the lecture's table ---------------------------------------------------

LECTURE = ["C1", "S2", "C3", "S4", "F5", "F6", "output"]


def test_lenet5_lecture_table():
    # Zemel, COMS 4995 Lecture 5, "Sizes of layers in LeNet" (shared/seeds/000_e7d6f887907fec3f.txt):
    # weights exclude biases, connections = units x fan-in, C3 reads all six S2 maps, input 32x32x1.
    rep, r = report("lenet5_lecture.yaml")
    assert [lay["name"] for lay in rep["layers"]] == LECTURE
    assert column(r, LECTURE, "units") == [4_704, 1_176, 1_600, 400, 120, 84, 10]
    assert column(r, LECTURE, "connections") == [117_600, 4_704, 240_000, 1_600, 48_000, 10_080, 840]
    assert column(r, LECTURE, "weights") == [150, 0, 2_400, 0, 48_000, 10_080, 840]
    assert column(r, LECTURE, "biases") == [0] * 7
    assert rep["input"] == [1, 32, 32]


# --- LeNet-5, the paper -------------------------------------------------------------

PAPER = ["C1", "S2", "C3", "S4", "C5", "F6", "output"]


def test_lenet5_paper():
    # LeCun, Bottou, Bengio, Haffner 1998, Proc. IEEE 86(11), section II.B:
    # trainable parameters and connections per layer; the output is 10 RBF units with fixed weights.
    rep, r = report("lenet5.yaml")
    assert [lay["name"] for lay in rep["layers"]] == PAPER
    assert column(r, PAPER, "params") == [156, 12, 1_516, 32, 48_120, 10_164, 0]
    assert column(r, PAPER, "connections") == [122_304, 5_880, 151_600, 2_000, 48_120, 10_164, 840]
    assert rep["totals"]["connections"] == 340_908  # section II.B: "340,908 connections"
    assert r["output"]["type"] == "rbf" and r["output"]["buffers"] == 84 * 10  # fixed codes: not trainable
    # "about 60,000 trainable parameters" (section II.B): the rows sum to exactly that
    assert rep["totals"]["params"] == 156 + 12 + 1_516 + 32 + 48_120 + 10_164 == 60_000


# --- LeNet 1989 ---------------------------------------------------------------------


def test_lenet1989():
    # LeCun et al. 1989, Neural Computation 1(4), section 5: "1,256 units, 64,660 connections,
    # and 9,760 independent parameters"; the 1,256 units include the 16x16 = 256 inputs.
    rep, r = report("lenet1989.yaml")
    assert rep["totals"]["connections"] == 64_660
    assert rep["totals"]["params"] == 9_760
    assert rep["totals"]["units"] == 1_256 - 16 * 16 == 1_000
    assert rep["totals"]["input_units"] == 16 * 16
    assert column(r, ["H1", "H2", "H3", "output"], "output_shape") == [[12, 8, 8], [12, 4, 4], [30], [10]]


# --- AlexNet ------------------------------------------------------------------------

ONETOWER = [
    "Conv-1",
    "MaxPool-1",
    "Conv-2",
    "MaxPool-2",
    "Conv-3",
    "Conv-4",
    "Conv-5",
    "MaxPool-3",
    "FC-1",
    "FC-2",
    "FC-3",
]


def test_alexnet_onetower_seed003():
    # shared/seeds/003_2732c06a549c5bf0.txt: AlexNet without groups, 227x227x3, biases counted.
    rep, r = report("alexnet_onetower.yaml")
    assert [lay["name"] for lay in rep["layers"] if lay["type"] in ("conv", "maxpool", "fc")] == ONETOWER
    # tensor column, written HxWxC in the seed
    hwc = [
        (55, 55, 96),
        (27, 27, 96),
        (27, 27, 256),
        (13, 13, 256),
        (13, 13, 384),
        (13, 13, 384),
        (13, 13, 256),
        (6, 6, 256),
    ]
    assert column(r, ONETOWER[:8], "output_shape") == [[c, h, w] for h, w, c in hwc]
    assert column(r, ONETOWER[8:], "output_shape") == [[4096], [4096], [1000]]
    assert column(r, ONETOWER, "weights") == [
        34_848,
        0,
        614_400,
        0,
        884_736,
        1_327_104,
        884_736,
        0,
        37_748_736,
        16_777_216,
        4_096_000,
    ]
    assert column(r, ONETOWER, "biases") == [96, 0, 256, 0, 384, 384, 256, 0, 4_096, 4_096, 1_000]
    assert column(r, ONETOWER, "params") == [
        34_944,
        0,
        614_656,
        0,
        885_120,
        1_327_488,
        884_992,
        0,
        37_752_832,
        16_781_312,
        4_097_000,
    ]
    assert rep["totals"]["params"] == 62_378_344  # seed 003, "total"
    assert rep["input"] == [3, 227, 227]


ALEXNET_WEIGHTED = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]


def test_alexnet_two_gpu():
    # Krizhevsky, Sutskever, Hinton 2012 (two GPUs: groups=2 in conv2, conv4, conv5), 227 input, biases
    # counted; per-layer parameters as in shared/references.md ("AlexNet two-GPU").
    rep, r = report("alexnet.yaml")
    weighted = [lay["name"] for lay in rep["layers"] if lay["type"] in ("conv", "fc")]
    assert weighted == ALEXNET_WEIGHTED
    assert column(r, ALEXNET_WEIGHTED, "params") == [
        34_944,
        307_456,
        885_120,
        663_936,
        442_624,
        37_752_832,
        16_781_312,
        4_097_000,
    ]
    assert rep["totals"]["params"] == 60_965_224
    # issue 2: output sizes 55-27-27-13-13-13-13-6 along conv1, pool1, conv2, pool2, conv3, conv4, conv5, pool5
    spatial = [lay["output_shape"][1] for lay in rep["layers"] if lay["type"] in ("conv", "maxpool")]
    assert spatial == [55, 27, 27, 13, 13, 13, 13, 6]
    # the paper's caption: neurons 253,440-186,624-64,896-64,896-43,264-4096-4096-1000. Every figure
    # but the first is the layer's output size; the first does not add up: conv1 has 96 x 55 x 55.
    units = column(r, ALEXNET_WEIGHTED, "units")
    assert units[1:] == [186_624, 64_896, 64_896, 43_264, 4_096, 4_096, 1_000]
    assert units[0] == 96 * 55 * 55 == 290_400 != 253_440
    # shared/references.md: 724M (seed 004) equals the two-GPU net's conv+fc MACs at 227, bias excluded
    tv, _ = report("alexnet.yaml", "--convention", "torchvision")
    assert round(tv["totals"]["macs"], -6) == 724_000_000


def test_alexnet_torchvision():
    # torchvision.models.alexnet (weights meta): 61,100,840 params, 0.714 "GFLOPS" = conv+fc MACs;
    # exact MACs 714,188,480 at 224 (shared/references.md).
    rep, _ = report("alexnet_torchvision.yaml")
    assert rep["input"] == [3, 224, 224]
    assert rep["totals"]["params"] == 61_100_840
    assert rep["totals"]["macs"] == 714_188_480
    tv, _ = report("alexnet_torchvision.yaml", "--convention", "torchvision")
    assert tv["totals"]["macs"] == 714_188_480
    assert tv["totals"]["flops"] == 2 * 714_188_480


# --- VGG-16 -------------------------------------------------------------------------

# CS231n notes (VGG-16 at 224, shared/references.md): activations per layer, input first, then every
# conv, pool and fc layer; weights (no biases) of every conv and fc layer.
CS231N_ACTIVATIONS = (
    [150_528]
    + [3_211_264] * 2
    + [802_816]
    + [1_605_632] * 2
    + [401_408]
    + [802_816] * 3
    + [200_704]
    + [401_408] * 3
    + [100_352]
    + [100_352] * 3
    + [25_088]
    + [4_096, 4_096, 1_000]
)
CS231N_WEIGHTS = (
    [1_728, 36_864, 73_728, 147_456, 294_912, 589_824, 589_824, 1_179_648]
    + [2_359_296] * 5
    + [102_760_448, 16_777_216, 4_096_000]
)


def test_vgg16_cs231n():
    rep, _ = report("vgg16.yaml")
    rows = [lay for lay in rep["layers"] if lay["type"] in ("conv", "maxpool", "fc")]
    assert [rep["totals"]["input_units"]] + [lay["units"] for lay in rows] == CS231N_ACTIVATIONS
    assert [lay["weights"] for lay in rows if lay["type"] != "maxpool"] == CS231N_WEIGHTS
    # torchvision.models.vgg16: 138,357,544 params; 15,470,264,320 conv+fc MACs (shared/references.md)
    assert rep["totals"]["params"] == 138_357_544
    assert rep["totals"]["macs"] == 15_470_264_320
    # the notes print "24M activations, ~93 MB" (forward); the rows above sum to 15,237,608
    # (x 4 bytes = 60,950,432 bytes, ~61 MB): the printed total does not match its own rows.
    assert sum(CS231N_ACTIVATIONS) == 15_237_608
    assert sum(CS231N_WEIGHTS) == 138_344_128 == rep["totals"]["weights"]
