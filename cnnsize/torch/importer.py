"""A torch ``nn.Module`` to a cnnsize spec, through torch.fx.

The module is traced symbolically (nothing runs), shapes come from running the
graph on fake tensors (nothing is allocated), and every graph node becomes a
spec layer, an alias of its input (``contiguous``, ``x.size()``), or a
reported problem. What cannot be expressed is listed in the result and in the
spec's header, never dropped silently: a shape-preserving node becomes an
``identity`` (a size-preserving one a ``reshape``) with a ``note:`` saying what
it stood for.

Where the model repeats a module with the same structure (ResNet's
bottlenecks), that module becomes a block and each occurrence an instance,
values that differ becoming arguments; the blocked spec is kept only if it
expands to exactly the flat one. To keep specs short, an activation, a zero
pad, a flatten and LeNet's untied bias are also folded into the layer that produces their input when they are its
only consumer (for a model built by :func:`cnnsize.torch.materialize`, only
inside one spec layer, so the round trip is exact).
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from cnnsize.torch.materialize import (
    LEAF_MODULES,
    RBF,
    Crop,
    Materialized,
    Pad,
    Reshape,
    SepConv,
    Subsample,
    TableConv,
    UntiedBias,
)


@dataclass
class Proto:
    name: str
    kind: str
    params: dict[str, Any]
    inputs: list[str]  # fx node names (resolved to layer names at the end)
    shape: tuple[int, ...]  # per sample
    owner: str | None
    note: str = ""
    pad_value: float | None = None  # for pad layers: the constant, to know what they may fold into
    custom: list[tuple[str, str]] = field(default_factory=list)  # user-defined modules it ran in, outermost first
    instance: str | None = None  # the block candidate chosen among them
    iclass: str = ""


@dataclass
class ImportResult:
    spec: dict[str, Any]
    yaml: str
    unsupported: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class ImportFailure(Exception):
    pass


class _Tracer(torch.fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, LEAF_MODULES) or super().is_leaf_module(m, qualname)


ACT_MODULES: dict[type, str] = {
    nn.ReLU: "relu",
    nn.ReLU6: "relu6",
    nn.LeakyReLU: "leakyrelu",
    nn.ELU: "elu",
    nn.Sigmoid: "sigmoid",
    nn.Tanh: "tanh",
    nn.GELU: "gelu",
    nn.SiLU: "silu",
    nn.Hardswish: "hardswish",
    nn.Hardsigmoid: "hardsigmoid",
    nn.Softplus: "softplus",
    nn.Softmax: "softmax",
    nn.LogSoftmax: "logsoftmax",
}
ACT_FUNCS: dict[Any, str] = {
    F.relu: "relu",
    torch.relu: "relu",
    F.relu6: "relu6",
    F.leaky_relu: "leakyrelu",
    F.elu: "elu",
    torch.sigmoid: "sigmoid",
    F.sigmoid: "sigmoid",
    torch.tanh: "tanh",
    F.tanh: "tanh",
    F.gelu: "gelu",
    F.silu: "silu",
    F.hardswish: "hardswish",
    F.hardsigmoid: "hardsigmoid",
    F.softplus: "softplus",
    F.softmax: "softmax",
    torch.softmax: "softmax",
    F.log_softmax: "logsoftmax",
    torch.log_softmax: "logsoftmax",
}
ACT_METHODS = {"relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "softmax": "softmax", "log_softmax": "logsoftmax"}
ALIAS_METHODS = {"contiguous", "clone", "detach", "float", "to"}
FUSE_ACT_INTO = {"conv", "dwconv", "sepconv", "deconv", "fc", "batchnorm", "subsample", "add"}
PAD_INTO = {"conv", "dwconv", "sepconv", "maxpool", "avgpool", "lppool"}


def _axes(v: Any) -> Any:
    """A tuple of equal values as one int (shorter specs); otherwise a list."""
    if isinstance(v, (tuple, list)):
        vals = [int(x) for x in v]
        return vals[0] if len(set(vals)) == 1 else vals
    return int(v)


def _pairs_from_torch_pad(pad: tuple[int, ...], nd: int) -> list[list[int]]:
    """F.pad's last-axis-first (before, after) list -> per spatial axis, first axis first."""
    pad = tuple(pad) + (0,) * (2 * nd - len(pad))
    pairs = [[int(pad[2 * i]), int(pad[2 * i + 1])] for i in range(nd)]
    return list(reversed(pairs))


def _padding(v: Any, nd: int) -> Any:
    if isinstance(v, str):
        return v
    return _axes(v if isinstance(v, (tuple, list)) else (v,) * nd)


