"""Fully connected layers."""

from __future__ import annotations

from math import prod
from typing import Any

from cnnsize.engine.kinds.activation import ACT, fuse_act
from cnnsize.engine.registry import (
    Key,
    OnnxMap,
    Result,
    Shape,
    Tensor,
    TorchMap,
    flat_rf,
    ops_of,
    register,
    t_bool,
    t_int,
)

UNITS = Key(t_int(1), "number of output units", required=True)


def _fc_torch(p: dict[str, Any], in_shapes: list[Shape], out: Shape, t: Any) -> Any:
    nn = t.nn

    Layer, fused_activation = t.Layer, t.fused_activation

    x = in_shapes[0]
    return Layer(nn.Linear(prod(x), p["units"], bias=p["bias"]), act=fused_activation(p), flatten=len(x) > 1)


def _fc_from(imp: Any, node: Any, m: Any) -> None:
    src = imp.src_shape(node)
    if src is not None and len(src) > 1:
        imp.unsupported_node(node, f"nn.Linear on a {len(src) + 1}-D input (applies to the last axis only)")
        return
    imp.add(node, "fc", {"units": m.out_features, "bias": m.bias is not None})


def _gemm_onnx(imp: Any, node: Any) -> None:
    if imp.attr(node, "transA", 0):
        imp.unsupported(node, "with transA=1 (the activation transposed)")
        return
    w = imp.const_shape(node.input[1])
    if w is None or len(w) != 2:
        imp.unsupported(node, "with a weight that is not a constant 2-D initializer")
        return
    units = w[0] if imp.attr(node, "transB", 0) else w[1]
    c = node.input[2] if len(node.input) > 2 else ""
    if c and not imp.is_const(c):
        imp.unsupported(node, "whose C operand is an activation, not a bias")
        return
    imp.mark_folded(node)
    imp.add(node, "fc", {"units": units, "bias": bool(c)}, [node.input[0]])


def _matmul_onnx(imp: Any, node: Any) -> None:
    w = imp.const_shape(node.input[1])
    src = imp.in_shape(node)
    if w is None or len(w) != 2 or imp.is_const(node.input[0]):
        imp.unsupported(node, "of two activations, or with a weight that is not a constant 2-D initializer")
        return
    if src is None or len(src) != 1:
        imp.unsupported(node, f"on a per-sample input of shape {list(src or [])} (applies to the last axis only)")
        return
    imp.add(node, "fc", {"units": w[1], "bias": False}, [node.input[0]])


@register(
    "fc",
    {"units": UNITS, "bias": Key(t_bool, "whether the layer has biases", True), **ACT},
    aliases=("linear", "dense", "fullyconnected"),
    category="dense",
    summary="fully connected (flattens its input)",
    to_torch=_fc_torch,
    from_torch=(TorchMap(_fc_from, modules=("torch.nn.Linear",)),),
    from_onnx=(
        OnnxMap(
            _gemm_onnx,
            ("Gemm",),
            "units from the constant B (transB read); bias when C is a constant; transA=1 refused",
        ),
        OnnxMap(
            _matmul_onnx,
            ("MatMul",),
            "a 1-D activation times a constant 2-D weight (or its Transpose); an Add of a constant vector right after "
            "it becomes its bias; on more axes refused",
        ),
    ),
    params="`in*units` weights + `units` biases; flattens its input",
)
def fc(p: dict[str, Any], ins: list[Tensor]) -> Result:
    x = ins[0]
    fan_in = prod(x.shape)
    units, bias = p["units"], p["bias"]
    macs = fan_in * units
    ops = ops_of(bias=units if bias else 0)
    counts: dict[str, int] = {}
    fuse_act(p, units, ops, counts)
    return Result(
        (units,),
        weights=macs,
        biases=units if bias else 0,
        macs=macs,
        ops=ops,
        connections=macs + (units if bias else 0),
        rf=flat_rf(x),
        counts=counts,
    )
