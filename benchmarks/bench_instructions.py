"""Instructions per call (valgrind's callgrind), for one checkout or several.

Timings move with the machine's load; instruction counts do not: the same
code, input and interpreter give the same count whatever else runs. Each
figure is the difference between two processes that differ only in how many
times the call runs (N and 0), divided by N, so interpreter start-up and
imports cancel out.

    python benchmarks/bench_instructions.py                       # this checkout
    python benchmarks/bench_instructions.py --checkout /path/to/old --checkout .
    python benchmarks/bench_instructions.py --quick               # one case, N = 2

Needs valgrind (`apt install valgrind`); prints a note and exits 0 without it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.dirname(os.path.abspath(__file__))

# name -> (setup, statement run N times with index i). The setup runs in both
# processes; only the statements differ. Memos (windows, receptive fields)
# are cleared where a case measures a first analysis.
CASES: dict[str, tuple[str, str]] = {
    "analyze_dict: 200 different ResNet-18-sized plain dicts, in turn": (
        "import random, cnnsize\nfrom bench_inprocess import resnet18_plain\nrng = random.Random(0)\n"
        "docs = [resnet18_plain(rng) for _ in range(200)]\nfor d in docs: cnnsize.analyze_dict(d)",
        "cnnsize.analyze_dict(docs[i % 200])",
    ),
    "analyze_dict: specs/resnet18.yaml as a dict (blocks, templates)": (
        "import yaml, cnnsize\ndoc = yaml.safe_load(open(os.path.join(ROOT, 'specs/resnet18.yaml')))\n"
        "cnnsize.analyze_dict(doc)",
        "cnnsize.analyze_dict(doc)",
    ),
    "parse: ResNet-152 YAML mapping": (
        "from cnnsize.engine.yamlload import load, read_text\ntry:\n    from cnnsize.engine.load import parse\n"
        "except ImportError:  # a checkout before engine/load.py\n    from cnnsize.engine.spec import parse\n"
        "p = os.path.join(ROOT, 'specs/resnet152.yaml')\ndoc = load(read_text(p), p)\nparse(doc, p)",
        "parse(doc, p)",
    ),
    "analyze: ResNet-152, parsed, first analysis": (
        "try:\n    from cnnsize.engine import geometry\nexcept ImportError:  # a checkout before engine/\n"
        "    from cnnsize import geometry\ntry:\n    from cnnsize.engine.load import load_spec\n"
        "except ImportError:  # a checkout before engine/load.py\n    from cnnsize.engine.spec import load_spec\n"
        "from cnnsize.engine.analysis import analyze\nspec = load_spec(os.path.join(ROOT, 'specs/resnet152.yaml'))\n"
        "analyze(spec)",
        # an older checkout has no clear_memos(), only the window memo
        "(getattr(geometry, 'clear_memos', geometry._WINDOWS.clear)(), analyze(spec))",
    ),
    "YAML load: ResNet-152 (libyaml, with locations)": (
        "from cnnsize.engine.yamlload import load, read_text\np = os.path.join(ROOT, 'specs/resnet152.yaml')\n"
        "text = read_text(p)\nload(text, p)",
        "load(text, p)",
    ),
}


def program(checkout: str, case: str, n: int) -> str:
    setup, stmt = CASES[case]
    return (
        f"import os, sys\nROOT = {checkout!r}\nsys.path.insert(0, {BENCH!r})\nsys.path.insert(0, ROOT)\n"
        f"{setup}\nimport cnnsize as _c\n"
        "assert os.path.realpath(os.path.dirname(_c.__file__)) == os.path.realpath(os.path.join(ROOT, 'cnnsize'))\n"
        f"for i in range({n}):\n    {stmt}\n"
    )


def instructions(checkout: str, case: str, n: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        env = dict(os.environ, PYTHONHASHSEED="0")
        p = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                "-c",
                program(checkout, case, n),
            ],
            capture_output=True,
            text=True,
            env=env,
        )
        if p.returncode != 0:
            raise RuntimeError(f"{case} in {checkout}: exit {p.returncode}\n{p.stderr[-2000:]}")
        m = re.search(r"Collected\s*:\s*(\d+)", p.stderr)
        if m is None:
            raise RuntimeError(f"no instruction count in valgrind's output:\n{p.stderr[-2000:]}")
        return int(m.group(1))


def main() -> int:
    ap = argparse.ArgumentParser(description="Instructions per call under callgrind (Markdown table).")
    ap.add_argument("--checkout", action="append", help="a cnnsize checkout (repeatable; default: this one)")
    ap.add_argument("-n", type=int, default=20, help="calls in the measured process")
    ap.add_argument("--quick", action="store_true", help="one case, n = 2")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: no instruction counts (apt install valgrind)")
        return 0
    checkouts = [os.path.abspath(c) for c in (args.checkout or [ROOT])]
    cases = list(CASES)[:1] if args.quick else list(CASES)
    n = 2 if args.quick else args.n
    for c in checkouts:
        # compile once, as pip install does (PYTHONDONTWRITEBYTECODE may be set)
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", os.path.join(c, "cnnsize")],
            env=dict(os.environ, PYTHONDONTWRITEBYTECODE=""),
            capture_output=True,
        )
    names = [os.path.basename(c.rstrip("/")) or c for c in checkouts]
    print(f"# Instructions per call (callgrind, difference of {n} calls and 0, divided by {n})\n")
    print("| call | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(checkouts))
    for case in cases:
        cells = []
        for c in checkouts:
            base = instructions(c, case, 0)
            cells.append(f"{(instructions(c, case, n) - base) / n / 1e6:.2f}M")
        print(f"| {case} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
