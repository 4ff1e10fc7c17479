"""Convolutions: conv (groups, dilation, untied bias, LeNet connection
tables), depthwise, separable and transposed convolution."""

from __future__ import annotations

from math import prod
from typing import Any

from cnnsize.engine.errors import RuleError
from cnnsize.engine.geometry import (
    Window,
    per_axis,
    resolve_padding,
    rf_transposed,
    rf_window,
    transposed_out,
    transposed_taps,
    window,
)
from cnnsize.engine.kinds.activation import ACT, fuse_act
from cnnsize.engine.registry import (
    Key,
    Missing,
    OnnxMap,
    Result,
    Shape,
    Tensor,
    TorchMap,
    axes_value,
    onnx_pads,
    onnx_window,
    ops_of,
    padding_value,
    register,
    rf_of,
    spatial,
    t_axes,
    t_bias,
    t_bool,
    t_int,
    t_padding,
    t_table,
)

KERNEL = Key(t_axes(1), "window size: one integer, or one per spatial axis", required=True)
STRIDE = Key(t_axes(1), "step of the window: one integer, or one per spatial axis", 1)
PADDING = Key(
    t_padding,
    "zero padding: an integer or one per axis (both sides), 'same', 'valid', or [before, after] pairs per axis",
    0,
)
DILATION = Key(t_axes(1), "spacing between kernel taps: one integer, or one per spatial axis", 1)
WINDOW_KEYS = {"kernel": KERNEL, "stride": STRIDE, "padding": PADDING, "dilation": DILATION}
FILTERS = Key(t_int(1), "number of output maps (channels)", required=True)
GROUPS = Key(t_int(1), "number of groups the channels are split into", 1)
BIAS = Key(t_bias, "whether the layer has biases; untied: one bias per output unit (LeNet 1989)", True)
MULTIPLIER = Key(t_int(1), "depthwise channel multiplier: output maps per input map", 1)


