"""Convention presets: what ``macs``, ``flops`` and the memory figures mean.

Each preset is a small declarative table, not a special case in the engine.
A rule reports, per layer, its MACs, its non-MAC FLOPs by category (bias,
act, norm, pool, merge, scale, other) and a few element counts other tools'
formulas need (``Result.counts``). The engine adds generic terms (input and
output elements, channels, spatial dims, params). A preset weights those
terms, per layer kind:

    macs(layer)  = sum(weight x term) with the weights of MACS[kind] (falling back to MACS["*"])
    flops(layer) = likewise with FLOPS, or flops_per_mac x macs(layer) when FLOPS is None

Hook-based tools (thop, ptflops, torchinfo, torchscan) see only nn.Modules:
on a layer the spec marks ``functional: true`` (and on merges, which torch
writes as ``x + y`` / ``torch.cat``) they use the ``*_functional`` tables
instead, which are empty unless the tool patches torch functions (ptflops).
An activation fused into a layer is its own nn.Module in torch, so its
``act.*`` terms always use the module tables.

docs/conventions.md holds the side-by-side table of presets and why the same
network gets each tool's number.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cnnsize.engine import fastpath
from cnnsize.engine._readonly import ReadOnly
from cnnsize.engine.kinds import kinds_in

ALL_CATEGORIES = ("bias", "act", "norm", "pool", "merge", "scale", "other")

Table = Mapping[str, Mapping[str, int]]  # kind (or "*") -> term -> weight

CONV_KINDS = kinds_in("conv")
MAC_KINDS = (*CONV_KINDS, *kinds_in("transposed_conv"), *kinds_in("dense"))
ACT_KINDS = frozenset(kinds_in("activation"))
POOL_KINDS = kinds_in("pool")


# (preset id, figure, kind, functional) -> (preset, its (term, weight) pairs);
# at most 12 presets x 2 figures x the kinds x 2 entries, so never evicted
_FORMS: dict[tuple[int, str, str, bool], tuple[Any, tuple[tuple[str, int], ...]]] = {}
fastpath.register_memo(_FORMS.clear)


def _pairs(table: Table | None, kind: str, only_act: bool | None) -> tuple[tuple[str, int], ...]:
    if not table:
        return ()
    w = {**table.get("*", {}), **table.get(kind, {})}
    return tuple((t, v) for t, v in w.items() if only_act is None or t.startswith("act.") == only_act)


def _each(kinds: tuple[str, ...] | frozenset[str], weights: Mapping[str, int]) -> dict[str, Mapping[str, int]]:
    return {k: weights for k in kinds}


class Convention(ReadOnly):
    # read-only after __init__ (cnnsize.engine._readonly): _eval caches per preset object
    name: str
    description: str
    macs: Table
    flops: Table | None  # None: flops_per_mac x macs
    flops_per_mac: int
    hooks: bool  # sees nn.Modules only: functional layers use the *_functional tables
    macs_functional: Table | None  # None: nothing (hooks) / same as macs (no hooks)
    flops_functional: Table | None
    # memory: which layer outputs count in activation_bytes, and how often
    activation_layers: str  # "all" | "with_params"
    activation_factor: int
    input_extra_bytes: int
    param_bytes_include_buffers: bool  # param memory = (params + buffers) x dtype size
    tracked_buffers: bool  # count BatchNorm's num_batches_tracked (int64) as a buffer
    reference: str
    version: str  # the peer version its figures were checked against
    headline: tuple[str, ...]  # the totals fields that carry the peer's own figures

    def __init__(
        self,
        name: str,
        description: str,
        macs: Table,
        flops: Table | None = None,
        flops_per_mac: int = 2,
        hooks: bool = False,
        macs_functional: Table | None = None,
        flops_functional: Table | None = None,
        activation_layers: str = "all",
        activation_factor: int = 1,
        input_extra_bytes: int = 0,
        param_bytes_include_buffers: bool = False,
        tracked_buffers: bool = False,
        reference: str = "",
        version: str = "",
        headline: tuple[str, ...] = (),
    ) -> None:
        # _eval caches per preset object: a preset must not change once built
        self.__dict__.update(
            name=name,
            description=description,
            macs=macs,
            flops=flops,
            flops_per_mac=flops_per_mac,
            hooks=hooks,
            macs_functional=macs_functional,
            flops_functional=flops_functional,
            activation_layers=activation_layers,
            activation_factor=activation_factor,
            input_extra_bytes=input_extra_bytes,
            param_bytes_include_buffers=param_bytes_include_buffers,
            tracked_buffers=tracked_buffers,
            reference=reference,
            version=version,
            headline=headline,
        )

    # -- evaluation -------------------------------------------------------
    def _table(self, which: str, functional: bool) -> Table | None:
        base = self.macs if which == "macs" else self.flops
        if not functional:
            return base
        fn = self.macs_functional if which == "macs" else self.flops_functional
        if fn is not None:
            return fn
        return {} if self.hooks else base

    def _eval(self, which: str, kind: str, terms: Mapping[str, int], functional: bool) -> int:
        # The weights on each term are resolved once per (preset, figure, kind,
        # functional); the entry holds the preset so that its id cannot be
        # reused while cached.
        # With fast paths off the memo stays empty (set_enabled empties it and
        # nothing is stored), so the switch is asked on a miss only.
        key = (id(self), which, kind, functional)
        hit = _FORMS.get(key)
        if hit is None or hit[0] is not self:
            pairs = self._form(which, kind, functional)
            if fastpath.enabled():
                _FORMS[key] = (self, pairs)
        else:
            pairs = hit[1]
        total = 0
        for t, w in pairs:
            v = terms.get(t)
            if v is not None:
                total += w * v
        return total

    def _form(self, which: str, kind: str, functional: bool) -> tuple[tuple[str, int], ...]:
        """(term, weight) pairs with figure = sum(weight x term): the kind's
        table merged over "*"; a fused activation is an nn.Module of its own
        even after a functional op, so its act.* terms use the module table."""
        if which == "flops" and self.flops is None:
            return tuple((t, self.flops_per_mac * w) for t, w in self._form("macs", kind, functional))
        table = self._table(which, functional)
        if not functional or kind in ACT_KINDS:
            return _pairs(table, kind, None)
        module = self.macs if which == "macs" else self.flops
        return _pairs(table, kind, False) + _pairs(module, kind, True)

    def layer_macs(self, kind: str, terms: Mapping[str, int], functional: bool = False) -> int:
        return self._eval("macs", kind, terms, functional)

    def layer_flops(self, kind: str, terms: Mapping[str, int], functional: bool = False) -> int:
        return self._eval("flops", kind, terms, functional)

    # -- memory: the engine applies these to each layer and to the input
    # before it derives any total (peak, saved, optimizer state, training),
    # so every identity of docs/conventions.md holds under every preset.
    def activation_bytes(self, tensor_bytes: int, params: int) -> int:
        if self.activation_layers == "with_params" and params == 0:
            return 0
        return tensor_bytes * self.activation_factor

    def input_bytes(self, tensor_bytes: int) -> int:
        return tensor_bytes + self.input_extra_bytes

    def tracked(self, counts: Mapping[str, int]) -> int:
        """The int64 num_batches_tracked buffers this tool adds to a layer's."""
        return counts.get("bn_tracked", 0) if self.tracked_buffers else 0

    def param_bytes(self, params: int, buffers: int, nbytes: int) -> int:
        return (params + buffers if self.param_bytes_include_buffers else params) * nbytes

    def buffer_bytes(self, buffers: int, tracked: int, nbytes: int) -> int:
        """Bytes of ``buffers`` (``tracked`` of them int64) not already in
        param_bytes: a tool that counts buffers as parameters leaves none,
        so that no byte is counted twice in training_bytes."""
        if self.param_bytes_include_buffers:
            return 0
        return (buffers - tracked) * nbytes + 8 * tracked

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "macs": {k: dict(v) for k, v in self.macs.items()},
            "flops": {k: dict(v) for k, v in self.flops.items()}
            if self.flops is not None
            else f"{self.flops_per_mac} x macs",
            "hooks": self.hooks,
            "reference": self.reference,
            "version": self.version,
        }


