"""`cnnsize sweep`: brace expansion, one analysis per size, failures named
by their first breaking layer without stopping the sweep."""

import csv
import io
import json
import os
import subprocess
import sys

import pytest

from cnnsize.engine.analysis import analyze
from cnnsize.engine.load import loads_spec
from cnnsize.render.sweep import bar
from cnnsize.views.sweep import METRICS, SweepSyntaxError, expand_batches, expand_inputs, run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# conv 5 (no padding) -> maxpool 2 -> conv 5 -> fc: at side n the second conv
# sees (n - 4) // 2, which must be at least 5, so n >= 14 works and n <= 13 breaks there.
NET = """
cnnsize: 1
name: Tiny
input: [1, 28, 28]
layers:
  - {name: c1, type: conv, filters: 4, kernel: 5}
  - {name: p1, type: maxpool, kernel: 2}
  - {name: c2, type: conv, filters: 8, kernel: 5}
  - {name: fc, type: fc, units: 10}
"""


def _cli(*args, **kw):
    return subprocess.run(
        [sys.executable, "-m", "cnnsize", "sweep", *args], cwd=ROOT, capture_output=True, text=True, **kw
    )


def test_brace_ranges():
    assert expand_inputs("3x{128..512..64}", 3) == [(3, s, s) for s in range(128, 512 + 1, 64)]
    assert len(expand_inputs("3x{128..512..64}", 3)) == (512 - 128) // 64 + 1
    assert expand_inputs("3x{224,256}x{224,256}", 3) == [(3, 224, 224), (3, 224, 256), (3, 256, 224), (3, 256, 256)]
    assert expand_inputs("{1,3}x32x{30..32}", 3) == [(c, 32, w) for c in (1, 3) for w in (30, 31, 32)]
    assert expand_inputs("3X{64..512..x2}", 3) == [(3, 64, 64), (3, 128, 128), (3, 256, 256), (3, 512, 512)]
    assert expand_inputs("1x{16..18}", 2) == [(1, 16), (1, 17), (1, 18)]
    assert expand_inputs("3x16x16x{4,8}", 4) == [(3, 16, 16, 4), (3, 16, 16, 8)]
    assert expand_batches("1") == [1]
    assert expand_batches("1,2,4,8") == [1, 2, 4, 8]
    assert expand_batches("1..64..x2") == [2**k for k in range(7)]
    assert expand_batches("{1..3}") == [1, 2, 3]


@pytest.mark.parametrize(
    "text, rank, fragment",
    [
        ("3x{512..128..64}", 3, "backwards"),
        ("3x{128..512", 3, "unbalanced"),
        ("3x128..512}", 3, "unbalanced"),
        ("3x{a..b}", 3, "cannot read"),
        ("3x{1..8..0}", 3, "at least 1"),
        ("3x{1..8..x1}", 3, "at least 2"),
        ("3x{0,4}", 3, "at least 1"),
        ("3x8x8x8", 3, "4 axes"),
        ("{1..10000}", 3, "axes"),
        ("3x{1..200}x{1..200}", 3, "limit"),
        ("3xx8", 3, "empty"),
    ],
)
def test_bad_patterns(text, rank, fragment):
    with pytest.raises(SweepSyntaxError, match=fragment):
        expand_inputs(text, rank)


def test_points_equal_direct_analyses():
    spec = loads_spec(NET)
    inputs = expand_inputs("1x{14..40..13}", 3)  # 14, 27, 40
    data = run(spec, inputs, [1, 4], dtype="float16", convention="torch", optimizer="sgd")
    assert [(p["input"], p["batch"]) for p in data["points"]] == [([1, s, s], b) for s in (14, 27, 40) for b in (1, 4)]
    for p in data["points"]:
        a = analyze(
            spec, input_shape=tuple(p["input"]), batch=p["batch"], dtype="float16", convention="torch", optimizer="sgd"
        )
        assert p["ok"] is True
        assert {m: p[m] for m in METRICS} == {m: a.totals[m] for m in METRICS}
    # fc fan-in grows with the input: 8 * ((n - 4) // 2 - 4)^2 inputs per unit
    params = {p["input"][1]: p["params"] for p in data["points"]}
    for n in (14, 27, 40):
        side = (n - 4) // 2 - 4
        assert params[n] == (4 * 25 + 4) + (8 * 4 * 25 + 8) + (8 * side * side * 10 + 10)


