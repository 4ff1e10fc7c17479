"""`cnnsize import onnx` and `cnnsize report model.onnx` (issue 14).

A model built with onnx.helper holds every operator the registry maps; its
figures are the arithmetic written below. Bad files give one located error
with a code and exit 3."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

from cnnsize.engine.analysis import analyze  # noqa: E402
from cnnsize.engine.load import loads_spec  # noqa: E402
from cnnsize.onnx.importer import import_onnx  # noqa: E402
from cnnsize.onnx.reading import OnnxImportError  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": ROOT}
    return subprocess.run(
        [sys.executable, "-m", "cnnsize", *args], capture_output=True, text=True, env=env, timeout=120
    )


def init(name: str, *dims: int) -> onnx.TensorProto:
    n = 1
    for d in dims:
        n *= d
    return helper.make_tensor(name, TensorProto.FLOAT, list(dims), [0.01] * n)


def ints(name: str, *vals: int) -> onnx.TensorProto:
    return helper.make_tensor(name, TensorProto.INT64, [len(vals)], list(vals))


def floats(name: str, *vals: float) -> onnx.TensorProto:
    return helper.make_tensor(name, TensorProto.FLOAT, [len(vals)], list(vals))


def scalar(name: str, v: float) -> onnx.TensorProto:
    return helper.make_tensor(name, TensorProto.FLOAT, [], [v])


N = helper.make_node


def every_op_model(opset: int = 17) -> onnx.ModelProto:
    """3x8x8 input, symbolic batch; the shapes per sample in the comments."""
    nodes = [
        N("Conv", ["x", "c1.w", "c1.b"], ["c1"], name="c1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),  # 8x8x8
        N("BatchNormalization", ["c1", "bn.s", "bn.b", "bn.m", "bn.v"], ["bn"], name="bn"),
        N("Relu", ["bn"], ["r1"], name="r1"),
        N("Conv", ["r1", "dw.w"], ["dw"], name="dw", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], group=8),
        N("Clip", ["dw", "zero", "six"], ["a"], name="relu6"),  # 8x4x4
        N("ReduceMean", ["a"], ["sq"], name="squeeze", axes=[2, 3], keepdims=1),  # 8x1x1 (opset 17: axes attr)
        N("Conv", ["sq", "se1.w", "se1.b"], ["se1"], name="se1", kernel_shape=[1, 1]),  # 2x1x1
        N("LeakyRelu", ["se1"], ["lr"], name="lrelu", alpha=0.1),
        N("Conv", ["lr", "se2.w", "se2.b"], ["se2"], name="se2", kernel_shape=[1, 1]),  # 8x1x1
        N("HardSigmoid", ["se2"], ["hs"], name="hsig", alpha=1 / 6, beta=0.5),
        N("Mul", ["a", "hs"], ["se"], name="scale"),  # 8x4x4, broadcast
        N("MaxPool", ["r1"], ["mp"], name="mp", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),  # 8x4x4
        N("Concat", ["se", "mp"], ["cat"], name="cat", axis=1),  # 16x4x4
        # ShuffleNet's channel shuffle as exporters write it
        # its target shapes computed from Shape(cat), as exporters do (folded, not layers)
        N("Shape", ["cat"], ["s"], name="s"),
        N("Gather", ["s", "i0"], ["s_n"], name="s_n", axis=0),
        N("Gather", ["s", "i23"], ["s_hw"], name="s_hw", axis=0),
        N("Concat", ["s_n", "g4x4", "s_hw"], ["shape5"], name="shape5", axis=0),
        N("Concat", ["s_n", "c16", "s_hw"], ["shape4"], name="shape4", axis=0),
        N("Reshape", ["cat", "shape5"], ["cs1"], name="shuf_in"),  # 4x4x4x4
        N("Transpose", ["cs1"], ["cs2"], name="shuffle", perm=[0, 2, 1, 3, 4]),
        N("Reshape", ["cs2", "shape4"], ["shuf"], name="shuf_out"),  # 16x4x4
        N("Sigmoid", ["shuf"], ["sig"], name="sig"),
        N("Add", ["shuf", "sig"], ["sum"], name="sum"),
        N("HardSwish", ["sum"], ["hsw"], name="hswish"),
        N("ConvTranspose", ["hsw", "up.w", "up.b"], ["up"], name="up", kernel_shape=[2, 2], strides=[2, 2]),  # 4x8x8
        N("InstanceNormalization", ["up", "in.s", "in.b"], ["inorm"], name="inorm"),
        N("Elu", ["inorm"], ["elu"], name="elu"),
        # the exact GELU as exporters before opset 20 write it: one gelu layer
        N("Div", ["elu", "sqrt2"], ["gd"], name="gelu_div"),
        N("Erf", ["gd"], ["ge"], name="gelu_erf"),
        N("Add", ["ge", "one"], ["ga"], name="gelu_add"),
        N("Mul", ["half", "ga"], ["gm"], name="gelu_half"),
        N("Mul", ["elu", "gm"], ["gelu"], name="gelu"),
        N("Resize", ["gelu", "", "scales"], ["rs"], name="resize", mode="nearest"),  # 4x16x16
        N("Pad", ["rs", "pads"], ["pad"], name="pad"),  # 4x18x18
        N("AveragePool", ["pad"], ["ap"], name="ap", kernel_shape=[2, 2], strides=[2, 2]),  # 4x9x9
        N("GlobalMaxPool", ["ap"], ["gmp"], name="gmp"),  # 4x1x1
        N("GlobalAveragePool", ["ap"], ["gap"], name="gap"),  # 4x1x1
        N("Add", ["gmp", "gap"], ["g"], name="g"),
        N("Flatten", ["g"], ["flat"], name="flat", axis=1),  # 4
        N("Gemm", ["flat", "fc.w", "fc.b"], ["fc"], name="fc", transB=1),  # 10
        N("Dropout", ["fc"], ["drop"], name="drop", ratio=0.25)
        if opset < 12
        else N("Dropout", ["fc"], ["drop"], name="drop"),
        N("Identity", ["drop"], ["idn"], name="idn"),
        N("Tanh", ["idn"], ["th"], name="tanh"),
        N("MatMul", ["th", "mm.w"], ["mm"], name="mm"),  # 6
        N("Add", ["mm", "mm.b"], ["mmb"], name="mm_bias"),
        N("Reshape", ["mmb", "shape"], ["rsh"], name="rsh"),  # 2x3
        N("Softmax", ["rsh"], ["out"], name="softmax", axis=1),
        N("ReduceMean", ["ap"], ["pooled"], name="pooled", axes=[2, 3], keepdims=0),  # 4
    ]
    inits = [
        init("c1.w", 8, 3, 3, 3),
        init("c1.b", 8),
        *(init(f"bn.{k}", 8) for k in "sbmv"),
        init("dw.w", 8, 1, 3, 3),
        scalar("zero", 0.0),
        scalar("six", 6.0),
        init("se1.w", 2, 8, 1, 1),
        init("se1.b", 2),
        init("se2.w", 8, 2, 1, 1),
        init("se2.b", 8),
        init("up.w", 16, 4, 2, 2),
        init("up.b", 4),
        init("in.s", 4),
        init("in.b", 4),
        floats("scales", 1, 1, 2, 2),
        scalar("sqrt2", 2**0.5),
        scalar("one", 1.0),
        scalar("half", 0.5),
        ints("pads", 0, 0, 1, 1, 0, 0, 1, 1),
        init("fc.w", 10, 4),
        init("fc.b", 10),
        init("mm.w", 10, 6),
        init("mm.b", 6),
        ints("shape", -1, 2, 3),
        ints("i0", 0),
        ints("i23", 2, 3),
        ints("g4x4", 4, 4),
        ints("c16", 16),
    ]
    graph = helper.make_graph(
        nodes,
        "every_op",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [
            helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 2, 3]),
            helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["N", 4]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    return model


@pytest.fixture
def every_op(tmp_path):
    path = tmp_path / "every_op.onnx"
    onnx.save(every_op_model(), str(path))
    return str(path)


def test_every_operator_imports_with_hand_computed_figures(every_op):
    res = import_onnx(every_op)
    a = analyze(loads_spec(res.yaml))
    kinds = {r.name: r.kind for r in a.layers}
    assert kinds == {
        "c1": "conv",
        "bn": "batchnorm",
        "r1": "relu",
        "dw": "dwconv",
        "relu6": "relu6",
        "squeeze": "globalavgpool",
        "se1": "conv",
        "lrelu": "leakyrelu",
        "se2": "conv",
        "hsig": "hardsigmoid",
        "scale": "mul",
        "mp": "maxpool",
        "cat": "concat",
        "shuffle": "channel_shuffle",  # shuf_in, the first Reshape, is part of it
        "shuf_out": "reshape",
        "sig": "sigmoid",
        "sum": "add",
        "hswish": "hardswish",
        "up": "deconv",
        "inorm": "groupnorm",
        "elu": "elu",
        "gelu": "gelu",  # gelu_div, gelu_erf, gelu_add and gelu_half are part of it
        "resize": "upsample",
        "pad": "pad",
        "ap": "avgpool",
        "gmp": "globalmaxpool",
        "gap": "globalavgpool",
        "g": "add",
        "flat": "flatten",
        "fc": "fc",
        "drop": "dropout",
        "idn": "identity",
        "tanh": "tanh",
        "mm": "fc",  # MatMul, its Add of a constant vector folded in as the bias
        "rsh": "reshape",
        "softmax": "softmax",
        "pooled": "globalavgpool",
        "pooled_flatten": "flatten",
    }
    shapes = {r.name: tuple(r.output_shape) for r in a.layers}
    assert shapes["dw"] == (8, 4, 4) and shapes["cat"] == (16, 4, 4) and shapes["up"] == (4, 8, 8)
    assert shapes["resize"] == (4, 16, 16) and shapes["pad"] == (4, 18, 18) and shapes["ap"] == (4, 9, 9)
    assert shapes["rsh"] == (2, 3) and shapes["pooled_flatten"] == (4,)
    params = {
        "c1": 8 * 3 * 3 * 3 + 8,
        "bn": 2 * 8,  # scale and shift (the running statistics are buffers)
        "dw": 8 * 1 * 3 * 3,
        "se1": 2 * 8 + 2,
        "se2": 8 * 2 + 8,
        "up": 16 * 4 * 2 * 2 + 4,  # C_in x C_out x k x k + C_out
        "inorm": 2 * 4,
        "fc": 4 * 10 + 10,
        "mm": 10 * 6 + 6,
    }
    macs = {
        "c1": (8 * 8) * 8 * (3 * 3 * 3),  # positions x filters x taps
        "dw": (4 * 4) * 8 * (3 * 3),
        "se1": 2 * 8,
        "se2": 8 * 2,
        "up": (4 * 4) * 16 * 4 * (2 * 2),  # counted from the input side: inputs x C_out x taps
        "fc": 4 * 10,
        "mm": 10 * 6,
    }
    for r in a.layers:
        assert r.weights + r.biases == params.get(r.name, 0), r.name
        assert r.macs == macs.get(r.name, 0), r.name
    assert a.totals["params"] == 738 == sum(params.values())
    assert a.totals["macs"] == 19204 == sum(macs.values())
    assert a.layers[1].buffers == 2 * 8  # BN's running mean and variance, stored but not trained
    p_ap = next(r for r in a.layers if r.name == "ap")
    assert p_ap.kind == "avgpool"
    assert "count_include_pad: false" in next(ln for ln in res.yaml.splitlines() if "name: ap," in ln).replace("{", "")


def test_cli_report_and_import_agree(every_op, tmp_path):
    out = tmp_path / "every_op.yaml"
    r = cli("import", "onnx", every_op, "-o", str(out))
    assert r.returncode == 0, r.stderr
    rep_spec = cli("report", str(out), "--format", "json")
    rep_onnx = cli("report", every_op, "--format", "json")
    assert rep_spec.returncode == rep_onnx.returncode == 0, rep_onnx.stderr
    a, b = json.loads(rep_spec.stdout), json.loads(rep_onnx.stdout)
    assert a["totals"]["params"] == b["totals"]["params"] == 738
    assert a["totals"]["macs"] == b["totals"]["macs"] == 19204


def test_check_compare_graph_read_onnx(every_op):
    # check's budgets: 738 params exceed 700 (exit 1) and fit 738 (exit 0)
    assert cli("check", every_op, "--max-params", "700").returncode == 1
    assert cli("check", every_op, "--max-params", "738").returncode == 0
    r = cli("compare", every_op, "specs/lenet5.yaml", "--format", "json")
    assert r.returncode == 0, r.stderr
    r = cli("graph", every_op)
    assert r.returncode == 0 and "channel_shuffle" in r.stdout, r.stderr


def test_report_onnx_imports_neither_torch_nor_onnx_on_the_spec_path(every_op, tmp_path):
    # a plain spec: the analysis path stays free of both
    code = (
        "import sys; from cnnsize.commands.cli import run; sys.argv=['cnnsize','report','specs/lenet5.yaml'];\n"
        "try:\n run()\nexcept SystemExit: pass\n"
        "assert 'onnx' not in sys.modules and 'torch' not in sys.modules, [m for m in sys.modules if "
        "m.startswith(('onnx','torch'))]"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ROOT}
    )
    assert r.returncode == 0, r.stderr
    # an .onnx file: onnx, never torch
    code2 = code.replace("specs/lenet5.yaml", every_op).replace("'onnx' not in sys.modules and ", "")
    r = subprocess.run(
        [sys.executable, "-c", code2], cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ROOT}
    )
    assert r.returncode == 0, r.stderr


# --- errors ------------------------------------------------------------------------


def _codes(path: str) -> list[tuple[str, str | None, str | None]]:
    with pytest.raises(OnnxImportError) as ei:
        import_onnx(path)
    return [(p.code, p.node, p.op) for p in ei.value.problems]


def _cli_fails(path: str, code: str) -> str:
    r = cli("report", path)
    assert r.returncode == 3, r.stderr
    assert f"error[{code}]" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith(path), r.stderr
    return r.stderr


def test_unknown_operators_are_listed_in_one_error(tmp_path):
    m = every_op_model()
    g = m.graph
    # two operators no kind maps, one in a custom domain
    g.node.insert(3, N("Erf", ["r1"], ["erf"], name="erf_node"))
    g.node.insert(4, N("Foo", ["erf"], ["foo"], name="foo_node", domain="com.example"))
    m.opset_import.append(helper.make_opsetid("com.example", 1))
    g.node.insert(5, N("Transpose", ["foo"], ["tr"], name="tr_node", perm=[0, 1, 3, 2]))
    path = tmp_path / "unknown.onnx"
    onnx.save(m, str(path))
    assert _codes(str(path)) == [
        ("onnx-unknown-op", "erf_node", "Erf"),
        ("onnx-unknown-op", "foo_node", "Foo"),
        ("onnx-unsupported", "tr_node", "Transpose"),
    ]
    err = _cli_fails(str(path), "onnx-unknown-op")
    assert "layer 'erf_node' (Erf)" in err and "layer 'foo_node' (Foo)" in err and "3 errors" in err
    assert "layer 'tr_node' (Transpose): Transpose with perm [0, 1, 3, 2]" in err


def test_unsupported_form_of_a_known_operator(tmp_path):
    m = every_op_model()
    for n in m.graph.node:
        if n.name == "relu6":
            n.input[2] = "zero"  # Clip to [0, 0]
    path = tmp_path / "clip.onnx"
    onnx.save(m, str(path))
    assert _codes(str(path)) == [("onnx-unsupported", "relu6", "Clip")]


def test_truncated_file(tmp_path, every_op):
    data = open(every_op, "rb").read()
    path = tmp_path / "truncated.onnx"
    path.write_bytes(data[: len(data) // 2])
    assert _codes(str(path))[0][0] == "onnx-not-a-model"
    _cli_fails(str(path), "onnx-not-a-model")


def test_not_onnx(tmp_path):
    path = tmp_path / "yaml.onnx"
    path.write_text("cnnsize: 1\nname: x\n")
    _cli_fails(str(path), "onnx-not-a-model")


def test_opset_from_the_future(tmp_path):
    m = every_op_model()
    m.opset_import[0].version = onnx.defs.onnx_opset_version() + 1
    path = tmp_path / "future.onnx"
    onnx.save(m, str(path))
    _cli_fails(str(path), "onnx-opset")


def test_dangling_input_and_cycle(tmp_path):
    m = every_op_model()
    m.graph.node[2].input[0] = "nowhere"
    path = tmp_path / "dangling.onnx"
    onnx.save(m, str(path))
    assert _codes(str(path)) == [("onnx-dangling-input", "r1", "Relu")]
    _cli_fails(str(path), "onnx-dangling-input")
    m = every_op_model()
    m.graph.node[0].input[0] = "r1"  # c1 reads r1, which reads bn, which reads c1
    onnx.save(m, str(path))
    assert _codes(str(path)) == [("onnx-dangling-input", "c1", "Conv")]


def test_symbolic_spatial_sizes_need_input(tmp_path):
    m = every_op_model()
    dims = m.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "H", "W"
    path = tmp_path / "dynamic.onnx"
    onnx.save(m, str(path))
    assert _codes(str(path))[0][0] == "onnx-shape"
    r = cli("report", str(path), "--input", "3x8x8", "--format", "json", "--raw")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["totals"]["macs"] == 19204
    # at 16x16 every spatial size doubles: c1's MACs four times 8x8's
    r = cli("report", str(path), "--input", "3x16x16", "--format", "json")
    assert r.returncode == 0, r.stderr
    layers = {x["name"]: x for x in json.loads(r.stdout)["layers"]}
    assert layers["c1"]["macs"] == (16 * 16) * 8 * (3 * 3 * 3)


def test_external_weights_missing_still_import(tmp_path):
    # a model whose large weights live in a separate file that is not there:
    # only shapes are read, so it imports (small constants stay inline)
    from onnx import numpy_helper

    w = numpy_helper.from_array(__import__("numpy").zeros((64, 3, 7, 7), dtype="float32"), "w")
    g = helper.make_graph(
        [
            N("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[7, 7], strides=[2, 2], pads=[3, 3, 3, 3]),
            N("Reshape", ["c", "shape"], ["y"], name="flat"),
        ],
        "ext",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [w, ints("shape", 1, -1)],
    )
    path = tmp_path / "ext.onnx"
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save_model(m, str(path), save_as_external_data=True, location="ext.data", size_threshold=1024)
    assert (tmp_path / "ext.data").stat().st_size == 64 * 3 * 7 * 7 * 4
    (tmp_path / "ext.data").unlink()
    a = analyze(loads_spec(import_onnx(str(path)).yaml))
    assert a.totals["params"] == 64 * 3 * 7 * 7
    assert a.totals["macs"] == (16 * 16) * 64 * (3 * 7 * 7)  # 32 -> 16 with stride 2, pad 3
    assert [r.kind for r in a.layers] == ["conv", "flatten"]


def test_two_graph_inputs(tmp_path):
    m = every_op_model()
    m.graph.input.append(helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3]))
    path = tmp_path / "two.onnx"
    onnx.save(m, str(path))
    err = _cli_fails(str(path), "onnx-inputs")
    assert "2 inputs (x, y)" in err


def test_errors_as_json(tmp_path):
    path = tmp_path / "bad.onnx"
    path.write_bytes(b"\x08\x07garbage")
    r = cli("import", "onnx", str(path), "--json")
    assert r.returncode == 3
    d = json.loads(r.stdout)["diagnostics"][0]
    assert d["code"] == "onnx-not-a-model" and d["file"] == str(path)


def test_without_the_onnx_package(every_op):
    # as if onnx were not installed: a located error with the install hint, exit 3
    code = (
        "import sys; sys.modules['onnx'] = None\n"
        "from cnnsize.commands.cli import run\n"
        f"sys.argv = ['cnnsize', 'report', {every_op!r}]\n"
        "run()"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ROOT}
    )
    assert r.returncode == 3, r.stderr
    assert "error[onnx-not-installed]" in r.stderr and "cnnsize[onnx]" in r.stderr and "Traceback" not in r.stderr


def test_missing_file():
    r = cli("report", "/nonexistent/model.onnx")
    assert r.returncode == 3 and "error[onnx-unreadable]" in r.stderr and "Traceback" not in r.stderr
