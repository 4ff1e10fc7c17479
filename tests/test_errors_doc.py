"""docs/errors.md lists every diagnostic code the code base can raise, and
nothing that it cannot."""

from __future__ import annotations

import glob
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# the ways a code is written where a diagnostic is made
RAISED = [
    re.compile(r'(?:RuleError|Diagnostic|_fail|\.err|\berr)\(\s*"([a-z0-9-]+)"'),
    re.compile(r'\bcode(?:, hint)? = \(?\s*"([a-z0-9-]+)"'),
]
DOC_ROW = re.compile(r"^\| `([a-z0-9-]+)` \|", re.M)


def raised_codes() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for path in glob.glob(os.path.join(ROOT, "cnnsize", "**", "*.py"), recursive=True):
        with open(path, encoding="utf-8") as fh:
            src = fh.read()
        for pat in RAISED:
            for m in pat.finditer(src):
                out.setdefault(m.group(1), set()).add(os.path.relpath(path, ROOT))
    return out


def documented_codes() -> set[str]:
    with open(os.path.join(ROOT, "docs", "errors.md"), encoding="utf-8") as fh:
        text = fh.read()
    section = text.split("## Codes", 1)[1].split("\n## Limits", 1)[0]
    return set(DOC_ROW.findall(section))


def test_every_raised_code_is_documented():
    raised = raised_codes()
    missing = {c: sorted(f) for c, f in raised.items() if c not in documented_codes()}
    assert not missing, f"codes raised but not in docs/errors.md: {missing}"


def test_every_documented_code_is_raised():
    stale = documented_codes() - set(raised_codes())
    assert not stale, f"codes in docs/errors.md that nothing raises: {sorted(stale)}"


def test_scan_finds_known_codes():
    # the scan itself must work: a few codes from different modules
    raised = raised_codes()
    for code in ("unknown-key", "window-too-large", "limit-alias", "cycle", "input-rank", "yaml-tab"):
        assert code in raised, code