def test_failure_names_first_breaking_layer_and_sweep_goes_on():
    spec = loads_spec(NET)
    data = run(spec, expand_inputs("1x{4,13,14}", 3), [1])
    ok = [p["ok"] for p in data["points"]]
    assert ok == [False, False, True]
    # side 4: c1's 5x5 window is already larger than the input
    assert data["points"][0]["error"]["layer"] == "c1"
    # side 13: c1 -> 9, p1 -> 4, then c2's 5x5 window does not fit
    assert data["points"][1]["error"]["layer"] == "c2"
    assert "layer 'c2' (conv)" in data["points"][1]["message"]
    assert data["points"][1]["message"].startswith("<spec>:8:")


def test_cli_formats_and_failure(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(NET)
    out = _cli(str(spec), "--input", "1x{13..15}", "--batch", "1,2", "--format", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["schema"] == "cnnsize.sweep/1" and data["model"] == "Tiny"
    assert len(data["points"]) == 3 * 2
    assert [p["ok"] for p in data["points"]] == [False, False, True, True, True, True]
    assert "layer 'c2' (conv)" in out.stderr and "Traceback" not in out.stderr
    two = [p for p in data["points"] if p["ok"] and p["input"] == [1, 14, 14]]
    # activation memory scales with the batch; params do not
    assert two[1]["activation_bytes"] == 2 * two[0]["activation_bytes"] and two[1]["params"] == two[0]["params"]

    out = _cli(str(spec), "--input", "1x{13..14}", "--format", "csv")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [r["error_layer"] for r in rows] == ["c2", ""]
    assert rows[1]["params"] == str((4 * 25 + 4) + (8 * 4 * 25 + 8) + (8 * 1 * 1 * 10 + 10))

    out = _cli(str(spec), "--input", "1x{13..14}", "--format", "md", "--chart", "macs", "--raw")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[2].startswith("| input | batch | params | MACs |")
    assert "layer 'c2' (conv)" in lines[4] and lines[5].startswith("| 1x14x14 | 1 |")
    assert "```text" in out.stdout and "MACs (Tiny)" in out.stdout

    out = _cli(str(spec), "--input", "1x{13..14}", "--chart", "peak_activation_bytes")
    assert out.returncode == 0, out.stderr
    assert "1x13x13" in out.stdout and "peak memory (Tiny)" in out.stdout and "█" * 40 in out.stdout


def test_cli_all_sizes_fail_exits_3_bad_pattern_exits_2(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(NET)
    out = _cli(str(spec), "--input", "1x{2..4}")  # c1's 5x5 window fits none of them
    assert out.returncode == 3
    assert out.stderr.count("layer 'c1' (conv)") == 3
    out = _cli(str(spec), "--input", "1x{6..4}")
    assert out.returncode == 2 and "backwards" in out.stderr
    out = _cli(str(spec), "--input", "1x8", "--format", "json", "--chart", "macs")
    assert out.returncode == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("cnnsize: 1\nname: b\ninput: [1, 8, 8]\nlayers:\n  - {type: conv, filter: 3}\n")
    out = _cli(str(bad), "--input", "1x{8,9}")
    assert out.returncode == 3 and "bad.yaml:5:" in out.stderr


def test_bar_scale():
    assert bar(100, 100, 10) == "█" * 10
    assert bar(0, 100, 10) == ""
    assert bar(55, 100, 10) == "█" * 5 + "▌"  # 5.5 cells: five full and a half
    assert bar(1, 0, 10) == ""


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pty")
def test_progress_bar_on_a_terminal(tmp_path):
    import pty

    spec = tmp_path / "tiny.yaml"
    spec.write_text(NET)
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnnsize", "sweep", str(spec), "--input", "1x{14..30}"],
        cwd=ROOT,
        stdout=slave,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    err = proc.communicate(timeout=60)[1]
    os.close(master)
    assert proc.returncode == 0, err
    import re

    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode())
    assert "1x14x14" in screen and "1x30x30" in screen


def test_shell_expanded_braces_are_swept_too(tmp_path):
    # bash turns an unquoted --input 1x{14..16} into --input 1x14 1x15 1x16
    spec = tmp_path / "tiny.yaml"
    spec.write_text(NET)
    out = _cli(str(spec), "--input", "1x14", "1x15", "1x16", "--format", "json")
    assert out.returncode == 0, out.stderr
    assert [p["input"] for p in json.loads(out.stdout)["points"]] == [[1, n, n] for n in (14, 15, 16)]
    out = _cli(str(spec), "1x14")
    assert out.returncode == 2 and "sizes go after --input" in out.stderr
    out = _cli(str(spec), "--input", "1x14", "--convention", "nope")
    assert out.returncode == 2
