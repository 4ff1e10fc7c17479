"""Hash every report cnnsize produces for the model zoo, so an optimisation
can be checked to change no output byte.

    python benchmarks/check_identical.py --save /tmp/before.json
    ... change the code ...
    python benchmarks/check_identical.py --compare /tmp/before.json

Covers, for every spec in specs/: the JSON report under every convention preset, the
table as printed to a pipe (exact and --raw), and the in-process report of
the same spec given as a plain dict (cnnsize.analyze_dict). Prints a
Markdown table of the specs whose output differs (empty when identical) and
exits 1 if any differs.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# every convention preset (listed here, not imported, so that one copy of
# this script can hash checkouts whose package layouts differ)
PRESETS = (
    "cnnsize", "torchvision", "torch", "fvcore", "thop", "ultralytics-thop", "ptflops", "ptflops-aten",
    "torchinfo", "torchscan", "convnet-burden", "netscope",
)  # fmt: skip
VARIANTS: list[list[str]] = [
    *(["--format", "json", "--convention", c] for c in PRESETS),
    ["--format", "json", "--convention", "torchvision", "--batch", "8", "--dtype", "float16", "--optimizer", "sgd"],
    [],
    ["--raw"],
]


def _cli(spec: str, extra: list[str]) -> str:
    env = dict(os.environ, COLUMNS="300")
    p = subprocess.run(
        [sys.executable, "-m", "cnnsize", "report", spec, *extra], cwd=ROOT, capture_output=True, text=True, env=env
    )
    return f"rc={p.returncode}\n{p.stdout}\n--stderr--\n{p.stderr}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _dict_reports(specs: list[str]) -> dict[str, str]:
    """In-process: the spec as a plain dict (no locations) through analyze_dict."""
    sys.path.insert(0, ROOT)
    import yaml

    import cnnsize

    try:
        from cnnsize.engine.errors import SpecError
        from cnnsize.views.report import to_dict
    except ImportError:  # a checkout from before the engine/views layout
        from cnnsize.errors import SpecError  # type: ignore[no-redef]
        from cnnsize.report import to_dict  # type: ignore[no-redef]

    out = {}
    for spec in specs:
        with open(os.path.join(ROOT, spec), encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
        try:
            text = json.dumps(to_dict(cnnsize.analyze_dict(doc)), indent=1, sort_keys=True)
        except SpecError as exc:
            text = "SpecError\n" + str(exc)
        out[spec] = _digest(text)
    return out


def collect(specs: list[str], jobs: int) -> dict[str, str]:
    tasks = [(s, v) for s in specs for v in VARIANTS]
    with ThreadPoolExecutor(jobs) as ex:
        texts = list(ex.map(lambda t: _cli(*t), tasks))
    hashes = {f"{s} {' '.join(v) or '(table)'}": _digest(t) for (s, v), t in zip(tasks, texts)}
    for s, h in _dict_reports(specs).items():
        hashes[f"{s} analyze_dict"] = h
    return hashes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--save", metavar="FILE", help="write the hashes to FILE")
    ap.add_argument("--compare", metavar="FILE", help="compare with hashes saved earlier")
    ap.add_argument("--quick", action="store_true", help="two small specs only")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    specs = sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "specs", "*.yaml")))
    if args.quick:
        specs = [s for s in specs if os.path.basename(s) in ("lenet5.yaml", "resnet18.yaml")]
    hashes = collect(specs, args.jobs)
    overall = _digest(json.dumps(hashes, sort_keys=True))
    print(f"{len(hashes)} outputs from {len(specs)} specs, overall hash {overall}")
    if args.save:
        with open(args.save, "w", encoding="utf-8") as fh:
            json.dump(hashes, fh, indent=1, sort_keys=True)
    if args.compare:
        with open(args.compare, encoding="utf-8") as fh:
            before = json.load(fh)
        diff = sorted(k for k in set(before) | set(hashes) if before.get(k) != hashes.get(k))
        print("\n| output | before | after |\n|---|---|---|")
        for k in diff:
            print(f"| {k} | {before.get(k, '-')} | {hashes.get(k, '-')} |")
        print(f"\n{'IDENTICAL' if not diff else f'{len(diff)} outputs DIFFER'}")
        return 1 if diff else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
