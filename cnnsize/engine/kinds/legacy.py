"""LeNet-era kinds: LeCun's trainable subsampling and Euclidean RBF output
units (LeNet-5, 1998). LeNet's connection tables and untied biases are keys
of conv (conv.py)."""

from __future__ import annotations

from math import prod
from typing import Any

from cnnsize.engine.geometry import per_axis, rf_window
from cnnsize.engine.kinds.activation import ACT, fuse_act
from cnnsize.engine.kinds.dense import UNITS
from cnnsize.engine.kinds.pool import pool_window
from cnnsize.engine.registry import (
    Key,
    Missing,
    Result,
    Shape,
    Tensor,
    TorchMap,
    axes_value,
    flat_rf,
    ops_of,
    register,
    rf_of,
    t_axes,
)


def _subsample_torch(p: dict[str, Any], in_shapes: list[Shape], out: Shape, t: Any) -> Any:
    Layer, Subsample, fused_activation = t.Layer, t.Subsample, t.fused_activation

    c, nd = in_shapes[0][0], len(in_shapes[0]) - 1
    stride = p["stride"] if p.get("stride") is not None else p["kernel"]
    sub = Subsample(c, per_axis(p["kernel"], nd, "kernel", 1), per_axis(stride, nd, "stride", 1))
    return Layer(sub, act=fused_activation(p))


def _subsample_from(imp: Any, node: Any, m: Any) -> None:
    imp.add(node, "subsample", {"kernel": axes_value(m.kernel), "stride": axes_value(m.stride)})


@register(
    "subsample",
    {
        "kernel": Key(t_axes(1), "window size: one integer, or one per spatial axis", required=True),
        "stride": Key(t_axes(1), "step of the window: one integer, or one per spatial axis; default the kernel"),
        **ACT,
    },
    category="legacy",
    summary="LeCun's trainable subsampling: sum of a window x coefficient + bias, per map",
    to_torch=_subsample_torch,
    from_torch=(TorchMap(_subsample_from, modules=("cnnsize.torch.modules.Subsample",)),),
    from_onnx=Missing(
        "no ONNX operator: exporters write the trainable subsampling as AveragePool, Mul and Add of constants (no spec "
        "kind shifts by a constant)"
    ),
    params="1 coefficient + 1 bias per map",
)
def subsample(p: dict[str, Any], ins: list[Tensor]) -> Result:
    w, units, win, c = pool_window({**p, "padding": 0, "ceil_mode": False}, ins[0], "subsample")
    ops = ops_of(pool=units * (win - 1), scale=units, bias=units)
    counts: dict[str, int] = {}
    fuse_act(p, units, ops, counts)
    return Result(
        (c, *w.out),
        weights=c,
        biases=c,
        ops=ops,
        counts=counts,
        connections=units * (win + 1),
        rf=rf_of(ins[0], lambda r: rf_window(r, w)),
    )


def _rbf_torch(p: dict[str, Any], in_shapes: list[Shape], out: Shape, t: Any) -> Any:
    RBF, Layer = t.RBF, t.Layer

    return Layer(RBF(p["units"], prod(in_shapes[0])))


def _rbf_from(imp: Any, node: Any, m: Any) -> None:
    imp.add(node, "rbf", {"units": m.codes.shape[0]})


@register(
    "rbf",
    {"units": UNITS},
    category="legacy",
    summary="Euclidean RBF output units with fixed codes (LeNet-5)",
    to_torch=_rbf_torch,
    from_torch=(TorchMap(_rbf_from, modules=("cnnsize.torch.modules.RBF",)),),
    from_onnx=Missing(
        "no ONNX operator: exporters write the RBF units as Sub, Pow and ReduceSum of a constant code book"
    ),
    params="0 (fixed RBF codes: `units*fan_in` buffers)",
)
def rbf(p: dict[str, Any], ins: list[Tensor]) -> Result:
    x = ins[0]
    fan_in = prod(x.shape)
    units = p["units"]
    # y_i = sum_j (x_j - w_ij)^2: one subtraction and one multiply-accumulate per term
    return Result(
        (units,),
        buffers=units * fan_in,
        macs=units * fan_in,
        ops=ops_of(other=units * fan_in),
        connections=units * fan_in,
        rf=flat_rf(x),
    )
