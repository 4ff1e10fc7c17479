"""Scaling: analysis time and memory of synthetic chains and DAGs of
10^2 ... 10^5 layers, with the fitted exponent (1.0 = linear).

    python benchmarks/bench_scaling.py [--max 100000] [--repeat 3]

Each size runs in a fresh subprocess so that its peak memory (ru_maxrss) is
its own; time is the median of in-process repeats of parse + analyze from a
spec dict (no YAML), in CPU time of that process by default (robust when
other processes share the machine; --clock wall for wall time).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _util import fit_exponent, table  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def chain(n: int) -> dict:
    layers = [{"name": f"c{i}", "type": "conv", "filters": 8, "kernel": 3, "padding": 1} for i in range(n)]
    return {"cnnsize": 1, "name": f"chain{n}", "input": [8, 16, 16], "layers": layers}


def dag(n: int) -> dict:
    """Residual DAG: conv, conv, add(skip) repeated; every add merges two branches."""
    layers: list[dict] = [{"name": "stem", "type": "conv", "filters": 8, "kernel": 3, "padding": 1}]
    prev = "stem"
    i = 0
    while len(layers) + 3 <= n:
        layers.append({"name": f"a{i}", "type": "conv", "filters": 8, "kernel": 3, "padding": 1, "inputs": [prev]})
        layers.append({"name": f"b{i}", "type": "conv", "filters": 8, "kernel": 3, "padding": 1})
        layers.append({"name": f"s{i}", "type": "add", "inputs": [f"b{i}", prev]})
        prev = f"s{i}"
        i += 1
    return {"cnnsize": 1, "name": f"dag{n}", "input": [8, 16, 16], "layers": layers}


def child(kind: str, n: int, repeat: int, clock: str = "cpu") -> None:
    import resource
    import time

    sys.path.insert(0, ROOT)
    from cnnsize.engine.analysis import analyze
    from cnnsize.engine.load import parse

    doc = chain(n) if kind == "chain" else dag(n)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    now = time.process_time if clock == "cpu" else time.perf_counter
    times = []
    for _ in range(repeat):
        t = now()
        a = analyze(parse(doc))
        times.append(now() - t)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times.sort()
    print(
        json.dumps({"layers": len(a.layers), "seconds": times[len(times) // 2], "rss_kib": peak, "rss_base_kib": base})
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child", nargs=2)
    ap.add_argument("--quick", action="store_true", help="10^2 and 10^3 layers, one repeat")
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    args = ap.parse_args()
    if args.quick:
        args.max, args.repeat = 1_000, 1
    if args.child:
        child(args.child[0], int(args.child[1]), args.repeat, args.clock)
        return
    sizes = [n for n in (100, 1_000, 10_000, 100_000) if n <= args.max]
    for kind in ("chain", "dag"):
        rows, xs, ts, ms = [], [], [], []
        for n in sizes:
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    kind,
                    str(n),
                    "--repeat",
                    str(args.repeat),
                    "--clock",
                    args.clock,
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(out.stdout)
            mem_mib = r["rss_kib"] / 1024
            rows.append(
                [
                    n,
                    r["layers"],
                    f"{r['seconds'] * 1e3:.1f}",
                    f"{r['seconds'] / r['layers'] * 1e6:.1f}",
                    f"{mem_mib:.0f}",
                ]
            )
            xs.append(r["layers"])
            ts.append(r["seconds"])
            ms.append(max(r["rss_kib"] - r["rss_base_kib"], 1))
        print(f"\n## {kind} ({args.clock} time; load average {os.getloadavg()[0]:.2f})\n")
        print(table(["layers asked", "layers", "ms (parse+analyze)", "us/layer", "peak RSS MiB"], rows))
        if len(xs) >= 2:
            k = fit_exponent(xs, ts)
            print(
                "\n"
                f"fitted time exponent: {k:.2f} ({'OK' if k <= 1.1 else 'ABOVE'} the 1.1 target); memory growth "
                f"exponent: {fit_exponent(xs, ms):.2f}"
            )
        if xs[-1] >= 100_000:
            secs, mib = ts[-1], float(rows[-1][-1])
            print(
                f"10^5 layers: {secs:.2f} s ({'OK' if secs < 5 else 'ABOVE'} the 5 s target), peak RSS {mib:.0f} MiB "
                f"({'OK' if mib < 1024 else 'ABOVE'} the 1 GiB target)"
            )


if __name__ == "__main__":
    main()