class _Importer:
    def __init__(self, model: nn.Module, input_shape: tuple[int, ...], name: str, blocks: bool = True) -> None:
        self.blocks = blocks
        self.model = model
        self.input_shape = tuple(input_shape)
        self.name = name
        self.materialized = isinstance(model, Materialized)
        self.protos: dict[str, Proto] = {}  # by fx node name
        self.alias: dict[str, str] = {}  # fx node name -> fx node name whose value it is
        self.unsupported: list[str] = []
        self.notes: list[str] = []
        self.outputs: list[str] = []

    # -- tracing ----------------------------------------------------------------

    def trace(self) -> torch.fx.GraphModule:
        try:
            graph = _Tracer().trace(self.model)
        except Exception as exc:  # noqa: BLE001 - fx raises many kinds; the user needs the reason
            raise ImportFailure(f"torch.fx cannot trace this model symbolically: {type(exc).__name__}: {exc}") from None
        gm = torch.fx.GraphModule(self.model, graph)
        from torch._subclasses.fake_tensor import FakeTensorMode
        from torch.fx.passes.shape_prop import ShapeProp

        mode = FakeTensorMode(allow_non_fake_inputs=True)
        dev = next((p.device for p in self.model.parameters()), torch.device("cpu"))
        dtype = next((p.dtype for p in self.model.parameters() if p.is_floating_point()), torch.float32)
        import contextlib
        import io

        try:
            with mode:
                x = torch.empty(1, *self.input_shape, device=dev, dtype=dtype)
            # ShapeProp prints its own traceback before raising; the user gets one line
            with contextlib.redirect_stderr(io.StringIO()):
                ShapeProp(gm, fake_mode=mode).propagate(x)
        except Exception as exc:  # noqa: BLE001
            root = exc.__cause__ or exc
            raise ImportFailure(
                f"the model does not run on input {list(self.input_shape)}: {type(root).__name__}: {str(root).splitlines()[0] if str(root) else ''}"
            ) from None
        return gm

    # -- helpers -------------------------------------------------------------------

    def shape(self, node: torch.fx.Node) -> tuple[int, ...] | None:
        tm = node.meta.get("tensor_meta")
        if tm is None or not hasattr(tm, "shape"):
            return None
        return tuple(int(s) for s in tm.shape[1:])

    def owner(self, node: torch.fx.Node) -> str | None:
        stack = node.meta.get("nn_module_stack")
        if stack:
            first = next(iter(stack.values()))[0]
            return str(first).split(".")[0] if self.materialized else str(first)
        if node.op == "call_module":
            return str(node.target).split(".")[0]
        return None

    def resolve(self, name: str) -> str:
        while name in self.alias:
            name = self.alias[name]
        return name

    def tensor_args(self, node: torch.fx.Node) -> list[torch.fx.Node]:
        out: list[torch.fx.Node] = []
        for a in node.args:
            if isinstance(a, torch.fx.Node):
                out.append(a)
            elif isinstance(a, (list, tuple)):
                out += [x for x in a if isinstance(x, torch.fx.Node)]
        return [a for a in out if self.shape(a) is not None or a.op == "placeholder"]

    def add(
        self,
        node: torch.fx.Node,
        kind: str,
        params: dict[str, Any],
        inputs: list[torch.fx.Node] | None = None,
        note: str = "",
        pad_value: float | None = None,
    ) -> None:
        ins = inputs if inputs is not None else self.tensor_args(node)[:1]
        nm = str(node.target) if node.op == "call_module" else node.name
        stack = node.meta.get("nn_module_stack")
        if node.op != "call_module" and stack:
            # a function called in a submodule's forward: named after that submodule
            nm = f"{list(stack.values())[-1][0]}.{node.name.rstrip('0123456789').rstrip('_') or node.name}"
        custom = [
            (str(qual), getattr(typ, "__name__", "block"))
            for qual, typ in (stack or {}).values()
            if str(qual) != str(node.target) and not getattr(typ, "__module__", "").startswith("torch.nn")
        ]
        self.protos[node.name] = Proto(
            nm,
            kind,
            params,
            [self.resolve(a.name) for a in ins],
            self.shape(node) or (),
            self.owner(node),
            note,
            pad_value,
            custom=custom,
        )

    def unsupported_node(self, node: torch.fx.Node, what: str) -> None:
        ins = self.tensor_args(node)
        out = self.shape(node)
        src = self.shape(ins[0]) if ins else None
        desc = f"{node.op} {what} (node '{node.name}')"
        self.unsupported.append(desc)
        if out is not None and src is not None and out == src:
            self.add(node, "identity", {}, ins[:1], note=f"NOT EXPRESSED: {desc}")
        elif out is not None and src is not None and math.prod(out) == math.prod(src):
            self.add(node, "reshape", {"shape": list(out)}, ins[:1], note=f"NOT EXPRESSED: {desc}")
        else:
            raise ImportFailure(
                f"cannot express {desc}: it changes {list(src or [])} into {list(out or [])}; nothing in the spec format can stand in for it"
            )

    # -- conversion ----------------------------------------------------------------

    def run(self) -> ImportResult:
        gm = self.trace()
        placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
        if len(placeholders) != 1:
            raise ImportFailure(f"the model takes {len(placeholders)} inputs; cnnsize specs have one input")
        for node in gm.graph.nodes:
            if node.op == "placeholder":
                self.alias[node.name] = "input"
            elif node.op == "output":
                outs = node.args[0]
                outs = list(outs) if isinstance(outs, (tuple, list)) else [outs]
                for o in outs:
                    if not isinstance(o, torch.fx.Node):
                        raise ImportFailure("the model returns something other than tensors")
                    self.outputs.append(self.resolve(o.name))
            elif node.op == "get_attr":
                self.unsupported.append(f"get_attr {node.target} (a tensor used directly in forward)")
            elif node.op == "call_module":
                self.module(node, gm.get_submodule(str(node.target)))
            elif node.op == "call_function":
                self.function(node)
            elif node.op == "call_method":
                self.method(node)
        self.fuse()
        return self.emit()

    def module(self, node: torch.fx.Node, m: nn.Module) -> None:
        ins = self.tensor_args(node)
        src = self.shape(ins[0]) if ins else None
        nd = len(src) - 1 if src else 0
        if isinstance(m, nn.modules.conv._ConvNd) and not m.transposed:
            if m.padding_mode != "zeros":
                self.notes.append(f"{node.target}: padding_mode={m.padding_mode} written as zero padding (same counts)")
            common = {
                "kernel": _axes(m.kernel_size),
                "stride": _axes(m.stride),
                "padding": _padding(m.padding, nd),
                "dilation": _axes(m.dilation),
            }
            if m.groups > 1 and m.groups == m.in_channels and m.out_channels % m.in_channels == 0:
                self.add(
                    node,
                    "dwconv",
                    {**common, "multiplier": m.out_channels // m.in_channels, "bias": m.bias is not None},
                )
            else:
                p = {"filters": m.out_channels, **common, "bias": m.bias is not None}
                if m.groups != 1:
                    p["groups"] = m.groups
                self.add(node, "conv", p)
        elif isinstance(m, nn.modules.conv._ConvTransposeNd):
            p = {
                "filters": m.out_channels,
                "kernel": _axes(m.kernel_size),
                "stride": _axes(m.stride),
                "padding": _padding(m.padding, nd),
                "output_padding": _axes(m.output_padding),
                "dilation": _axes(m.dilation),
                "bias": m.bias is not None,
            }
            if m.groups != 1:
                p["groups"] = m.groups
            self.add(node, "deconv", p)
        elif isinstance(m, nn.Linear):
            if src is not None and len(src) > 1:
                self.unsupported_node(node, f"nn.Linear on a {len(src) + 1}-D input (applies to the last axis only)")
                return
            self.add(node, "fc", {"units": m.out_features, "bias": m.bias is not None})
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            self.add(node, "batchnorm", {"affine": m.affine})
        elif isinstance(m, nn.LayerNorm):
            if src is None or tuple(m.normalized_shape) != src:
                self.unsupported_node(
                    node, f"nn.LayerNorm over {list(m.normalized_shape)} (cnnsize normalizes over the whole sample)"
                )
                return
            if m.elementwise_affine and m.bias is None:
                self.unsupported_node(node, "nn.LayerNorm with a weight and no bias")
                return
            self.add(node, "layernorm", {"affine": m.elementwise_affine})
        elif isinstance(m, nn.GroupNorm):
            self.add(node, "groupnorm", {"groups": m.num_groups, "affine": m.affine})
        elif isinstance(m, nn.LocalResponseNorm):
            self.add(node, "lrn", {"size": m.size}, note=f"alpha={m.alpha}, beta={m.beta}, k={m.k}")
        elif isinstance(m, nn.modules.pooling._MaxPoolNd):
            if m.return_indices:
                self.unsupported_node(node, "max pooling that returns indices")
                return
            self.add(
                node,
                "maxpool",
                {
                    "kernel": _axes(m.kernel_size),
                    "stride": _axes(m.stride),
                    "padding": _padding(m.padding, nd),
                    "dilation": _axes(m.dilation),
                    "ceil_mode": bool(m.ceil_mode),
                },
            )
        elif isinstance(m, nn.modules.pooling._AvgPoolNd) and not isinstance(
            m, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)
        ):
            if getattr(m, "divisor_override", None):
                self.notes.append(f"{node.target}: divisor_override={m.divisor_override} not expressed (same counts)")
            self.add(
                node,
                "avgpool",
                {
                    "kernel": _axes(m.kernel_size),
                    "stride": _axes(m.stride),
                    "padding": _padding(m.padding, nd),
                    "ceil_mode": bool(m.ceil_mode),
                    "count_include_pad": bool(m.count_include_pad),
                },
            )
        elif isinstance(m, nn.modules.pooling._LPPoolNd):
            self.add(
                node,
                "lppool",
                {
                    "kernel": _axes(m.kernel_size),
                    "stride": _axes(m.stride if m.stride is not None else m.kernel_size),
                    "p": float(m.norm_type),
                    "ceil_mode": bool(m.ceil_mode),
                },
            )
        elif isinstance(
            m,
            (
                nn.AdaptiveAvgPool1d,
                nn.AdaptiveAvgPool2d,
                nn.AdaptiveAvgPool3d,
                nn.AdaptiveMaxPool1d,
                nn.AdaptiveMaxPool2d,
                nn.AdaptiveMaxPool3d,
            ),
        ):
            self.adaptive(node, m.output_size, "avg" if "Avg" in type(m).__name__ else "max")
        elif type(m) in ACT_MODULES or (isinstance(m, nn.Hardtanh) and (m.min_val, m.max_val) == (0.0, 6.0)):
            kind = ACT_MODULES.get(type(m), "relu6")
            if kind in ("softmax", "logsoftmax") and not self.channel_dim(m.dim, src):
                self.unsupported_node(node, f"{type(m).__name__}(dim={m.dim}) (cnnsize's softmax is over channels)")
                return
            self.add(node, kind, {})
        elif isinstance(m, nn.modules.dropout._DropoutNd):
            self.add(node, "dropout", {"p": float(m.p)})
        elif isinstance(m, nn.Identity):
            self.add(node, "identity", {})
        elif isinstance(m, nn.Flatten):
            self.flatten(node, m.start_dim, m.end_dim)
        elif isinstance(m, nn.Unflatten):
            self.add(node, "reshape", {"shape": list(self.shape(node) or ())})
        elif isinstance(m, nn.Upsample):
            self.upsample(node, m.size, m.scale_factor, m.mode)
        elif isinstance(
            m,
            (
                nn.modules.padding._ConstantPadNd,
                nn.modules.padding._ReflectionPadNd,
                nn.modules.padding._ReplicationPadNd,
                nn.modules.padding._CircularPadNd,
            ),
        ):
            mode = {"Reflection": "reflect", "Replication": "replicate", "Circular": "circular"}.get(
                next((k for k in ("Reflection", "Replication", "Circular") if k in type(m).__name__), ""), "constant"
            )
            value = float(getattr(m, "value", 0.0)) if mode == "constant" else None
            self.pad(node, tuple(m.padding), mode, value, nd)
        elif isinstance(m, UntiedBias):
            self.add(node, "untied_bias", {})
        elif isinstance(m, TableConv):
            p = {
                "filters": len(m.table),
                "kernel": _axes(m.kernel),
                "stride": _axes(m.stride),
                "padding": _axes(m.padding),
                "dilation": _axes(m.dilation),
                "bias": m.bias is not None,
                "table": m.table,
            }
            self.add(node, "conv", p)
        elif isinstance(m, Subsample):
            self.add(node, "subsample", {"kernel": _axes(m.kernel), "stride": _axes(m.stride)})
        elif isinstance(m, RBF):
            self.add(node, "rbf", {"units": m.codes.shape[0]})
        elif isinstance(m, Pad):
            self.pad(node, m.pads, m.mode, m.value if m.mode == "constant" else None, nd)
        elif isinstance(m, Crop):
            self.add(node, "crop", {"crops": [list(c) for c in m.crops]})
        elif isinstance(m, Reshape):
            self.add(node, "reshape", {"shape": list(m.shape)})
        elif isinstance(m, SepConv):
            dw, pw = m.dw, m.pw
            bias = "untied" if m.dw_bias is not None else dw.bias is not None
            self.add(
                node,
                "sepconv",
                {
                    "filters": pw.out_channels,
                    "kernel": _axes(dw.kernel_size),
                    "stride": _axes(dw.stride),
                    "padding": _padding(dw.padding, nd),
                    "dilation": _axes(dw.dilation),
                    "multiplier": dw.out_channels // dw.in_channels,
                    "bias": bias,
                },
            )
        else:
            self.unsupported_node(node, f"module {type(m).__module__}.{type(m).__name__} '{node.target}'")

    def channel_dim(self, dim: Any, src: tuple[int, ...] | None) -> bool:
        if dim is None or src is None:
            return False
        return dim == 1 or (len(src) == 1 and dim == -1)

    def adaptive(self, node: torch.fx.Node, size: Any, how: str) -> None:
        src = self.shape(self.tensor_args(node)[0]) or ()
        nd = len(src) - 1
        sizes = list(size) if isinstance(size, (tuple, list)) else [size] * nd
        sizes = [s if s is not None else n for s, n in zip(sizes, src[1:])]
        if all(s == 1 for s in sizes):
            self.add(node, f"global{how}pool", {})
        else:
            self.add(node, f"adaptive{how}pool", {"output": _axes(sizes)})

    def flatten(self, node: torch.fx.Node, start: int, end: int) -> None:
        out = self.shape(node) or ()
        if start == 1 and end == -1:
            self.add(node, "flatten", {})
        else:
            self.add(node, "reshape", {"shape": list(out)})

    def upsample(self, node: torch.fx.Node, size: Any, scale: Any, mode: str) -> None:
        src = self.shape(self.tensor_args(node)[0]) or ()
        nd = len(src) - 1
        if mode not in ("nearest", "linear", "bilinear", "bicubic", "trilinear"):
            self.unsupported_node(node, f"upsampling mode {mode!r}")
            return
        if size is not None:
            self.add(
                node,
                "upsample",
                {"size": _axes(size if isinstance(size, (tuple, list)) else [size] * nd), "mode": mode},
            )
            return
        sc = list(scale) if isinstance(scale, (tuple, list)) else [scale] * nd
        if any(float(s) != int(s) for s in sc):
            self.add(
                node,
                "upsample",
                {"size": _axes((self.shape(node) or ())[1:]), "mode": mode},
                note=f"scale {sc} written as the output size",
            )
            return
        self.add(node, "upsample", {"scale": _axes([int(s) for s in sc]), "mode": mode})

    def pad(self, node: torch.fx.Node, pads: tuple[int, ...], mode: str, value: float | None, nd: int) -> None:
        if any(p < 0 for p in pads):
            self.unsupported_node(node, "negative padding (cropping)")
            return
        if mode == "constant" and value not in (0.0, float("-inf")):
            self.notes.append(f"{node.name}: constant pad value {value} written as zero padding (same counts)")
        self.add(node, "pad", {"padding": _pairs_from_torch_pad(pads, nd), "mode": mode}, pad_value=value)

    def scalar_or_merge(self, node: torch.fx.Node, kind: str) -> None:
        ts = [a for a in node.args if isinstance(a, torch.fx.Node)]
        if len(ts) < 2 or any(self.shape(t) is None for t in ts) or len(ts) != len(node.args):
            self.unsupported_node(node, f"{kind} with a constant ({node.target})")
            return
        self.add(node, kind, {}, ts)

    def function(self, node: torch.fx.Node) -> None:
        t = node.target
        ins = self.tensor_args(node)
        src = self.shape(ins[0]) if ins else None
        nd = len(src) - 1 if src else 0
        # fx arguments are dynamically typed; each use below checks what it needs
        kw: dict[str, Any] = dict(node.kwargs)
        args: list[Any] = list(node.args)
        if t in (operator.add, torch.add, operator.iadd):
            self.scalar_or_merge(node, "add")
        elif t in (operator.mul, torch.mul, operator.imul):
            self.scalar_or_merge(node, "mul")
        elif t in (torch.cat, torch.concat):
            dim = kw.get("dim", args[1] if len(args) > 1 else 0)
            rank = len(src or ()) + 1
            dim = dim + rank if dim < 0 else dim
            if dim == 0:
                self.unsupported_node(node, "concatenation along the batch axis")
                return
            self.add(node, "concat", {"axis": dim - 1}, list(args[0]))
        elif t is torch.flatten:
            self.flatten(
                node,
                kw.get("start_dim", args[1] if len(args) > 1 else 0),
                kw.get("end_dim", args[2] if len(args) > 2 else -1),
            )
        elif t in ACT_FUNCS:
            kind = ACT_FUNCS[t]
            if kind in ("softmax", "logsoftmax") and not self.channel_dim(
                kw.get("dim", args[1] if len(args) > 1 else None), src
            ):
                self.unsupported_node(node, f"{getattr(t, '__name__', t)} not over channels")
                return
            self.add(node, kind, {})
        elif t in (
            F.adaptive_avg_pool1d,
            F.adaptive_avg_pool2d,
            F.adaptive_avg_pool3d,
            F.adaptive_max_pool1d,
            F.adaptive_max_pool2d,
            F.adaptive_max_pool3d,
        ):
            self.adaptive(
                node, kw.get("output_size", args[1] if len(args) > 1 else None), "avg" if "avg" in t.__name__ else "max"
            )
        elif t in (F.max_pool1d, F.max_pool2d, F.max_pool3d):
            names = ["input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"]
            a = {**dict(zip(names, args)), **kw}
            if a.get("return_indices"):
                self.unsupported_node(node, "max pooling that returns indices")
                return
            k = a["kernel_size"]
            stride = a.get("stride") or k
            self.add(
                node,
                "maxpool",
                {
                    "kernel": _padding(k, nd),
                    "stride": _padding(stride, nd),
                    "padding": _padding(a.get("padding", 0), nd),
                    "dilation": _padding(a.get("dilation", 1), nd),
                    "ceil_mode": bool(a.get("ceil_mode", False)),
                },
            )
        elif t in (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d):
            names = ["input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"]
            a = {**dict(zip(names, args)), **kw}
            k = a["kernel_size"]
            stride = a.get("stride") or k
            self.add(
                node,
                "avgpool",
                {
                    "kernel": _padding(k, nd),
                    "stride": _padding(stride, nd),
                    "padding": _padding(a.get("padding", 0), nd),
                    "ceil_mode": bool(a.get("ceil_mode", False)),
                    "count_include_pad": bool(a.get("count_include_pad", True)),
                },
            )
        elif t is F.pad:
            pads = kw.get("pad", args[1] if len(args) > 1 else ())
            mode = kw.get("mode", args[2] if len(args) > 2 else "constant")
            value = kw.get("value", args[3] if len(args) > 3 else None)
            self.pad(node, tuple(pads), mode, float(value or 0.0) if mode == "constant" else None, nd)
        elif t is F.interpolate:
            names = ["input", "size", "scale_factor", "mode"]
            a = {**dict(zip(names, args)), **kw}
            self.upsample(node, a.get("size"), a.get("scale_factor"), a.get("mode", "nearest"))
        elif t in (F.dropout, F.dropout1d, F.dropout2d, F.dropout3d):
            self.add(node, "dropout", {"p": float(kw.get("p", args[1] if len(args) > 1 else 0.5))})
        elif t is operator.getitem and not ins:
            pass  # indexing a shape tuple: not a tensor
        elif src is None and self.shape(node) is None:
            pass  # arithmetic on sizes, not tensors
        else:
            self.unsupported_node(node, f"function {getattr(t, '__module__', '')}.{getattr(t, '__name__', t)}")

    def method(self, node: torch.fx.Node) -> None:
        m = str(node.target)
        ins = self.tensor_args(node)
        if self.shape(node) is None:
            return  # x.size(), x.dim(): not tensors
        src = self.shape(ins[0]) if ins else None
        if m in ALIAS_METHODS and ins and self.shape(node) == src:
            self.alias[node.name] = self.resolve(ins[0].name)
        elif m in ACT_METHODS:
            kind = ACT_METHODS[m]
            dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else None)
            if kind in ("softmax", "logsoftmax") and not self.channel_dim(dim, src):
                self.unsupported_node(node, f"Tensor.{m} not over channels")
                return
            self.add(node, kind, {})
        elif m == "flatten":
            args: list[Any] = list(node.args)
            kwf: dict[str, Any] = dict(node.kwargs)
            self.flatten(
                node,
                kwf.get("start_dim", args[1] if len(args) > 1 else 0),
                kwf.get("end_dim", args[2] if len(args) > 2 else -1),
            )
        elif m in ("view", "reshape"):
            out = self.shape(node) or ()
            if len(out) == 1:
                self.add(node, "flatten", {})
            else:
                self.add(node, "reshape", {"shape": list(out)})
        elif m in ("add", "add_"):
            self.scalar_or_merge(node, "add")
        elif m in ("mul", "mul_"):
            self.scalar_or_merge(node, "mul")
        elif m == "mean" and src is not None:
            dims: Any = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else None)
            dims = [dims] if isinstance(dims, int) else list(dims or [])
            rank = len(src) + 1
            dims = sorted(d + rank if d < 0 else d for d in dims)
            keep: Any = node.kwargs.get("keepdim", node.args[2] if len(node.args) > 2 else False)
            if dims == list(range(2, rank)) and keep:
                self.add(node, "globalavgpool", {})
            elif dims == list(range(2, rank)):
                self.unsupported_node(
                    node, "mean over the spatial axes without keepdim (write a global pool and a flatten)"
                )
            else:
                self.unsupported_node(node, f"mean over axes {dims}")
        else:
            self.unsupported_node(node, f"method Tensor.{m}")

    # -- folding -------------------------------------------------------------------

    def consumers(self) -> dict[str, list[str]]:
        users: dict[str, list[str]] = {}
        for key, p in self.protos.items():
            for i in p.inputs:
                users.setdefault(i, []).append(key)
        for o in self.outputs:
            users.setdefault(o, []).append("<output>")
        return users

    def foldable(self, src: Proto, dst: Proto) -> bool:
        if self.materialized:
            return src.owner is not None and src.owner == dst.owner
        return True

    def feeds_fc(self, key: str, users: dict[str, list[str]]) -> bool:
        """True when ``key``'s value reaches exactly one fc through shape-agnostic
        layers only (dropout, identity, element-wise activations)."""
        cur = key
        for _ in range(len(self.protos)):
            u = users.get(cur, [])
            if len(u) != 1 or u[0] not in self.protos:
                return False
            nxt = self.protos[u[0]]
            if nxt.kind == "fc":
                return True
            if nxt.kind not in SHAPE_AGNOSTIC:
                return False
            cur = u[0]
        return False

    def fold(self, key: str, into: str) -> None:
        """Remove proto ``key`` (whose only input is ``into``): its users read ``into``."""
        del self.protos[key]
        for p in self.protos.values():
            p.inputs = [into if i == key else i for i in p.inputs]
        self.outputs = [into if o == key else o for o in self.outputs]

    def fuse(self) -> None:
        changed = True
        while changed:
            changed = False
            users = self.consumers()
            for key, p in list(self.protos.items()):
                if key not in self.protos:
                    continue
                u = users.get(key, [])
                # a zero (or -inf before max) pad feeding one conv/pool: its padding
                if p.kind == "pad" and p.params["mode"] == "constant" and len(u) == 1 and u[0] in self.protos:
                    nxt = self.protos[u[0]]
                    ok_value = (p.pad_value == float("-inf")) if nxt.kind == "maxpool" else (p.pad_value == 0.0)
                    if (
                        nxt.kind in PAD_INTO
                        and ok_value
                        and self.foldable(p, nxt)
                        and nxt.params.get("padding", 0) in (0, "valid")
                        and not (nxt.kind == "avgpool" and not nxt.params["count_include_pad"])
                    ):
                        nxt.params["padding"] = p.params["padding"]
                        nxt.inputs = list(p.inputs)
                        del self.protos[key]
                        changed = True
                        break
                if p.kind in ("untied_bias", "crop") or (
                    p.kind in ACT_TO_KEY and p.inputs and p.inputs[0] in self.protos
                ):
                    src_key = p.inputs[0] if p.inputs else None
                    src = self.protos.get(src_key) if src_key else None
                    if src is None or src_key is None or users.get(src_key, []) != [key] or not self.foldable(src, p):
                        continue
                    if p.kind == "untied_bias" and src.kind in ("conv", "dwconv") and src.params.get("bias") is False:
                        src.params["bias"] = "untied"
                    elif p.kind == "untied_bias" and src.kind == "sepconv":
                        pass  # the sepconv leaf already said untied
                    elif p.kind == "crop" and src.kind == "deconv" and src.params.get("padding", 0) == 0:
                        src.params["padding"] = p.params["crops"]
                    elif p.kind == "crop" and src.kind in ("maxpool", "avgpool", "lppool"):
                        pass  # the spec's own ceil-mode rule drops that window
                    elif p.kind in ACT_TO_KEY and src.kind in FUSE_ACT_INTO and not src.params.get("activation"):
                        src.params["activation"] = p.kind
                    else:
                        continue
                    src.shape = p.shape
                    self.fold(key, src_key)  # type: ignore[arg-type]
                    changed = True
                    break
                # materialize's n-input merge, traced as a chain of 2-input ones
                if self.materialized and p.kind in ("add", "mul") and p.inputs and p.inputs[0] in self.protos:
                    first = self.protos[p.inputs[0]]
                    if (
                        first.kind == p.kind
                        and users.get(p.inputs[0]) == [key]
                        and self.foldable(first, p)
                        and not first.params.get("activation")
                    ):
                        p.inputs = first.inputs + p.inputs[1:]
                        del self.protos[[k for k, v in self.protos.items() if v is first][0]]
                        changed = True
                        break
                # materialize's own reshape of a merge input (the spec broadcasts from the left)
                if (
                    self.materialized
                    and p.kind == "reshape"
                    and len(u) == 1
                    and u[0] in self.protos
                    and self.protos[u[0]].kind in ("add", "mul")
                    and self.foldable(p, self.protos[u[0]])
                ):
                    self.fold(key, p.inputs[0])
                    changed = True
                    break
                # a flatten that only feeds an fc (maybe through dropout): fc flattens by itself
                if (
                    p.kind == "flatten"
                    and self.feeds_fc(key, users)
                    and (not self.materialized or self.foldable(p, self.protos[users[key][0]]))
                ):
                    self.fold(key, p.inputs[0])
                    changed = True
                    break
        for p in self.protos.values():
            if p.kind in ("untied_bias", "crop"):
                raise ImportFailure(f"'{p.name}': a {p.kind.replace('_', ' ')} that follows no layer it can belong to")

    # -- output -----------------------------------------------------------------------

    def emit(self) -> ImportResult:
        import yaml

        names: dict[str, str] = {"input": "input"}
        used: set[str] = {"input"}
        layers = []
        for key, p in self.protos.items():
            spec_names: dict[str, str] = getattr(self.model, "spec_names", {}) if self.materialized else {}
            base: str = spec_names.get(p.owner, p.name) if p.owner is not None else p.name
            nm, k = base, 2
            while nm in used:
                nm, k = f"{base}_{k}", k + 1
            used.add(nm)
            names[key] = nm
            layers.append((key, nm, p))
        out_layers = []
        prev = "input"
        for _key, nm, p in layers:
            d: dict[str, Any] = {"name": nm, "type": p.kind, **_non_default(p.kind, p.params)}
            ins = [names[i] for i in p.inputs]
            if ins != [prev]:
                d["inputs"] = ins
            if p.note:
                d["note"] = p.note
            out_layers.append(d)
            prev = nm
        outputs = [names[o] for o in self.outputs]
        spec: dict[str, Any] = {
            "cnnsize": 1,
            "name": self.name,
            "source": f"imported from torch by `cnnsize import torch` (torch.fx, torch {torch.__version__})",
            "input": list(self.input_shape),
            "layers": out_layers,
        }
        if outputs != [prev]:
            spec["outputs"] = outputs
        head = [f"# Imported from {self.name} with `cnnsize import torch` (torch.fx symbolic trace)."]
        if self.unsupported:
            head.append("# NOT EXPRESSED (stand-ins with a note: below; the figures of these nodes are missing):")
            head += [f"#   - {u}" for u in self.unsupported]
        if self.notes:
            head.append("# Notes:")
            head += [f"#   - {n}" for n in self.notes]
        body = [
            "cnnsize: 1",
            "name: " + yaml.safe_dump(self.name, default_style=None).splitlines()[0].removesuffix("..."),
            "source: " + yaml.safe_dump(spec["source"], width=10**6).splitlines()[0],
            f"input: {list(self.input_shape)}",
            "layers:",
        ]
        for d in out_layers:
            body.append("  - " + yaml.safe_dump(d, default_flow_style=True, sort_keys=False, width=10**6).strip())
        if "outputs" in spec:
            body.append("outputs: " + yaml.safe_dump(outputs, default_flow_style=True, width=10**6).strip())
        text = "\n".join(head + body) + "\n"
        if self.blocks and not self.materialized:
            blocked = self.with_blocks(layers, names, outputs, head, body[:4])
            if blocked is not None:
                text = blocked
        return ImportResult(spec, text, list(self.unsupported), list(self.notes))

    def with_blocks(
        self,
        layers: list[tuple[str, str, Proto]],
        names: dict[str, str],
        outputs: list[str],
        head: list[str],
        top: list[str],
    ) -> str | None:
        """The same spec with one block per module class that occurs at least
        twice with the same structure (values that differ become arguments).
        Returns None when nothing repeats or the result would not expand to
        exactly the flat spec."""
        import json

        import yaml

        from cnnsize.engine.spec import INSTANCE_KEYS

        # the instance of a layer: the outermost user-defined module around it
        # whose class has at least two instances (a class used once, such as a
        # wrapper around the whole backbone, cannot be a block)
        per_class: dict[str, set[str]] = {}
        for _k, _nm, p in layers:
            for qual, cls in p.custom:
                per_class.setdefault(cls, set()).add(qual)
        for _k, _nm, p in layers:
            p.instance, p.iclass = None, ""
            for qual, cls in p.custom:
                if len(per_class[cls]) >= 2:
                    p.instance, p.iclass = qual, cls
                    break
        used_by: dict[str, list[str]] = {}
        for _k, nm, p in layers:
            for i in p.inputs:
                used_by.setdefault(names[i], []).append(nm)
        # runs of consecutive layers that ran inside the same module instance
        runs: list[tuple[str | None, str, list[tuple[str, Proto]]]] = []
        for _k, nm, p in layers:
            inst = p.instance if p.instance and nm.startswith(p.instance + ".") else None
            if runs and inst is not None and runs[-1][0] == inst:
                runs[-1][2].append((nm, p))
            else:
                runs.append((inst, p.iclass, [(nm, p)]))
        groups = []  # (run index, block input, signature, values)
        for ri, (inst, _cls, members) in enumerate(runs):
            if inst is None or len(members) < 2:
                continue
            mset = {nm for nm, _ in members}
            ext = {names[i] for _nm, p in members for i in p.inputs if names[i] not in mset}
            inner_used = any(u not in mset for nm, _ in members[:-1] for u in used_by.get(nm, [])) or any(
                nm in outputs for nm, _ in members[:-1]
            )
            locals_ = [nm[len(inst) + 1 :] for nm, _ in members]
            if len(ext) != 1 or inner_used or "input" in locals_:
                continue
            src = ext.pop()
            sig, vals = [], {}
            for (_nm, p), loc in zip(members, locals_):
                prm = _non_default(p.kind, p.params)
                ins = tuple("input" if names[i] == src else names[i][len(inst) + 1 :] for i in p.inputs)
                sig.append((loc, p.kind, ins, tuple(prm), p.note))
                for k2, v in prm.items():
                    vals[(loc, k2)] = v
            groups.append((ri, src, tuple(sig), vals))
        by_sig: dict[tuple[str, tuple[Any, ...]], list[int]] = {}
        for gi, (ri, _src, gsig, _vals) in enumerate(groups):
            by_sig.setdefault((runs[ri][1], gsig), []).append(gi)
        blocks: dict[str, dict[str, Any]] = {}
        instance_of: dict[int, tuple[str, dict[str, Any], str]] = {}  # run index -> (block, args, input)
        for (cls, gsig), gis in by_sig.items():
            if len(gis) < 2:
                continue
            keys = list(groups[gis[0]][3])
            varying = [k for k in keys if len({json.dumps(groups[g][3][k], sort_keys=True) for g in gis}) > 1]
            # values that vary together (conv1 and conv2 filters) share one argument
            together: dict[str, list[tuple[str, str]]] = {}
            for lk in varying:
                together.setdefault(json.dumps([groups[g][3][lk] for g in gis], sort_keys=True), []).append(lk)
            argname: dict[tuple[str, str], str] = {}
            taken: set[str] = set(INSTANCE_KEYS)
            for lks in together.values():
                keys_ = {key for _loc, key in lks}
                a = keys_.pop() if len(keys_) == 1 else f"{lks[0][0]}_{lks[0][1]}"
                a = "".join(ch if ch.isalnum() else "_" for ch in a)
                a = a if a[0].isalpha() else f"a_{a}"
                if a in taken:
                    a = "".join(ch if ch.isalnum() else "_" for ch in f"{lks[0][0]}_{lks[0][1]}")
                    a = a if a[0].isalpha() else f"a_{a}"
                while a in taken:
                    a += "_"
                taken.add(a)
                for lk in lks:
                    argname[lk] = a
            bname, k = cls or "block", 2
            while bname in blocks:
                bname, k = f"{cls}_{k}", k + 1
            body_layers = []
            prev_local = "input"
            for loc, kind, ins, prm_keys, note in gsig:
                d: dict[str, Any] = {"name": loc, "type": kind}
                for key in prm_keys:
                    d[key] = f"${{{argname[(loc, key)]}}}" if (loc, key) in argname else groups[gis[0]][3][(loc, key)]
                if list(ins) != [prev_local]:
                    d["inputs"] = list(ins)
                if note:
                    d["note"] = note
                body_layers.append(d)
                prev_local = loc
            blocks[bname] = {"args": {a: None for a in dict.fromkeys(argname.values())}, "layers": body_layers}
            for g in gis:
                ri, src, _sig, vals = groups[g]
                instance_of[ri] = (bname, {a: vals[lk] for lk, a in argname.items()}, src)  # shared args: equal values
        if not blocks:
            return None
        lines = list(top)
        lines.append("blocks:")
        for bname, b in blocks.items():
            lines.append(f"  {yaml.safe_dump(bname, width=10**6).splitlines()[0]}:")
            if b["args"]:
                lines.append(
                    "    args: "
                    + yaml.safe_dump(b["args"], default_flow_style=True, sort_keys=False, width=10**6).strip()
                )
            lines.append("    layers:")
            for d in b["layers"]:
                lines.append(
                    "      - " + yaml.safe_dump(d, default_flow_style=True, sort_keys=False, width=10**6).strip()
                )
        lines.append("layers:")
        prev = "input"
        for ri, (inst, _cls, members) in enumerate(runs):
            if ri in instance_of:
                bname, args, src = instance_of[ri]
                d = {"name": inst, "block": bname, **args}
                if src != prev:
                    d["inputs"] = [src]
                lines.append("  - " + yaml.safe_dump(d, default_flow_style=True, sort_keys=False, width=10**6).strip())
                prev = members[-1][0]
                continue
            for nm, p in members:
                d = {"name": nm, "type": p.kind, **_non_default(p.kind, p.params)}
                ins_names = [names[i] for i in p.inputs]
                if ins_names != [prev]:
                    d["inputs"] = ins_names
                if p.note:
                    d["note"] = p.note
                lines.append("  - " + yaml.safe_dump(d, default_flow_style=True, sort_keys=False, width=10**6).strip())
                prev = nm
        if outputs != [prev]:
            lines.append("outputs: " + yaml.safe_dump(outputs, default_flow_style=True, width=10**6).strip())
        n_inst = len(instance_of)
        text = (
            "\n".join(
                [
                    *head,
                    f"# {len(blocks)} block(s) for {n_inst} repeated module instances; every block expands to the traced layers.",
                    *lines,
                ]
            )
            + "\n"
        )
        return text if _same_expansion(text, self._flat_text(layers, names, outputs, top)) else None

    def _flat_text(
        self, layers: list[tuple[str, str, Proto]], names: dict[str, str], outputs: list[str], top: list[str]
    ) -> str:
        import yaml

        lines = [*top, "layers:"]
        prev = "input"
        for _k, nm, p in layers:
            d: dict[str, Any] = {"name": nm, "type": p.kind, **_non_default(p.kind, p.params)}
            ins = [names[i] for i in p.inputs]
            if ins != [prev]:
                d["inputs"] = ins
            lines.append("  - " + yaml.safe_dump(d, default_flow_style=True, sort_keys=False, width=10**6).strip())
            prev = nm
        if outputs != [prev]:
            lines.append("outputs: " + yaml.safe_dump(outputs, default_flow_style=True, width=10**6).strip())
        return "\n".join(lines) + "\n"


