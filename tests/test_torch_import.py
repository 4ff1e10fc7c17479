"""cnnsize import torch: torch.fx models to specs. Round trip
analyse(import(materialize(spec))) == analyse(spec) per layer, and the
torchvision mirrors of tests/refmodels.py import to the zoo's figures."""

import os
from collections import Counter

import pytest

torch = pytest.importorskip("torch")

from cnnsize import analyze_file  # noqa: E402
from cnnsize.engine.analysis import analyze  # noqa: E402
from cnnsize.engine.load import loads_spec  # noqa: E402
from cnnsize.torch import materialize  # noqa: E402
from cnnsize.torch.importer import ImportFailure, import_module  # noqa: E402
from tests import refmodels  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIGURES = ("output_shape", "weights", "biases", "buffers", "macs", "flops", "connections", "activation_bytes")


def spec_path(name):
    return os.path.join(ROOT, "specs", f"{name}.yaml")


def assert_same_per_layer(a, b):
    assert [r.name for r in b.layers] == [r.name for r in a.layers]
    for r, q in zip(a.layers, b.layers):
        for k in FIGURES:
            assert getattr(q, k) == getattr(r, k), (r.name, k)
    for k in ("params", "macs", "flops", "activation_bytes", "peak_activation_bytes", "connections"):
        assert b.totals[k] == a.totals[k], k


@pytest.mark.parametrize("name", ["alexnet", "vgg16", "resnet50", "mobilenet_v2", "lenet5", "lenet1989"])
def test_round_trip_materialize_import(name):
    a = analyze_file(spec_path(name))
    res = import_module(materialize(a, device="meta"), a.input_shape)
    assert res.unsupported == []
    assert_same_per_layer(a, analyze(loads_spec(res.yaml)))


def test_round_trip_every_layer_kind():
    a = analyze_file(os.path.join(ROOT, "tests", "data", "all_kinds.yaml"))
    res = import_module(materialize(a, device="meta"), a.input_shape)
    assert res.unsupported == []
    assert_same_per_layer(a, analyze(loads_spec(res.yaml)))


# torchvision mirror -> the zoo spec written by hand from the paper/torchvision
ZOO = {
    "alexnet": "alexnet_torchvision",
    "vgg16": "vgg16",
    "resnet50": "resnet50",
    "mobilenet_v2": "mobilenet_v2",
    "resnet18": "resnet18",
    "vgg16_bn": "vgg16_bn",
}


def _layer_multiset(a):
    return Counter((r.output_shape, r.weights, r.biases, r.macs, r.flops, r.connections) for r in a.layers)


@pytest.mark.parametrize("model", sorted(ZOO))
def test_torchvision_mirror_imports_to_the_zoo_spec(model):
    with torch.device("meta"):
        m = refmodels.MODELS[model]()
    res = import_module(m, refmodels.INPUTS[model])
    assert res.unsupported == []
    b = analyze(loads_spec(res.yaml))
    a = analyze_file(spec_path(ZOO[model]))
    # torchvision's published parameter counts (tests/refmodels.py PUBLISHED_PARAMS)
    assert b.totals["params"] == refmodels.PUBLISHED_PARAMS[model]
    # the same layers with the same figures, named after torch's modules instead
    assert _layer_multiset(b) == _layer_multiset(a)
    for k in ("params", "macs", "flops", "activation_bytes", "peak_activation_bytes"):
        assert b.totals[k] == a.totals[k], k


def test_resnet18_macs_match_torchvision_docs():
    with torch.device("meta"):
        m = refmodels.resnet18()
    b = analyze(loads_spec(import_module(m, (3, 224, 224)).yaml), convention="torchvision")
    # torchvision docs: ResNet18_Weights.IMAGENET1K_V1 "GFLOPS" 1.81 (conv + fc MACs)
    assert round(b.totals["macs"] / 1e9, 2) == 1.81


