"""Merges of several inputs: element-wise sum and product, concatenation."""

from __future__ import annotations

from collections.abc import Sequence
from math import prod
from typing import Any

from cnnsize.engine.errors import RuleError
from cnnsize.engine.geometry import rf_merge
from cnnsize.engine.kinds.activation import ACT, fuse_act
from cnnsize.engine.registry import (
    Key,
    OnnxMap,
    Result,
    Shape,
    Tensor,
    TorchMap,
    call_args,
    ops_of,
    register,
    t_int,
)


def _check_merge(ins: list[Tensor], kind: str) -> None:
    if len(ins) < 2:
        raise RuleError(
            "merge-inputs", f"{kind} needs at least two inputs, got {len(ins)}", "list them in 'inputs:'", "inputs"
        )


def _broadcast(shapes: Sequence[Shape], kind: str) -> Shape:
    nd = max(len(s) for s in shapes)
    out = []
    for axis in range(nd):
        dims = {s[axis] if axis < len(s) else 1 for s in shapes} - {1}
        if len(dims) > 1:
            raise RuleError(
                "shape-mismatch",
                f"{kind} inputs have shapes {' and '.join(str(list(s)) for s in shapes)} that differ on axis {axis}",
                "make the shapes equal (a 1x1 conv or a pool on one branch), or broadcast with size 1",
                "inputs",
            )
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def _elementwise(ins: list[Tensor], kind: str, strict: bool) -> Result:
    _check_merge(ins, kind)
    shapes = [t.shape for t in ins]
    first = shapes[0]
    if shapes.count(first) == len(shapes):
        shape = first  # what broadcasting equal shapes gives
    else:
        if strict:
            _broadcast(shapes, kind)  # raises with the axis that differs
            raise RuleError(
                "shape-mismatch",
                f"{kind} inputs have different shapes {[list(s) for s in shapes]}",
                "make them equal",
                "inputs",
            )
        shape = _broadcast(shapes, kind)
    units = prod(shape)
    return Result(
        shape, ops=ops_of(merge=units * (len(ins) - 1)), connections=units * len(ins), rf=rf_merge([t.rf for t in ins])
    )


def _merge_torch(kind: str) -> Any:
    def build(p: dict[str, Any], in_shapes: list[Shape], out: Shape, t: Any) -> Any:
        Merge, fused_activation = t.Merge, t.fused_activation

        return Merge(kind, in_shapes, p.get("axis", 0), fused_activation(p))

    return build


def _binary_from(kind: str) -> Any:
    def convert(imp: Any, node: Any, target: Any) -> None:
        # x + y of two tensors; x + 1 or x * 0.5 has no spec form
        ts = [a for a in node.args if imp.is_node(a)]
        if len(ts) < 2 or any(imp.out_shape(t) is None for t in ts) or len(ts) != len(node.args):
            imp.unsupported_node(node, f"{kind} with a constant ({node.target})")
            return
        imp.add(node, kind, {}, ts)

    return convert


def _binary_onnx(kind: str) -> Any:
    def convert(imp: Any, node: Any) -> None:
        acts = imp.activations(node)
        if len(acts) == len([i for i in node.input if i]) and len(acts) >= 2:
            imp.add(node, kind, {}, acts)
            return
        if kind == "add" and len(acts) == 1 and imp.fold_bias(node, acts[0]):
            return  # MatMul + Add of a constant vector: the fc's bias
        imp.unsupported(node, "with a constant operand (no spec kind scales or shifts by a constant)")

    return convert


def _concat_onnx(imp: Any, node: Any) -> None:
    src = imp.in_shape(node)
    axis = int(imp.attr(node, "axis"))
    rank = len(src) + 1 if src is not None else 0
    axis = axis + rank if axis < 0 else axis
    if axis == 0 or src is None:
        imp.unsupported(node, "along the batch axis")
        return
    if len(imp.activations(node)) != len([i for i in node.input if i]):
        imp.unsupported(node, "of a constant (no spec form)")
        return
    imp.add(node, "concat", {"axis": axis - 1})


