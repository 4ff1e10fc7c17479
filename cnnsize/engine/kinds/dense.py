"""Fully connected layers."""

from __future__ import annotations

from math import prod
from typing import Any

from cnnsize.engine.kinds.activation import ACT, fuse_act
from cnnsize.engine.registry import (
    Key,
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


@register(
    "fc",
    {"units": UNITS, "bias": Key(t_bool, "whether the layer has biases", True), **ACT},
    aliases=("linear", "dense", "fullyconnected"),
    category="dense",
    summary="fully connected (flattens its input)",
    to_torch=_fc_torch,
    from_torch=(TorchMap(_fc_from, modules=("torch.nn.Linear",)),),
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
