"""Build a ``torch.nn.Module`` from an analysed spec.

Every layer becomes one submodule named after the layer (``.`` and other
characters that torch forbids in module names are replaced, see
``Materialized.module_names``), so that forward hooks see exactly one call per
spec layer, fused activation included. Parameter counts equal the analysis:
LeNet's partial connection tables are grouped convolutions whose weights have
exactly the table's size (not a masked dense weight), untied biases are one
parameter of the output's shape, RBF codes are a buffer.

The forward pass follows the graph in the analysis' topological order and
drops each tensor after its last consumer, as the peak-memory estimate
assumes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from math import prod
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnsize.engine.geometry import per_axis, resolve_padding, window

DTYPES = {
    "float64": torch.float64,
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}

ACTIVATIONS: dict[str, Any] = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "leakyrelu": nn.LeakyReLU,
    "elu": nn.ELU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "swish": nn.SiLU,
    "hardswish": nn.Hardswish,
    "hardsigmoid": nn.Hardsigmoid,
    "softplus": nn.Softplus,
    # over channels: the axis the analysis counts softmax connections on
    "softmax": lambda: nn.Softmax(dim=1),
    "logsoftmax": lambda: nn.LogSoftmax(dim=1),
}


def _torch_pads(pads: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    """[(before, after) per axis, first axis first] -> F.pad's last-axis-first order."""
    return tuple(v for a, b in reversed(list(pads)) for v in (a, b))


def _cls(base: str, nd: int) -> Any:
    if nd not in (1, 2, 3):
        raise NotImplementedError(f"{base} with {nd} spatial axes has no torch module")
    return getattr(nn, f"{base}{nd}d")


# --- leaf modules for what torch has no module for -------------------------------


class UntiedBias(nn.Module):
    """One bias per output unit (LeNet 1989): a parameter of the output's shape."""

    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(*shape))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.bias


class TableConv(nn.Module):
    inverse: torch.Tensor  # a registered buffer

    """Convolution whose output map ``j`` reads only the input maps ``table[j]``.

    Rows of equal length form one grouped convolution over the gathered input
    maps, so the weights hold exactly ``kvol * sum(len(row))`` values and torch
    counts exactly the table's multiply-accumulates (a masked dense weight
    would have too many parameters and FLOPs).
    """

    def __init__(
        self,
        table: list[list[int]],
        kernel: Sequence[int],
        stride: Sequence[int],
        padding: Sequence[int],
        dilation: Sequence[int],
        bias: bool,
    ) -> None:
        super().__init__()
        self.table = [list(r) for r in table]
        self.nd = len(kernel)
        self.kernel, self.stride, self.padding, self.dilation = (
            tuple(kernel),
            tuple(stride),
            tuple(padding),
            tuple(dilation),
        )
        lengths: list[int] = []
        for row in table:
            if len(row) not in lengths:
                lengths.append(len(row))
        self.weights = nn.ParameterList()
        order: list[int] = []
        self.groups: list[int] = []
        for i, n in enumerate(lengths):
            rows = [j for j, r in enumerate(table) if len(r) == n]
            order += rows
            self.groups.append(len(rows))
            w = torch.empty(len(rows), n, *kernel)
            nn.init.kaiming_uniform_(w, a=math.sqrt(5))
            self.weights.append(nn.Parameter(w))
            self.register_buffer(
                f"index{i}", torch.tensor([c for j in rows for c in table[j]], dtype=torch.long), persistent=False
            )
        inverse = [0] * len(order)
        for pos, j in enumerate(order):
            inverse[j] = pos
        self.register_buffer("inverse", torch.tensor(inverse, dtype=torch.long), persistent=False)
        self.reorder = inverse != list(range(len(order)))
        self.bias = nn.Parameter(torch.zeros(len(table))) if bias else None
        self._conv = getattr(F, f"conv{self.nd}d")

    def forward(self, x: Tensor) -> Tensor:
        outs = []
        for i, w in enumerate(self.weights):
            xi = x.index_select(1, getattr(self, f"index{i}"))
            outs.append(self._conv(xi, w, None, self.stride, self.padding, self.dilation, self.groups[i]))
        y = torch.cat(outs, 1) if len(outs) > 1 else outs[0]
        if self.reorder:
            y = y.index_select(1, self.inverse)
        if self.bias is not None:
            y = y + self.bias.view(1, -1, *([1] * self.nd))
        return y

    def extra_repr(self) -> str:
        return f"table={len(self.table)} rows, kernel={self.kernel}, stride={self.stride}"


