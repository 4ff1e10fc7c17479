"""Outputs are never lost (issue 15, "Data lost"): -o refuses a path that is,
or links to, an input of the run; every -o write goes to a temporary file in
the same folder and is renamed over FILE, so a failed, interrupted, killed or
concurrent write leaves the previous file byte-identical or the new one
complete; a missing folder or a failed write is a usage error (exit 2)."""

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from cnnsize.commands.cli import cli
from cnnsize.commands.outcome import EXIT_OK, EXIT_USAGE

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LENET = os.path.join(ROOT, "specs", "lenet5.yaml")
OLD = b"the previous output, which must survive\n"

# every command that reads a spec and writes -o, with its arguments
WRITERS = {
    "report": lambda s: ["report", s, "--format", "json"],
    "compare": lambda s: ["compare", s, s, "--format", "csv"],
    "sweep": lambda s: ["sweep", s, "--input", "1x{32,64}", "--format", "json"],
    "graph": lambda s: ["graph", s],
    "profile": lambda s: ["profile", s],  # refused before torch is touched
}


def digest(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


@pytest.fixture
def spec(tmp_path):
    p = tmp_path / "net.yaml"
    shutil.copyfile(LENET, p)
    return p


def _refused(res, spec, before):
    assert res.exit_code == EXIT_USAGE, (res.exit_code, res.stderr)
    assert "writing it would destroy the input" in res.stderr
    assert digest(spec) == before and not spec.is_symlink()


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_o_onto_the_spec_is_refused_by_path_symlink_and_hard_link(name, spec, tmp_path):
    before = digest(spec)
    res = CliRunner().invoke(cli, [*WRITERS[name](str(spec)), "-o", str(spec)])
    _refused(res, spec, before)
    # the same file under another spelling of its path
    res = CliRunner().invoke(cli, [*WRITERS[name](str(spec)), "-o", os.path.join(str(tmp_path), ".", "net.yaml")])
    _refused(res, spec, before)
    sym = tmp_path / "sym.yaml"
    sym.symlink_to(spec)
    res = CliRunner().invoke(cli, [*WRITERS[name](str(spec)), "-o", str(sym)])
    _refused(res, spec, before)
    assert "through a link" in res.stderr
    hard = tmp_path / "hard.yaml"
    os.link(spec, hard)
    res = CliRunner().invoke(cli, [*WRITERS[name](str(spec)), "-o", str(hard)])
    _refused(res, spec, before)
    # and the other way round: the spec given through the link, -o the file itself
    res = CliRunner().invoke(cli, [*WRITERS[name](str(hard)), "-o", str(spec)])
    _refused(res, spec, before)


def test_o_onto_any_of_several_specs_is_refused(spec, tmp_path):
    other = tmp_path / "other.yaml"
    shutil.copyfile(LENET, other)
    before = digest(other)
    res = CliRunner().invoke(cli, ["compare", str(spec), str(other), "-o", str(other)])
    _refused(res, other, before)


def test_tables_refuses_o_onto_a_file_of_its_specs_folder(tmp_path):
    specs = tmp_path / "specs"
    shutil.copytree(os.path.join(ROOT, "specs"), specs)
    target = specs / "alexnet.yaml"
    before = digest(target)
    for out in (target, tmp_path / "link.yaml"):
        if out != target:
            os.link(target, out)
        res = CliRunner().invoke(cli, ["tables", "--specs", str(specs), "--format", "json", "-o", str(out)])
        _refused(res, target, before)


def test_import_refuses_o_onto_the_model_file(tmp_path):
    model = tmp_path / "models.py"
    model.write_text("import torch\n")
    before = digest(model)
    res = CliRunner().invoke(cli, ["import", "torch", f"{model}:Net", "-o", str(model)])
    _refused(res, model, before)


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_missing_folder_is_a_usage_error(name, spec, tmp_path):
    out = tmp_path / "no" / "such" / "out.txt"
    res = CliRunner().invoke(cli, [*WRITERS[name](str(spec)), "-o", str(out)])
    assert res.exit_code == EXIT_USAGE, res.stderr
    assert f"-o '{out}': no such folder '{out.parent}'" in res.stderr
    assert "internal error" not in res.stderr and not out.parent.exists()


def test_o_writes_atomically_and_keeps_permissions(spec, tmp_path):
    out = tmp_path / "out.json"
    out.write_bytes(OLD)
    os.chmod(out, 0o640)
    res = CliRunner().invoke(cli, ["report", str(spec), "--format", "json", "-o", str(out)])
    assert res.exit_code == EXIT_OK, res.stderr
    assert json.loads(out.read_text())["model"] == "LeNet-5"
    assert os.stat(out).st_mode & 0o777 == 0o640
    assert sorted(os.listdir(tmp_path)) == ["net.yaml", "out.json"]  # no temporary file left


def test_o_through_a_symlink_replaces_the_file_it_points_to(spec, tmp_path):
    real = tmp_path / "real.json"
    real.write_bytes(OLD)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    res = CliRunner().invoke(cli, ["report", str(spec), "--format", "json", "-o", str(link)])
    assert res.exit_code == EXIT_OK, res.stderr
    assert link.is_symlink() and json.loads(real.read_text())["model"] == "LeNet-5"


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="needs /dev/null")
def test_o_onto_a_device_writes_in_place(spec):
    """-o /dev/null (or /dev/stdout) is written, never replaced: run as root,
    an atomic rename would put a regular file where the device was."""
    import stat

    res = CliRunner().invoke(cli, ["report", str(spec), "--format", "json", "-o", "/dev/null"])
    assert res.exit_code == EXIT_OK, res.stderr
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def _fail_midway(monkeypatch, exc):
    """The table renderer writes part of the table, then fails (disk full,
    Ctrl-C): the rich path, which streams into the file as it renders."""
    from cnnsize.render import table

    def render(a, console, exact=False):
        console.file.write("a partial table\n" * 100)
        raise exc

    monkeypatch.setattr(table, "render_plain", lambda *a, **k: None)
    monkeypatch.setattr(table, "render", render)


