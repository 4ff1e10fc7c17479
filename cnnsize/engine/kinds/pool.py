"""Pooling: max, average and Lp pooling over a window, global and adaptive
pooling."""

from __future__ import annotations

from math import prod
from typing import Any

from cnnsize.engine.geometry import (
    Window,
    adaptive_max_window,
    adaptive_window_sum,
    per_axis,
    rf_global,
    rf_window,
    window,
)
from cnnsize.engine.kinds.conv import PADDING
from cnnsize.engine.registry import (
    Key,
    Missing,
    OnnxMap,
    Result,
    Shape,
    Tensor,
    TorchMap,
    axes_value,
    call_args,
    onnx_window,
    ops_of,
    padding_value,
    register,
    rf_of,
    spatial,
    t_axes,
    t_bool,
    t_number,
)

POOL_KEYS = {
    "kernel": Key(t_axes(1), "window size: one integer, or one per spatial axis", required=True),
    "stride": Key(t_axes(1), "step of the window: one integer, or one per spatial axis; default the kernel"),
    "padding": PADDING,
    "ceil_mode": Key(t_bool, "round the output size up instead of down", False),
}


def _written_window(p: dict[str, Any], units: int, nd: int) -> dict[str, int]:
    # outputs x the kernel size as written, a single int NOT raised to the
    # number of axes: what torchscan 0.2.0 multiplies by (it reads
    # nn.MaxPool2d(3).kernel_size == 3 as a 3-element window)
    k, s = p["kernel"], p["stride"] if p.get("stride") is not None else p["kernel"]
    # and outputs x stride area: convnet-burden's pool count is 2 x that
    return {
        "window_written": units * (k if isinstance(k, int) else prod(k)),
        "out_x_stride": units * (s**nd if isinstance(s, int) else prod(s)),
    }


def pool_window(p: dict[str, Any], x: Tensor, kind: str, dilation: Any = 1) -> tuple[Window, int, int, int]:
    c, sp = spatial(x, kind)
    stride = p["stride"] if p.get("stride") is not None else p["kernel"]
    w = window(sp, p["kernel"], stride, p["padding"], dilation, p["ceil_mode"], pool=True)
    units = c * prod(w.out)
    return w, units, w.volume, c


# --- torch ---------------------------------------------------------------------


def _pool_torch(kind: str) -> Any:
    def build(p: dict[str, Any], in_shapes: list[Shape], out: Shape, t: Any) -> Any:
        Crop, Layer, Pad, symmetric, torch_class, torch_pads = (
            t.Crop,
            t.Layer,
            t.Pad,
            t.symmetric,
            t.torch_class,
            t.torch_pads,
        )

        sp = tuple(in_shapes[0][1:])
        nd = len(sp)
        stride = p["stride"] if p.get("stride") is not None else p["kernel"]
        w = window(sp, p["kernel"], stride, p["padding"], p.get("dilation", 1), p["ceil_mode"], pool=True)
        sym = symmetric(w.pads)
        native = kind != "lppool" and sym is not None and all(2 * a <= k for a, k in zip(sym, w.kernel))
        padding = sym if native else (0,) * nd
        pad = None
        if not native and any(a or b for a, b in w.pads):
            if kind == "avgpool" and not p["count_include_pad"]:
                raise NotImplementedError(
                    "avgpool with count_include_pad: false and asymmetric padding has no exact torch form"
                )
            pad = Pad(torch_pads(w.pads), value=float("-inf") if kind == "maxpool" else 0.0)
        if kind == "maxpool":
            pool = torch_class("MaxPool", nd)(w.kernel, w.stride, padding, w.dilation, ceil_mode=p["ceil_mode"])
        elif kind == "avgpool":
            pool = torch_class("AvgPool", nd)(
                w.kernel, w.stride, padding, ceil_mode=p["ceil_mode"], count_include_pad=p["count_include_pad"]
            )
        else:
            pool = torch_class("LPPool", nd)(p["p"], w.kernel, w.stride, ceil_mode=p["ceil_mode"])
        crop = None
        if pad is not None and p["ceil_mode"]:
            # an explicit pad turns padding into input, which can admit one more
            # ceil-mode window than torch's rule for padding allows: drop it
            got = window(
                [n + a + b for n, (a, b) in zip(sp, w.pads)], w.kernel, w.stride, 0, w.dilation, True, pool=True
            ).out
            if list(got) != list(w.out):
                crop = Crop([(0, g - o) for g, o in zip(got, w.out)])
        return Layer(pool, pad=pad, crop=crop)

    return build


