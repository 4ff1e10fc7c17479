"""Renderers of ``cnnsize check``: plain text, GitHub workflow annotations
and the cnnsize.check/1 JSON document, from cnnsize.views.check results."""

from __future__ import annotations

import json

from cnnsize.views.check import Result

# -- GitHub workflow commands -------------------------------------------------


def gh_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def gh_prop(s: str) -> str:
    return gh_data(s).replace(":", "%3A").replace(",", "%2C")


def gh_annotation(level: str, message: str, file: str | None, line: int | None, col: int | None, title: str) -> str:
    props = []
    if file:
        props.append(f"file={gh_prop(file)}")
    if line:
        props.append(f"line={line}")
    if col:
        props.append(f"col={col}")
    props.append(f"title={gh_prop(title)}")
    return f"::{level} {','.join(props)}::{gh_data(message)}"


def render_text(results: list[Result]) -> list[str]:
    lines = []
    for r in results:
        if r.status == "invalid":
            lines.append(
                f"{r.spec}: invalid spec ({len(r.diagnostics)} error{'s' if len(r.diagnostics) != 1 else ''}, see "
                "above)"
            )
            continue
        if not r.outcomes:
            lines.append(f"{r.spec}: no budgets to check (give --max-params etc. or a budgets: block)")
            continue
        for o in r.violations:
            lines.append(f"{o.where()}: budget exceeded: {r.model}: {o.message()}")
        n, bad = len(r.outcomes), len(r.violations)
        if bad:
            lines.append(f"{r.spec}: FAIL: {r.model}: {bad} of {n} budget{'s' if n != 1 else ''} exceeded")
        else:
            lines.append(f"{r.spec}: ok: {r.model}: {n} budget{'s hold' if n != 1 else ' holds'}")
        lines.extend(f"  holds: {o.message()}" for o in r.outcomes if o.ok)
    return lines


def render_github(results: list[Result]) -> list[str]:
    lines = []
    for r in results:
        for d in r.diagnostics:
            loc = d.loc
            msg = d.format() if loc is None else d.format()[len(str(loc)) + 2 :]
            level = "warning" if d.severity == "warning" else "error"
            lines.append(
                gh_annotation(
                    level,
                    msg,
                    loc.file if loc else r.spec,
                    loc.line if loc else None,
                    loc.col if loc else None,
                    "cnnsize spec",
                )
            )
        for o in r.violations:
            lines.append(gh_annotation("error", f"{r.model}: {o.message()}", o.file, o.line, o.col, "cnnsize budget"))
        if r.status == "ok":
            n = len(r.outcomes)
            lines.append(
                f"cnnsize: {r.spec}: {n} budget{'s hold' if n != 1 else ' holds'}"
                if n
                else f"cnnsize: {r.spec}: no budgets to check"
            )
    return lines


def render_json(results: list[Result], code: int) -> str:
    doc = {
        "schema": "cnnsize.check/1",
        "ok": code == 0,
        "exit_code": code,
        "results": [
            {
                "spec": r.spec,
                "model": r.model,
                "status": r.status,
                "checks": [o.to_json() for o in r.outcomes],
                "diagnostics": [d.to_json() for d in r.diagnostics],
            }
            for r in results
        ],
    }
    return json.dumps(doc, indent=2)
