import json
import os
import subprocess
import sys

from cnnsize.engine.analysis import analyze
from cnnsize.engine.load import loads_spec

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

LENET = """
cnnsize: 1
name: t
input: [1, 32, 32]
layers:
  - {name: C1, type: conv, filters: 6, kernel: 5}
  - {name: S2, type: maxpool, kernel: 2}
"""

# Runs `cnnsize report` in a fresh interpreter and fails if torch was imported
# along the way (design: the analysis path never imports torch).
NO_TORCH = """
import runpy, sys
sys.argv = ['cnnsize', 'report', {spec!r}, '--format', 'json']
try:
    runpy.run_module('cnnsize', run_name='__main__')
except SystemExit as exc:
    assert not exc.code, exc.code
assert 'torch' not in sys.modules, 'torch imported'
"""


def test_minimal_spec_shapes():
    a = analyze(loads_spec(LENET))
    # C1: (32 - 5) / 1 + 1 = 28; S2: 28 / 2 = 14
    assert [r.output_shape for r in a.layers] == [(6, 28, 28), (6, 14, 14)]
    assert a.totals["params"] == 6 * 25 + 6


def test_cli_json_no_torch(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(LENET)
    out = subprocess.run([sys.executable, "-c", NO_TORCH.format(spec=str(p))], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["schema"] == "cnnsize.report/1"


def test_real_spec_report_no_torch():
    """The same on a real zoo spec with blocks, when present, and on every golden case's spec."""
    specs = (
        [os.path.join("specs", "resnet50.yaml")] if os.path.exists(os.path.join(ROOT, "specs", "resnet50.yaml")) else []
    )
    specs.append(os.path.join("tests", "cases", "merges", "spec.yaml"))
    for spec in specs:
        out = subprocess.run(
            [sys.executable, "-c", NO_TORCH.format(spec=spec)], cwd=ROOT, capture_output=True, text=True
        )
        assert out.returncode == 0, (spec, out.stderr)
        assert json.loads(out.stdout)["layers"], spec
