"""In-process analysis time per model and per layer, and batch throughput.

Table 1, for each spec of the zoo: the YAML load (text to located mapping),
the parse (mapping to a validated, expanded Spec: blocks, repeat, templates,
key checks), the analysis of the parsed Spec (shapes, costs, receptive
fields, totals), and parse + analysis per layer.

Table 2, the batch API an architecture search would use, from spec dicts
(no YAML), in specs per second on one core:
- the ResNet-18 spec (specs/resnet18.yaml, blocks and templates) as a dict,
  through cnnsize.analyze_dict, the same dict every time;
- 200 different ResNet-18-sized plain dicts (no blocks, no templates; random
  widths and input sizes), so nothing can be reused from one spec to the next,
  through analyze_dict (and cnnsize.analyze_many, where the package has one).

Each figure is the median of --repeat timed loops (each loop runs at least
--min-time seconds), with the fastest loop beside it. The clock is this
process's CPU time by default (time.process_time: what one core spends,
unaffected by other processes waiting for a core); --clock wall for
time.perf_counter. On an idle machine the two agree.

    python benchmarks/bench_inprocess.py            # the whole zoo
    python benchmarks/bench_inprocess.py --quick    # two small specs, short loops
"""

from __future__ import annotations

import argparse
import glob
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import yaml  # noqa: E402

import cnnsize  # noqa: E402
from cnnsize.engine import geometry  # noqa: E402
from cnnsize.engine.analysis import analyze  # noqa: E402

try:
    from cnnsize.engine.load import parse
except ImportError:  # an older checkout, measured by bench_instructions.py
    from cnnsize.engine.spec import parse
from cnnsize.engine.yamlload import load, read_text  # noqa: E402

CLOCK = time.process_time


def timeit(fn: Callable[[], Any], repeat: int, min_time: float) -> tuple[float, float]:
    """(median, min) seconds per call."""
    fn()
    n = 1
    while True:
        t = CLOCK()
        for _ in range(n):
            fn()
        dt = CLOCK() - t
        if dt >= min_time:
            break
        n = max(n * 2, int(n * min_time / max(dt, 1e-9) * 1.1))
    per = [dt / n]
    for _ in range(repeat - 1):
        t = CLOCK()
        for _ in range(n):
            fn()
        per.append((CLOCK() - t) / n)
    return statistics.median(per), min(per)


def ms(v: float) -> str:
    return f"{v * 1e3:.2f}"


def cold() -> None:
    """Forget the memoised windows and receptive-field transforms, so that a
    timed call pays for them as the first analysis of a spec does."""
    geometry.clear_memos()


