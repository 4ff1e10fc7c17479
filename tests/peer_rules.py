"""Executable form of docs/peer_rules.md: each peer's per-layer counting rule,
re-implemented from the layer shapes torch recorded in the peer fixtures
(``tests/fixtures/peers/<model>.json``, key ``reference``), without torch.

This is evidence, not the cnnsize engine: ``tests/test_peer_rules.py`` checks
that summing these rules over the reference trace gives each peer's headline
figure exactly, and layer by layer where the peer has a breakdown.  The rules
here are deliberately written in the shape a declarative preset table takes:
one function per (peer, layer kind) of the layer's shapes and hyper-parameters.

A *call* is one execution of a layer:

* a leaf ``nn.Module`` call (``source == "module"``), or
* an aten op run directly in a container's ``forward`` (``source ==
  "functional"``): the residual ``+``/``+=``, ``torch.cat``, ``x * gate``,
  ``torch.flatten``, MobileNetV2's ``F.adaptive_avg_pool2d``.  Hook-based
  peers (thop, ptflops-pytorch, torchinfo, torchscan) never see these unless
  they patch the function; trace/dispatch peers (fvcore, ptflops-aten,
  FlopCounterMode) see them as aten ops.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from math import prod
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "peers"

# nn.Module class name -> layer kind
MODULE_KIND = {
    "Conv1d": "conv",
    "Conv2d": "conv",
    "Conv3d": "conv",
    "ConvTranspose1d": "convtranspose",
    "ConvTranspose2d": "convtranspose",
    "ConvTranspose3d": "convtranspose",
    "Linear": "linear",
    "BatchNorm1d": "batchnorm",
    "BatchNorm2d": "batchnorm",
    "BatchNorm3d": "batchnorm",
    "GroupNorm": "groupnorm",
    "LayerNorm": "layernorm",
    "ReLU": "relu",
    "ReLU6": "relu6",
    "GELU": "gelu",
    "SiLU": "silu",
    "Sigmoid": "sigmoid",
    "Hardswish": "hardswish",
    "Softmax": "softmax",
    "MaxPool1d": "maxpool",
    "MaxPool2d": "maxpool",
    "MaxPool3d": "maxpool",
    "AvgPool1d": "avgpool",
    "AvgPool2d": "avgpool",
    "AvgPool3d": "avgpool",
    "AdaptiveAvgPool1d": "adaptive_avgpool",
    "AdaptiveAvgPool2d": "adaptive_avgpool",
    "AdaptiveAvgPool3d": "adaptive_avgpool",
    "AdaptiveMaxPool1d": "adaptive_maxpool",
    "AdaptiveMaxPool2d": "adaptive_maxpool",
    "AdaptiveMaxPool3d": "adaptive_maxpool",
    "Upsample": "upsample",
    "Dropout": "dropout",
    "Flatten": "flatten",
    "Identity": "identity",
}

# aten op run in a container's forward -> layer kind (ops that allocate or view only are dropped)
FUNCTIONAL_KIND = {
    "aten.add": "add",
    "aten.add_": "add",
    "aten.mul": "mul",
    "aten.cat": "cat",
    "aten.mean": "adaptive_avgpool",  # F.adaptive_avg_pool2d(x, 1) dispatches as mean over H, W
    "aten._adaptive_avg_pool2d": "adaptive_avgpool",
    "aten.adaptive_avg_pool2d": "adaptive_avgpool",
    "aten.view": "flatten",
    "aten._unsafe_view": "flatten",
    "aten.flatten": "flatten",
}


@dataclass
class Call:
    kind: str
    source: str  # "module" | "functional"
    path: str  # module path (for functional: the container whose forward ran it)
    type: str  # module class name or aten op
    inp: list  # first input shape, batch first
    out: list  # output shape
    attrs: dict = field(default_factory=dict)
    params: int = 0
    inputs: list = field(default_factory=list)  # all tensor input shapes (functional ops)

    @property
    def n(self) -> int:
        return self.inp[0]

    def numel_in(self) -> int:
        return prod(self.inp)

    def numel_out(self) -> int:
        return prod(self.out)

    # conv helpers
    def k(self) -> int:
        return prod(self.attrs["kernel_size"])

    def cin(self) -> int:
        return self.attrs["in_channels"]

    def cout(self) -> int:
        return self.attrs["out_channels"]

    def g(self) -> int:
        return self.attrs["groups"]

    def bias(self) -> bool:
        return bool(self.attrs.get("bias"))

    def spatial_in(self) -> int:
        return prod(self.inp[2:])

    def spatial_out(self) -> int:
        return prod(self.out[2:])


def load(model: str) -> dict:
    return json.loads((FIXTURES / f"{model}.json").read_text())


def calls(fixture: dict) -> list[Call]:
    ref = fixture["reference"]
    leaf = {c["path"] for c in ref["module_calls"] if c["leaf"]}
    out: list[Call] = []
    for c in ref["module_calls"]:
        if c["leaf"]:
            out.append(
                Call(
                    MODULE_KIND.get(c["type"], "other:" + c["type"]),
                    "module",
                    c["path"],
                    c["type"],
                    c["in"],
                    c["out"],
                    c["attrs"],
                    c["params"],
                )
            )
    for o in ref["aten_ops"]:
        if o["module"] in leaf or o["op"] not in FUNCTIONAL_KIND or not o["in"]:
            continue
        first = o["in"][0]
        first = first[0] if first and isinstance(first[0], list) else first  # cat: list of tensors
        out.append(
            Call(
                FUNCTIONAL_KIND[o["op"]],
                "functional",
                o["module"],
                o["op"],
                first,
                o["out"],
                inputs=o["in"][0] if o["op"] == "aten.cat" else o["in"],
            )
        )
    return out


# ============================================================================ rules
# Each rule: Call -> int.  A kind missing from a peer's table counts 0.


def conv_macs(c: Call) -> int:
    """Multiply-accumulates of a conv, from the output side (bias excluded)."""
    return c.n * c.spatial_out() * c.cout() * (c.cin() // c.g()) * c.k()


def convt_macs_input_side(c: Call) -> int:
    """Transposed conv MACs counted correctly: every input pixel scatters a Cout/g x k window."""
    return c.n * c.spatial_in() * c.cin() * (c.cout() // c.g()) * c.k()


def linear_macs(c: Call) -> int:
    return prod(c.inp[:-1]) * c.attrs["in_features"] * c.attrs["out_features"]


def linear_rows(c: Call) -> int:
    return prod(c.inp[:-1])


def _adaptive_windows_exact(i: int, o: int) -> int:
    """Sum over outputs of torch's adaptive window length along one axis."""
    return sum(-(-(j + 1) * i // o) - (j * i // o) for j in range(o))


def _avgpool_window_sum(c: Call) -> int:
    """ultralytics-thop: inputs summed over all windows (clipped to the padded/unpadded input)."""
    ks = c.attrs["kernel_size"]
    dims = len(c.inp) - 2
    ks = [ks] * dims if isinstance(ks, int) else list(ks)
    st = c.attrs["stride"]
    st = [st] * dims if isinstance(st, int) else list(st)
    pd = c.attrs["padding"]
    pd = [pd] * dims if isinstance(pd, int) else list(pd)
    windows = 1
    for size, o, k, s, p in zip(c.inp[2:], c.out[2:], ks, st, pd):
        lo, hi = (-p, size + p) if c.attrs.get("count_include_pad", True) else (0, size)
        windows *= sum(max(min(i * s - p + k, hi) - max(i * s - p, lo), 0) for i in range(o))
    return prod(c.inp[:2]) * windows


def _int_kernel(c: Call) -> int:
    """torchscan's k_size: prod(kernel) for a tuple, the int itself for an int (its MaxPool2d(3) bug)."""
    k = c.attrs["kernel_size"]
    return prod(k) if isinstance(k, list) else k


def _ts_adaptive_kernel(c: Call) -> list[int]:
    return [i // o if i % o == 0 else i % o + 1 for i, o in zip(c.inp[2:], c.out[2:])]


# ---------------------------------------------------------------- fvcore 0.1.5 (jit trace; "flop" = MAC)
def _fvcore_norm(c: Call) -> int:
    return c.numel_in() * (5 if c.attrs.get("affine", c.attrs.get("elementwise_affine")) else 4)


FVCORE = {
    "conv": conv_macs,
    "convtranspose": convt_macs_input_side,
    "linear": linear_macs,  # aten::linear or aten::addmm, bias never counted
    "batchnorm": lambda c: c.numel_in() * (2 if c.attrs["affine"] else 1),  # eval mode
    "groupnorm": _fvcore_norm,
    "layernorm": _fvcore_norm,
    "adaptive_avgpool": lambda c: c.numel_in(),  # aten::adaptive_avg_pool2d only (1-D/3-D: unsupported)
    "upsample": lambda c: c.numel_out() * {"nearest": 1, "bilinear": 4}.get(c.attrs.get("mode"), 0),
}


# ---------------------------------------------------------------- thop 0.1.1.post2209072238
def _thop1_norm(c: Call) -> int:
    affine = c.attrs.get("affine") or c.attrs.get("elementwise_affine")
    return 2 * c.numel_in() * (2 if affine else 1)


def _thop1_adaptive_avg(c: Call) -> int:
    ratio = 1.0
    for i, o in zip(c.inp[2:], c.out[2:]):
        ratio *= i / o
    return int((ratio + 1) * c.numel_out())


THOP1 = {
    "conv": conv_macs,
    # count_convNd is shared with ConvTranspose: numel(out) * (in_c // g) * prod(kernel), in_c read from the
    # input tensor, i.e. counted from the OUTPUT side (stride^2 too large); 2.x fixed it (count_convtNd)
    "convtranspose": lambda c: c.numel_out() * (c.cin() // c.g()) * c.k(),
    "linear": lambda c: c.attrs["in_features"] * c.numel_out(),
    "batchnorm": _thop1_norm,
    "layernorm": _thop1_norm,
    "avgpool": lambda c: c.numel_out(),
    "adaptive_avgpool": lambda c: _thop1_adaptive_avg(c) if c.source == "module" else 0,
    "upsample": lambda c: (
        c.numel_out() * {"nearest": 1, "linear": 5, "bilinear": 11, "bicubic": 259}.get(c.attrs.get("mode"), 0)
    ),
    "softmax": lambda c: (c.numel_in() // c.inp[c.attrs["dim"]]) * (3 * c.inp[c.attrs["dim"]] - 1),
}
THOP1 = {k: (lambda f: lambda c: f(c) if c.source == "module" else 0)(f) for k, f in THOP1.items()}  # noqa: B023 - bound by the immediate call


# ---------------------------------------------------------------- ultralytics-thop 2.2.3
def _thop2_adaptive_avg(c: Call) -> int:
    inner = 1
    for i, o in zip(c.inp, c.out):
        inner *= o if i == o else _adaptive_windows_exact(i, o)
    return inner + c.numel_out()


THOP2 = {
    "conv": conv_macs,
    "convtranspose": convt_macs_input_side,
    "linear": lambda c: c.attrs["in_features"] * c.numel_out(),
    "batchnorm": _thop1_norm,
    "layernorm": _thop1_norm,
    "groupnorm": _thop1_norm,
    "avgpool": lambda c: _avgpool_window_sum(c) + c.numel_out(),
    "adaptive_avgpool": _thop2_adaptive_avg,
    "upsample": lambda c: (
        c.numel_out()
        * {"nearest": 0, "nearest-exact": 0, "linear": 5, "bilinear": 11, "bicubic": 259, "trilinear": 31}.get(
            c.attrs.get("mode"), 0
        )
    ),
    "softmax": lambda c: (c.numel_in() // c.inp[c.attrs["dim"]]) * (3 * c.inp[c.attrs["dim"]] - 1),
}
THOP2 = {k: (lambda f: lambda c: f(c) if c.source == "module" else 0)(f) for k, f in THOP2.items()}  # noqa: B023 - bound by the immediate call


# ---------------------------------------------------------------- ptflops 0.7.5, backend="pytorch"
def _ptf_conv(c: Call, transposed: bool) -> int:
    active = c.n * (c.spatial_in() if transposed else c.spatial_out())
    macs = c.k() * c.cin() * (c.cout() // c.g()) * active
    return macs + (c.numel_out() if c.bias() else 0)


def _ptf_linear(c: Call) -> int:
    f_in, f_out = c.attrs["in_features"], c.attrs["out_features"]
    return (f_in * f_out + (f_out if c.bias() else 0)) * linear_rows(c)


# module hook part (exact-type match on MODULES_MAPPING)
PTFLOPS_MODULE = {
    "conv": lambda c: _ptf_conv(c, False),
    "convtranspose": lambda c: _ptf_conv(c, True),
    "linear": _ptf_linear,
    "batchnorm": lambda c: c.numel_in() * (2 if c.attrs.get("affine") else 1),
    "groupnorm": lambda c: c.numel_in() * (2 if c.attrs.get("affine") else 1),
    "layernorm": lambda c: c.numel_in(),  # checks `module.affine`, which LayerNorm does not have
    "relu": lambda c: c.numel_out(),
    "relu6": lambda c: c.numel_out(),
    "gelu": lambda c: c.numel_out(),
    "maxpool": lambda c: c.numel_in(),
    "avgpool": lambda c: c.numel_in(),
    "adaptive_avgpool": lambda c: c.numel_in(),
    "adaptive_maxpool": lambda c: c.numel_in(),
    "upsample": lambda c: c.numel_out(),
}
# patched torch.nn.functional part: the nn.Module forwards call these too (double count)
PTFLOPS_FUNCTIONAL = {
    "relu": lambda c: c.numel_in(),  # nn.ReLU -> F.relu
    "gelu": lambda c: c.numel_in(),  # nn.GELU -> F.gelu
    "silu": lambda c: c.numel_in(),  # nn.SiLU -> F.silu
    "maxpool": lambda c: c.numel_in(),
    "avgpool": lambda c: c.numel_in(),
    "adaptive_avgpool": lambda c: c.numel_in(),
    "adaptive_maxpool": lambda c: c.numel_in(),
    "softmax": lambda c: c.numel_in(),  # nn.Softmax -> F.softmax
    "upsample": lambda c: c.numel_out(),  # nn.Upsample -> F.interpolate: numel(in) * scale^dims
    # relu6: nn.ReLU6 calls F.hardtanh (not patched); add/cat/mul: `+`, `+=`, `*`, torch.cat not patched
}


def ptflops_pytorch(c: Call) -> int:
    f_mod = PTFLOPS_MODULE.get(c.kind) if c.source == "module" else None
    f_fun = PTFLOPS_FUNCTIONAL.get(c.kind)
    if c.source == "functional" and c.kind == "adaptive_avgpool":
        return c.numel_in()  # F.adaptive_avg_pool2d called directly (MobileNetV2)
    if c.source == "functional":
        return 0
    return (f_mod(c) if f_mod else 0) + (f_fun(c) if f_fun else 0)


# ---------------------------------------------------------------- ptflops 0.7.5, backend="aten"
PTFLOPS_ATEN = {
    "conv": lambda c: conv_macs(c) + (c.numel_out() if c.bias() else 0),
    "convtranspose": lambda c: convt_macs_input_side(c) + (c.numel_out() if c.bias() else 0),
    # nn.Linear -> aten.addmm (bias: +rows*out) or aten.mm (no bias)
    "linear": lambda c: linear_macs(c) + (linear_rows(c) * c.attrs["out_features"] if c.bias() else 0),
}


# ---------------------------------------------------------------- torchinfo 1.8.0 (total_mult_adds)
def _torchinfo_macs(c: Call) -> int:
    if c.source != "module" or c.params == 0:
        return 0
    if "Conv" in c.type:  # every param (weight AND bias) x N x output spatial: ConvTranspose from the output side
        return c.params * c.n * c.spatial_out()
    return c.n * c.params  # Linear, norms: output_size[0] * numel(weight) + output_size[0] * numel(bias)


# ---------------------------------------------------------------- torchscan 0.2.0 (module formulas)
def _ts_conv_flops(c: Call) -> int:
    terms = c.k() * (c.inp[1] // c.g())
    f = c.numel_out() * (2 * terms - 1 + (1 if c.bias() else 0))
    return f + (8 * len(c.attrs["kernel_size"]) if c.kind == "convtranspose" else 0)


def _ts_bn_flops(c: Call) -> int:
    return 2 * c.attrs["num_features"] + 2 * c.numel_in() + (2 * c.numel_in() if c.attrs["affine"] else 0)


def _ts_ln_flops(c: Call) -> int:
    numel = c.numel_in()
    rows = numel // prod(c.attrs["normalized_shape"])
    aff = 2 if c.attrs.get("elementwise_affine") else 0
    return 6 * numel + 2 * rows + aff * numel


TORCHSCAN_FLOPS = {
    "conv": _ts_conv_flops,
    "convtranspose": _ts_conv_flops,
    "linear": lambda c: (
        linear_rows(c) * c.attrs["out_features"] * (2 * c.attrs["in_features"] - 1)
        + (linear_rows(c) * c.attrs["out_features"] if c.bias() else 0)
    ),
    "batchnorm": _ts_bn_flops,
    "layernorm": _ts_ln_flops,
    "relu": lambda c: c.numel_in(),
    "relu6": lambda c: 2 * c.numel_in(),
    "sigmoid": lambda c: 4 * c.numel_in(),
    "dropout": lambda c: c.numel_in() if c.attrs["p"] > 0 else 0,  # counted in eval mode too
    "maxpool": lambda c: c.numel_out() * (_int_kernel(c) - 1),
    "avgpool": lambda c: c.numel_out() * (_int_kernel(c) - 1 + len(c.inp) - 2),
    "adaptive_maxpool": lambda c: c.numel_out() * (prod(_ts_adaptive_kernel(c)) - 1),
    "adaptive_avgpool": lambda c: c.numel_out() * (prod(_ts_adaptive_kernel(c)) - 1 + len(c.inp) - 2),
}
TORCHSCAN_MACS = {
    "conv": lambda c: c.numel_out() * (c.inp[1] // c.g()) * c.k(),
    "convtranspose": lambda c: 4 * len(c.attrs["kernel_size"]) + c.numel_out() * (c.inp[1] // c.g()) * c.k(),
    "linear": lambda c: c.attrs["in_features"] * c.numel_out(),
    "batchnorm": lambda c: c.numel_in() * (2 if c.attrs["affine"] else 1),
    "maxpool": lambda c: c.numel_out() * (_int_kernel(c) - 1),
    "avgpool": lambda c: c.numel_out() * (_int_kernel(c) - 1 + len(c.inp) - 2),
    "adaptive_maxpool": lambda c: c.numel_out() * (prod(_ts_adaptive_kernel(c)) - 1),
    "adaptive_avgpool": lambda c: c.numel_out() * (prod(_ts_adaptive_kernel(c)) - 1 + len(c.inp) - 2),
}


def _ts_dmas(c: Call) -> int:
    k = c.kind
    if k in ("conv", "convtranspose"):
        d = c.attrs["in_channels"] * c.k() * c.numel_out() // c.g() + c.params + c.numel_out()
        return d + (5 * len(c.attrs["kernel_size"]) if k == "convtranspose" else 0)
    if k == "linear":
        return c.numel_in() + c.params + c.numel_out()
    if k in ("relu", "relu6"):
        return c.numel_in() + (0 if c.attrs.get("inplace") else c.numel_out())
    if k == "sigmoid":
        return c.numel_in() + c.numel_out()
    if k == "dropout":
        return c.numel_in() + 1 + (0 if c.attrs.get("inplace") else c.numel_out())
    if k == "batchnorm":
        ops = 1 + (2 * c.attrs["num_features"] if c.attrs.get("track_running_stats", True) else 0)
        ops += 2 * c.attrs["num_features"] if c.attrs["affine"] else 0
        ops += 1  # momentum is not None
        return c.numel_in() + ops + c.numel_out()
    if k in ("maxpool", "avgpool"):
        ks = c.attrs["kernel_size"]
        ks = prod(ks) if isinstance(ks, list) else ks ** (len(c.inp) - 2)  # int kernel expanded here (no bug)
        return ks * c.numel_out() + c.numel_out()
    if k in ("adaptive_maxpool", "adaptive_avgpool"):
        return prod(_ts_adaptive_kernel(c)) * c.numel_out() + c.numel_out()
    if k == "flatten":
        return 2 * c.numel_in()
    if k == "identity":
        return c.numel_in()
    return 0


# kinds torchscan has a formula for, per metric (others warn "Module type not supported" -> 0, partial)
TORCHSCAN_SUPPORTED = {
    "module_flops": set(TORCHSCAN_FLOPS) | {"flatten", "identity"},
    "macs": set(TORCHSCAN_MACS) | {"relu", "relu6", "sigmoid", "flatten", "identity", "dropout"},
    "dmas": {
        "conv",
        "convtranspose",
        "linear",
        "relu",
        "relu6",
        "sigmoid",
        "dropout",
        "batchnorm",
        "maxpool",
        "avgpool",
        "adaptive_maxpool",
        "adaptive_avgpool",
        "flatten",
        "identity",
    },
}


def torchscan(metric: str, c: Call) -> int:
    if c.source != "module":
        return 0
    if metric == "module_flops":
        f = TORCHSCAN_FLOPS.get(c.kind)
    elif metric == "macs":
        f = TORCHSCAN_MACS.get(c.kind)
    else:
        return _ts_dmas(c)
    return f(c) if f else 0


# ---------------------------------------------------------------- torch.utils.flop_counter.FlopCounterMode
TORCH_FLOP_COUNTER = {
    "conv": lambda c: 2 * conv_macs(c),
    "convtranspose": lambda c: 2 * convt_macs_input_side(c),
    "linear": lambda c: 2 * linear_macs(c),  # aten.addmm / aten.mm: bias never counted
}


def total(rule, cs: list[Call]) -> int:
    if isinstance(rule, dict):
        return sum(rule[c.kind](c) for c in cs if c.kind in rule)
    return sum(rule(c) for c in cs)
