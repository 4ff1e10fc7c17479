"""The examples in docs/cli.md and docs/ci.md are real: every ```console block
preceded by ``<!-- checked -->`` is run and must print what the page shows,
and exit with the code shown after ``$ echo $?``.

Regenerate the pages' outputs after an intended change with
``CNNSIZE_UPDATE_DOCS=1 python -m pytest tests/test_cli_docs.py``.
"""

import os
import re
import shlex
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ["docs/cli.md", "docs/ci.md"]
BLOCK = re.compile(r"(<!-- checked -->\n```console\n)(.*?)(```)", re.S)


def run_example(cmdline):
    argv = shlex.split(cmdline)
    merge = argv[-1] == "2>&1"
    if merge:
        argv = argv[:-1]
    assert argv[0] == "cnnsize", cmdline
    # the page shows what a pipe gets: no forced colours or terminal width
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "COLUMNS", "LINES", "CLICOLOR_FORCE")
    }
    err = subprocess.STDOUT if merge else subprocess.PIPE
    out = subprocess.run(
        [sys.executable, "-m", "cnnsize", *argv[1:]], cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True, env=env
    )
    text = out.stdout
    lines = [ln.rstrip() for ln in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines, out.returncode


def parse_block(body):
    """[(command, output lines, exit code)]; the code is None when the page
    shows none, and "?" when `$ echo $?` has no value yet."""
    items = []
    for ln in body.splitlines():
        if ln.startswith("$ echo $?"):
            items[-1][2] = "?"
        elif ln.startswith("$ "):
            items.append([ln[2:], [], None])
        elif items[-1][2] == "?":
            items[-1][2] = int(ln)
        else:
            items[-1][1].append(ln.rstrip())
    for it in items:
        while it[1] and not it[1][-1]:
            it[1].pop()
    return [tuple(it) for it in items]


def render_block(items):
    out = []
    for cmd, lines, code in items:
        out.append(f"$ {cmd}")
        out += lines
        if code is not None:
            out += ["$ echo $?", str(code)]
    return "\n".join(out) + "\n"


def examples():
    for page in PAGES:
        path = os.path.join(ROOT, page)
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        for m in BLOCK.finditer(text):
            for cmd, lines, code in parse_block(m.group(2)):
                yield pytest.param(page, cmd, lines, code, id=f"{page}: {cmd}")


def update_pages():
    for page in PAGES:
        path = os.path.join(ROOT, page)
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as fh:
            text = fh.read()

        def regen(m):
            items = []
            for cmd, _lines, code in parse_block(m.group(2)):
                lines, rc = run_example(cmd)
                items.append((cmd, lines, rc if code is not None else None))
            return m.group(1) + render_block(items) + m.group(3)

        new = BLOCK.sub(regen, text)
        if new != text:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(new)


if os.environ.get("CNNSIZE_UPDATE_DOCS"):
    update_pages()


@pytest.mark.parametrize("page,cmd,expected,code", list(examples()))
def test_example_output_is_current(page, cmd, expected, code):
    lines, rc = run_example(cmd)
    assert lines == expected, f"{page}: output of `{cmd}` changed; regenerate with CNNSIZE_UPDATE_DOCS=1"
    assert rc == (0 if code is None else code)


def test_pages_have_checked_examples():
    assert len(list(examples())) >= 8