def layer_terms(res: Any, in_shapes: list[tuple[int, ...]]) -> dict[str, int]:
    """Every term a preset may weight, for one layer (a registry.Result and the
    shapes of its inputs)."""
    from math import prod

    units = prod(res.shape)
    sd = len(res.shape) - 1
    terms = {
        "mac": res.macs,
        **res.ops,
        **res.counts,
        "in": prod(in_shapes[0]) if in_shapes else 0,
        "out": units,
        "out_sd": units * sd,  # output elements x spatial dims (torchscan's pool formulas)
        "sd": sd,
        "channels": res.shape[0],
        "positions": units // res.shape[0],  # per channel: spatial positions (1 for a vector)
        "one": 1,  # per sample
        "params": res.weights + res.biases,
    }
    return terms


# --- the presets -------------------------------------------------------------

_CNNSIZE_FLOPS: Table = {"*": {"mac": 2, **{c: 1 for c in ALL_CATEGORIES}}}

# torch.utils.flop_counter / fvcore count a transposed conv from the input side
# (as cnnsize); thop, torchinfo and torchscan count it like a conv over its output.
_MAC = {"mac": 1}
_MAC_BIAS = {"mac": 1, "bias": 1}
_OUT_SIDE = {"mac_out": 1}

PRESETS: tuple[Convention, ...] = (
    Convention(
        "cnnsize",
        "MACs of conv/fc/transposed conv (input side)/RBF; FLOPs = 2 x MACs + bias adds + every element-wise op "
        "(activations, norms, pools, merges), each per docs/conventions.md",
        macs={"*": _MAC},
        flops=_CNNSIZE_FLOPS,
        headline=("macs", "flops"),
    ),
    Convention(
        "torchvision",
        "what torchvision's model docs call GFLOPS (weights meta '_ops'): conv + fc multiply-accumulates, transposed "
        "conv from the input side, bias and everything else excluded; flops = 2 x macs",
        macs=_each(MAC_KINDS, _MAC),
        reference="torchvision.models weights meta '_ops' (docs: GFLOPS)",
        headline=("macs",),
    ),
    Convention(
        "torch",
        "torch.utils.flop_counter.FlopCounterMode: 2 x MACs of convolutions (transposed from the input side) and "
        "matmuls (addmm without the bias); nothing else. macs = flops / 2",
        macs=_each(MAC_KINDS, _MAC),
        reference="torch/utils/flop_counter.py (conv_flop_count, addmm_flop)",
        version="torch 2.13.0",
        headline=("flops",),
    ),
    Convention(
        "fvcore",
        "fvcore FlopCountAnalysis.total(): one 'flop' per multiply-accumulate of conv (transposed from the input "
        "side) and linear, no bias; batchnorm at inference 1 per element + 1 more if affine; adaptive/global average "
        "pool 1 per input element; upsample nearest 1, bilinear 4 per output; group/layer norm 4 (+1 affine) per "
        "element; activations, max pools and merges 0. macs = flops",
        macs={
            **_each(MAC_KINDS, _MAC),
            "batchnorm": {"out": 1, "affine_out": 1},
            **_each(("groupnorm", "layernorm"), {"out": 4, "affine_out": 1}),
            **_each(("adaptiveavgpool", "globalavgpool"), {"in": 1}),
            "upsample": {"upsample.nearest": 1, "upsample.bilinear": 4},
        },
        flops_per_mac=1,
        reference="fvcore/nn/flop_count.py _DEFAULT_SUPPORTED_OPS, fvcore/nn/jit_handles.py",
        version="fvcore 0.1.5.post20221221",
        headline=("flops",),
    ),
    Convention(
        "thop",
        "thop.profile (thop 0.1.1): conv MACs counted over the output (so a transposed conv from the output side, "
        "overlaps included), no bias; fc MACs; batchnorm/layernorm 2 per element, x2 if affine (4); avgpool 1 per "
        "output; adaptive/global average pool (window + 1) per output; upsample nearest 1, linear 5, bilinear 11 per "
        "output; ReLU/ReLU6, max pools, dropout 0; functional calls (F.*, x + y, torch.cat) unseen. flops = 2 x macs",
        macs={
            **_each(CONV_KINDS, _MAC),
            "deconv": _OUT_SIDE,
            "fc": _MAC,
            **_each(("batchnorm", "layernorm"), {"out": 2, "affine_out": 2}),
            "avgpool": {"out": 1},
            **_each(("adaptiveavgpool", "globalavgpool"), {"in": 1, "out": 1}),
            "upsample": {"upsample.nearest": 1, "upsample.linear": 5, "upsample.bilinear": 11},
            "softmax": {"out": 3, "positions": -1},  # per row of n: n exp, n - 1 adds, n divides
        },
        hooks=True,
        reference="thop/profile.py register_hooks, thop/vision/basic_hooks.py, thop/vision/calc_func.py",
        version="thop 0.1.1",
        headline=("macs",),
    ),
    Convention(
        "ultralytics-thop",
        "ultralytics-thop 2.2.3 (the maintained thop fork, same import name): as thop 0.1.1 but a transposed conv "
        "from the input side, GroupNorm counted (and its parameters), average pool = inputs summed in each window + 1 "
        "divide per output, nearest upsample 0; functional calls unseen. flops = 2 x macs",
        macs={
            **_each(MAC_KINDS, _MAC),
            **_each(("batchnorm", "layernorm", "groupnorm"), {"out": 2, "affine_out": 2}),
            "avgpool": {"pool": 1, "out": 1},
            **_each(("adaptiveavgpool", "globalavgpool"), {"in": 1, "out": 1}),
            "upsample": {
                "upsample.linear": 5,
                "upsample.bilinear": 11,
                "upsample.bicubic": 259,
                "upsample.trilinear": 31,
            },
            "softmax": {"out": 3, "positions": -1},
        },
        hooks=True,
        reference="ultralytics/thop thop/profile.py, thop/vision/basic_hooks.py",
        version="ultralytics-thop 2.2.3",
        headline=("macs",),
    ),
    Convention(
        "ptflops",
        "ptflops get_model_complexity_info, pytorch backend (ptflops 0.7.5): conv/fc MACs + bias adds (transposed "
        "conv from the input side); batchnorm and other norms 1 per element + 1 if affine; pools 1 per input element; "
        "ReLU-family 1 per output; and, because it also patches torch.nn.functional while hooking modules, "
        "nn.ReLU/ELU/GELU, pools and Upsample are counted twice (module hook + the F.* call inside their forward); "
        "nn.ReLU6 (F.hardtanh, unpatched) once; x + y and torch.cat unseen. flops = 2 x macs",
        macs={
            **_each(MAC_KINDS, _MAC_BIAS),
            # the norm hook doubles for module.affine, which LayerNorm lacks (elementwise_affine)
            **_each(("batchnorm", "groupnorm"), {"out": 1, "affine_out": 1}),
            "layernorm": {"out": 1},
            **_each(POOL_KINDS, {"in": 2}),
            "upsample": {"out": 2},
            "*": {
                "act.relu": 2,
                "act.elu": 2,
                "act.gelu": 2,
                "act.leakyrelu": 1,
                "act.relu6": 1,
                "act.silu": 1,
                "act.softmax": 1,
            },
        },
        hooks=True,
        macs_functional={
            **_each(POOL_KINDS, {"in": 1}),
            "upsample": {"out": 1},
            "*": {"act.relu": 1, "act.elu": 1, "act.gelu": 1, "act.relu6": 1, "act.silu": 1, "act.softmax": 1},
        },
        reference=(
            "ptflops/pytorch_engine.py (patch_functional), ptflops/pytorch_ops.py MODULES_MAPPING/FUNCTIONAL_MAPPING"
        ),
        version="ptflops 0.7.5",
        headline=("macs",),
    ),
    Convention(
        "ptflops-aten",
        "ptflops get_model_complexity_info, aten backend (ptflops 0.7.5): conv (transposed from the input side) and "
        "matmul MACs plus their bias adds; everything else (norms, activations, pools, merges) treated as zero-ops. "
        "flops = 2 x macs",
        macs=_each(MAC_KINDS, _MAC_BIAS),
        reference="ptflops/aten_engine.py, ptflops/aten_ops.py",
        version="ptflops 0.7.5",
        headline=("macs",),
    ),
    Convention(
        "torchinfo",
        "torchinfo.summary 'Total mult-adds' (torchinfo 1.8.0): for every module with parameters, its parameter count "
        "x output positions for Conv* (so conv MACs + bias adds, and a transposed conv from the output side) and x "
        "batch otherwise (fc MACs + bias; a batchnorm adds its 2C affine parameters, not per element); parameter-free "
        "modules 0. Memory: activation_bytes = 2 x the outputs of modules with parameters ('Forward/backward pass "
        "size'), input_bytes = sys.getsizeof of the input storage (64 bytes over the data on CPython 3.11). flops = 2 "
        "x macs",
        macs={
            **_each(("batchnorm", "groupnorm", "layernorm", "subsample"), {"params": 1}),
            **_each(CONV_KINDS, _MAC_BIAS),
            "deconv": {"mac_out": 1, "bias": 1},
            "fc": _MAC_BIAS,
        },
        hooks=True,
        activation_layers="with_params",
        activation_factor=2,
        input_extra_bytes=64,
        reference="torchinfo/layer_info.py calculate_macs, torchinfo/model_statistics.py",
        version="torchinfo 1.8.0",
        headline=("macs", "activation_bytes", "param_bytes", "input_bytes"),
    ),
    Convention(
        "torchscan",
        "torchscan crawl_module (torchscan 0.2.0): flops = its 'Module-formula forward FLOPs', macs = its "
        "'Multiply-Accumulations'. Conv: out x (2 x taps - 1 + bias) FLOPs and out x taps MACs, counted over the "
        "output (a transposed conv from the output side, + 8 x dims FLOPs / 4 x dims MACs); fc likewise; batchnorm 2C "
        "+ 2 per element, +2 if affine (MACs 1 + 1 affine per element); ReLU 1, ReLU6 2, Sigmoid 4, Tanh/ELU 6, "
        "LeakyReLU 4 per element (no MACs); max pool out x (window - 1); avg pools out x (window - 1 + dims); dropout "
        "with p > 0 1 per element FLOPs even at inference; functional calls unseen. Buffers include each BatchNorm's "
        "num_batches_tracked (one int64, 8 bytes)",
        macs={
            **_each(CONV_KINDS, _MAC),
            "deconv": {"mac_out": 1, "sd": 4},
            "fc": _MAC,
            "batchnorm": {"out": 1, "affine_out": 1},
            "maxpool": {"window_written": 1, "out": -1},
            "avgpool": {"window_written": 1, "out": -1, "out_sd": 1},
            **_each(("adaptivemaxpool", "globalmaxpool"), {"pool": 1}),
            **_each(("adaptiveavgpool", "globalavgpool"), {"pool": 1, "out": -1, "out_sd": 1}),
        },
        flops={
            **_each(CONV_KINDS, {"mac": 2, "out": -1, "bias": 1}),
            "deconv": {"mac_out": 2, "out": -1, "bias": 1, "sd": 8},
            "fc": {"mac": 2, "out": -1, "bias": 1},
            "batchnorm": {"channels": 2, "out": 2, "affine_out": 2},
            "maxpool": {"window_written": 1, "out": -1},
            "avgpool": {"window_written": 1, "out": -1, "out_sd": 1},
            **_each(("adaptivemaxpool", "globalmaxpool"), {"pool": 1}),
            **_each(("adaptiveavgpool", "globalavgpool"), {"pool": 1, "out": -1, "out_sd": 1}),
            "dropout": {"dropout": 1},
            "layernorm": {"out": 6, "one": 2, "affine_out": 2},  # over the whole sample: one row
            "*": {"act.relu": 1, "act.relu6": 2, "act.sigmoid": 4, "act.tanh": 6, "act.elu": 6, "act.leakyrelu": 4},
        },
        hooks=True,
        tracked_buffers=True,
        reference="torchscan/modules/flops.py, torchscan/modules/macs.py",
        version="torchscan 0.2.0",
        headline=("macs", "flops", "buffers", "buffer_bytes", "param_bytes"),
    ),
    Convention(
        "convnet-burden",
        "convnet-burden (Albanie, MatConvNet): one 'flop' per fused multiply-add: conv/fc MACs + bias adds; ReLU 2 "
        "per output (comparison + multiply); pools 2 per output x stride area; element-wise sum 1 per output; LRN out "
        "+ (2 + 2C) x HxW; transposed conv input elements x kernel x C_in (+ bias), C_in where C_out belongs (its "
        "indexing slip, right only when C_in = C_out); batchnorm 0 (merged at test time); concat, dropout, softmax 0. "
        "macs = flops. Its 'param memory' counts batchnorm moments too: (params + buffers) x 4 bytes, printed in MB "
        "of 1024^2",
        macs={
            **_each(MAC_KINDS, _MAC_BIAS),
            "deconv": {"mac_in_cin": 1, "bias": 1},
            "*": {"act.relu": 2},
            **_each(("maxpool", "avgpool"), {"out_x_stride": 2}),
            **_each(("globalavgpool", "globalmaxpool"), {"out": 2}),  # a 7x7 stride-1 vl_nnpool
            "add": {"out": 1},
            "lrn": {"out": 3, "positions": 2},  # out + (1 + 1 + 2C) x H x W
        },
        flops_per_mac=1,
        param_bytes_include_buffers=True,
        reference="albanie/convnet-burden core/burden.m computeFlops",
        headline=("flops", "param_bytes"),
    ),
    Convention(
        "netscope",
        "Netscope CNN Analyzer (dgschwend): its MACC total. Conv: kernel x output positions x C_in x C_out, groups "
        "ignored (a depthwise conv is overcounted C_in times), no bias; fc in x out; transposed conv C_in x C_out x "
        "output positions x (kernel/stride)^2, the input-side count when the output is stride x the input; a "
        "batchnorm with affine is Caffe's BatchNorm + Scale, the Scale 1 MACC per element; element-wise product 1 per "
        "element. flops = 2 x MACC + its comparisons (max pool window x outputs, ReLU and dropout 1 per element), "
        "adds (average pool window x outputs, global pool 1 per input, batchnorm 1 per element, element-wise sum 1 "
        "per element) and divisions (batchnorm 1 per element); it prints these as separate columns",
        macs={
            **_each(CONV_KINDS, {"mac_dense": 1}),
            "deconv": _MAC,
            "fc": _MAC,
            "batchnorm": {"affine_out": 1},
            "mul": {"out": 1},
        },
        flops={
            **_each(CONV_KINDS, {"mac_dense": 2}),
            "deconv": {"mac": 2},
            "fc": {"mac": 2},
            "batchnorm": {"out": 2, "affine_out": 2},
            "mul": {"out": 2},
            "maxpool": {"pool": 1, "out": 1},
            "avgpool": {"pool": 1},
            **_each(("globalavgpool", "globalmaxpool"), {"in": 1}),
            "dropout": {"out": 1},
            "add": {"out": 1},
            "*": {"act.relu": 1},
        },
        reference="dgschwend/netscope src/analyzer.coffee at commit 1f687cb4 (a later version counts groups and bias)",
        headline=("macs",),
    ),
)

