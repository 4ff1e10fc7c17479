"""Whole-process time: ``cnnsize report SPEC`` against the peer tools.

Every run is a fresh process, timed from start to exit by this script:

- cnnsize: ``python -m cnnsize report SPEC`` (stdout to a pipe, the default
  table format) and the ``cnnsize`` console script (with this checkout first on
  PYTHONPATH, so both run the same code);
- each peer: ``python -c`` that imports torch, builds the model and runs the
  peer, printing its report. The model is the torch module cnnsize
  materializes from the same spec (``cnnsize.torch.materialize``), so both
  sides analyse the same network; where that module is missing, the
  plain-torch mirrors of tests/refmodels.py are used (the output says which).

Runs alternate (cnnsize, peer 1, peer 2, ..., cnnsize, peer 1, ...), so load
drifts hit every tool alike; the table gives medians and each tool's median
divided by cnnsize's. A peer that is not installed, or fails on a model, is
shown as such and does not stop the run.

    python benchmarks/bench_cli.py                 # 4 models x 8 tools x 3 rounds
    python benchmarks/bench_cli.py --repeat 5 --models resnet50
    python benchmarks/bench_cli.py --quick         # lenet5, cnnsize + one peer, 1 round
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

MODELS = {
    "alexnet": ("specs/alexnet_torchvision.yaml", "AlexNet (torchvision)"),
    "vgg16": ("specs/vgg16.yaml", "VGG-16"),
    "resnet50": ("specs/resnet50.yaml", "ResNet-50"),
    "resnet152": ("specs/resnet152.yaml", "ResNet-152"),
    "lenet5": ("specs/lenet5_lecture.yaml", "LeNet-5 (lecture)"),
}
DEFAULT_MODELS = ["alexnet", "vgg16", "resnet50", "resnet152"]
# refmodels.py names, for the fallback when cnnsize.torch is not there
REFMODELS = {"alexnet": "alexnet", "vgg16": "vgg16", "resnet50": "resnet50"}

# Each peer's call on (m, x, shape), printing what a user would look at.
PEERS = {
    "torchinfo": "from torchinfo import summary\nprint(summary(m, input_size=(1, *shape), verbose=0))",
    "fvcore": (
        "from fvcore.nn import FlopCountAnalysis, flop_count_table\n"
        "f = FlopCountAnalysis(m, x)\nf.unsupported_ops_warnings(False).uncalled_modules_warnings(False)\n"
        "print(flop_count_table(f))"
    ),
    "ptflops": (
        "from ptflops import get_model_complexity_info\n"
        "macs, params = get_model_complexity_info(m, tuple(shape), as_strings=True, print_per_layer_stat=True)\n"
        "print(macs, params)"
    ),
    "thop": "from thop import profile\nmacs, params = profile(m, inputs=(x,), verbose=False)\nprint(macs, params)",
    "torchscan": "from torchscan import summary\nsummary(m, tuple(shape))",
    "FlopCounterMode": (
        "from torch.utils.flop_counter import FlopCounterMode\n"
        "with torch.no_grad(), FlopCounterMode(display=True):\n    m(x)"
    ),
}

BUILD_MATERIALIZE = """
from cnnsize.torch.materialize import materialize
from cnnsize import analyze_file
a = analyze_file({spec!r})
shape = list(a.input_shape)
m = materialize(a)
"""
BUILD_REFMODELS = """
from tests import refmodels
m = refmodels.build({ref!r}).eval()
shape = list(refmodels.INPUTS[{ref!r}])
"""


def peer_code(peer: str, model: str, source: str) -> str:
    spec = MODELS[model][0]
    build = (
        BUILD_MATERIALIZE.format(spec=spec)
        if source == "materialize"
        else BUILD_REFMODELS.format(ref=REFMODELS.get(model, model))
    )
    return (
        "import time, sys\nt0 = time.perf_counter()\nimport torch\nt1 = time.perf_counter()\n"
        + build
        + "x = torch.zeros(1, *shape)\nt2 = time.perf_counter()\n"
        + PEERS[peer]
        + "\nt3 = time.perf_counter()\n"
        "sys.stderr.write('BENCH %.6f %.6f %.6f\\n' % (t1 - t0, t2 - t1, t3 - t2))\n"
    )


def model_source() -> str:
    try:
        import importlib.util

        if importlib.util.find_spec("cnnsize.torch.materialize") is not None:
            return "materialize"
    except (ImportError, ValueError):
        pass
    return "refmodels"


def console_script() -> str | None:
    # the real entry-point script next to the interpreter (pyenv's shim is a bash wrapper)
    cand = os.path.join(os.path.dirname(os.path.realpath(sys.executable)), "cnnsize")
    if os.path.isfile(cand):
        return cand
    found = shutil.which("cnnsize")
    return found


def run(cmd: list[str], env: dict[str, str], timeout: float) -> tuple[float, int, str]:
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    return time.perf_counter() - t, p.returncode, p.stderr


def fmt_s(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s"


def main() -> int:
    ap = argparse.ArgumentParser(description="Whole-process cnnsize report vs peers (Markdown table).")
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS), help=f"comma list from {', '.join(MODELS)}")
    ap.add_argument("--peers", default=",".join(PEERS), help=f"comma list from {', '.join(PEERS)}")
    ap.add_argument("--repeat", type=int, default=3, help="alternating rounds (default 3)")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--quick", action="store_true", help="LeNet-5, cnnsize and FlopCounterMode, one round")
    ap.add_argument("--json", metavar="FILE", help="also write every sample to FILE")
    args = ap.parse_args()
    models = args.models.split(",")
    peers = args.peers.split(",")
    if args.quick:
        models, peers, args.repeat = ["lenet5"], ["FlopCounterMode"], 1
    for n in models:
        if n not in MODELS:
            ap.error(f"unknown model {n!r}")
    for p in peers:
        if p not in PEERS:
            ap.error(f"unknown peer {p!r}")
    load_before = os.getloadavg()[0]
    source = model_source()
    if source == "refmodels":
        missing = [m for m in models if m not in REFMODELS]
        if missing:
            print(
                f"note: no cnnsize.torch.materialize and no refmodels mirror for {', '.join(missing)}: peers skip them"
            )

    # a pip install compiles bytecode; do the same for this checkout
    compileall.compile_dir(os.path.join(ROOT, "cnnsize"), quiet=1)
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("COLUMNS", None)
    py = sys.executable
    script = console_script()

    tools: list[tuple[str, str]] = [("cnnsize (python -m)", "cli")]
    if script:
        tools.append(("cnnsize (console script)", "script"))
    tools += [(p, p) for p in peers]

    samples: dict[tuple[str, str], list[float]] = {}
    inner: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    errors: dict[tuple[str, str], str] = {}
    for rnd in range(args.repeat):
        for model in models:
            spec = MODELS[model][0]
            for label, kind in tools:
                key = (label, model)
                if key in errors:
                    continue
                if kind == "cli":
                    cmd = [py, "-m", "cnnsize", "report", spec]
                elif kind == "script":
                    cmd = (
                        [py, script, "report", spec]
                        if script.endswith(".py") or not os.access(script, os.X_OK)
                        else [script, "report", spec]
                    )
                else:
                    if source == "refmodels" and model not in REFMODELS:
                        errors[key] = "no model"
                        continue
                    cmd = [py, "-c", peer_code(kind, model, source)]
                try:
                    dt, rc, err = run(cmd, env, args.timeout)
                except subprocess.TimeoutExpired:
                    errors[key] = "timeout"
                    continue
                if rc != 0:
                    last = (err.strip().splitlines() or ["?"])[-1][:80]
                    errors[key] = f"failed: {last}"
                    continue
                samples.setdefault(key, []).append(dt)
                for line in err.splitlines():
                    if line.startswith("BENCH "):
                        a, b, c = (float(v) for v in line.split()[1:])
                        inner.setdefault(key, []).append((a, b, c))
            print(f"round {rnd + 1}/{args.repeat} {model} done", file=sys.stderr, flush=True)

    bare = statistics.median(run([py, "-c", "pass"], env, 60)[0] for _ in range(5))
    print(f"# Whole-process time, median of {args.repeat} alternating run(s)\n")
    print(
        "Models for the peers: "
        + (
            "cnnsize.torch.materialize of the same spec"
            if source == "materialize"
            else "tests/refmodels.py mirrors (cnnsize.torch.materialize not available)"
        )
        + "."
    )
    print(
        f"Python {platform.python_version()} ({py}); `python -c pass` takes {fmt_s(bare)}; load average before: "
        f"{load_before:.2f}.\n"
    )
    for model in models:
        print(f"## {MODELS[model][1]} (`{MODELS[model][0]}`)\n")
        print("| tool | median | min | x cnnsize | import torch | build model | run peer |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        base = samples.get(("cnnsize (python -m)", model))
        base_m = statistics.median(base) if base else None
        for label, _kind in tools:
            key = (label, model)
            if key in errors:
                print(f"| {label} | {errors[key]} | | | | | |")
                continue
            s = samples.get(key)
            if not s:
                continue
            med = statistics.median(s)
            ratio = f"{med / base_m:.1f}x" if base_m else "-"
            parts = inner.get(key)
            cols = ["", "", ""]
            if parts:
                cols = [fmt_s(statistics.median(p[i] for p in parts)) for i in range(3)]
            print(f"| {label} | {fmt_s(med)} | {fmt_s(min(s))} | {ratio} | {' | '.join(cols)} |")
        print()
    fastest = {}
    for model in models:
        peer_meds = [(statistics.median(samples[(p, model)]), p) for p in peers if (p, model) in samples]
        base = samples.get(("cnnsize (python -m)", model))
        if peer_meds and base:
            m, p = min(peer_meds)
            fastest[model] = (p, m / statistics.median(base))
    if fastest:
        print("| model | fastest peer | its time / cnnsize's |\n|---|---|---:|")
        for model, (p, r) in fastest.items():
            print(f"| {MODELS[model][1]} | {p} | {r:.1f}x |")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(
                {
                    "source": source,
                    "samples": {f"{k[0]}|{k[1]}": v for k, v in samples.items()},
                    "errors": {f"{k[0]}|{k[1]}": v for k, v in errors.items()},
                },
                fh,
                indent=1,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
