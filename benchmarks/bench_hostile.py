"""How fast hostile specs are refused: alias bombs (in process and as a whole
`cnnsize report` process), repeat past the layer limit, hostile templates.

    python benchmarks/bench_hostile.py [--quick]

Tests assert that these are refused with the right code; this script shows
how fast (issue 7: an alias bomb "in well under a second").
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _util import median_time, table  # noqa: E402

HEAD = "cnnsize: 1\nname: hostile\ninput: [3, 8, 8]\n"


def billion_laughs(levels: int) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    names = "abcdefghijklmnop"
    for i in range(1, levels):
        lines.append(f"{names[i]}: &{names[i]} [" + ",".join([f"*{names[i - 1]}"] * 9) + "]")
    return HEAD + "\n".join(lines) + "\nlayers:\n  - {type: relu}\n"


def dict_bomb(levels: int) -> dict:
    """The alias bomb's Python form: one list shared nine times per level."""
    v: object = "lol"
    for _ in range(levels):
        v = [v] * 9
    return {"cnnsize": 1, "name": "bomb", "input": [3, 8, 8], "description": v, "layers": [{"type": "relu"}]}


def dict_loop() -> dict:
    loop: list = []
    loop.append(loop)
    return {"cnnsize": 1, "name": "loop", "input": [3, 8, 8], "description": loop, "layers": [{"type": "relu"}]}


def refused(fn) -> None:
    from cnnsize.engine.errors import SpecError
    from cnnsize.engine.expr import ExprError

    try:
        fn()
    except (SpecError, ExprError):
        return
    raise AssertionError("not refused")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    repeat = 3 if args.quick else 20
    from cnnsize import analyze_dict
    from cnnsize.engine.expr import evaluate
    from cnnsize.engine.load import loads_spec
    from cnnsize.engine.yamlload import load

    cases = {
        "alias bomb, 9 levels (9^9 nodes), load()": lambda: load(billion_laughs(9), "bomb.yaml"),
        "alias bomb, 12 levels (9^12 nodes), load()": lambda: load(billion_laughs(12), "bomb.yaml"),
        "repeat: 1000000": lambda: loads_spec(HEAD + "layers:\n  - {type: relu, repeat: 1000000}\n"),
        "repeat 1000 of a 1000-layer block": lambda: loads_spec(
            HEAD + "layers:\n  - {block: b, repeat: 1000}\nblocks:\n  b: {layers: [{type: relu, repeat: 1000}]}\n"
        ),
        "template 10**10**10": lambda: evaluate("10**10**10", {}),
        "template 'a' * 10**9": lambda: evaluate("'a' * 10**9", {}),
        "Python dict sharing one list 9 deep (9^9 leaves), analyze_dict()": lambda: analyze_dict(dict_bomb(9)),
        "Python list that contains itself, analyze_dict()": lambda: analyze_dict(dict_loop()),
    }
    rows = []
    for name, fn in cases.items():
        rows.append([name, f"{median_time(lambda fn=fn: refused(fn), repeat) * 1e3:.2f}"])
    print(table(["hostile input", "refused in (ms, median)"], rows))
    with tempfile.TemporaryDirectory() as tmp:
        p = os.path.join(tmp, "bomb.yaml")
        with open(p, "w") as fh:
            fh.write(billion_laughs(12))
        times = []
        for _ in range(3 if args.quick else 9):
            t = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-m", "cnnsize", "report", p], cwd=ROOT, capture_output=True, text=True, timeout=60
            )
            times.append(time.perf_counter() - t)
            assert out.returncode == 3 and "limit-alias" in out.stderr
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "cnnsize", "--version"], cwd=ROOT, capture_output=True, timeout=60)
            times.append(-(time.perf_counter() - t))
        bomb = sorted(x for x in times if x > 0)
        ver = sorted(-x for x in times if x < 0)
        print()
        print(
            table(
                ["whole process", "seconds (median)"],
                [
                    ["cnnsize report bomb.yaml (12 levels)", f"{bomb[len(bomb) // 2]:.3f}"],
                    ["cnnsize --version", f"{ver[len(ver) // 2]:.3f}"],
                ],
            )
        )


if __name__ == "__main__":
    main()