class Subsample(nn.Module):
    """LeCun's trainable subsampling: sum over a window, times one coefficient
    per map, plus one bias per map."""

    def __init__(self, channels: int, kernel: Sequence[int], stride: Sequence[int]) -> None:
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)
        self.nd = len(kernel)
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        shape = (1, -1, *([1] * self.nd))
        if self.nd == 1:
            s = F.avg_pool1d(x, self.kernel, self.stride) * self.kernel[0]
        else:
            s = getattr(F, f"avg_pool{self.nd}d")(x, self.kernel, self.stride, divisor_override=1)
        return s * self.weight.view(shape) + self.bias.view(shape)

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, stride={self.stride}"


class RBF(nn.Module):
    """Euclidean RBF output units with fixed codes (LeNet-5's output layer):
    y_i = sum_j (x_j - w_ij)^2. The codes are a buffer, not parameters."""

    codes: torch.Tensor  # a registered buffer

    def __init__(self, units: int, fan_in: int) -> None:
        super().__init__()
        codes = torch.empty(units, fan_in)
        if codes.device.type != "meta":
            # LeNet-5's codes are stylised +1/-1 bitmaps; random signs keep their shape
            g = torch.Generator().manual_seed(0)
            codes.copy_(torch.randint(0, 2, (units, fan_in), generator=g, device="cpu").float() * 2 - 1)
        self.register_buffer("codes", codes)

    def forward(self, x: Tensor) -> Tensor:
        x = torch.flatten(x, 1)
        return ((x.unsqueeze(1) - self.codes.unsqueeze(0)) ** 2).sum(-1)


class Pad(nn.Module):
    def __init__(self, pads: tuple[int, ...], mode: str = "constant", value: float = 0.0) -> None:
        super().__init__()
        self.pads, self.mode, self.value = pads, mode, value

    def forward(self, x: Tensor) -> Tensor:
        if self.mode == "constant":
            return F.pad(x, self.pads, value=self.value)
        return F.pad(x, self.pads, mode=self.mode)

    def extra_repr(self) -> str:
        return f"pads={self.pads}, mode={self.mode}" + (f", value={self.value}" if self.value else "")


class Crop(nn.Module):
    """Remove (before, after) elements per spatial axis: a transposed conv's
    asymmetric padding, or the extra ceil-mode window an explicit pad admits."""

    def __init__(self, crops: Sequence[tuple[int, int]]) -> None:
        super().__init__()
        self.crops = tuple(tuple(c) for c in crops)

    def forward(self, x: Tensor) -> Tensor:
        idx: list[slice] = [slice(None), slice(None)]
        for axis, (a, b) in enumerate(self.crops):
            n = x.shape[2 + axis]
            idx.append(slice(a, n - b))
        return x[tuple(idx)]

    def extra_repr(self) -> str:
        return f"crops={self.crops}"


