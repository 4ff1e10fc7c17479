"""Kinds that move or pass values and compute (almost) nothing: flatten,
reshape, pad, upsample, dropout, identity."""

from __future__ import annotations

from math import prod
from typing import Any

from cnnsize.engine.errors import RuleError
from cnnsize.engine.geometry import RF, AxisRF, _div, per_axis, resolve_padding
from cnnsize.engine.registry import (
    Key,
    OnnxMap,
    Result,
    Shape,
    Tensor,
    TorchMap,
    axes_value,
    call_args,
    flat_rf,
    onnx_pads,
    ops_of,
    register,
    rf_of,
    spatial,
    t_axes,
    t_choice,
    t_number,
    t_padding,
    t_shape,
)


def _layer(make: Any) -> Any:
    """to_torch for a kind whose module takes nothing from the spec."""

    def build(p: dict[str, Any], in_shapes: list[Shape], out: Shape, t: Any) -> Any:
        nn = t.nn

        Layer = t.Layer

        return Layer(getattr(nn, make)())

    return build


# --- flatten and reshape ------------------------------------------------------------


def _flatten_from(imp: Any, node: Any, target: Any) -> None:
    if node.op == "call_module":
        start, end = target.start_dim, target.end_dim
    else:
        a = call_args(node, ("input", "start_dim", "end_dim"))
        start, end = a.get("start_dim", 0), a.get("end_dim", -1)
    if start == 1 and end == -1:
        imp.add(node, "flatten", {})
    else:
        imp.add(node, "reshape", {"shape": list(imp.out_shape(node) or ())})


def _flatten_onnx(imp: Any, node: Any) -> None:
    src = imp.in_shape(node)
    axis = int(imp.attr(node, "axis", 1))
    rank = len(src) + 1 if src is not None else 0
    if (axis + rank if axis < 0 else axis) != 1:
        imp.unsupported(node, f"at axis {axis} (the batch axis must stay apart: axis 1)")
        return
    imp.add(node, "flatten", {})


def _reshape_onnx(imp: Any, node: Any) -> None:
    """Reshape, Squeeze, Unsqueeze: the target is ONNX's inferred output shape."""
    out = imp.shape(node.output[0])
    src = imp.in_shape(node)
    if out is None or src is None:
        imp.unsupported(node, "whose output shape ONNX shape inference cannot tell")
        return
    if prod(out) != prod(src):
        imp.unsupported(node, f"from {list(src)} to {list(out)} per sample (moves values across the batch axis)")
        return
    if len(out) == 1 and len(src) > 1:
        imp.add(node, "flatten", {}, [node.input[0]])
    else:
        imp.add(node, "reshape", {"shape": list(out)}, [node.input[0]])


@register(
    "flatten",
    {},
    category="shape",
    summary="flatten to a vector (no cost)",
    to_torch=_layer("Flatten"),
    from_torch=(
        TorchMap(_flatten_from, modules=("torch.nn.Flatten",), functions=("torch.flatten",), methods=("flatten",)),
    ),
    from_onnx=(OnnxMap(_flatten_onnx, ("Flatten",), "axis 1 only (the batch axis kept apart)"),),
)
def flatten(p: dict[str, Any], ins: list[Tensor]) -> Result:
    return Result((prod(ins[0].shape),), rf=flat_rf(ins[0]))


def _reshape_torch(p: dict[str, Any], in_shapes: list[Shape], out: Shape, t: Any) -> Any:
    Layer, Reshape = t.Layer, t.Reshape

    return Layer(Reshape(out))


def _reshape_from(imp: Any, node: Any, target: Any) -> None:
    out = list(imp.out_shape(node) or ())
    if node.op == "call_module" and type(target).__name__ == "Reshape":
        out = list(target.shape)
    elif node.op == "call_method" and len(out) == 1:
        imp.add(node, "flatten", {})  # x.view(n, -1)
        return
    imp.add(node, "reshape", {"shape": out})