CONVENTIONS: dict[str, Convention] = {c.name: c for c in PRESETS}


def get(name: str) -> Convention:
    try:
        return CONVENTIONS[name]
    except KeyError:
        from cnnsize.engine.errors import did_you_mean

        raise KeyError(
            f"unknown convention '{name}'; {did_you_mean(name, CONVENTIONS) or 'known: ' + ', '.join(CONVENTIONS)}"
        ) from None


def memory_is_native(preset: Convention) -> bool:
    """Whether the preset's memory rules are cnnsize's own: every output
    tensor counted once, parameters without buffers, no tracked int64s. The
    engine then fills a row's bytes directly (tests/test_fast_paths.py
    compares both ways under every preset)."""
    return (
        preset.activation_layers == "all"
        and preset.activation_factor == 1
        and not preset.param_bytes_include_buffers
        and not preset.tracked_buffers
    )


def is_native(preset: Convention) -> bool:
    """Whether the preset is cnnsize's own figures unweighted, for every kind,
    functional or not: macs = the rule's MACs, flops = 2 x MACs + every FLOP
    category. The engine then takes Result.macs and Result.flops as they are
    rather than building every term and summing the tables (the same sums at
    a fraction of the cost; tests/test_conventions.py checks that both ways
    agree on the whole zoo)."""
    return (
        preset.macs == {"*": _MAC}
        and preset.flops == _CNNSIZE_FLOPS
        and not preset.hooks
        and preset.macs_functional is None
        and preset.flops_functional is None
    )