class Reshape(nn.Module):
    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(-1, *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class SepConv(nn.Module):
    """Depthwise then pointwise convolution: one spec layer, two convolutions."""

    dw: Any  # a torch ConvNd (its type depends on the number of spatial axes)
    pw: Any

    def __init__(self, dw: nn.Module, dw_bias: nn.Module | None, pw: nn.Module) -> None:
        super().__init__()
        self.dw = dw
        self.dw_bias = dw_bias
        self.pw = pw

    def forward(self, x: Tensor) -> Tensor:
        x = self.dw(x)
        if self.dw_bias is not None:
            x = self.dw_bias(x)
        return self.pw(x)


class Merge(nn.Module):
    """add / mul / concat of several inputs. Shapes broadcast as the analysis
    does: per-sample axes aligned from the left (a [C] gate scales [C, H, W])."""

    def __init__(
        self, kind: str, in_shapes: Sequence[Sequence[int]], axis: int = 0, act: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.kind, self.axis = kind, axis
        rank = max(len(s) for s in in_shapes)
        self.views = [None if len(s) == rank else (*s, *([1] * (rank - len(s)))) for s in in_shapes]
        self.act = act

    def forward(self, *xs: Tensor) -> Tensor:
        ts = [x if v is None else x.reshape(-1, *v) for x, v in zip(xs, self.views)]
        if self.kind == "concat":
            y = torch.cat(ts, self.axis + 1)
        else:
            y = ts[0]
            for t in ts[1:]:
                y = y + t if self.kind == "add" else y * t
        if self.act is not None:
            y = self.act(y)
        return y

    def extra_repr(self) -> str:
        return self.kind + (f", axis={self.axis}" if self.kind == "concat" else "")


class Layer(nn.Module):
    """One spec layer with one input: [flatten] [pad] op [crop] [untied bias] [activation]."""

    def __init__(
        self,
        op: nn.Module,
        pad: nn.Module | None = None,
        crop: nn.Module | None = None,
        untied: nn.Module | None = None,
        act: nn.Module | None = None,
        flatten: bool = False,
    ) -> None:
        super().__init__()
        self.flatten = flatten
        self.pad = pad
        self.op = op
        self.crop = crop
        self.untied = untied
        self.act = act

    def forward(self, x: Tensor) -> Tensor:
        if self.flatten:
            x = torch.flatten(x, 1)
        if self.pad is not None:
            x = self.pad(x)
        x = self.op(x)
        if self.crop is not None:
            x = self.crop(x)
        if self.untied is not None:
            x = self.untied(x)
        if self.act is not None:
            x = self.act(x)
        return x


# modules that the importer (torch.fx) keeps whole and maps back to one kind
LEAF_MODULES = (UntiedBias, TableConv, Subsample, RBF, Pad, Crop, Reshape, SepConv)


# --- one builder per kind ---------------------------------------------------------


def _act(p: dict[str, Any]) -> nn.Module | None:
    a = p.get("activation")
    return ACTIVATIONS[a]() if a else None


def _sym(pads: Sequence[tuple[int, int]]) -> tuple[int, ...] | None:
    return tuple(a for a, _ in pads) if all(a == b for a, b in pads) else None


def _conv_parts(
    p: dict[str, Any], cin: int, sp: tuple[int, ...], filters: int, groups: int, out: tuple[int, ...], bias: Any
) -> tuple[nn.Module, nn.Module | None, nn.Module | None]:
    nd = len(sp)
    w = window(sp, p["kernel"], p["stride"], p["padding"], p["dilation"])
    sym = _sym(w.pads)
    pad = None if sym is not None else Pad(_torch_pads(w.pads))
    padding = sym if sym is not None else (0,) * nd
    table = p.get("table")
    if table is not None:
        op: nn.Module = TableConv(table, w.kernel, w.stride, padding, w.dilation, bias is True)
    else:
        op = _cls("Conv", nd)(cin, filters, w.kernel, w.stride, padding, w.dilation, groups, bias=bias is True)
    untied = UntiedBias((filters, *out)) if bias == "untied" else None
    return op, pad, untied


def build_layer(kind: str, p: dict[str, Any], in_shapes: list[tuple[int, ...]], out: tuple[int, ...]) -> nn.Module:
    """The module of one layer of kind ``kind`` (params ``p``, input shapes per sample)."""
    if kind in ("add", "mul", "concat"):
        return Merge(kind, in_shapes, p.get("axis", 0), _act(p))
    x = in_shapes[0]
    c, sp = x[0], tuple(x[1:])
    nd = len(sp)
    if kind == "conv":
        op, pad, untied = _conv_parts(p, c, sp, p["filters"], p["groups"], out[1:], p["bias"])
        return Layer(op, pad=pad, untied=untied, act=_act(p))
    if kind == "dwconv":
        op, pad, untied = _conv_parts(p, c, sp, c * p["multiplier"], c, out[1:], p["bias"])
        return Layer(op, pad=pad, untied=untied, act=_act(p))
    if kind == "sepconv":
        cm = c * p["multiplier"]
        mid = window(sp, p["kernel"], p["stride"], p["padding"], p["dilation"]).out
        dw, pad, dw_untied = _conv_parts(p, c, sp, cm, c, mid, p["bias"])
        pw = _cls("Conv", nd)(cm, p["filters"], 1, bias=p["bias"] is True)
        untied = UntiedBias(out) if p["bias"] == "untied" else None
        return Layer(SepConv(dw, dw_untied, pw), pad=pad, untied=untied, act=_act(p))
    if kind == "deconv":
        k = per_axis(p["kernel"], nd, "kernel", 1)
        s = per_axis(p["stride"], nd, "stride", 1)
        d = per_axis(p["dilation"], nd, "dilation", 1)
        pads = resolve_padding(p["padding"], sp, [1] * nd, s)
        sym = _sym(pads)
        op = _cls("ConvTranspose", nd)(
            c,
            p["filters"],
            k,
            s,
            sym if sym is not None else 0,
            per_axis(p["output_padding"], nd, "output_padding", 0),
            p["groups"],
            bias=p["bias"],
            dilation=d,
        )
        return Layer(op, crop=None if sym is not None else Crop(pads), act=_act(p))
    if kind in ("maxpool", "avgpool", "lppool"):
        stride = p["stride"] if p.get("stride") is not None else p["kernel"]
        w = window(sp, p["kernel"], stride, p["padding"], p.get("dilation", 1), p["ceil_mode"], pool=True)
        sym = _sym(w.pads)
        native = kind != "lppool" and sym is not None and all(2 * a <= k for a, k in zip(sym, w.kernel))
        padding = sym if native else (0,) * nd
        pad = None
        pool: nn.Module
        if not native and any(a or b for a, b in w.pads):
            if kind == "avgpool" and not p["count_include_pad"]:
                raise NotImplementedError(
                    "avgpool with count_include_pad: false and asymmetric padding has no exact torch form"
                )
            pad = Pad(_torch_pads(w.pads), value=float("-inf") if kind == "maxpool" else 0.0)
        if kind == "maxpool":
            pool = _cls("MaxPool", nd)(w.kernel, w.stride, padding, w.dilation, ceil_mode=p["ceil_mode"])
        elif kind == "avgpool":
            pool = _cls("AvgPool", nd)(
                w.kernel, w.stride, padding, ceil_mode=p["ceil_mode"], count_include_pad=p["count_include_pad"]
            )
        else:
            pool = _cls("LPPool", nd)(p["p"], w.kernel, w.stride, ceil_mode=p["ceil_mode"])
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
    if kind == "subsample":
        stride = p["stride"] if p.get("stride") is not None else p["kernel"]
        return Layer(
            Subsample(c, per_axis(p["kernel"], nd, "kernel", 1), per_axis(stride, nd, "stride", 1)), act=_act(p)
        )
    if kind in ("globalavgpool", "globalmaxpool"):
        return Layer(_cls("AdaptiveAvgPool" if kind == "globalavgpool" else "AdaptiveMaxPool", nd)(1))
    if kind in ("adaptiveavgpool", "adaptivemaxpool"):
        return Layer(
            _cls("AdaptiveAvgPool" if kind == "adaptiveavgpool" else "AdaptiveMaxPool", nd)(
                per_axis(p["output"], nd, "output", 1)
            )
        )
    if kind == "fc":
        return Layer(nn.Linear(prod(x), p["units"], bias=p["bias"]), act=_act(p), flatten=len(x) > 1)
    if kind == "rbf":
        return Layer(RBF(p["units"], prod(x)))
    if kind == "flatten":
        return Layer(nn.Flatten())
    if kind == "reshape":
        return Layer(Reshape(out))
    if kind == "pad":
        pads = resolve_padding(p["padding"], sp, [1] * nd, [1] * nd)
        return Layer(Pad(_torch_pads(pads), p["mode"]))
    if kind == "upsample":
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
    if kind == "batchnorm":
        bn = _cls("BatchNorm", max(1, nd))(c, affine=p["affine"])
        return Layer(bn, act=_act(p))
    if kind == "layernorm":
        return Layer(nn.LayerNorm(list(x), elementwise_affine=p["affine"], bias=p["affine"]))
    if kind == "groupnorm":
        return Layer(nn.GroupNorm(p["groups"], c, affine=p["affine"]))
    if kind == "lrn":
        return Layer(nn.LocalResponseNorm(p["size"]))
    if kind == "dropout":
        return Layer(nn.Dropout(p["p"]))
    if kind == "identity":
        return Layer(nn.Identity())
    if kind in ACTIVATIONS:
        return Layer(ACTIVATIONS[kind]())
    raise NotImplementedError(f"layer kind {kind!r} has no torch builder")


# --- the model ----------------------------------------------------------------------

_SAFE = re.compile(r"[^0-9A-Za-z_]")


class Materialized(nn.Module):
    """A spec's graph as a torch module: one submodule per layer, forward in
    topological order, each tensor dropped after its last consumer."""

    def __init__(self, model: str, layers: list[tuple[str, list[str], nn.Module]], outputs: list[str]) -> None:
        super().__init__()
        self.model_name = model
        self.module_names: dict[str, str] = {}  # spec layer name -> submodule name
        self.spec_names: dict[str, str] = {}  # submodule name -> spec layer name
        used: set[str] = set()
        for name, _inputs, mod in layers:
            safe = _SAFE.sub("_", name) or "layer"
            base, k = safe, 2
            while safe in used or hasattr(self, safe) or safe == "input":
                safe, k = f"{base}_{k}", k + 1
            used.add(safe)
            self.add_module(safe, mod)
            self.module_names[name] = safe
            self.spec_names[safe] = name
        self.outputs = list(outputs)
        self.plan = [(name, self.module_names[name], list(inputs)) for name, inputs, _ in layers]
        uses: dict[str, int] = {}
        for _n, _s, ins in self.plan:
            for src in set(ins):
                uses[src] = uses.get(src, 0) + 1
        # after running layer i, the tensors whose last consumer it was
        self.frees: list[list[str]] = []
        seen: dict[str, int] = {}
        for _n, _s, ins in self.plan:
            dead = []
            for src in dict.fromkeys(ins):
                seen[src] = seen.get(src, 0) + 1
                if seen[src] == uses[src] and src not in self.outputs:
                    dead.append(src)
            self.frees.append(dead)

    def layer(self, name: str) -> nn.Module:
        """The submodule of spec layer ``name``."""
        return getattr(self, self.module_names[name])

    def layer_modules(self) -> list[tuple[str, nn.Module]]:
        return [(n, getattr(self, s)) for n, s, _ in self.plan]

    def forward(self, x: Any) -> Any:
        # a one-element list hands the input over, so it can be freed after its
        # last consumer like any other tensor (profiling measures live memory)
        env: dict[str, Any] = {"input": x.pop() if isinstance(x, list) else x}
        for (name, safe, ins), dead in zip(self.plan, self.frees):
            env[name] = getattr(self, safe)(*[env[i] for i in ins])
            for d in dead:
                del env[d]
        if len(self.outputs) == 1:
            return env[self.outputs[0]]
        return tuple(env[o] for o in self.outputs)


def _analysis(obj: Any) -> Any:
    from cnnsize.engine.analysis import Analysis, analyze
    from cnnsize.engine.load import load_spec, parse
    from cnnsize.engine.spec import Spec

    if isinstance(obj, Analysis):
        return obj
    if isinstance(obj, Spec):
        return analyze(obj)
    if isinstance(obj, dict):
        return analyze(parse(obj, "<dict>"))
    if isinstance(obj, str):
        return analyze(load_spec(obj))
    raise TypeError(f"materialize takes an Analysis, a Spec, a spec dict or a path, not {type(obj).__name__}")


def materialize(analysis_or_spec: Any, device: Any = "cpu", dtype: Any = "float32") -> Materialized:
    """Build the torch module of a spec (an Analysis, Spec, dict or path).

    ``device="meta"`` builds the whole model without allocating anything.
    Returns the module in eval mode.
    """
    a = _analysis(analysis_or_spec)
    tdtype = DTYPES[dtype] if isinstance(dtype, str) else dtype
    if isinstance(dtype, str) and dtype not in DTYPES:
        raise ValueError(f"cannot materialize in {dtype}; use one of {', '.join(DTYPES)}")
    defs = {ld.name: ld for ld in a.spec.layers}
    shapes: dict[str, tuple[int, ...]] = {"input": tuple(a.input_shape)}
    built: list[tuple[str, list[str], nn.Module]] = []
    with torch.device(device):
        for r in a.layers:
            ld = defs[r.name]
            try:
                mod = build_layer(r.kind, ld.params, [shapes[i] for i in r.inputs], tuple(r.output_shape))
            except NotImplementedError as exc:
                raise NotImplementedError(f"layer '{r.name}' ({r.kind}): {exc}") from None
            shapes[r.name] = tuple(r.output_shape)
            built.append((r.name, list(r.inputs), mod))
        model = Materialized(a.model, built, list(a.outputs))
    return model.to(dtype=tdtype).eval()
