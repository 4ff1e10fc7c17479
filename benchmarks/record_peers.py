#!/usr/bin/env python
"""Record what each peer tool reports on the reference models.

Runs every installed peer (fvcore, thop, ultralytics-thop, ptflops with the
pytorch and the aten backend, torchinfo, torchscan, and torch's own
``torch.utils.flop_counter.FlopCounterMode``) on every model of
``tests/refmodels.py`` at batch 1 and writes ``tests/fixtures/peers/<model>.json``:
the headline figures exactly as the peer returns them, per-layer breakdowns
where the peer has them, and the versions of torch and of each peer.

Each peer runs in its own child process (``--child PEER MODEL``) so that one
peer's monkey-patching (ptflops patches ``torch.nn.functional``, thop adds
buffers, ptflops-aten leaves hooks behind) cannot leak into another's figures.

ultralytics-thop installs the same import name (``thop``) as the PyPI ``thop``
package, so it is expected in a separate directory and put first on
``PYTHONPATH`` for its child only::

    pip install -r benchmarks/requirements-peers.txt
    pip install --no-deps --target /opt/thop2 ultralytics-thop==2.2.3
    python benchmarks/record_peers.py --ultralytics-thop-path /opt/thop2

Usage: ``python benchmarks/record_peers.py [--models a,b] [--peers p,q] [--out DIR]``.
A peer that is not importable is recorded as ``{"error": "..."}`` and skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata as md
import io
import json
import math
import os
import platform
import subprocess
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PEERS = [
    "fvcore",
    "thop",
    "ultralytics_thop",
    "ptflops_pytorch",
    "ptflops_aten",
    "torchinfo",
    "torchscan",
    "torch_flop_counter",
]

# distribution that provides each peer (for the version record)
DISTRIBUTION = {
    "fvcore": "fvcore",
    "thop": "thop",
    "ultralytics_thop": "ultralytics-thop",
    "ptflops_pytorch": "ptflops",
    "ptflops_aten": "ptflops",
    "torchinfo": "torchinfo",
    "torchscan": "torchscan",
    "torch_flop_counter": "torch",
}


# ----------------------------------------------------------------------------- helpers
def _num(v):
    """A peer's number as JSON: ints stay ints, integral floats become ints
    (the raw Python type is recorded separately where it matters)."""
    import numpy as np
    import torch

    if isinstance(v, torch.Tensor):
        v = v.item()
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():
        return int(v)
    return v


def _type_name(v) -> str:
    return (
        type(v).__module__.replace("builtins", "")
        + ("." if type(v).__module__ != "builtins" else "")
        + type(v).__name__
    )


def _model_and_input(name: str):
    import torch

    from tests import refmodels

    model = refmodels.build(name)
    x = torch.zeros(1, *refmodels.INPUTS[name])
    return model, x, refmodels.INPUTS[name]


def _version(peer: str) -> str | None:
    if peer in ("thop", "ultralytics_thop"):
        import thop

        return getattr(thop, "__version__", None)
    try:
        return md.version(DISTRIBUTION[peer])
    except md.PackageNotFoundError:
        return None


# ----------------------------------------------------------------------------- reference shapes
def _attrs(m) -> dict:
    """The hyper-parameters a counting rule may need, for the layer kinds in the reference models."""
    out = {}
    for k in (
        "in_channels",
        "out_channels",
        "kernel_size",
        "stride",
        "padding",
        "dilation",
        "groups",
        "output_padding",
        "in_features",
        "out_features",
        "num_features",
        "affine",
        "eps",
        "track_running_stats",
        "num_groups",
        "num_channels",
        "normalized_shape",
        "elementwise_affine",
        "output_size",
        "ceil_mode",
        "count_include_pad",
        "mode",
        "scale_factor",
        "align_corners",
        "dim",
        "p",
        "inplace",
        "start_dim",
        "end_dim",
    ):
        if k in vars(m):
            v = getattr(m, k, None)
            if isinstance(v, (int, float, bool, str, tuple, list)) or v is None:
                out[k] = list(v) if isinstance(v, tuple) else v
    if hasattr(m, "bias") and not any(m.children()):
        out["bias"] = getattr(m, "bias", None) is not None
    return out


def record_reference(name: str) -> dict:
    """Ground truth from torch itself: every module call (in/out shapes, params, hyper-parameters)
    and every aten op the forward dispatches, with the innermost module that was running."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    model, x, _ = _model_and_input(name)
    names = {m: n for n, m in model.named_modules()}
    calls: list[dict] = []
    stack: list[str] = []

    def pre(m, inp):
        stack.append(names[m])

    def hook(m, inp, out):
        stack.pop()
        t_in = inp[0] if inp and isinstance(inp[0], torch.Tensor) else None
        leaf = not any(m.children())
        calls.append(
            {
                "path": names[m],
                "type": type(m).__name__,
                "leaf": leaf,
                "in": list(t_in.shape) if t_in is not None else None,
                "out": list(out.shape) if isinstance(out, torch.Tensor) else None,
                "params": sum(p.numel() for p in m.parameters())
                if leaf
                else sum(p.numel() for p in m.parameters(recurse=False)),
                "attrs": _attrs(m) if leaf else {},
            }
        )

    def shapes(a):
        if isinstance(a, torch.Tensor):
            return list(a.shape)
        if isinstance(a, (list, tuple)) and a and all(isinstance(t, torch.Tensor) for t in a):
            return [list(t.shape) for t in a]
        return None

    ops: list[dict] = []

    class Trace(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            ops.append(
                {
                    "op": str(func.overloadpacket),
                    "module": stack[-1] if stack else "",
                    "in": [s for s in (shapes(a) for a in args) if s is not None],
                    "out": shapes(out) if not isinstance(out, (list, tuple)) else shapes(list(out)),
                }
            )
            return out

    hs = [m.register_forward_pre_hook(pre) for m in model.modules()]
    hs += [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad(), Trace():
        y = model(x)
    for h in hs:
        h.remove()
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "buffers": sum(b.numel() for b in model.buffers()),
        "output": list(y.shape),
        "module_calls": calls,
        "aten_ops": ops,
    }


# ----------------------------------------------------------------------------- peers
def run_fvcore(name: str) -> dict:
    from fvcore.nn import ActivationCountAnalysis, FlopCountAnalysis, flop_count_table, parameter_count

    model, x, _ = _model_and_input(name)
    fca = FlopCountAnalysis(model, x)
    fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
    total = fca.total()
    by_module = {k: _num(v) for k, v in fca.by_module().items()}
    by_mod_op = {k: {op: _num(c) for op, c in v.items()} for k, v in fca.by_module_and_operator().items() if v}
    aca = ActivationCountAnalysis(model, x)
    aca.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
    table = flop_count_table(fca, max_depth=1)
    return {
        "headline": {
            "total": _num(total),
            "total_type": _type_name(total),
            "params": _num(parameter_count(model)[""]),
            "activations": _num(aca.total()),
            "table_model_row": table.splitlines()[2],
        },
        "by_operator": {k: _num(v) for k, v in fca.by_operator().items()},
        "unsupported_ops": dict(fca.unsupported_ops()),
        "activations_by_operator": {k: _num(v) for k, v in aca.by_operator().items()},
        "by_module": by_module,
        "by_module_and_operator": by_mod_op,
    }


def _flatten_thop(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, (ops, params, sub) in d.items():
        path = f"{prefix}.{k}" if prefix else k
        out[path] = [_num(ops), _num(params)]
        out.update(_flatten_thop(sub, path))
    return out


def run_thop(name: str) -> dict:
    import thop

    model, x, _ = _model_and_input(name)
    with contextlib.redirect_stdout(io.StringIO()):
        macs, params, layers = thop.profile(model, inputs=(x,), verbose=False, ret_layer_info=True)
    model2, x2, _ = _model_and_input(name)
    with contextlib.redirect_stdout(io.StringIO()):
        macs_o, params_o = thop.profile_origin(model2, inputs=(x2,), verbose=False)
    return {
        "thop_file": os.path.dirname(thop.__file__),
        "headline": {
            "macs": _num(macs),
            "params": _num(params),
            "returned_types": [_type_name(macs), _type_name(params)],
            "clever_format": list(thop.clever_format([macs, params], "%.3f")),
            "profile_origin_macs": _num(macs_o),
            "profile_origin_params": _num(params_o),
        },
        # path -> [ops, params] as profile(ret_layer_info=True) returns them (containers included)
        "per_layer": _flatten_thop(layers),
    }


def run_ptflops_pytorch(name: str) -> dict:
    import inspect

    import torch
    from ptflops import get_model_complexity_info
    from ptflops import pytorch_engine as pe

    model, _, res = _model_and_input(name)
    sink = io.StringIO()
    macs, params = get_model_complexity_info(
        model, tuple(res), as_strings=False, print_per_layer_stat=False, backend="pytorch", ost=sink
    )
    model, _, res = _model_and_input(name)
    macs_s, params_s = get_model_complexity_info(
        model, tuple(res), as_strings=True, print_per_layer_stat=False, backend="pytorch", ost=sink
    )

    # Per-layer: the same steps as ptflops.pytorch_engine.get_flops_pytorch, with
    # the functional / tensor-op patches' counts attributed to the module whose
    # forward was running and to the patched function's name.
    model, _, res = _model_and_input(name)
    names = {m: n for n, m in model.named_modules()}
    stack: list[str] = []
    functional: list[dict] = []

    class Collector(list):
        def append(self, flops):  # called from torch_function_wrapper.__call__
            wrapper = inspect.currentframe().f_back.f_locals.get("self")
            op = getattr(getattr(wrapper, "op", None), "__name__", "?")
            functional.append({"module": stack[-1] if stack else "", "op": op, "flops": _num(flops)})
            super().append(flops)

    pre = torch.nn.modules.module.register_module_forward_pre_hook(lambda m, i: stack.append(names.get(m, "?")))

    def _pop(m, i, o):  # must return None: a forward hook's return value replaces the output
        stack.pop()

    post = torch.nn.modules.module.register_module_forward_hook(_pop)
    flops_model = pe.add_flops_counting_methods(model)
    flops_model.eval()
    flops_model.start_flops_count(ost=sink, verbose=False, ignore_list=[])
    fcoll, tcoll = Collector(), Collector()
    pe.patch_functional(fcoll)
    pe.patch_tensor_ops(tcoll)
    try:
        batch = torch.ones(()).new_empty((1, *res), dtype=next(model.parameters()).dtype)
        flops_model(batch)
        module_total, _ = flops_model.compute_average_flops_cost()
        per_module = {
            n: {"type": type(m).__name__, "macs": _num(m.__flops__), "params": _num(m.__params__)}
            for n, m in model.named_modules()
            if pe.is_supported_instance(m)
        }
    finally:
        pe.unpatch_functional()
        pe.unpatch_tensor_ops()
        flops_model.stop_flops_count()
        pre.remove()
        post.remove()
    recomputed = int(module_total + sum(fcoll) + sum(tcoll))
    assert recomputed == macs, (recomputed, macs)
    by_op: dict[str, int] = {}
    for f in functional:
        by_op[f["op"]] = by_op.get(f["op"], 0) + f["flops"]
    return {
        "headline": {
            "macs": _num(macs),
            "params": _num(params),
            "returned_types": [_type_name(macs), _type_name(params)],
            "as_strings": [macs_s, params_s],
        },
        "module_hooks_total": _num(module_total),
        "functional_total": _num(sum(fcoll) + sum(tcoll)),
        "functional_by_op": {k: _num(v) for k, v in by_op.items()},
        "per_module": per_module,
        "functional_calls": functional,
    }


def run_ptflops_aten(name: str) -> dict:
    import re

    from ptflops import get_model_complexity_info
    from ptflops.aten_engine import FlopCounterMode as PtfMode

    model, _, res = _model_and_input(name)
    sink = io.StringIO()
    macs, params = get_model_complexity_info(
        model, tuple(res), as_strings=False, print_per_layer_stat=False, backend="aten", ost=sink
    )
    model, _, res = _model_and_input(name)
    macs_s, params_s = get_model_complexity_info(
        model, tuple(res), as_strings=True, print_per_layer_stat=False, backend="aten", ost=sink
    )
    # per-layer: ptflops' own dispatch mode, which attributes to top-level children only
    import torch

    model, x, res = _model_and_input(name)
    verbose_sink = io.StringIO()
    counter = PtfMode(
        model,
        verbose=True,
        print_per_layer_stat=False,
        output_params={"serialize_params": {"units": None, "precision": 2}, "print_params": {"file": verbose_sink}},
    )
    with counter:
        model(torch.ones(()).new_empty((1, *res)))
    assert counter.complexity == macs, (counter.complexity, macs)
    zero_ops = sorted(set(re.findall(r"Warning: (\S+) operation is treated as a zero-op", verbose_sink.getvalue())))
    return {
        "headline": {
            "macs": _num(macs),
            "params": _num(params),
            "returned_types": [_type_name(macs), _type_name(params)],
            "as_strings": [macs_s, params_s],
        },
        "per_top_level_module": {
            mod: {str(op): _num(c) for op, c in ops.items()} for mod, ops in counter.flop_counts.items()
        },
        "zero_ops": zero_ops,
    }


def run_torchinfo(name: str) -> dict:
    from torchinfo import summary

    model, x, _ = _model_and_input(name)
    s = summary(
        model,
        input_size=tuple(x.shape),
        verbose=0,
        depth=20,
        col_names=("input_size", "output_size", "num_params", "kernel_size", "mult_adds", "trainable"),
    )
    text = str(s)
    footer = text[text.index("Total params") :].splitlines()

    def path(li):
        parts = []
        while li is not None and li.parent_info is not None:
            parts.append(li.var_name)
            li = li.parent_info
        return ".".join(reversed(parts))

    layers = [
        {
            "path": path(li),
            "class": li.class_name,
            "depth": li.depth,
            "leaf": li.is_leaf_layer,
            "recursive": li.is_recursive,
            "in": li.input_size,
            "out": li.output_size,
            "num_params": li.num_params,
            "param_bytes": li.param_bytes,
            "output_bytes": li.output_bytes,
            "macs": li.macs,
        }
        for li in s.summary_list
    ]
    return {
        "headline": {
            "total_params": s.total_params,
            "trainable_params": s.trainable_params,
            "total_mult_adds": s.total_mult_adds,
            "total_input": s.total_input,
            "total_output_bytes": s.total_output_bytes,
            "total_param_bytes": s.total_param_bytes,
            "estimated_total_bytes": s.total_input + s.total_output_bytes + s.total_param_bytes,
            "printed_footer": [line for line in footer if line and not set(line) <= {"="}],
        },
        "per_layer": layers,
    }


def run_torchscan(name: str) -> dict:
    from torchscan import crawl_module

    model, _, res = _model_and_input(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep = crawl_module(model, tuple(res))
    t = rep["totals"]

    def val(m):
        return _num(m["value"] if m["status"] == "complete" else m["known_value"])

    headline = {k: val(v) for k, v in t.items()}
    headline["status"] = {k: v["status"] for k, v in t.items()}
    headline["model_size_mib"] = round((t["parameter_bytes"]["value"] + t["buffer_bytes"]["value"]) / 1024**2, 2)
    layers = []
    for ly in rep["layers"]:
        m = ly["metrics"]
        rec = {
            "path": ly["path"],
            "call": ly["call_index"],
            "type": ly["type"],
            "depth": ly["depth"],
            "out": ly["output"].get("shape"),
            "params": ly["parameters"]["trainable"] + ly["parameters"]["frozen"],
            "buffers": ly["buffers"]["elements"],
        }
        for k in ("module_flops", "macs", "dmas", "receptive_field", "effective_stride", "effective_padding"):
            if k in m:
                rec[k] = val(m[k])
        layers.append(rec)
    of = rep["operator_flops"]
    return {
        "headline": headline,
        "per_layer": layers,
        "operator_flops_by_operator": of["by_operator"],
        "operator_flops_by_module": of["by_module"],
        "diagnostics": sorted(
            {(d.get("code"), d.get("operator") or d.get("message", "")[:80]) for d in rep["diagnostics"]}
        ),
    }


def run_torch_flop_counter(name: str) -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model, x, _ = _model_and_input(name)
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(x)
    counts = fc.get_flop_counts()
    return {
        "headline": {"total_flops": _num(fc.get_total_flops())},
        "by_operator": {str(op): _num(c) for op, c in counts.get("Global", {}).items()},
        "by_module": {mod: {str(op): _num(c) for op, c in ops.items()} for mod, ops in counts.items()},
    }


RUNNERS = {
    "fvcore": run_fvcore,
    "thop": run_thop,
    "ultralytics_thop": run_thop,
    "ptflops_pytorch": run_ptflops_pytorch,
    "ptflops_aten": run_ptflops_aten,
    "torchinfo": run_torchinfo,
    "torchscan": run_torchscan,
    "torch_flop_counter": run_torch_flop_counter,
}


def child(peer: str, model: str) -> None:
    warnings.simplefilter("ignore")
    try:
        result = RUNNERS[peer](model) if peer != "reference" else record_reference(model)
        if peer != "reference":
            result = {"version": _version(peer), **result}
    except Exception as e:  # a peer that fails is recorded, not fatal
        result = {"error": f"{type(e).__name__}: {e}"}
    sys.stdout.write("\n@@JSON@@" + json.dumps(result, default=str))


def spawn(peer: str, model: str, thop2: str | None) -> dict:
    env = dict(os.environ)
    if peer == "ultralytics_thop":
        if not thop2:
            return {"error": "ultralytics-thop path not given (--ultralytics-thop-path or ULTRALYTICS_THOP_PATH)"}
        env["PYTHONPATH"] = os.pathsep.join([thop2, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = subprocess.run(
        [sys.executable, __file__, "--child", peer, model], capture_output=True, text=True, env=env, cwd=ROOT
    )
    if "@@JSON@@" not in proc.stdout:
        return {"error": f"child exited {proc.returncode}: {proc.stderr.strip()[-2000:]}"}
    return json.loads(proc.stdout.rsplit("@@JSON@@", 1)[1])


def main() -> None:
    from tests import refmodels

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(refmodels.MODELS))
    ap.add_argument(
        "--peers",
        default=",".join(["reference", *PEERS]),
        help="comma list; 'reference' is torch's own shapes/op trace. Entries of an existing "
        "fixture that are not re-run are kept.",
    )
    ap.add_argument("--out", default=str(ROOT / "tests" / "fixtures" / "peers"))
    ap.add_argument("--ultralytics-thop-path", default=os.environ.get("ULTRALYTICS_THOP_PATH"))
    ap.add_argument("--child", nargs=2, metavar=("PEER", "MODEL"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(*a.child)
        return

    import torch

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    peers = [p for p in a.peers.split(",") if p]
    for model in [m for m in a.models.split(",") if m]:
        path = out / f"{model}.json"
        old = json.loads(path.read_text()) if path.exists() else {}
        record = {
            "schema": "cnnsize.peer-fixture/1",
            "model": model,
            "input": [1, *refmodels.INPUTS[model]],
            "batch": 1,
            "dtype": "float32",
            "mode": "eval",
            "environment": {"python": platform.python_version(), "torch": torch.__version__},
            "reference": spawn("reference", model, None) if "reference" in peers else old.get("reference"),
            "peers": dict(old.get("peers", {})),
        }
        for peer in [p for p in peers if p != "reference"]:
            res = spawn(peer, model, a.ultralytics_thop_path)
            record["peers"][peer] = res
            head = res.get("headline", res.get("error"))
            print(f"{model:13s} {peer:18s} {json.dumps(head, default=str)[:150]}", file=sys.stderr)
        record["peers"] = {p: record["peers"][p] for p in PEERS if p in record["peers"]}
        record["environment"]["peers"] = {p: r.get("version") for p, r in record["peers"].items()}
        path.write_text(json.dumps(record, indent=1, default=str) + "\n")
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}", file=sys.stderr)


if __name__ == "__main__":
    main()
