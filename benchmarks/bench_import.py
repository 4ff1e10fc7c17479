"""Start-up cost: import time of ``cnnsize`` and of the CLI, and which
modules a whole ``cnnsize report`` run imports.

For each case, --repeat fresh processes are timed from start to exit
(median), and one more runs under ``python -X importtime`` to list the
heaviest imports (cumulative microseconds as Python reports them). The
output states whether torch (or networkx, rich, numpy) was imported: the
analysis path and the report CLI must not import torch.

    python benchmarks/bench_import.py
    python benchmarks/bench_import.py --quick
"""

from __future__ import annotations

import argparse
import compileall
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CASES = [
    ("python -c pass (interpreter start-up)", ["-c", "pass"]),
    ("import cnnsize", ["-c", "import cnnsize"]),
    ("import cnnsize.engine.analysis (engine)", ["-c", "import cnnsize.engine.analysis"]),
    ("import cnnsize.commands.cli", ["-c", "import cnnsize.commands.cli"]),
    ("cnnsize --help", ["-m", "cnnsize", "--help"]),
    ("cnnsize report resnet50 (table, to a pipe)", ["-m", "cnnsize", "report", "specs/resnet50.yaml"]),
    ("cnnsize report resnet50 --format json", ["-m", "cnnsize", "report", "specs/resnet50.yaml", "--format", "json"]),
]
WATCH = ("torch", "networkx", "rich", "numpy", "click", "yaml")


def importtime(argv: list[str], env: dict[str, str]) -> list[tuple[str, int, int]]:
    """(module, self us, cumulative us) for every import of one run."""
    p = subprocess.run([sys.executable, "-X", "importtime", *argv], cwd=ROOT, env=env, capture_output=True, text=True)
    rows = []
    for line in p.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        head, cum_us, name = line.split("|", 2)
        rows.append((name.strip(), int(head.split(":", 1)[1]), int(cum_us)))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description="Import and start-up time (Markdown tables).")
    ap.add_argument("--repeat", type=int, default=11)
    ap.add_argument("--top", type=int, default=12, help="heaviest imports to list")
    ap.add_argument("--quick", action="store_true", help="3 runs per case")
    args = ap.parse_args()
    if args.quick:
        args.repeat = 3
    compileall.compile_dir(os.path.join(ROOT, "cnnsize"), quiet=1)  # as a pip install would
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")

    print(
        f"# Start-up time (Python {platform.python_version()}, median of {args.repeat} processes; load average "
        f"{os.getloadavg()[0]:.2f})\n"
    )
    print("| case | median | min | imports torch | networkx | rich | numpy | modules imported |")
    print("|---|---:|---:|---|---|---|---|---:|")
    profiles = {}
    ok = True
    for label, argv in CASES:
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            subprocess.run(
                [sys.executable, *argv],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=True,
            )
            times.append(time.perf_counter() - t)
        rows = importtime(argv, env)
        profiles[label] = rows
        tops = {r[0].split(".")[0] for r in rows}
        flags = ["yes" if w in tops else "no" for w in ("torch", "networkx", "rich", "numpy")]
        if "cnnsize" in " ".join(argv) and flags[0] == "yes":
            ok = False
        print(
            f"| {label} | {statistics.median(times) * 1e3:.0f} ms | {min(times) * 1e3:.0f} ms | {' | '.join(flags)} | "
            f"{len(rows)} |"
        )
    print(f"\nNo torch on the analysis path or in `cnnsize report`: {'OK' if ok else 'FAILED: torch was imported'}\n")

    for label in ("import cnnsize.engine.analysis (engine)", "cnnsize report resnet50 (table, to a pipe)"):
        rows = profiles[label]
        base = {r[0] for r in profiles["python -c pass (interpreter start-up)"]}
        own = [r for r in rows if r[0] not in base]
        print(f"## Heaviest imports: {label} (beyond interpreter start-up; -X importtime, one run)\n")
        print("| module | self ms | cumulative ms |\n|---|---:|---:|")
        # top-level entries (not indented) carry whole subtrees; list by cumulative
        for name, s, c in sorted(own, key=lambda r: -r[2])[: args.top]:
            print(f"| {name.strip()} | {s / 1e3:.1f} | {c / 1e3:.1f} |")
        total = sum(s for _n, s, _c in own)
        print(f"\nSum of self times beyond start-up: {total / 1e3:.1f} ms over {len(own)} modules.\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
