"""docs/api.md: every Python example runs, and prints what the page shows
(the text block after it). CNNSIZE_UPDATE_DOCS=1 rewrites those blocks."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"
PAIR = re.compile(r"```python\n(.*?)```\n\n```text\n(.*?)```", re.S)


def _run(code: str) -> str:
    out = io.StringIO()
    cwd = os.getcwd()
    os.chdir(DOC.parents[1])  # the examples name specs/ relative to the checkout
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, str(DOC), "exec"), {"__name__": "__doc_example__"})
    finally:
        os.chdir(cwd)
    return out.getvalue()


def test_api_examples_print_what_the_page_shows() -> None:
    text = DOC.read_text(encoding="utf-8")
    pairs = PAIR.findall(text)
    assert len(pairs) == 3
    if os.environ.get("CNNSIZE_UPDATE_DOCS"):
        text = PAIR.sub(lambda m: f"```python\n{m.group(1)}```\n\n```text\n{_run(m.group(1))}```", text)
        DOC.write_text(text, encoding="utf-8")
        return
    for code, shown in pairs:
        assert _run(code) == shown
