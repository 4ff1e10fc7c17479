"""The bad-spec corpus: every broken spec exits 3 with its stated error code
at its stated location, and never prints a traceback.

Cases live in tests/bad_specs/<category>/*.yaml, each headed by
``# expect: CODE LINE:COL`` lines (every diagnostic, in source order; see
make_corpus.py). Cases that cannot be committed as text (binary, huge, a
missing path, a directory) are generated here in tmp_path.

Every case runs through the CLI entry point (``cnnsize.commands.cli.main``, what
``python -m cnnsize`` calls) in-process, in text and JSON format; one case
few also run as a real ``python -m cnnsize`` subprocess (all of them under
``-m slow``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "tests", "bad_specs")
EXPECT = re.compile(r"^# expect: ([a-z0-9-]+) (\d+:\d+|-)$")
DIAG = re.compile(r"^(?P<file>.*?)(?::(?P<line>\d+):(?P<col>\d+))?: error\[(?P<code>[a-z0-9-]+)\]: ")


def corpus() -> list[str]:
    out = []
    for cat in sorted(os.listdir(CORPUS)):
        d = os.path.join(CORPUS, cat)
        if os.path.isdir(d):
            out += [os.path.join(cat, f) for f in sorted(os.listdir(d)) if f.endswith(".yaml")]
    return out


CASES = corpus()


def expected(path: str) -> list[tuple[str, str]]:
    out = []
    with open(path, "rb") as fh:
        for raw in fh:
            line = raw.decode("ascii", "replace").rstrip("\r\n")
            m = EXPECT.match(line)
            if m:
                out.append((m.group(1), m.group(2)))
            elif not line.startswith("# case:"):
                break
    return out


def run_inprocess(args: list[str]) -> tuple[int, str, str]:
    from cnnsize.commands.cli import main

    out, err = io.StringIO(), io.StringIO()
    old = sys.argv
    sys.argv = ["cnnsize", *args]
    code: int | str | None = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.argv = old
    return (code if isinstance(code, int) else 1), out.getvalue(), err.getvalue()


def run_subprocess(args: list[str]) -> tuple[int, str, str]:
    p = subprocess.run([sys.executable, "-m", "cnnsize", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def text_diags(stderr: str, path: str) -> list[tuple[str, str]]:
    out = []
    for line in stderr.splitlines():
        m = DIAG.match(line)
        if m:
            assert m.group("file") == path, line
            loc = f"{m.group('line')}:{m.group('col')}" if m.group("line") else "-"
            out.append((m.group("code"), loc))
    return out


def check_text(path: str, want: list[tuple[str, str]], runner=run_inprocess) -> None:
    code, out, err = runner(["report", path])
    assert "Traceback" not in err and "Traceback" not in out, err
    assert code == 3, f"exit {code}\n{err}"
    assert out == ""  # diagnostics go to stderr
    assert text_diags(err, path) == want, err


def check_json(path: str, want: list[tuple[str, str]]) -> None:
    code, out, err = run_inprocess(["report", path, "--format", "json"])
    assert code == 3 and "Traceback" not in err
    doc = json.loads(out)
    assert doc["schema"] == "cnnsize.diagnostics/1"
    got = [(d["code"], f"{d['line']}:{d['column']}" if d["line"] else "-") for d in doc["diagnostics"]]
    assert got == want
    for d in doc["diagnostics"]:
        assert d["file"] == path and d["severity"] == "error" and d["message"]


def test_corpus_size_and_categories():
    cats: dict[str, int] = {}
    for c in CASES:
        cats[c.split(os.sep)[0]] = cats.get(c.split(os.sep)[0], 0) + 1
    assert len(CASES) + len(GENERATED) >= 150, cats
    assert len(cats) >= 20 and min(cats.values()) >= 3, cats


@pytest.mark.parametrize("case", CASES)
def test_bad_spec(case):
    path = os.path.join(CORPUS, case)
    want = expected(path)
    assert want, "case has no '# expect:' header"
    check_text(path, want)
    check_json(path, want)


# a few cases through a real `python -m cnnsize` process by default (each
# costs an interpreter start); every case under -m slow
SAMPLE = [
    os.path.join(*c.split("/"))
    for c in (
        "yaml_syntax/bad_indent.yaml",
        "keep_going/block_instances_named.yaml",
        "templates/import_os.yaml",
        "alias_and_nesting/billion_laughs.yaml",
    )
]


def _subprocess_all(cases: list[str]) -> None:
    def one(case: str) -> None:
        path = os.path.join(CORPUS, case)
        check_text(path, expected(path), run_subprocess)

    with ThreadPoolExecutor(max_workers=4) as ex:
        list(ex.map(one, cases))


def test_corpus_sample_subprocess():
    _subprocess_all(SAMPLE)


@pytest.mark.slow
def test_corpus_all_subprocess():
    _subprocess_all(CASES)


# --- generated cases (binary, huge, paths) -------------------------------------------


def _bin(tmp, name: str, data: bytes) -> str:
    p = tmp / name
    p.write_bytes(data)
    return str(p)


GOOD = b"cnnsize: 1\nname: ok\ninput: [3, 8, 8]\nlayers:\n  - {type: relu}\n"


def gen_latin1(tmp):
    # 'name: caf\xe9' in Latin-1: byte 0xe9 at line 2, column 10
    return _bin(tmp, "latin1.yaml", GOOD.replace(b"name: ok", b"name: caf\xe9")), [("not-utf8", "2:10")]


def gen_utf16(tmp):
    return _bin(tmp, "utf16.yaml", GOOD.decode().encode("utf-16")), [("not-utf8", "1:1")]


def gen_random_binary(tmp):
    # a PNG-like header: 0x89 is never valid UTF-8 as a first byte
    return _bin(tmp, "image.yaml", b"\x89PNG\r\n\x1a\n" + bytes(range(256))), [("not-utf8", "1:1")]


def gen_nul_bytes(tmp):
    # NUL is valid UTF-8 but not allowed in YAML: line 2, column 7
    return _bin(tmp, "nul.yaml", b"cnnsize: 1\nname: a\x00b\ninput: [3]\nlayers: [{type: relu}]\n"), [
        ("yaml-syntax", "2:8")
    ]


def gen_empty(tmp):
    return _bin(tmp, "empty.yaml", b""), [("empty-spec", "1:1")]


def gen_whitespace(tmp):
    return _bin(tmp, "blank.yaml", b"\n\n   \n"), [("empty-spec", "1:1")]


def gen_directory(tmp):
    d = tmp / "specdir.yaml"
    d.mkdir()
    return str(d), [("not-a-file", "-")]


def gen_missing(tmp):
    return str(tmp / "nope" / "missing.yaml"), [("file-not-found", "-")]


def gen_huge_file(tmp):
    # 4 MiB + 1 byte: refused before parsing
    from cnnsize.engine.yamlload import MAX_BYTES

    body = GOOD + b"#" + b"x" * (MAX_BYTES - len(GOOD)) + b"\n"
    return _bin(tmp, "huge.yaml", body), [("limit-file-size", "1:1")]


def gen_many_layers(tmp):
    # layers written out past the layer limit (lowered to 1,000 through the
    # environment, as a user would raise it): expansion stops at layer 1,001
    lines = [b"cnnsize: 1\nname: many\ninput: [1, 4]\nlayers:\n"] + [b"- {type: relu}\n"] * 1500
    return _bin(tmp, "many.yaml", b"".join(lines)), [("limit-layers", f"{4 + 1001}:3")]


gen_many_layers.env = {"CNNSIZE_MAX_LAYERS": "1000"}  # type: ignore[attr-defined]


GENERATED = [
    gen_latin1,
    gen_utf16,
    gen_random_binary,
    gen_nul_bytes,
    gen_empty,
    gen_whitespace,
    gen_directory,
    gen_missing,
    gen_huge_file,
    gen_many_layers,
]


@pytest.mark.parametrize("gen", GENERATED, ids=lambda g: g.__name__[4:])
def test_generated_bad_input(gen, tmp_path, monkeypatch):
    for k, v in getattr(gen, "env", {}).items():
        monkeypatch.setenv(k, v)
    path, want = gen(tmp_path)
    check_text(path, want)
    check_json(path, want)


def test_generated_subprocess(tmp_path):
    for gen in (gen_latin1, gen_missing):
        path, want = gen(tmp_path)
        check_text(path, want, run_subprocess)