@register(
    "reshape",
    {"shape": Key(t_shape, "output shape per sample; one -1 is inferred", required=True)},
    category="shape",
    summary="reshape per sample (no cost)",
    to_torch=_reshape_torch,
    from_torch=(
        TorchMap(
            _reshape_from,
            modules=("torch.nn.Unflatten", "cnnsize.torch.modules.Reshape"),
            methods=("view", "reshape"),
        ),
    ),
    from_onnx=(
        OnnxMap(
            _reshape_onnx,
            ("Reshape", "Squeeze", "Unsqueeze"),
            "the target is ONNX's inferred output shape per sample (a flatten when 1-D); moving values across the "
            "batch axis refused",
        ),
    ),
)
def reshape(p: dict[str, Any], ins: list[Tensor]) -> Result:
    x = ins[0]
    n = prod(x.shape)
    shape = list(p["shape"])
    known = prod(v for v in shape if v != -1)
    if -1 in shape:
        if n % known:
            raise RuleError(
                "reshape-mismatch", f"cannot reshape {n} values into {shape}", "the sizes must divide", "shape"
            )
        shape[shape.index(-1)] = n // known
    elif known != n:
        raise RuleError(
            "reshape-mismatch",
            f"cannot reshape {list(x.shape)} ({n} values) into {shape} ({known} values)",
            "keep the number of values",
            "shape",
        )
    rf = x.rf if tuple(shape[1:]) == x.shape[1:] else (flat_rf(x) if len(shape) == 1 else None)
    return Result(tuple(shape), rf=rf)


# --- pad -------------------------------------------------------------------------------


def _pad_torch(p: dict[str, Any], in_shapes: list[Shape], out: Shape, t: Any) -> Any:
    Layer, Pad, torch_pads = t.Layer, t.Pad, t.torch_pads

    nd = len(in_shapes[0]) - 1
    pads = resolve_padding(p["padding"], in_shapes[0][1:], [1] * nd, [1] * nd)
    return Layer(Pad(torch_pads(pads), p["mode"]))


def _pairs_from_torch_pad(pad: tuple[int, ...], nd: int) -> list[list[int]]:
    """F.pad's last-axis-first (before, after) list -> per spatial axis, first axis first."""
    pad = tuple(pad) + (0,) * (2 * nd - len(pad))
    pairs = [[int(pad[2 * i]), int(pad[2 * i + 1])] for i in range(nd)]
    return list(reversed(pairs))


def _pad_from(imp: Any, node: Any, target: Any) -> None:
    nd = imp.nd(node)
    if node.op == "call_function":  # F.pad(x, pad, mode, value)
        a = call_args(node, ("input", "pad", "mode", "value"))
        pads, mode = tuple(a.get("pad", ())), a.get("mode", "constant")
        value = float(a.get("value") or 0.0) if mode == "constant" else None
    elif type(target).__name__ == "Pad":  # materialize's own
        pads, mode = tuple(target.pads), target.mode
        value = target.value if mode == "constant" else None
    else:
        name = type(target).__name__
        mode = next((m for k, m in _PAD_MODES.items() if k in name), "constant")
        pads = tuple(target.padding)
        value = float(getattr(target, "value", 0.0)) if mode == "constant" else None
    if any(p < 0 for p in pads):
        imp.unsupported_node(node, "negative padding (cropping)")
        return
    if mode == "constant" and value not in (0.0, float("-inf")):
        imp.notes.append(f"{node.name}: constant pad value {value} written as zero padding (same counts)")
    imp.add(node, "pad", {"padding": _pairs_from_torch_pad(pads, nd), "mode": mode}, pad_value=value)


_PAD_MODES = {"Reflection": "reflect", "Replication": "replicate", "Circular": "circular"}


_ONNX_PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}


def _pad_onnx(imp: Any, node: Any) -> None:
    src = imp.in_shape(node)
    pads = imp.attr(node, "pads")
    if pads is None and len(node.input) > 1 and node.input[1]:
        pads = imp.const_value(node.input[1])
    if src is None or pads is None or (len(node.input) > 3 and node.input[3]):
        imp.unsupported(node, "without constant pads over every axis")
        return
    rank = len(src) + 1
    pads = [int(v) for v in pads]
    if len(pads) != 2 * rank or pads[0] or pads[1] or pads[rank] or pads[rank + 1] or min(pads) < 0:
        imp.unsupported(node, f"with pads {pads} (only non-negative spatial padding has a spec form)")
        return
    spatial_pads = pads[2:rank] + pads[rank + 2 :]
    mode = _ONNX_PAD_MODES.get(str(imp.attr(node, "mode", "constant")))
    if mode is None:
        imp.unsupported(node, f"in mode {imp.attr(node, 'mode')}")
        return
    imp.add(node, "pad", {"padding": onnx_pads(spatial_pads, rank - 2), "mode": mode}, [node.input[0]])


