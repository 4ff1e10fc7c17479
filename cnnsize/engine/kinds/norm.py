"""Normalization: batch, layer and group normalization, local response
normalization."""

from __future__ import annotations

from math import prod
from typing import Any

from cnnsize.engine.errors import RuleError
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

AFFINE = Key(t_bool, "whether the norm has a learned scale and shift", True)


def _norm_params(p: dict[str, Any], n: int) -> tuple[int, int]:
    return (n, n) if p["affine"] else (0, 0)


def _bn_torch(p: dict[str, Any], in_shapes: list[Shape], out: Shape, t: Any) -> Any:
    Layer, fused_activation, torch_class = t.Layer, t.fused_activation, t.torch_class

    x = in_shapes[0]
    return Layer(torch_class("BatchNorm", max(1, len(x) - 1))(x[0], affine=p["affine"]), act=fused_activation(p))


def _bn_from(imp: Any, node: Any, m: Any) -> None:
    imp.add(node, "batchnorm", {"affine": m.affine})


def _bn_onnx(imp: Any, node: Any) -> None:
    if len(node.output) > 1 and any(node.output[1:]) or imp.attr(node, "training_mode", 0):
        imp.unsupported(node, "in training mode (running statistics as outputs)")
        return
    if not all(imp.is_const(i) for i in node.input[1:5]):
        imp.unsupported(node, "whose scale, shift or statistics are not constants")
        return
    imp.add(node, "batchnorm", {"affine": True}, [node.input[0]])


def _in_onnx(imp: Any, node: Any) -> None:
    # InstanceNormalization is a group norm with one group per channel (scale
    # and shift per channel as well)
    src = imp.in_shape(node)
    if src is None:
        imp.unsupported(node, "on an input of unknown shape")
        return
    imp.add(node, "groupnorm", {"groups": src[0], "affine": True}, [node.input[0]])


def _gn_onnx(imp: Any, node: Any) -> None:
    src = imp.in_shape(node)
    scale = imp.const_shape(node.input[1])
    if src is None or scale != (src[0],):
        # opset 18's GroupNormalization stores one scale per group, not per channel
        imp.unsupported(node, f"with scale of shape {list(scale or [])} (cnnsize's groupnorm has one per channel)")
        return
    imp.add(node, "groupnorm", {"groups": int(imp.attr(node, "num_groups")), "affine": True}, [node.input[0]])


def _ln_onnx(imp: Any, node: Any) -> None:
    src = imp.in_shape(node)
    axis = int(imp.attr(node, "axis", -1))
    if src is None:
        imp.unsupported(node, "on an input of unknown shape")
        return
    rank = len(src) + 1
    if (axis + rank if axis < 0 else axis) != 1:
        imp.unsupported(node, f"over axes from {axis} (cnnsize's layernorm normalizes the whole sample: axis 1)")
        return
    if len(node.input) < 3 or not node.input[2]:
        imp.unsupported(node, "with a scale and no bias")
        return
    imp.add(node, "layernorm", {"affine": True}, [node.input[0]])


def _lrn_onnx(imp: Any, node: Any) -> None:
    alpha, beta, bias = imp.attr(node, "alpha", 1e-4), imp.attr(node, "beta", 0.75), imp.attr(node, "bias", 1.0)
    imp.add(node, "lrn", {"size": int(imp.attr(node, "size"))}, note=f"alpha={alpha:g}, beta={beta:g}, k={bias:g}")


@register(
    "batchnorm",
    {"affine": AFFINE, **ACT},
    aliases=("bn", "batchnorm1d", "batchnorm2d", "batchnorm3d"),
    category="norm",
    summary="batch normalization (inference: one scale and shift per element)",
    to_torch=_bn_torch,
    from_torch=(TorchMap(_bn_from, modules=("torch.nn.modules.batchnorm._BatchNorm",)),),
    from_onnx=(
        OnnxMap(
            _bn_onnx,
            ("BatchNormalization",),
            "inference form: scale, B, mean, var constants (2C parameters, 2C buffers); training_mode refused",
        ),
    ),
    params="`2*C` (+ `2*C` running statistics, buffers)",
)
def batchnorm(p: dict[str, Any], ins: list[Tensor]) -> Result:
    x = ins[0]
    c = x.shape[0]
    units = prod(x.shape)
    w, b = _norm_params(p, c)
    ops = {"norm": 2 * units} if units else {}
    # torch keeps one more buffer per BatchNorm: num_batches_tracked (an int64)
    counts = {"affine_out": units if p["affine"] else 0, "bn_tracked": 1}
    fuse_act(p, units, ops, counts)
    return Result(x.shape, w, b, 2 * c, 0, ops, units, x.rf, counts)  # positional, as in conv's _conv_core


