"""The benchmark scripts run on a tiny input (--quick) and print their
tables. No timing is asserted here: timings are for benchmarks/, not tests."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(script, *args, timeout=300):
    p = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def test_bench_inprocess_quick():
    out = run("bench_inprocess.py", "--quick")
    assert "| resnet18 | 51 |" in out
    assert "specs per second" in out


def test_bench_import_quick():
    out = run("bench_import.py", "--quick")
    assert "No torch on the analysis path or in `cnnsize report`: OK" in out
    assert "| import cnnsize |" in out


def test_bench_scaling_quick():
    out = run("bench_scaling.py", "--quick")
    assert "fitted time exponent" in out
    assert "|         1000 |   1000 |" in out


def test_check_identical_quick(tmp_path):
    saved = tmp_path / "h.json"
    run("check_identical.py", "--quick", "--save", str(saved))
    out = run("check_identical.py", "--quick", "--compare", str(saved))
    assert "IDENTICAL" in out


@pytest.mark.slow  # imports torch in a child process: ~10 s
@pytest.mark.torch
def test_bench_cli_quick():
    pytest.importorskip("torch")
    out = run("bench_cli.py", "--quick", timeout=600)
    assert "| cnnsize (python -m) |" in out
    assert "| FlopCounterMode |" in out


def test_bench_hostile_quick():
    out = run("bench_hostile.py", "--quick")
    assert "alias bomb, 12 levels" in out
    assert "Python dict sharing one list 9 deep" in out
    assert "cnnsize report bomb.yaml" in out


@pytest.mark.slow  # valgrind runs the interpreter about 50 times slower: ~30 s
def test_bench_instructions_quick():
    import shutil

    if shutil.which("valgrind") is None:
        pytest.skip("valgrind is not installed")
    out = run("bench_instructions.py", "--quick", timeout=600)
    assert "| analyze_dict: 200 different ResNet-18-sized plain dicts, in turn |" in out
    assert out.strip().endswith("M |")


def test_bench_instructions_without_valgrind(monkeypatch):
    # the script must not fail where valgrind is missing (CI): it says so
    env = dict(os.environ, PATH="/nonexistent")
    p = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "bench_instructions.py"), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert p.returncode == 0 and "valgrind is not installed" in p.stdout