def _conv_core(
    p: dict[str, Any], x: Tensor, filters: int, groups: int, kind: str, table: list[list[int]] | None = None
) -> Result:
    c, sp = spatial(x, kind)
    if c % groups:
        raise RuleError(
            "groups-mismatch",
            f"{c} input channels are not divisible by groups={groups}",
            "choose groups that divide the input channels",
            "groups",
        )
    if filters % groups:
        raise RuleError(
            "groups-mismatch",
            f"filters={filters} is not divisible by groups={groups}",
            "choose groups that divide the filters",
            "groups",
        )
    w = window(sp, p["kernel"], p["stride"], p["padding"], p["dilation"])
    kvol = w.volume
    positions = prod(w.out)
    units = filters * positions
    bias = p.get("bias", True)
    if table is not None:
        taps = kvol * _table_taps(table, filters, groups, c)
    else:
        taps = filters * kvol * (c // groups)
    biases = filters if bias is True else units if bias == "untied" else 0
    macs = positions * taps
    has_bias = bias is not False
    ops = {"bias": units} if has_bias and units else {}
    counts = {
        "mac_dense": positions * kvol * c * filters if table is None else macs
    }  # as if groups were 1 (Netscope ignores them)
    fuse_act(p, units, ops, counts)
    rf = rf_window(x.rf, w) if x.rf is not None else None
    # positional (shape, weights, biases, buffers, macs, ops, connections, rf,
    # counts): keyword calls cost twice as much on this path
    return Result((filters, *w.out), taps, biases, 0, macs, ops, macs + (units if has_bias else 0), rf, counts)


def _table_taps(table: list[list[int]], filters: int, groups: int, c: int) -> int:
    if groups != 1:
        raise RuleError("bad-value", "'table' and 'groups' cannot be combined", "drop one", "table")
    if len(table) != filters:
        raise RuleError(
            "table-mismatch",
            f"'table' has {len(table)} rows but filters={filters}",
            "give one row per output map",
            "table",
        )
    bad = [i for row in table for i in row if i >= c]
    if bad:
        raise RuleError(
            "table-mismatch",
            f"'table' names input map {bad[0]} but the input has {c} maps (0..{c - 1})",
            "",
            "table",
        )
    return sum(len(r) for r in table)


# --- torch ---------------------------------------------------------------------


def _conv_parts(
    p: dict[str, Any], cin: int, sp: Shape, filters: int, groups: int, out: Shape, bias: Any, t: Any
) -> tuple[Any, Any, Any]:
    Pad, TableConv, UntiedBias, symmetric, torch_class, torch_pads = (
        t.Pad,
        t.TableConv,
        t.UntiedBias,
        t.symmetric,
        t.torch_class,
        t.torch_pads,
    )

    nd = len(sp)
    w = window(sp, p["kernel"], p["stride"], p["padding"], p["dilation"])
    sym = symmetric(w.pads)
    pad = None if sym is not None else Pad(torch_pads(w.pads))
    padding = sym if sym is not None else (0,) * nd
    table = p.get("table")
    if table is not None:
        op: Any = TableConv(table, w.kernel, w.stride, padding, w.dilation, bias is True)
    else:
        op = torch_class("Conv", nd)(cin, filters, w.kernel, w.stride, padding, w.dilation, groups, bias=bias is True)
    untied = UntiedBias((filters, *out)) if bias == "untied" else None
    return op, pad, untied


def _conv_torch(p: dict[str, Any], in_shapes: list[Shape], out: Shape, t: Any) -> Any:
    Layer, fused_activation = t.Layer, t.fused_activation

    c, sp = in_shapes[0][0], tuple(in_shapes[0][1:])
    op, pad, untied = _conv_parts(p, c, sp, p["filters"], p["groups"], out[1:], p["bias"], t)
    return Layer(op, pad=pad, untied=untied, act=fused_activation(p))


def _dwconv_torch(p: dict[str, Any], in_shapes: list[Shape], out: Shape, t: Any) -> Any:
    Layer, fused_activation = t.Layer, t.fused_activation

    c, sp = in_shapes[0][0], tuple(in_shapes[0][1:])
    op, pad, untied = _conv_parts(p, c, sp, c * p["multiplier"], c, out[1:], p["bias"], t)
    return Layer(op, pad=pad, untied=untied, act=fused_activation(p))


def _sepconv_torch(p: dict[str, Any], in_shapes: list[Shape], out: Shape, t: Any) -> Any:
    Layer, SepConv, UntiedBias, fused_activation, torch_class = (
        t.Layer,
        t.SepConv,
        t.UntiedBias,
        t.fused_activation,
        t.torch_class,
    )

    c, sp = in_shapes[0][0], tuple(in_shapes[0][1:])
    cm = c * p["multiplier"]
    mid = window(sp, p["kernel"], p["stride"], p["padding"], p["dilation"]).out
    dw, pad, dw_untied = _conv_parts(p, c, sp, cm, c, mid, p["bias"], t)
    pw = torch_class("Conv", len(sp))(cm, p["filters"], 1, bias=p["bias"] is True)
    untied = UntiedBias(out) if p["bias"] == "untied" else None
    return Layer(SepConv(dw, dw_untied, pw), pad=pad, untied=untied, act=fused_activation(p))


def _deconv_torch(p: dict[str, Any], in_shapes: list[Shape], out: Shape, t: Any) -> Any:
    Crop, Layer, fused_activation, symmetric, torch_class = (
        t.Crop,
        t.Layer,
        t.fused_activation,
        t.symmetric,
        t.torch_class,
    )

    c, sp = in_shapes[0][0], tuple(in_shapes[0][1:])
    nd = len(sp)
    s = per_axis(p["stride"], nd, "stride", 1)
    pads = resolve_padding(p["padding"], sp, [1] * nd, s)
    sym = symmetric(pads)
    op = torch_class("ConvTranspose", nd)(
        c,
        p["filters"],
        per_axis(p["kernel"], nd, "kernel", 1),
        s,
        sym if sym is not None else 0,
        per_axis(p["output_padding"], nd, "output_padding", 0),
        p["groups"],
        bias=p["bias"],
        dilation=per_axis(p["dilation"], nd, "dilation", 1),
    )
    return Layer(op, crop=None if sym is not None else Crop(pads), act=fused_activation(p))


def _window_of(m: Any, nd: int) -> dict[str, Any]:
    return {
        "kernel": axes_value(m.kernel_size),
        "stride": axes_value(m.stride),
        "padding": padding_value(m.padding, nd),
        "dilation": axes_value(m.dilation),
    }


def _conv_from(imp: Any, node: Any, m: Any) -> None:
    if type(m).__name__ == "TableConv":
        p = {
            "filters": len(m.table),
            "kernel": axes_value(m.kernel),
            "stride": axes_value(m.stride),
            "padding": axes_value(m.padding),
            "dilation": axes_value(m.dilation),
            "bias": m.bias is not None,
            "table": m.table,
        }
        imp.add(node, "conv", p)
        return
    if m.padding_mode != "zeros":
        imp.notes.append(f"{node.target}: padding_mode={m.padding_mode} written as zero padding (same counts)")
    common = _window_of(m, imp.nd(node))
    if m.groups > 1 and m.groups == m.in_channels and m.out_channels % m.in_channels == 0:
        imp.add(node, "dwconv", {**common, "multiplier": m.out_channels // m.in_channels, "bias": m.bias is not None})
        return
    p = {"filters": m.out_channels, **common, "bias": m.bias is not None}
    if m.groups != 1:
        p["groups"] = m.groups
    imp.add(node, "conv", p)


def _sepconv_from(imp: Any, node: Any, m: Any) -> None:
    dw, pw = m.dw, m.pw
    p = {"filters": pw.out_channels, **_window_of(dw, imp.nd(node)), "multiplier": dw.out_channels // dw.in_channels}
    p["bias"] = "untied" if m.dw_bias is not None else dw.bias is not None
    imp.add(node, "sepconv", p)


def _deconv_from(imp: Any, node: Any, m: Any) -> None:
    w = _window_of(m, imp.nd(node))
    p = {"filters": m.out_channels, **w, "output_padding": axes_value(m.output_padding)}
    p["dilation"] = p.pop("dilation")  # the order the importer has always written
    p["bias"] = m.bias is not None
    if m.groups != 1:
        p["groups"] = m.groups
    imp.add(node, "deconv", p)


# --- ONNX ----------------------------------------------------------------------


def _conv_onnx(imp: Any, node: Any) -> None:
    wshape = imp.const_shape(node.input[1])
    src = imp.in_shape(node)
    if wshape is None or src is None:
        imp.unsupported(node, "with a weight that is not a constant (initializer)")
        return
    filters, kernel = wshape[0], list(wshape[2:])
    groups = int(imp.attr(node, "group", 1))
    bias = len(node.input) > 2 and node.input[2] != ""
    common = onnx_window(imp, node, kernel)
    imp.mark_folded(node)
    c = src[0]
    if groups > 1 and groups == c and filters % c == 0:
        imp.add(node, "dwconv", {**common, "multiplier": filters // c, "bias": bias}, [node.input[0]])
        return
    p: dict[str, Any] = {"filters": filters, **common, "bias": bias}
    if groups != 1:
        p["groups"] = groups
    imp.add(node, "conv", p, [node.input[0]])


def _deconv_onnx(imp: Any, node: Any) -> None:
    wshape = imp.const_shape(node.input[1])
    src = imp.in_shape(node)
    if wshape is None or src is None:
        imp.unsupported(node, "with a weight that is not a constant (initializer)")
        return
    groups = int(imp.attr(node, "group", 1))
    # weight (C_in, C_out/groups, k...)
    filters, kernel = wshape[1] * groups, [int(k) for k in wshape[2:]]
    nd = len(kernel)
    stride = [int(v) for v in imp.attr(node, "strides", [1] * nd)]
    dilation = [int(v) for v in imp.attr(node, "dilations", [1] * nd)]
    out_pad = [int(v) for v in imp.attr(node, "output_padding", [0] * nd)]
    pads = imp.attr(node, "pads")
    out_shape = imp.attr(node, "output_shape")
    auto = imp.attr(node, "auto_pad", "NOTSET")
    if out_shape is not None or auto not in ("", "NOTSET"):
        # pads from the output size the node asks for (ONNX ConvTranspose:
        # total = stride*(in-1) + output_padding + (k-1)*dilation + 1 - out)
        target = [int(v) for v in out_shape] if out_shape is not None else [n * s for n, s in zip(src[1:], stride)]
        if auto == "VALID":
            target = [
                s * (n - 1) + o + (k - 1) * d + 1 for n, s, o, k, d in zip(src[1:], stride, out_pad, kernel, dilation)
            ]
        before, after = [], []
        for n, s, o, k, d, t in zip(src[1:], stride, out_pad, kernel, dilation, target[-nd:]):
            total = s * (n - 1) + o + (k - 1) * d + 1 - t
            if total < 0:
                imp.unsupported(node, f"whose output_shape {target} is larger than its full output (padding {total})")
                return
            small, big = total // 2, total - total // 2
            before.append(big if auto == "SAME_LOWER" else small)
            after.append(small if auto == "SAME_LOWER" else big)
        pads = before + after
    p: dict[str, Any] = {
        "filters": filters,
        "kernel": axes_value(kernel),
        "stride": axes_value(stride),
        "padding": onnx_pads(pads, nd),
        "output_padding": axes_value(out_pad),
        "dilation": axes_value(dilation),
        "bias": len(node.input) > 2 and node.input[2] != "",
    }
    if groups != 1:
        p["groups"] = groups
    imp.add(node, "deconv", p, [node.input[0]])


# --- the kinds -------------------------------------------------------------------


@register(
    "conv",
    {
        "filters": FILTERS,
        **WINDOW_KEYS,
        "groups": GROUPS,
        "bias": BIAS,
        "table": Key(
            t_table,
            "LeNet-5 C3 style partial connections: for each output map, the list of input maps (0-based) it reads",
        ),
        **ACT,
    },
    aliases=("conv1d", "conv2d", "conv3d", "convolution"),
    category="conv",
    summary="convolution (1-D/2-D/3-D; groups, dilation, untied bias, connection table)",
    to_torch=_conv_torch,
    from_torch=(TorchMap(_conv_from, modules=("torch.nn.modules.conv._ConvNd", "cnnsize.torch.modules.TableConv")),),
    from_onnx=(
        OnnxMap(
            _conv_onnx,
            ("Conv",),
            "filters and kernel from the weight initializer (M, C/group, k...); strides, dilations, pads, auto_pad; "
            "group = channels is a dwconv; bias when a third input is given; a weight that is not a constant is "
            "refused",
        ),
    ),
    params="weights `filters*kvol*C/groups` (or per `table`), biases `filters` (untied: one per output unit)",
)
def conv(p: dict[str, Any], ins: list[Tensor]) -> Result:
    return _conv_core(p, ins[0], p["filters"], p["groups"], "conv", p.get("table"))


@register(
    "dwconv",
    {**WINDOW_KEYS, "multiplier": MULTIPLIER, "bias": BIAS, **ACT},
    aliases=("depthwise",),
    category="conv",
    summary="depthwise convolution (groups = channels)",
    to_torch=_dwconv_torch,
    from_torch=Missing("torch has no depthwise class: conv's mapping writes an nn.ConvNd with groups = in_channels"),
    from_onnx=Missing("ONNX has no depthwise op: conv's mapping reads Conv with group = input channels"),
    params="`C*multiplier*kvol` weights + biases",
)
def dwconv(p: dict[str, Any], ins: list[Tensor]) -> Result:
    c = ins[0].shape[0]
    return _conv_core(p, ins[0], c * p["multiplier"], c, "dwconv")


@register(
    "sepconv",
    {"filters": FILTERS, **WINDOW_KEYS, "multiplier": MULTIPLIER, "bias": BIAS, **ACT},
    aliases=("separable",),
    category="conv",
    summary="depthwise separable convolution (depthwise then 1x1)",
    to_torch=_sepconv_torch,
    from_torch=(TorchMap(_sepconv_from, modules=("cnnsize.torch.modules.SepConv",)),),
    from_onnx=Missing("ONNX writes a separable conv as two Conv nodes (a dwconv and a conv)"),
    params="depthwise (`C*multiplier*kvol`) + pointwise (`C*multiplier*filters`) weights + biases",
)
def sepconv(p: dict[str, Any], ins: list[Tensor]) -> Result:
    x = ins[0]
    c = x.shape[0]
    dw = _conv_core({**p, "activation": None}, x, c * p["multiplier"], c, "sepconv")
    mid = Tensor(dw.shape, dw.rf)
    pw = _conv_core({**p, "kernel": 1, "stride": 1, "padding": 0, "dilation": 1}, mid, p["filters"], 1, "sepconv")
    ops = dict(dw.ops)
    for k, v in pw.ops.items():
        ops[k] = ops.get(k, 0) + v
    return Result(
        counts={**pw.counts, "mac_dense": dw.counts["mac_dense"] + pw.counts["mac_dense"]},
        shape=pw.shape,
        weights=dw.weights + pw.weights,
        biases=dw.biases + pw.biases,
        macs=dw.macs + pw.macs,
        ops=ops,
        connections=dw.connections + pw.connections,
        rf=pw.rf,
    )


@register(
    "deconv",
    {
        "filters": FILTERS,
        **WINDOW_KEYS,
        "output_padding": Key(t_axes(0), "extra size added to one side of the output of a transposed convolution", 0),
        "groups": GROUPS,
        "bias": Key(t_bool, "whether the layer has biases", True),
        **ACT,
    },
    aliases=("convtranspose", "transposed_conv", "conv_transpose"),
    category="transposed_conv",
    summary="transposed convolution, counted from the input side",
    to_torch=_deconv_torch,
    from_torch=(TorchMap(_deconv_from, modules=("torch.nn.modules.conv._ConvTransposeNd",)),),
    from_onnx=(
        OnnxMap(
            _deconv_onnx,
            ("ConvTranspose",),
            "weight (C, M/group, k...); strides, dilations, pads, output_padding; output_shape and auto_pad become "
            "the explicit padding they imply",
        ),
    ),
    params="`C*filters/groups*kvol` weights + biases `filters`",
)
def deconv(p: dict[str, Any], ins: list[Tensor]) -> Result:
    x = ins[0]
    c, sp = spatial(x, "deconv")
    groups, filters = p["groups"], p["filters"]
    if c % groups or filters % groups:
        raise RuleError(
            "groups-mismatch",
            f"channels {c} and filters {filters} must both be divisible by groups={groups}",
            "",
            "groups",
        )
    if p["padding"] == "same":
        raise RuleError("bad-padding", "transposed conv takes explicit padding, not 'same'", "give integers", "padding")
    k = per_axis(p["kernel"], len(sp), "kernel", 1)
    s = per_axis(p["stride"], len(sp), "stride", 1)
    d = per_axis(p["dilation"], len(sp), "dilation", 1)
    pads = resolve_padding(p["padding"], sp, [1] * len(sp), s)
    op = per_axis(p["output_padding"], len(sp), "output_padding", 0)
    for o_, s_, d_ in zip(op, s, d):
        if o_ >= max(s_, d_):
            raise RuleError(
                "bad-value", f"output_padding {o_} must be smaller than stride or dilation", "", "output_padding"
            )
    w = Window((), k, s, d, pads)
    out = transposed_out(sp, w, op)
    kvol = prod(k)
    cin_g = c // groups
    # Every input element is multiplied by every tap: MACs from the input side.
    macs = prod(sp) * c * (filters // groups) * kvol
    units = filters * prod(out)
    landed = prod(transposed_taps(n, o, kk, ss, dd, pb) for n, o, kk, ss, dd, (pb, _) in zip(sp, out, k, s, d, pads))
    bias = p["bias"]
    ops = ops_of(bias=units if bias else 0)
    # what a tool that counts a transposed conv like a conv over its
    # output gets: every output element times C_in/groups x kernel taps
    # (overlaps and taps landing in the padding included)
    # convnet-burden's numel(X) x numel(F(:,:,1,:)) reads C_in where C_out/groups belongs
    counts = {"mac_out": units * cin_g * kvol, "mac_in_cin": prod(sp) * c * kvol * c}
    fuse_act(p, units, ops, counts)
    return Result(
        shape=(filters, *out),
        weights=cin_g * filters * kvol,
        biases=filters if bias else 0,
        macs=macs,
        ops=ops,
        connections=landed * cin_g * filters + (units if bias else 0),
        rf=rf_of(x, lambda r: rf_transposed(r, w)),
        counts=counts,
    )