@register(
    "pad",
    {
        "padding": Key(
            t_padding,
            "padding: an integer or one per axis (both sides), or [before, after] pairs per axis",
            required=True,
        ),
        "mode": Key(t_choice("constant", "reflect", "replicate", "circular"), "what the padded values are", "constant"),
    },
    category="shape",
    summary="explicit padding (no FLOPs)",
    to_torch=_pad_torch,
    from_torch=(
        TorchMap(
            _pad_from,
            modules=tuple(
                f"torch.nn.modules.padding._{m}PadNd" for m in ("Constant", "Reflection", "Replication", "Circular")
            )
            + ("cnnsize.torch.modules.Pad",),
            functions=("torch.nn.functional.pad",),
        ),
    ),
    from_onnx=(
        OnnxMap(
            _pad_onnx,
            ("Pad",),
            "constant pads (input or attribute) on spatial axes only; mode constant, reflect, edge (replicate), wrap "
            "(circular)",
        ),
    ),
)
def pad(p: dict[str, Any], ins: list[Tensor]) -> Result:
    x = ins[0]
    c, sp = spatial(x, "pad")
    if p["padding"] == "same":
        raise RuleError("bad-padding", "'same' has no meaning for a pad layer", "give integers", "padding")
    pads = resolve_padding(p["padding"], sp, [1] * len(sp), [1] * len(sp))
    out = tuple(n + a + b for n, (a, b) in zip(sp, pads))
    rf = rf_of(x, lambda r: tuple(AxisRF(a.size, a.jump, a.start2 - 2 * pb * a.jump) for a, (pb, _) in zip(r, pads)))
    return Result((c, *out), rf=rf)


# --- upsample ---------------------------------------------------------------------------

_MODES = ("nearest", "linear", "bilinear", "bicubic", "trilinear")


def _upsample_torch(p: dict[str, Any], in_shapes: list[Shape], out: Shape, t: Any) -> Any:
    nn = t.nn

    Layer = t.Layer

    nd = len(in_shapes[0]) - 1
    mode = p["mode"]
    need = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}.get(mode)
    if need is not None and need != nd:
        raise NotImplementedError(f"upsample mode {mode!r} needs {need} spatial axes in torch, the input has {nd}")
    kw: dict[str, Any] = {"mode": mode}
    if need is not None:
        kw["align_corners"] = False
    if p.get("scale") is not None:
        kw["scale_factor"] = tuple(float(v) for v in per_axis(p["scale"], nd, "scale", 1))
    else:
        kw["size"] = per_axis(p["size"], nd, "size", 1)
    return Layer(nn.Upsample(**kw))


def _upsample_from(imp: Any, node: Any, target: Any) -> None:
    if node.op == "call_module":
        size, scale, mode = target.size, target.scale_factor, target.mode
    else:
        a = call_args(node, ("input", "size", "scale_factor", "mode"))
        size, scale, mode = a.get("size"), a.get("scale_factor"), a.get("mode", "nearest")
    nd = imp.nd(node)
    if mode not in _MODES:
        imp.unsupported_node(node, f"upsampling mode {mode!r}")
        return
    if size is not None:
        imp.add(
            node,
            "upsample",
            {"size": axes_value(size if isinstance(size, (tuple, list)) else [size] * nd), "mode": mode},
        )
        return
    sc = list(scale) if isinstance(scale, (tuple, list)) else [scale] * nd
    if any(float(s) != int(s) for s in sc):
        out = (imp.out_shape(node) or ())[1:]
        imp.add(
            node, "upsample", {"size": axes_value(out), "mode": mode}, note=f"scale {sc} written as the output size"
        )
        return
    imp.add(node, "upsample", {"scale": axes_value([int(s) for s in sc]), "mode": mode})