@pytest.mark.parametrize(
    "exc, code",
    [(OSError(28, "No space left on device"), EXIT_USAGE), (KeyboardInterrupt(), None)],
    ids=["disk-full", "ctrl-c"],
)
def test_a_write_that_fails_midway_leaves_the_old_file_byte_identical(exc, code, spec, tmp_path, monkeypatch):
    out = tmp_path / "out.txt"
    out.write_bytes(OLD)
    _fail_midway(monkeypatch, exc)
    res = CliRunner().invoke(cli, ["report", str(spec), "-o", str(out)])
    assert out.read_bytes() == OLD
    assert sorted(os.listdir(tmp_path)) == ["net.yaml", "out.txt"]  # the temporary file is gone
    if code is not None:
        assert res.exit_code == code
        assert f"-o '{out}': cannot write: No space left on device; the file was left as it was" in res.stderr


def test_a_failed_flush_to_disk_leaves_the_old_file(spec, tmp_path, monkeypatch):
    out = tmp_path / "out.json"
    out.write_bytes(OLD)

    def fsync(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", fsync)
    res = CliRunner().invoke(cli, ["report", str(spec), "--format", "json", "-o", str(out)])
    assert res.exit_code == EXIT_USAGE and "Input/output error" in res.stderr
    assert out.read_bytes() == OLD


def test_read_only_file_is_a_usage_error(spec, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root may write any file: os.access cannot show a read-only file")
    out = tmp_path / "out.json"
    out.write_bytes(OLD)
    os.chmod(out, 0o444)
    res = CliRunner().invoke(cli, ["report", str(spec), "--format", "json", "-o", str(out)])
    assert res.exit_code == EXIT_USAGE and "read-only" in res.stderr
    assert out.read_bytes() == OLD


# -- real processes: signals and races ---------------------------------------------

BIG = (
    "cnnsize: 1\nname: Big\ninput: [4, 8, 8]\nlayers:\n  - {name: c, type: conv, filters: 4, kernel: 1, repeat: 800}\n"
)


def _cmd(spec, out):
    return [sys.executable, "-m", "cnnsize", "report", str(spec), "--format", "json", "-o", str(out)]


def _env():
    return {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}


KILL_TRIES = int(os.environ.get("CNNSIZE_KILL_TRIES", "30"))


def test_killed_at_random_moments_the_old_file_is_intact_or_the_new_complete(tmp_path):
    """30 runs of `cnnsize report -o` (a 800-layer spec: about 0.6 MB of
    JSON), each sent SIGINT or SIGKILL (alternately) at a random moment
    between its start and its usual end. Issue 15 asks for 200 such runs:
    CNNSIZE_KILL_TRIES=200 runs them (a few minutes); 30 keep the suite's
    time down. The delays are spread over the whole run so that some land
    while the file is being written."""
    spec = tmp_path / "big.yaml"
    spec.write_text(BIG)
    out = tmp_path / "out.json"
    t0 = time.monotonic()
    subprocess.run(_cmd(spec, out), check=True, env=_env(), cwd=tmp_path)
    took = time.monotonic() - t0
    new = out.read_bytes()
    assert json.loads(new)["totals"]["params"] == 800 * (4 * 4 + 4)  # each 1x1 conv: 4x4 weights + 4 biases
    rng = random.Random(15)
    outcomes = {"old": 0, "new": 0}
    for i in range(KILL_TRIES):
        out.write_bytes(OLD)
        proc = subprocess.Popen(
            _cmd(spec, out), env=_env(), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(rng.uniform(0, took * 1.1))
        proc.send_signal(signal.SIGINT if i % 2 == 0 else signal.SIGKILL)
        code = proc.wait(timeout=60)
        got = out.read_bytes()
        assert got in (OLD, new), f"try {i}: {len(got)} bytes, neither the old file nor the new"
        outcomes["old" if got == OLD else "new"] += 1
        if i % 2 == 0:
            # SIGINT: 130 (interrupted), 0 after the run; while the interpreter
            # itself starts or shuts down (outside cnnsize) Python exits 1 or by the signal
            assert code in (130, 0, 1, -signal.SIGINT), code
        for left in tmp_path.glob(".out.json.*.tmp"):
            left.unlink()  # only kill -9 may leave one; it never replaces FILE
    assert sum(outcomes.values()) == KILL_TRIES
    print(f"{KILL_TRIES} kills: {outcomes}")


def test_concurrent_writers_leave_one_complete_file(tmp_path):
    """Two runs writing different reports to one FILE at once, 5 times: the
    file is always one of the two complete reports (once: corrupt JSON in
    1 of 5 tries)."""
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(BIG)
    shutil.copyfile(LENET, b)
    out = tmp_path / "out.json"
    want = set()
    for spec in (a, b):
        subprocess.run(_cmd(spec, out), check=True, env=_env(), cwd=tmp_path)
        want.add(out.read_bytes())
    for _ in range(5):
        procs = [subprocess.Popen(_cmd(s, out), env=_env(), cwd=tmp_path) for s in (a, b)]
        assert [p.wait(timeout=120) for p in procs] == [0, 0]
        assert out.read_bytes() in want
    assert not list(tmp_path.glob(".out.json.*.tmp"))


def test_schema_and_empty_o_are_usage_errors(spec, tmp_path):
    out = tmp_path / "no" / "schema.json"
    res = CliRunner().invoke(cli, ["schema", "-o", str(out)])
    assert res.exit_code == EXIT_USAGE and f"no such folder '{out.parent}'" in res.stderr
    res = CliRunner().invoke(cli, ["report", str(spec), "-o", ""])
    assert res.exit_code == EXIT_USAGE and "-o '': give a file name" in res.stderr