def resnet18_plain(rng: random.Random, topology: bool = False) -> dict[str, Any]:
    """A ResNet-18-shaped spec as a plain dict: 51 layers, random widths and
    input size. With ``topology``, also 1-3 blocks per stage and 3x3 or 5x5
    kernels per stage (so receptive fields differ from spec to spec)."""
    w = [rng.choice((16, 24, 32, 48, 64, 96)) * m for m in (1, 2, 4, 8)]
    size = rng.choice((160, 192, 224, 256))
    depth = [rng.choice((1, 2, 3)) if topology else 2 for _ in range(4)]
    kern = [rng.choice((3, 5)) if topology else 3 for _ in range(4)]
    layers: list[dict[str, Any]] = [
        {"name": "conv1", "type": "conv", "filters": w[0], "kernel": 7, "stride": 2, "padding": 3, "bias": False},
        {"name": "bn1", "type": "bn", "activation": "relu"},
        {"name": "maxpool", "type": "maxpool", "kernel": 3, "stride": 2, "padding": 1},
    ]
    prev = "maxpool"
    for s, planes in enumerate(w):
        k = kern[s]
        for b in range(depth[s]):
            p = f"s{s}b{b}"
            down = s > 0 and b == 0
            stride = 2 if down else 1
            layers += [
                {
                    "name": f"{p}c1",
                    "type": "conv",
                    "inputs": [prev],
                    "filters": planes,
                    "kernel": k,
                    "stride": stride,
                    "padding": k // 2,
                    "bias": False,
                },
                {"name": f"{p}n1", "type": "bn", "activation": "relu"},
                {"name": f"{p}c2", "type": "conv", "filters": planes, "kernel": k, "padding": k // 2, "bias": False},
                {"name": f"{p}n2", "type": "bn"},
            ]
            short = prev
            if down:
                layers += [
                    {
                        "name": f"{p}dc",
                        "type": "conv",
                        "inputs": [prev],
                        "filters": planes,
                        "kernel": 1,
                        "stride": 2,
                        "bias": False,
                    },
                    {"name": f"{p}dn", "type": "bn"},
                ]
                short = f"{p}dn"
            layers.append({"name": f"{p}add", "type": "add", "inputs": [f"{p}n2", short], "activation": "relu"})
            prev = f"{p}add"
    layers += [
        {"name": "avgpool", "type": "globalavgpool"},
        {"name": "fc", "type": "fc", "units": rng.choice((10, 100, 1000))},
    ]
    return {"cnnsize": 1, "name": "resnet18-like", "input": [3, size, size], "layers": layers}


def main() -> int:
    ap = argparse.ArgumentParser(description="In-process analysis time (Markdown tables).")
    ap.add_argument("--specs", help="comma list of spec names (default: every spec in specs/)")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--min-time", type=float, default=0.2)
    ap.add_argument("--batch", type=int, default=200, help="number of different plain dicts")
    ap.add_argument("--quick", action="store_true", help="lenet5 and resnet18, short loops")
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    args = ap.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    paths = sorted(glob.glob(os.path.join(ROOT, "specs", "*.yaml")))
    if args.quick:
        args.specs, args.repeat, args.min_time, args.batch = "lenet5,resnet18", 3, 0.02, 10
    if args.specs:
        want = args.specs.split(",")
        paths = [os.path.join(ROOT, "specs", f"{n}.yaml") for n in want]

    print(
        f"# In-process analysis (Python {platform.python_version()}, {args.clock} time, median of {args.repeat} loops, "
        f"fastest in brackets; load average {os.getloadavg()[0]:.2f})\n"
    )
    print(
        "'first': memoised windows and receptive-field transforms cleared before each call, as in a one-off analysis; "
        "'again': the same spec analysed again.\n"
    )
    print(
        "| spec | layers | YAML load ms | parse ms | analyze ms, first | analyze ms, again | parse + analyze ms, first "
        "| us per layer |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    per_layer = []
    for path in paths:
        name = os.path.splitext(os.path.basename(path))[0]
        text = read_text(path)
        doc = load(text, path)
        spec = parse(doc, path)
        n = len(spec.layers)
        t_load = timeit(lambda: load(text, path), args.repeat, args.min_time)  # noqa: B023
        t_parse = timeit(lambda: parse(doc, path), args.repeat, args.min_time)  # noqa: B023
        t_an = timeit(lambda: (cold(), analyze(spec)), args.repeat, args.min_time)  # noqa: B023
        t_again = timeit(lambda: analyze(spec), args.repeat, args.min_time)  # noqa: B023
        t_both = timeit(lambda: (cold(), analyze(parse(doc, path))), args.repeat, args.min_time)  # noqa: B023
        us = t_both[0] / n * 1e6
        per_layer.append(us)
        print(
            f"| {name} | {n} | {ms(t_load[0])} ({ms(t_load[1])}) | {ms(t_parse[0])} ({ms(t_parse[1])}) | "
            f"{ms(t_an[0])} ({ms(t_an[1])}) | {ms(t_again[0])} ({ms(t_again[1])}) | {ms(t_both[0])} ({ms(t_both[1])}) "
            f"| {us:.1f} |"
        )
    print(f"\nMedian over the specs: {statistics.median(per_layer):.1f} us per layer (parse + analyze, first).\n")

    print("# Batch throughput from spec dicts (one core)\n")
    print("Memos as in a search loop (kept from spec to spec), except where a row says 'cleared'.\n")
    print("| input | API | layers per spec | ms per spec | specs per second |")
    print("|---|---|---:|---:|---:|")
    with open(os.path.join(ROOT, "specs", "resnet18.yaml"), encoding="utf-8") as fh:
        r18 = yaml.safe_load(fh)
    t = timeit(lambda: cnnsize.analyze_dict(r18), args.repeat, args.min_time)
    print(
        f"| specs/resnet18.yaml as a dict (blocks, templates), same dict each time | analyze_dict | 51 | {ms(t[0])} "
        f"({ms(t[1])}) | {1 / t[0]:,.0f} |"
    )
    rng = random.Random(0)
    plain = [resnet18_plain(rng) for _ in range(args.batch)]
    varied = [resnet18_plain(rng, topology=True) for _ in range(args.batch)]
    many = getattr(cnnsize, "analyze_many", None)
    for label, docs in (
        (f"{args.batch} ResNet-18-sized plain dicts, random widths and input sizes", plain),
        (
            f"{args.batch} ResNet-like plain dicts, random widths, input sizes, depths (1-3 blocks per stage) and "
            "kernels (3 or 5)",
            varied,
        ),
    ):
        nl = statistics.mean(len(d["layers"]) for d in docs)

        def each(docs: list[dict[str, Any]] = docs) -> None:
            for d in docs:
                cnnsize.analyze_dict(d)

        def each_cold(docs: list[dict[str, Any]] = docs) -> None:
            for d in docs:
                cold()
                cnnsize.analyze_dict(d)

        rows = [
            ("analyze_dict, result dropped", each),
            ("analyze_dict, result dropped, memos cleared before each spec", each_cold),
        ]
        if many is not None:
            rows.append(("analyze_many, every Analysis kept", lambda docs=docs: many(docs)))
            rows.append(("analyze_many(totals_only=True)", lambda docs=docs: many(docs, totals_only=True)))
        for api, fn in rows:
            t = timeit(fn, args.repeat, args.min_time)
            print(
                f"| {label} | {api} | {nl:.0f} | {ms(t[0] / len(docs))} ({ms(t[1] / len(docs))}) | "
                f"{len(docs) / t[0]:,.0f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
