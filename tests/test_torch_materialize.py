"""cnnsize.torch.materialize: every spec builds, on the meta device, a module
whose per-layer output shapes and parameter counts equal the analysis."""

import glob
import os

import pytest

torch = pytest.importorskip("torch")

from cnnsize import analyze_file  # noqa: E402
from cnnsize.engine.analysis import analyze  # noqa: E402
from cnnsize.engine.kinds import RULES  # noqa: E402
from cnnsize.engine.load import loads_spec  # noqa: E402
from cnnsize.torch import materialize  # noqa: E402
from cnnsize.torch.modules import RBF, TableConv, UntiedBias  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALL_KINDS = os.path.join(ROOT, "tests", "data", "all_kinds.yaml")
SPECS = sorted(glob.glob(os.path.join(ROOT, "specs", "*.yaml")))


def run_hooked(model, x, count_flops=True):
    """Forward once; per spec layer: the output shape (per sample) and the FLOPs
    FlopCounterMode saw inside that layer."""
    from torch.utils.flop_counter import FlopCounterMode

    shapes, flops, start = {}, {}, {}
    fc = FlopCounterMode(display=False)

    def pre(n):
        def hook(m, a):
            start[n] = fc.get_total_flops()

        return hook

    def post(n):
        def hook(m, a, o):
            shapes[n] = tuple(o.shape[1:])
            flops[n] = fc.get_total_flops() - start.get(n, 0)

        return hook

    handles = []
    for name, mod in model.layer_modules():
        handles.append(mod.register_forward_pre_hook(pre(name)))
        handles.append(mod.register_forward_hook(post(name)))
    import contextlib

    with torch.no_grad(), fc if count_flops else contextlib.nullcontext():
        out = model(x)
    for h in handles:
        h.remove()
    return out, shapes, flops


def test_spec_zoo_is_present():
    # the zoo lands on main from the specs branch; this file tests every spec in it
    assert len(SPECS) >= 30


@pytest.mark.parametrize("path", SPECS + [ALL_KINDS], ids=lambda p: os.path.basename(p))
def test_meta_shapes_and_params_equal_analysis(path):
    a = analyze_file(path)
    model = materialize(a, device="meta")
    assert all(p.device.type == "meta" for p in model.parameters())
    _out, shapes, _ = run_hooked(model, torch.empty(1, *a.input_shape, device="meta"), count_flops=False)
    for r in a.layers:
        assert shapes[r.name] == r.output_shape, r.name
        assert sum(p.numel() for p in model.layer(r.name).parameters()) == r.params, r.name
    assert sum(p.numel() for p in model.parameters()) == a.totals["params"]


def test_all_kinds_fixture_covers_every_rule():
    kinds = {ld.kind for ld in analyze_file(ALL_KINDS).spec.layers}
    assert kinds == set(RULES)


