"""Markdown export: GitHub tables of one report or a comparison."""

from __future__ import annotations

from typing import Any

from cnnsize.render import util as u


def _esc(s: str) -> str:
    return s.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _table(head: list[str], rows: list[list[str]], right: list[bool]) -> list[str]:
    lines = [
        "| " + " | ".join(_esc(h) for h in head) + " |",
        "|" + "|".join("---:" if r else "---" for r in right) + "|",
    ]
    lines += ["| " + " | ".join(_esc(c) for c in row) + " |" for row in rows]
    return lines


def render(a: Any, exact: bool = False) -> str:
    from cnnsize.views.report import to_dict

    d = to_dict(a)
    cols = u.LAYER_COLUMNS
    rows = [[u.value(layer.get(k), kind, exact) for k, _h, kind in cols] for layer in d["layers"]]
    tot = u.total_row(d)
    rows.append([f"**{u.value(tot.get(k), kind, exact)}**" if k in tot else "" for k, _h, kind in cols])
    out = [
        f"### {_esc(d['model'])}",
        "",
        u.subtitle(d) + (f"  \nsource: {_esc(d['source'])}" if d.get("source") else ""),
        "",
    ]
    out += _table([h for _k, h, _t in cols], rows, [kind in ("count", "bytes") for _k, _h, kind in cols])
    out += ["", " · ".join(f"{label} {v}" for label, v, _e in u.summary(d, exact)), ""]
    return "\n".join(out)


def render_compare(d: dict[str, Any], exact: bool = False) -> str:
    names, ratio_heads = u.compare_headers(d)
    rows = []
    for row in d["rows"]:
        vals, ratios = u.compare_cells(row, exact)
        rows.append([row["label"], *vals, *ratios])
    head = ["metric", *names, *ratio_heads]
    out = [
        f"### {' vs '.join(_esc(n) for n in names)}",
        "",
        f"batch {d['batch']} · {d['dtype']} · convention {d['convention']}",
        "",
    ]
    out += _table(head, rows, [False] + [True] * (len(head) - 1))
    return "\n".join(out) + "\n"