def _same_expansion(a_text: str, b_text: str) -> bool:
    """Both specs analyse to the same layers with the same figures."""
    from cnnsize.engine.analysis import analyze
    from cnnsize.engine.errors import SpecError
    from cnnsize.engine.load import loads_spec

    try:
        a, b = analyze(loads_spec(a_text)), analyze(loads_spec(b_text))
    except SpecError:
        return False
    fig = ("name", "kind", "inputs", "output_shape", "weights", "biases", "macs", "flops", "connections")
    return [tuple(getattr(r, f) for f in fig) for r in a.layers] == [
        tuple(getattr(r, f) for f in fig) for r in b.layers
    ]


def _non_default(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """Leave out keys at their rule's default (pool strides equal to the kernel too)."""
    from cnnsize.engine.rules import RULES

    keys = RULES[kind].keys
    out = {}
    for k, v in params.items():
        if (
            k in keys
            and not keys[k].required
            and (v == keys[k].default or (k == "stride" and keys[k].default is None and v == params.get("kernel")))
        ):
            if not (k == "bias" and v == "untied"):
                continue
        out[k] = v
    return out


SHAPE_AGNOSTIC = {
    "dropout",
    "identity",
    "relu",
    "relu6",
    "leakyrelu",
    "elu",
    "sigmoid",
    "tanh",
    "gelu",
    "silu",
    "hardswish",
    "hardsigmoid",
    "softplus",
}
ACT_TO_KEY = {
    "relu",
    "relu6",
    "leakyrelu",
    "elu",
    "sigmoid",
    "tanh",
    "gelu",
    "silu",
    "hardswish",
    "hardsigmoid",
    "softplus",
    "softmax",
    "logsoftmax",
}


def import_module(
    model: nn.Module, input_shape: tuple[int, ...], name: str | None = None, blocks: bool = True
) -> ImportResult:
    """Trace ``model`` (one input of per-sample shape ``input_shape``) into a spec."""
    if not isinstance(model, nn.Module):
        raise ImportFailure(f"expected a torch.nn.Module, got {type(model).__name__}")
    nm = name or (model.model_name if isinstance(model, Materialized) else type(model).__name__)
    was_training = model.training
    model.eval()
    try:
        return _Importer(model, input_shape, nm, blocks).run()
    finally:
        model.train(was_training)


def load_callable(target: str) -> Any:
    """'package.module:callable' or 'path/to/file.py:callable' -> the object it names
    (called with no arguments when it is not already a module)."""
    import importlib
    import importlib.util
    import os
    import sys

    if ":" not in target:
        raise ImportFailure(f"{target!r}: write MODULE:CALLABLE, e.g. torchvision.models:resnet18 or mymodels.py:Net")
    mod_name, _, attr = target.rpartition(":")
    if mod_name.endswith(".py") or os.sep in mod_name:
        if not os.path.exists(mod_name):
            raise ImportFailure(f"{mod_name}: no such file")
        spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(mod_name))[0], mod_name)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
    else:
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            mod = importlib.import_module(mod_name)
        except ImportError as exc:
            raise ImportFailure(f"cannot import {mod_name!r}: {exc}") from None
    obj: Any = mod
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ImportFailure(f"{mod_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if isinstance(obj, nn.Module):
        return obj
    if callable(obj):
        with torch.device("meta"):
            # built on the meta device: importing needs the structure, not the weights
            made = obj()
        if not isinstance(made, nn.Module):
            raise ImportFailure(f"{target} returned {type(made).__name__}, not a torch.nn.Module")
        return made
    raise ImportFailure(f"{target} is neither a torch.nn.Module nor a callable that builds one")