def _ln_torch(p: dict[str, Any], in_shapes: list[Shape], out: Shape, t: Any) -> Any:
    nn = t.nn

    Layer = t.Layer

    return Layer(nn.LayerNorm(list(in_shapes[0]), elementwise_affine=p["affine"], bias=p["affine"]))


def _ln_from(imp: Any, node: Any, m: Any) -> None:
    src = imp.src_shape(node)
    if src is None or tuple(m.normalized_shape) != src:
        imp.unsupported_node(
            node, f"nn.LayerNorm over {list(m.normalized_shape)} (cnnsize normalizes over the whole sample)"
        )
        return
    if m.elementwise_affine and m.bias is None:
        imp.unsupported_node(node, "nn.LayerNorm with a weight and no bias")
        return
    imp.add(node, "layernorm", {"affine": m.elementwise_affine})


@register(
    "layernorm",
    {"affine": AFFINE},
    category="norm",
    summary="layer normalization over each sample",
    to_torch=_ln_torch,
    from_torch=(TorchMap(_ln_from, modules=("torch.nn.LayerNorm",)),),
    from_onnx=(OnnxMap(_ln_onnx, ("LayerNormalization",), "axis 1 only (the whole sample), with scale and bias"),),
    params="`2*units` (normalizes over the whole sample: C*H*W)",
)
def layernorm(p: dict[str, Any], ins: list[Tensor]) -> Result:
    x = ins[0]
    units = prod(x.shape)
    w, b = _norm_params(p, units)
    # mean, centre, square, sum, scale by 1/std = 5 per element; affine 2 more
    return Result(
        x.shape,
        weights=w,
        biases=b,
        ops=ops_of(norm=units * (7 if p["affine"] else 5)),
        connections=units * units,
        rf=flat_rf(x),
        counts={"affine_out": units if p["affine"] else 0},
    )


def _gn_torch(p: dict[str, Any], in_shapes: list[Shape], out: Shape, t: Any) -> Any:
    nn = t.nn

    Layer = t.Layer

    return Layer(nn.GroupNorm(p["groups"], in_shapes[0][0], affine=p["affine"]))


def _gn_from(imp: Any, node: Any, m: Any) -> None:
    imp.add(node, "groupnorm", {"groups": m.num_groups, "affine": m.affine})


@register(
    "groupnorm",
    {"groups": Key(t_int(1), "number of groups the channels are split into", required=True), "affine": AFFINE},
    category="norm",
    summary="group normalization",
    to_torch=_gn_torch,
    from_torch=(TorchMap(_gn_from, modules=("torch.nn.GroupNorm",)),),
    from_onnx=(
        OnnxMap(
            _gn_onnx,
            ("GroupNormalization",),
            "num_groups; a scale per channel (opset 21); opset 18's per-group scale refused",
        ),
        OnnxMap(_in_onnx, ("InstanceNormalization",), "a groupnorm with one group per channel (2C parameters)"),
    ),
    params="`2*C`",
)
def groupnorm(p: dict[str, Any], ins: list[Tensor]) -> Result:
    x = ins[0]
    c = x.shape[0]
    if c % p["groups"]:
        raise RuleError("groups-mismatch", f"{c} channels are not divisible by groups={p['groups']}", "", "groups")
    units = prod(x.shape)
    w, b = _norm_params(p, c)
    per_group = units // p["groups"]
    return Result(
        x.shape,
        weights=w,
        biases=b,
        ops=ops_of(norm=units * (7 if p["affine"] else 5)),
        connections=units * per_group,
        rf=x.rf,
        counts={"affine_out": units if p["affine"] else 0},
    )


def _lrn_torch(p: dict[str, Any], in_shapes: list[Shape], out: Shape, t: Any) -> Any:
    nn = t.nn

    Layer = t.Layer

    return Layer(nn.LocalResponseNorm(p["size"]))


def _lrn_from(imp: Any, node: Any, m: Any) -> None:
    imp.add(node, "lrn", {"size": m.size}, note=f"alpha={m.alpha}, beta={m.beta}, k={m.k}")


@register(
    "lrn",
    {"size": Key(t_int(1), "number of channels in the normalization window", 5)},
    aliases=("localresponsenorm",),
    category="norm",
    summary="local response normalization across channels",
    to_torch=_lrn_torch,
    from_torch=(TorchMap(_lrn_from, modules=("torch.nn.LocalResponseNorm",)),),
    from_onnx=(OnnxMap(_lrn_onnx, ("LRN",), "size; alpha, beta and bias kept in the note"),),
)
def lrn(p: dict[str, Any], ins: list[Tensor]) -> Result:
    x = ins[0]
    units = prod(x.shape)
    n = p["size"]
    # n squares, n - 1 adds, then scale, add k, power, divide
    return Result(x.shape, ops=ops_of(norm=units * (2 * n + 3)), connections=units * n, rf=x.rf)