@register(
    "add",
    {**ACT},
    inputs="many",
    category="merge",
    summary="element-wise sum of equal shapes (residual)",
    to_torch=_merge_torch("add"),
    from_torch=(
        TorchMap(
            _binary_from("add"),
            functions=("operator.add", "torch.add", "operator.iadd"),
            methods=("add", "add_"),
        ),
    ),
    from_onnx=(
        OnnxMap(
            _binary_onnx("add"),
            ("Add", "Sum"),
            "two or more activations of equal shape; a constant operand is refused (except as a MatMul's bias)",
        ),
    ),
)
def add(p: dict[str, Any], ins: list[Tensor]) -> Result:
    r = _elementwise(ins, "add", True)
    fuse_act(p, prod(r.shape), r.ops, r.counts)
    return r


@register(
    "mul",
    {},
    inputs="many",
    category="merge",
    summary="element-wise product with broadcasting (squeeze-excite)",
    to_torch=_merge_torch("mul"),
    from_torch=(
        TorchMap(
            _binary_from("mul"),
            functions=("operator.mul", "torch.mul", "operator.imul"),
            methods=("mul", "mul_"),
        ),
    ),
    from_onnx=(
        OnnxMap(
            _binary_onnx("mul"),
            ("Mul",),
            "two activations, broadcasting (squeeze-excitation scales); a constant operand is refused",
        ),
    ),
)
def mul(p: dict[str, Any], ins: list[Tensor]) -> Result:
    return _elementwise(ins, "mul", False)


def _concat_from(imp: Any, node: Any, target: Any) -> None:
    a = call_args(node, ("tensors", "dim"))
    dim = a.get("dim", 0)
    rank = len(imp.src_shape(node) or ()) + 1
    dim = dim + rank if dim < 0 else dim
    if dim == 0:
        imp.unsupported_node(node, "concatenation along the batch axis")
        return
    imp.add(node, "concat", {"axis": dim - 1}, list(a["tensors"]))


@register(
    "concat",
    {"axis": Key(t_int(0), "axis to concatenate along, per sample (0 = channels)", 0)},
    inputs="many",
    aliases=("cat",),
    category="merge",
    summary="concatenation along an axis (channels by default); zero FLOPs",
    to_torch=_merge_torch("concat"),
    from_torch=(TorchMap(_concat_from, functions=("torch.cat", "torch.concat")),),
    from_onnx=(
        OnnxMap(
            _concat_onnx,
            ("Concat",),
            "axis (negative counted from the end) less one: per sample; the batch axis refused",
        ),
    ),
)
def concat(p: dict[str, Any], ins: list[Tensor]) -> Result:
    _check_merge(ins, "concat")
    axis = p["axis"]
    ranks = {len(t.shape) for t in ins}
    if len(ranks) > 1:
        raise RuleError(
            "shape-mismatch", f"concat inputs have different ranks: {[list(t.shape) for t in ins]}", "", "inputs"
        )
    rank = ranks.pop()
    if axis >= rank:
        raise RuleError("bad-value", f"axis {axis} is out of range for rank {rank}", f"use 0..{rank - 1}", "axis")
    for a in range(rank):
        if a != axis and len({t.shape[a] for t in ins}) > 1:
            differ = " vs ".join(str(list(t.shape)) for t in ins)
            raise RuleError(
                "shape-mismatch",
                f"concat inputs differ on axis {a} (not the concat axis {axis}): {differ}",
                "make the spatial sizes equal (padding or stride on one branch)",
                "inputs",
            )
    shape = list(ins[0].shape)
    shape[axis] = sum(t.shape[axis] for t in ins)
    units = prod(shape)
    # along channels a position's field is the union of the inputs' fields at
    # that position; along a spatial axis the second input's positions restart
    # at 0, so no single start + index x jump describes them
    rf = rf_merge([t.rf for t in ins]) if axis == 0 else None
    return Result(tuple(shape), connections=units, rf=rf)