def _resize_onnx(imp: Any, node: Any) -> None:
    src, out = imp.in_shape(node), imp.shape(node.output[0])
    if src is None or out is None or len(src) < 2 or out[0] != src[0]:
        imp.unsupported(node, "whose output shape ONNX cannot infer, or that resizes channels")
        return
    nd = len(src) - 1
    mode = str(imp.attr(node, "mode", "nearest"))
    kind = {"nearest": "nearest", "cubic": "bicubic"}.get(mode)
    if mode in ("linear", "bilinear"):
        kind = {1: "linear", 2: "bilinear", 3: "trilinear"}.get(nd)
    if kind is None:
        imp.unsupported(node, f"in mode {mode} on {nd} spatial axes")
        return
    sp_in, sp_out = src[1:], out[1:]
    if all(o % n == 0 for n, o in zip(sp_in, sp_out)):
        p: dict[str, Any] = {"scale": axes_value([o // n for n, o in zip(sp_in, sp_out)])}
    else:
        p = {"size": axes_value(list(sp_out))}
    imp.add(node, "upsample", {**p, "mode": kind}, [node.input[0]])


@register(
    "upsample",
    {
        "scale": Key(t_axes(1), "integer upsampling factor: one, or one per spatial axis"),
        "size": Key(t_axes(1), "upsampled output size per spatial axis"),
        "mode": Key(t_choice(*_MODES), "interpolation mode", "nearest"),
    },
    category="shape",
    summary="upsampling by an integer scale or to a size",
    to_torch=_upsample_torch,
    from_torch=(
        TorchMap(_upsample_from, modules=("torch.nn.Upsample",), functions=("torch.nn.functional.interpolate",)),
    ),
    from_onnx=(
        OnnxMap(
            _resize_onnx,
            ("Resize", "Upsample"),
            "the inferred output size: an integer scale where it divides, else a size; mode nearest, linear (by axes: "
            "linear, bilinear, trilinear), cubic (bicubic)",
        ),
    ),
)
def upsample(p: dict[str, Any], ins: list[Tensor]) -> Result:
    x = ins[0]
    c, sp = spatial(x, "upsample")
    if (p.get("scale") is None) == (p.get("size") is None):
        raise RuleError("bad-value", "upsample needs exactly one of 'scale' and 'size'", "e.g. scale: 2", "scale")
    if p.get("scale") is not None:
        sc = per_axis(p["scale"], len(sp), "scale", 1)
        out = tuple(n * s for n, s in zip(sp, sc))
    else:
        out = per_axis(p["size"], len(sp), "size", 1)
    units = c * prod(out)
    mode = p["mode"]
    taps = {"nearest": 1, "linear": 2, "bilinear": 4, "trilinear": 8, "bicubic": 16}[mode]
    # interpolation: taps multiplies and taps - 1 adds per output
    flops = 0 if taps == 1 else units * (2 * taps - 1)
    reach = {"nearest": 0, "bicubic": 3}.get(mode, 1)

    def tr(r: RF) -> RF:
        return tuple(AxisRF(a.size + reach * a.jump, _div(a.jump * n, o), a.start2) for a, n, o in zip(r, sp, out))

    return Result(
        (c, *out),
        ops=ops_of(other=flops),
        connections=units * taps,
        rf=rf_of(x, tr),
        counts={f"upsample.{mode}": units},
    )


# --- dropout and identity ---------------------------------------------------------------


def _dropout_torch(p: dict[str, Any], in_shapes: list[Shape], out: Shape, t: Any) -> Any:
    nn = t.nn

    Layer = t.Layer

    return Layer(nn.Dropout(p["p"]))


def _dropout_from(imp: Any, node: Any, target: Any) -> None:
    if node.op == "call_module":
        p = target.p
    else:
        p = call_args(node, ("input", "p")).get("p", 0.5)
    imp.add(node, "dropout", {"p": float(p)})


def _dropout_onnx(imp: Any, node: Any) -> None:
    ratio = imp.attr(node, "ratio")
    if ratio is None and len(node.input) > 1 and node.input[1]:
        v = imp.const_value(node.input[1])
        ratio = v[0] if v else None
    imp.add(node, "dropout", {"p": round(float(0.5 if ratio is None else ratio), 6)}, [node.input[0]])


@register(
    "dropout",
    {"p": Key(t_number(0, maximum=1), "dropout probability (training only)", 0.5)},
    category="regularization",
    summary="dropout (identity at inference: explicitly zero cost)",
    to_torch=_dropout_torch,
    from_torch=(
        TorchMap(
            _dropout_from,
            modules=("torch.nn.modules.dropout._DropoutNd",),
            functions=tuple(f"torch.nn.functional.dropout{n}" for n in ("", "1d", "2d", "3d")),
        ),
    ),
    from_onnx=(OnnxMap(_dropout_onnx, ("Dropout",), "ratio (attribute or constant input), default 0.5"),),
    pointwise=True,
)
def dropout(p: dict[str, Any], ins: list[Tensor]) -> Result:
    return Result(ins[0].shape, rf=ins[0].rf, counts={"dropout": prod(ins[0].shape) if p["p"] > 0 else 0})


def _identity_from(imp: Any, node: Any, m: Any) -> None:
    imp.add(node, "identity", {})


def _identity_onnx(imp: Any, node: Any) -> None:
    imp.add(node, "identity", {}, [node.input[0]])


@register(
    "identity",
    {},
    category="shape",
    summary="identity (zero cost)",
    to_torch=_layer("Identity"),
    from_torch=(TorchMap(_identity_from, modules=("torch.nn.Identity",)),),
    from_onnx=(OnnxMap(_identity_onnx, ("Identity",), "an Identity of an activation (of a constant: folded)"),),
    pointwise=True,
)
def identity(p: dict[str, Any], ins: list[Tensor]) -> Result:
    return Result(ins[0].shape, rf=ins[0].rf)
