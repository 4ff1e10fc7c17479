"""Whole processes, counted rather than timed: instructions (valgrind's
callgrind) and peak resident memory of ``python -m cnnsize report SPEC`` for
one checkout or several, side by side.

Timings move with the machine's load; instruction counts and peak memory do
not, so two checkouts can be compared on a busy machine. Each process starts
in the checkout's folder with the checkout first on PYTHONPATH, prints the
default table to a pipe and exits; start-up (interpreter, imports) is
included, as a user pays it. Besides the zoo specs named with --spec, a
synthetic chain of --layers layers (conv + relu pairs, written to a temporary
YAML file) shows how a long spec scales.

    python benchmarks/bench_process.py                                  # this checkout
    python benchmarks/bench_process.py --checkout /path/to/old --checkout .
    python benchmarks/bench_process.py --quick                          # lenet5 only

Needs valgrind for the instruction column (prints "-" without it).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = ("specs/lenet5.yaml", "specs/resnet50.yaml", "specs/resnet152.yaml")


def chain_spec(layers: int) -> str:
    """A plain chain of conv + relu pairs: no blocks, no templates."""
    rows = [
        f"  - {{type: conv, filters: 8, kernel: 3, padding: 1, name: c{i}}}\n  - {{type: relu}}"
        for i in range(layers // 2)
    ]
    return "cnnsize: 1\nname: chain\ninput: [8, 16, 16]\nlayers:\n" + "\n".join(rows) + "\n"


def _env(checkout: str) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=checkout, PYTHONHASHSEED="0", COLUMNS="200")


def instructions(checkout: str, spec: str) -> int | None:
    if shutil.which("valgrind") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-m", "cnnsize"]
        p = subprocess.run([*cmd, "report", spec], cwd=checkout, env=_env(checkout), capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"{spec} in {checkout}: exit {p.returncode}\n{p.stderr[-2000:]}")
        m = re.search(r"Collected\s*:\s*(\d+)", p.stderr)
        return int(m.group(1)) if m else None


def peak_rss(checkout: str, spec: str) -> int:
    """Peak resident memory (bytes) of one whole process, read from its rusage."""
    code = (
        "import resource, subprocess, sys\n"
        f"subprocess.run([sys.executable, '-m', 'cnnsize', 'report', {spec!r}],"
        " stdout=subprocess.DEVNULL, check=True)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    p = subprocess.run([sys.executable, "-c", code], cwd=checkout, env=_env(checkout), capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-2000:])
    return int(p.stdout.strip()) * 1024  # Linux reports KiB


def main() -> int:
    ap = argparse.ArgumentParser(description="Instructions and peak memory of whole cnnsize processes.")
    ap.add_argument("--checkout", action="append", help="a cnnsize checkout (repeatable; default: this one)")
    ap.add_argument("--spec", action="append", help="a spec path relative to each checkout (repeatable)")
    ap.add_argument("--layers", type=int, default=10_000, help="layers of the synthetic chain (0: none)")
    ap.add_argument("--quick", action="store_true", help="lenet5 only, no chain")
    args = ap.parse_args()
    checkouts = [os.path.abspath(c) for c in (args.checkout or [ROOT])]
    specs = ["specs/lenet5.yaml"] if args.quick else list(args.spec or SPECS)
    with tempfile.TemporaryDirectory() as tmp:
        if args.layers and not args.quick:
            chain = os.path.join(tmp, f"chain{args.layers}.yaml")
            with open(chain, "w", encoding="utf-8") as fh:
                fh.write(chain_spec(args.layers))
            specs.append(chain)
        names = [os.path.basename(c.rstrip("/")) or c for c in checkouts]
        print("# Whole process `python -m cnnsize report SPEC` (table to a pipe)\n")
        print("| spec | " + " | ".join(f"{n}: instructions | {n}: peak RSS" for n in names) + " |")
        print("|---|" + "---:|---:|" * len(checkouts))
        for spec in specs:
            cells = []
            for c in checkouts:
                n = instructions(c, spec)
                cells.append("-" if n is None else f"{n / 1e6:.1f}M")
                cells.append(f"{peak_rss(c, spec) / 2**20:.1f} MiB")
            label = f"chain of {args.layers} layers" if spec.startswith(tmp) else spec
            print(f"| {label} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sys.exit(main())