def test_tconv_net_transposed_conv_and_concat():
    model = refmodels.build("tconv_net")
    res = import_module(model, (3, 64, 64))
    assert res.unsupported == []
    kinds = [layer["type"] for layer in res.spec["layers"]]
    assert kinds == ["conv", "batchnorm", "deconv", "conv", "concat", "conv", "add"]
    assert res.spec["layers"][1]["activation"] == "relu"  # the ReLU folded into its only producer
    b = analyze(loads_spec(res.yaml), convention="torch")
    assert b.totals["params"] == sum(p.numel() for p in model.parameters())
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        y = model(torch.zeros(1, 3, 64, 64))
    assert b.totals["flops"] == fc.get_total_flops()
    assert b.layers[-1].output_shape == tuple(y.shape[1:])
    # and back again: materialize the imported spec, import it, same figures
    again = import_module(materialize(b, device="meta"), (3, 64, 64))
    assert_same_per_layer(analyze(loads_spec(res.yaml)), analyze(loads_spec(again.yaml)))


def test_probe_net_every_peer_kind_imports():
    model = refmodels.build("probe_net")
    res = import_module(model, (8, 32, 32))
    assert res.unsupported == []
    b = analyze(loads_spec(res.yaml), convention="torch")
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(torch.zeros(1, 8, 32, 32))
    assert b.totals["params"] == sum(p.numel() for p in model.parameters())
    assert b.totals["flops"] == fc.get_total_flops()