def _maxpool_from(imp: Any, node: Any, target: Any) -> None:
    nd = imp.nd(node)
    if node.op == "call_module":
        a = {
            "kernel_size": target.kernel_size,
            "stride": target.stride,
            "padding": target.padding,
            "dilation": target.dilation,
            "ceil_mode": target.ceil_mode,
            "return_indices": target.return_indices,
        }
    else:
        a = call_args(node, ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"))
    if a.get("return_indices"):
        imp.unsupported_node(node, "max pooling that returns indices")
        return
    k = a["kernel_size"]
    imp.add(
        node,
        "maxpool",
        {
            "kernel": padding_value(k, nd),
            "stride": padding_value(a.get("stride") or k, nd),
            "padding": padding_value(a.get("padding", 0), nd),
            "dilation": padding_value(a.get("dilation", 1), nd),
            "ceil_mode": bool(a.get("ceil_mode", False)),
        },
    )


def _avgpool_from(imp: Any, node: Any, target: Any) -> None:
    nd = imp.nd(node)
    if node.op == "call_module":
        if getattr(target, "divisor_override", None):
            imp.notes.append(f"{node.target}: divisor_override={target.divisor_override} not expressed (same counts)")
        a = {
            "kernel_size": target.kernel_size,
            "stride": target.stride,
            "padding": target.padding,
            "ceil_mode": target.ceil_mode,
            "count_include_pad": target.count_include_pad,
        }
    else:
        a = call_args(node, ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"))
    k = a["kernel_size"]
    imp.add(
        node,
        "avgpool",
        {
            "kernel": padding_value(k, nd),
            "stride": padding_value(a.get("stride") or k, nd),
            "padding": padding_value(a.get("padding", 0), nd),
            "ceil_mode": bool(a.get("ceil_mode", False)),
            "count_include_pad": bool(a.get("count_include_pad", True)),
        },
    )


def _lppool_from(imp: Any, node: Any, m: Any) -> None:
    p = {
        "kernel": axes_value(m.kernel_size),
        "stride": axes_value(m.stride if m.stride is not None else m.kernel_size),
        "p": float(m.norm_type),
        "ceil_mode": bool(m.ceil_mode),
    }
    imp.add(node, "lppool", p)


def _adaptive_from(imp: Any, node: Any, target: Any) -> None:
    how = (
        "avg" if "avg" in (target.__name__ if node.op == "call_function" else type(target).__name__.lower()) else "max"
    )
    if node.op == "call_module":
        size = target.output_size
    else:
        size = call_args(node, ("input", "output_size")).get("output_size")
    src = imp.src_shape(node) or ()
    nd = len(src) - 1
    sizes = list(size) if isinstance(size, (tuple, list)) else [size] * nd
    sizes = [s if s is not None else n for s, n in zip(sizes, src[1:])]
    if all(s == 1 for s in sizes):
        imp.add(node, f"global{how}pool", {})
    else:
        imp.add(node, f"adaptive{how}pool", {"output": axes_value(sizes)})


def _gap_from(imp: Any, node: Any, target: Any) -> None:
    # x.mean(dims, keepdim): global average pooling when dims are every spatial axis
    src = imp.src_shape(node)
    if src is None:
        imp.unsupported_node(node, "method Tensor.mean")
        return
    a = call_args(node, ("self", "dim", "keepdim"))
    dims: Any = a.get("dim")
    dims = [dims] if isinstance(dims, int) else list(dims or [])
    rank = len(src) + 1
    dims = sorted(d + rank if d < 0 else d for d in dims)
    if dims == list(range(2, rank)) and a.get("keepdim", False):
        imp.add(node, "globalavgpool", {})
    elif dims == list(range(2, rank)):
        imp.unsupported_node(node, "mean over the spatial axes without keepdim (write a global pool and a flatten)")
    else:
        imp.unsupported_node(node, f"mean over axes {dims}")


def _global_torch(base: str) -> Any:
    def build(p: dict[str, Any], in_shapes: list[Shape], out: Shape, t: Any) -> Any:
        Layer, torch_class = t.Layer, t.torch_class

        return Layer(torch_class(base, len(in_shapes[0]) - 1)(1))

    return build


def _adaptive_torch(base: str) -> Any:
    def build(p: dict[str, Any], in_shapes: list[Shape], out: Shape, t: Any) -> Any:
        Layer, torch_class = t.Layer, t.torch_class

        nd = len(in_shapes[0]) - 1
        return Layer(torch_class(base, nd)(per_axis(p["output"], nd, "output", 1)))

    return build


_ADAPTIVE = TorchMap(
    _adaptive_from,
    modules=tuple(f"torch.nn.Adaptive{h}Pool{n}d" for h in ("Avg", "Max") for n in (1, 2, 3)),
    functions=tuple(f"torch.nn.functional.adaptive_{h}_pool{n}d" for h in ("avg", "max") for n in (1, 2, 3)),
)


# --- ONNX ----------------------------------------------------------------------


def _pool_onnx(kind: str) -> Any:
    def convert(imp: Any, node: Any) -> None:
        kernel = [int(k) for k in imp.attr(node, "kernel_shape", [])]
        if not kernel:
            imp.unsupported(node, "without kernel_shape")
            return
        w = onnx_window(imp, node, kernel)
        p: dict[str, Any] = {"kernel": w["kernel"], "stride": w["stride"], "padding": w["padding"]}
        if imp.attr(node, "ceil_mode", 0):
            p["ceil_mode"] = True
        if kind == "maxpool":
            p["dilation"] = w["dilation"]
            if len(node.output) > 1 and node.output[1]:
                imp.unsupported(node, "with an Indices output (max unpooling)")
                return
        elif kind == "avgpool":
            if w["dilation"] != 1:
                imp.unsupported(node, "with dilations (no dilated average pool kind)")
                return
            # ONNX's default is 0, torch's (and cnnsize's) True
            p["count_include_pad"] = bool(imp.attr(node, "count_include_pad", 0))
        else:
            p["p"] = int(imp.attr(node, "p", 2))
        imp.add(node, kind, p)

    return convert


def _global_onnx(kind: str) -> Any:
    def convert(imp: Any, node: Any) -> None:
        imp.add(node, kind, {})

    return convert


def _reduce_onnx(kind: str) -> Any:
    """ReduceMean / ReduceMax over every spatial axis: a global pool (then a
    flatten when the reduced axes are dropped)."""

    def convert(imp: Any, node: Any) -> None:
        src = imp.in_shape(node)
        axes = imp.attr(node, "axes")
        if axes is None and len(node.input) > 1 and node.input[1]:
            axes = imp.const_value(node.input[1])
        if src is None or axes is None:
            imp.unsupported(node, "without constant axes")
            return
        rank = len(src) + 1
        axes = sorted(int(a) + rank if int(a) < 0 else int(a) for a in axes)
        if len(src) < 2 or axes != list(range(2, rank)):
            imp.unsupported(node, f"over axes {axes} (a global pool reduces every spatial axis, 2..{rank - 1})")
            return
        keep = imp.attr(node, "keepdims", 1)
        imp.add(node, kind, {}, then=None if keep else ("flatten", {}))

    return convert


# --- the kinds -------------------------------------------------------------------


@register(
    "maxpool",
    {**POOL_KEYS, "dilation": Key(t_axes(1), "spacing between window taps: one integer, or one per spatial axis", 1)},
    aliases=("max_pool", "maxpool1d", "maxpool2d", "maxpool3d"),
    category="pool",
    summary="max pooling",
    to_torch=_pool_torch("maxpool"),
    from_torch=(
        TorchMap(
            _maxpool_from,
            modules=("torch.nn.modules.pooling._MaxPoolNd",),
            functions=tuple(f"torch.nn.functional.max_pool{n}d" for n in (1, 2, 3)),
        ),
    ),
    from_onnx=(
        OnnxMap(
            _pool_onnx("maxpool"),
            ("MaxPool",),
            "kernel_shape, strides, pads, auto_pad, dilations, ceil_mode; an Indices output refused",
        ),
    ),
)
def maxpool(p: dict[str, Any], ins: list[Tensor]) -> Result:
    w, units, win, c = pool_window(p, ins[0], "maxpool", p["dilation"])
    return Result(
        (c, *w.out),
        ops=ops_of(pool=units * (win - 1)),
        connections=units * win,
        rf=rf_of(ins[0], lambda r: rf_window(r, w)),
        counts=_written_window(p, units, len(w.out)),
    )


@register(
    "avgpool",
    {**POOL_KEYS, "count_include_pad": Key(t_bool, "whether padded zeros count in the average", True)},
    aliases=("avg_pool", "avgpool1d", "avgpool2d", "avgpool3d"),
    category="pool",
    summary="average pooling",
    to_torch=_pool_torch("avgpool"),
    from_torch=(
        TorchMap(
            _avgpool_from,
            modules=("torch.nn.modules.pooling._AvgPoolNd",),
            functions=tuple(f"torch.nn.functional.avg_pool{n}d" for n in (1, 2, 3)),
        ),
    ),
    from_onnx=(
        OnnxMap(
            _pool_onnx("avgpool"),
            ("AveragePool",),
            "kernel_shape, strides, pads, auto_pad, ceil_mode, count_include_pad (ONNX default 0)",
        ),
    ),
)
def avgpool(p: dict[str, Any], ins: list[Tensor]) -> Result:
    w, units, win, c = pool_window(p, ins[0], "avgpool")
    # (win - 1) adds and one divide per output
    return Result(
        (c, *w.out),
        ops=ops_of(pool=units * win),
        connections=units * win,
        rf=rf_of(ins[0], lambda r: rf_window(r, w)),
        counts=_written_window(p, units, len(w.out)),
    )


@register(
    "lppool",
    {**POOL_KEYS, "p": Key(t_number(1), "the power of the norm (2: L2 pooling)", 2)},
    aliases=("l2pool",),
    category="pool",
    summary="power-average (L2) pooling",
    to_torch=_pool_torch("lppool"),
    from_torch=(TorchMap(_lppool_from, modules=("torch.nn.modules.pooling._LPPoolNd",)),),
    from_onnx=(OnnxMap(_pool_onnx("lppool"), ("LpPool",), "kernel_shape, strides, pads, auto_pad, ceil_mode, p"),),
)
def lppool(p: dict[str, Any], ins: list[Tensor]) -> Result:
    w, units, win, c = pool_window(p, ins[0], "lppool")
    # win powers, win - 1 adds, one root
    return Result(
        (c, *w.out),
        ops=ops_of(pool=units * 2 * win),
        connections=units * win,
        rf=rf_of(ins[0], lambda r: rf_window(r, w)),
    )


def _global(x: Tensor, kind: str, per_out: int) -> Result:
    c, sp = spatial(x, kind)
    n = prod(sp)
    return Result(
        (c, *([1] * len(sp))),
        ops=ops_of(pool=c * (n + per_out)),
        connections=c * n,
        rf=rf_of(x, lambda r: rf_global(r, sp)),
    )


@register(
    "globalavgpool",
    {},
    aliases=("gap", "global_avg_pool"),
    category="pool",
    summary="global average pooling (output C x 1 x 1)",
    to_torch=_global_torch("AdaptiveAvgPool"),
    from_torch=(TorchMap(_gap_from, methods=("mean",)),),  # nn.AdaptiveAvgPoolNd(1): through adaptiveavgpool
    from_onnx=(
        OnnxMap(_global_onnx("globalavgpool"), ("GlobalAveragePool",), "no attributes"),
        OnnxMap(
            _reduce_onnx("globalavgpool"),
            ("ReduceMean",),
            "axes (attribute or constant input) = every spatial axis; keepdims=0 adds a flatten; other axes refused",
        ),
    ),
)
def globalavgpool(p: dict[str, Any], ins: list[Tensor]) -> Result:
    return _global(ins[0], "globalavgpool", 0)


@register(
    "globalmaxpool",
    {},
    aliases=("global_max_pool",),
    category="pool",
    summary="global max pooling",
    to_torch=_global_torch("AdaptiveMaxPool"),
    from_torch=Missing("torch has no global max pool class: adaptivemaxpool's mapping writes AdaptiveMaxPoolNd(1)"),
    from_onnx=(
        OnnxMap(_global_onnx("globalmaxpool"), ("GlobalMaxPool",), "no attributes"),
        OnnxMap(_reduce_onnx("globalmaxpool"), ("ReduceMax",), "as ReduceMean"),
    ),
)
def globalmaxpool(p: dict[str, Any], ins: list[Tensor]) -> Result:
    return _global(ins[0], "globalmaxpool", -1)


def _adaptive(p: dict[str, Any], x: Tensor, kind: str, is_max: bool) -> Result:
    c, sp = spatial(x, kind)
    out = per_axis(p["output"], len(sp), "output", 1)
    # sum over outputs of the window volume, in closed form per axis (torch's
    # window i spans [floor(i*n/o), ceil((i+1)*n/o)); see geometry)
    total = c * prod(adaptive_window_sum(n, o) for n, o in zip(sp, out))
    units = c * prod(out)
    if out == sp:
        rf = x.rf
    elif all(n % o == 0 for n, o in zip(sp, out)):
        ww = window(sp, [n // o for n, o in zip(sp, out)], [n // o for n, o in zip(sp, out)], 0)
        rf = rf_of(x, lambda r: rf_window(r, ww))
    else:
        # windows of varying size: report the largest, as a worst case
        big = [adaptive_max_window(n, o) for n, o in zip(sp, out)]
        ww = window(sp, big, [max(1, n // o) for n, o in zip(sp, out)], 0)
        rf = rf_of(x, lambda r: rf_window(r, ww))
    return Result((c, *out), ops=ops_of(pool=total - units if is_max else total), connections=total, rf=rf)


OUTPUT = Key(t_axes(1), "output size per spatial axis", required=True)


@register(
    "adaptiveavgpool",
    {"output": OUTPUT},
    aliases=("adaptive_avg_pool",),
    category="pool",
    summary="adaptive average pooling to a fixed output size",
    to_torch=_adaptive_torch("AdaptiveAvgPool"),
    from_torch=(_ADAPTIVE,),
    from_onnx=Missing("ONNX has no adaptive pool: exporters write a fixed-window AveragePool (an avgpool)"),
)
def adaptiveavgpool(p: dict[str, Any], ins: list[Tensor]) -> Result:
    return _adaptive(p, ins[0], "adaptiveavgpool", False)


@register(
    "adaptivemaxpool",
    {"output": OUTPUT},
    aliases=("adaptive_max_pool",),
    category="pool",
    summary="adaptive max pooling",
    to_torch=_adaptive_torch("AdaptiveMaxPool"),
    from_torch=Missing("adaptiveavgpool's mapping serves both adaptive pools (one converter picks avg or max)"),
    from_onnx=Missing("ONNX has no adaptive pool: exporters write a fixed-window MaxPool (a maxpool)"),
)
def adaptivemaxpool(p: dict[str, Any], ins: list[Tensor]) -> Result:
    return _adaptive(p, ins[0], "adaptivemaxpool", True)