def test_cpu_forward_flops_equal_flopcountermode_under_torch_convention():
    batch = 3
    a = analyze_file(ALL_KINDS, convention="torch", batch=batch)
    model = materialize(a, device="cpu")
    torch.manual_seed(0)
    outs, shapes, flops = run_hooked(model, torch.randn(batch, *a.input_shape))
    for r in a.layers:
        assert shapes[r.name] == r.output_shape, r.name
        # the analysis counts one sample; FlopCounterMode the whole batch
        assert flops[r.name] == batch * r.flops, r.name
    dw = {r.name: r.output_shape for r in a.layers}["dw"]  # 20 maps of 9 x 5, shuffled (shape kept)
    # pixel_shuffle by 2: 20 / 2^2 maps, each side twice as long
    ps = (dw[0] // 4, 2 * dw[1], 2 * dw[2])
    assert [tuple(o.shape) for o in outs] == [(batch, 7), (batch, 6, 5, 4), (batch, *ps)]
    assert all(bool(torch.isfinite(o).all()) for o in outs)


def test_lenet5_historical_layers():
    a = analyze_file(os.path.join(ROOT, "specs", "lenet5.yaml"))
    m = materialize(a)
    # C3's connection table: grouped convolutions holding exactly the table's weights
    c3 = m.layer("C3").op
    assert isinstance(c3, TableConv)
    assert sum(p.numel() for p in c3.weights) == 25 * (6 * 3 + 6 * 4 + 3 * 4 + 6)
    # S2: one coefficient and one bias per map
    assert [tuple(p.shape) for p in m.layer("S2").parameters()] == [(6,), (6,)]
    # RBF codes: a buffer of 10 x 84, no parameter
    out = m.layer("output").op
    assert isinstance(out, RBF) and tuple(out.codes.shape) == (10, 84)
    assert list(out.parameters()) == [] and "codes" in dict(out.named_buffers())


def test_table_conv_equals_masked_dense_conv():
    table = [[0, 1, 2], [1, 2, 3], [0, 4, 5], [0, 1, 2, 3], [5, 4, 3, 2, 1, 0]]
    spec = loads_spec(
        "cnnsize: 1\nname: t\ninput: [6, 9, 8]\nlayers:\n"
        f"  - {{name: c, type: conv, filters: 5, kernel: 3, padding: 1, table: {table}}}\n"
    )
    m = materialize(analyze(spec), dtype="float64")
    tc = m.layer("c").op
    dense = torch.zeros(5, 6, 3, 3, dtype=torch.float64)
    for gi, w in enumerate(tc.weights):
        rows = [j for j, r in enumerate(table) if len(r) == [3, 4, 6][gi]]
        for k, j in enumerate(rows):
            dense[j, table[j]] = w[k]
    x = torch.randn(2, 6, 9, 8, dtype=torch.float64)
    with torch.no_grad():
        ref = torch.nn.functional.conv2d(x, dense, tc.bias, padding=1)
        assert torch.allclose(m(x), ref, atol=1e-12)


def test_subsample_is_window_sum_times_coefficient_plus_bias():
    spec = loads_spec("cnnsize: 1\nname: t\ninput: [2, 4, 4]\nlayers:\n  - {name: s, type: subsample, kernel: 2}\n")
    m = materialize(analyze(spec), dtype="float64")
    with torch.no_grad():
        m.layer("s").op.weight.copy_(torch.tensor([2.0, -1.0]))
        m.layer("s").op.bias.copy_(torch.tensor([0.5, 3.0]))
        x = torch.arange(32, dtype=torch.float64).reshape(1, 2, 4, 4)
        y = m(x)
    # map 0, top-left window: (0 + 1 + 4 + 5) * 2 + 0.5; map 1: (16 + 17 + 20 + 21) * -1 + 3
    assert y[0, 0, 0, 0].item() == (0 + 1 + 4 + 5) * 2 + 0.5
    assert y[0, 1, 0, 0].item() == (16 + 17 + 20 + 21) * -1 + 3


def test_untied_bias_has_the_output_shape():
    a = analyze_file(os.path.join(ROOT, "specs", "lenet1989.yaml"))
    m = materialize(a, device="meta")
    ub = m.layer("H1").untied
    assert isinstance(ub, UntiedBias) and tuple(ub.bias.shape) == (12, 8, 8)


def test_module_names_are_safe_and_distinct():
    spec = loads_spec(
        "cnnsize: 1\nname: t\ninput: [3, 8, 8]\nlayers:\n"
        "  - {name: a.b, type: conv, filters: 2, kernel: 1}\n"
        "  - {name: a_b, type: relu}\n"
        "  - {name: forward, type: relu}\n"
        "  - {name: training, type: identity}\n"
    )
    m = materialize(analyze(spec), device="meta")
    safe = m.module_names
    assert len(set(safe.values())) == 4 and all("." not in s for s in safe.values())
    assert m.spec_names[safe["a.b"]] == "a.b"
    assert dict(m.named_children())[safe["forward"]] is m.layer("forward")


def test_tensors_are_dropped_after_their_last_consumer():
    a = analyze_file(os.path.join(ROOT, "specs", "resnet18.yaml"))
    m = materialize(a, device="meta")
    # every tensor but the output is freed right after its last consumer runs
    freed = [d for ds in m.frees for d in ds]
    assert sorted(freed) == sorted(["input"] + [r.name for r in a.layers if r.name not in a.outputs])


def test_without_torch_the_message_says_how_to_install_it():
    import subprocess
    import sys

    code = (
        "import sys\nsys.modules['torch'] = None  # as if torch were not installed\n"
        "try:\n    import cnnsize.torch\nexcept ImportError as exc:\n    print(exc)\n"
        "sys.argv = ['cnnsize', 'profile', 'specs/lenet5.yaml']\n"
        "from cnnsize.commands.cli import main\nmain()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert "pip install 'cnnsize[torch]'" in out.stdout
    assert out.returncode == 2 and "pip install 'cnnsize[torch]'" in out.stderr and "Traceback" not in out.stderr


def test_a_dtype_torch_cannot_build_in_is_a_clear_error():
    # int8 is a dtype cnnsize reports memory for, but not one materialize builds in
    spec = loads_spec("cnnsize: 1\nname: t\ninput: [1, 4, 4]\nlayers:\n  - {type: conv, filters: 2, kernel: 3}\n")
    with pytest.raises(ValueError, match="cannot materialize in int8; use one of float64, float32, float16, bfloat16"):
        materialize(analyze(spec), dtype="int8")


def test_a_kind_without_a_torch_builder_says_why(monkeypatch):
    from cnnsize.engine.registry import Missing
    from cnnsize.torch.materialize import build_layer

    monkeypatch.setattr(RULES["identity"], "to_torch", Missing("a probe reason"))
    with pytest.raises(NotImplementedError, match=r"'identity' has no torch builder \(a probe reason\)"):
        build_layer("identity", {}, [(1, 4)], (1, 4))