class Odd(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        y = self.conv(x) * 0.5  # a constant scale: no spec kind
        return torch.roll(y, 1, dims=2)  # a permutation of values: no spec kind


def test_unsupported_nodes_are_reported_not_dropped():
    res = import_module(Odd(), (3, 8, 8))
    assert len(res.unsupported) == 2
    assert "mul with a constant" in res.unsupported[0] and "roll" in res.unsupported[1]
    assert "NOT EXPRESSED" in res.yaml
    notes = [layer.get("note", "") for layer in res.spec["layers"]]
    assert sum("NOT EXPRESSED" in n for n in notes) == 2
    analyze(loads_spec(res.yaml))  # still a valid spec


def test_untraceable_model_fails_clearly():
    class Dyn(torch.nn.Module):
        def forward(self, x):
            if x.sum() > 0:  # data-dependent control flow
                return x
            return -x

    with pytest.raises(ImportFailure, match="torch.fx cannot trace"):
        import_module(Dyn(), (3, 4, 4))


def test_cli_import_writes_spec(tmp_path):
    from click.testing import CliRunner

    from cnnsize.commands.import_ import import_

    out = tmp_path / "t.yaml"
    r = CliRunner().invoke(import_, ["torch", "tests.refmodels:tconv_net", "--input", "3x64x64", "-o", str(out)])
    assert r.exit_code == 0, r.output
    a = analyze_file(str(out))
    assert a.totals["params"] == sum(p.numel() for p in refmodels.tconv_net().parameters())
    r = CliRunner().invoke(import_, ["torch", "tests.refmodels:nope"])
    assert r.exit_code == 3 and "has no attribute" in r.output


def test_repeated_modules_become_blocks_that_expand_to_the_flat_import():
    with torch.device("meta"):
        m = refmodels.resnet50()
    blocked = import_module(m, (3, 224, 224))
    flat = import_module(m, (3, 224, 224), blocks=False)
    assert "blocks:" in blocked.yaml and "blocks:" not in flat.yaml
    # ResNet-50's 16 bottlenecks: 12 without projection (one block), the first of
    # stages 2-4 with a stride-2 projection (a second block); layer1.0's stride-1
    # projection occurs once, so it stays flat
    assert blocked.yaml.count("block: Bottleneck}") + blocked.yaml.count("block: Bottleneck,") == 12
    assert blocked.yaml.count("block: Bottleneck_2") == 3
    assert "name: layer1.0.conv1" in blocked.yaml
    a, b = analyze(loads_spec(flat.yaml)), analyze(loads_spec(blocked.yaml))
    assert_same_per_layer(a, b)
    assert len(blocked.yaml.splitlines()) < len(flat.yaml.splitlines()) / 2


def test_model_that_does_not_run_on_the_input_fails_clearly():
    with torch.device("meta"):
        m = refmodels.alexnet()
    with pytest.raises(ImportFailure, match=r"does not run on input \[1, 32, 32\]: RuntimeError: Given groups=1"):
        import_module(m, (1, 32, 32))


def test_blocks_found_inside_a_wrapper_module():
    class Wrapped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = refmodels.resnet18()

        def forward(self, x):
            return self.backbone(x)

    with torch.device("meta"):
        m = Wrapped()
    res = import_module(m, (3, 224, 224))
    # ResNet-18: 8 basic blocks; the wrapper and the ResNet class occur once and are no blocks
    assert res.yaml.count("block: BasicBlock") == 8
    assert "name: backbone.layer4.1, block: BasicBlock" in res.yaml
    assert analyze(loads_spec(res.yaml)).totals["params"] == refmodels.PUBLISHED_PARAMS["resnet18"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "path", sorted(__import__("glob").glob(os.path.join(ROOT, "specs", "*.yaml"))), ids=os.path.basename
)
def test_round_trip_every_zoo_spec(path):
    a = analyze_file(path)
    res = import_module(materialize(a, device="meta"), a.input_shape)
    assert res.unsupported == []
    assert_same_per_layer(a, analyze(loads_spec(res.yaml)))


class SubPixel(torch.nn.Module):
    """ESPCN's upscaler (Shi et al. 2016): conv to C*r^2 maps, pixel shuffle; once as a module, once as F."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 12, 3, padding=1)
        self.shuffle = torch.nn.PixelShuffle(2)
        self.conv2 = torch.nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x):
        y = self.conv2(self.shuffle(self.conv(x)))
        return torch.nn.functional.pixel_shuffle(y, 2)


def test_pixel_shuffle_imports_to_the_same_numbers():
    model = SubPixel()
    res = import_module(model, (3, 7, 5))
    assert res.unsupported == []
    assert [(lay["type"], lay.get("scale")) for lay in res.spec["layers"]] == [
        ("conv", None),
        ("pixel_shuffle", 2),
        ("conv", None),
        ("pixel_shuffle", 2),
    ]
    b = analyze(loads_spec(res.yaml), convention="torch")
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        y = model(torch.zeros(1, 3, 7, 5))
    assert b.layers[-1].output_shape == tuple(y.shape[1:]) == (8 // 4, 7 * 4, 5 * 4)
    assert b.totals["params"] == sum(p.numel() for p in model.parameters())
    assert b.totals["flops"] == fc.get_total_flops()
    again = import_module(materialize(b, device="meta"), (3, 7, 5))
    assert_same_per_layer(analyze(loads_spec(res.yaml)), analyze(loads_spec(again.yaml)))


class ShuffleUnit(torch.nn.Module):
    """ShuffleNet's unit (Zhang et al. 2018, Fig. 2b), with the shuffle once as a module, once as F."""

    def __init__(self, c=12, g=3):
        super().__init__()
        self.g = g
        self.gconv1 = torch.nn.Conv2d(c, c // 2, 1, groups=g)
        self.shuffle = torch.nn.ChannelShuffle(g)
        self.dw = torch.nn.Conv2d(c // 2, c // 2, 3, padding=1, groups=c // 2)
        self.gconv2 = torch.nn.Conv2d(c // 2, c, 1, groups=g)

    def forward(self, x):
        y = self.gconv2(self.dw(self.shuffle(torch.relu(self.gconv1(x)))))
        return torch.nn.functional.channel_shuffle(torch.relu(y + x), 4)


def test_channel_shuffle_imports_to_the_same_numbers():
    model = ShuffleUnit()
    res = import_module(model, (12, 8, 8))
    assert res.unsupported == []
    kinds = [(lay["type"], lay.get("groups")) for lay in res.spec["layers"]]
    assert kinds == [
        ("conv", 3),
        ("channel_shuffle", 3),
        ("dwconv", None),
        ("conv", 3),
        ("add", None),
        ("channel_shuffle", 4),
    ]
    b = analyze(loads_spec(res.yaml), convention="torch")
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        y = model(torch.zeros(1, 12, 8, 8))
    assert b.layers[-1].output_shape == tuple(y.shape[1:]) == (12, 8, 8)
    assert b.totals["params"] == sum(p.numel() for p in model.parameters())
    assert b.totals["flops"] == fc.get_total_flops()
    again = import_module(materialize(b, device="meta"), (12, 8, 8))
    assert_same_per_layer(analyze(loads_spec(res.yaml)), analyze(loads_spec(again.yaml)))
