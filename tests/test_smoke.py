import json
import subprocess
import sys

from cnnsize.analysis import analyze
from cnnsize.spec import loads_spec

LENET = """
cnnsize: 1
name: t
input: [1, 32, 32]
layers:
  - {name: C1, type: conv, filters: 6, kernel: 5}
  - {name: S2, type: maxpool, kernel: 2}
"""


def test_minimal_spec_shapes():
    a = analyze(loads_spec(LENET))
    # C1: (32 - 5) / 1 + 1 = 28; S2: 28 / 2 = 14
    assert [r.output_shape for r in a.layers] == [(6, 28, 28), (6, 14, 14)]
    assert a.totals["params"] == 6 * 25 + 6


def test_cli_json_no_torch(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(LENET)
    code = (
        f"import sys, runpy; sys.argv=['cnnsize','report',{str(p)!r},'--format','json']\n"
        "try:\n runpy.run_module('cnnsize', run_name='__main__')\nexcept SystemExit: pass\n"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["schema"] == "cnnsize.report/1"
