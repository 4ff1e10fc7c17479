"""HTML export: one self-contained page (inline CSS and SVG, no scripts, no
network) with the headline totals, a per-layer chart of params, MACs and
activation memory, and the full table. Bar lengths are the only arithmetic
here: each layer's value over the largest layer's, for drawing."""

from __future__ import annotations

from html import escape
from typing import Any

from cnnsize.render import util as u

SERIES = (
    ("params", "parameters", "count", "#4e79a7"),
    ("macs", "MACs", "count", "#e15759"),
    ("activation_bytes", "activation memory", "bytes", "#59a14f"),
)

CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: #1d2329; background: #fff; margin: 0; padding: 24px 32px 48px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #e3e6ea; padding-bottom: 4px; }
.sub { color: #59636e; margin: 0; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin-top: 16px; }
.card { border: 1px solid #e3e6ea; border-radius: 6px; padding: 8px 14px; min-width: 130px; background: #f8f9fa; }
.card .k { color: #59636e; font-size: 12px; }
.card .v { font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums; }
figure { margin: 0; overflow-x: auto; }
.scroll { overflow-x: auto; }
figcaption { color: #59636e; font-size: 12px; margin-top: 4px; }
svg text { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 10px; border-bottom: 1px solid #eef0f2; white-space: nowrap; }
th { text-align: left; background: #f3f5f7; position: sticky; top: 0; }
td.n, th.n { text-align: right; }
tr.total td { font-weight: 600; border-top: 2px solid #1d2329; border-bottom: none; }
tbody tr:hover td { background: #fbf7e6; }
footer { color: #59636e; font-size: 12px; margin-top: 28px; }
"""


def _page(title: str, body: list[str]) -> str:
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(title)}</title>",
            f"<style>{CSS}</style>",
            "</head>",
            "<body>",
            *body,
            "</body>",
            "</html>",
            "",
        ]
    )


def _short(name: str, n: int = 20) -> str:
    return name if len(name) <= n else name[: n - 1] + "…"


def _layer_chart(layers: list[dict[str, Any]], totals: dict[str, Any], exact: bool) -> str:
    """Three bar series side by side, one bar row per layer, each series
    scaled to its largest layer, labelled with the value and share of total."""
    n = len(layers)
    row = 18 if n <= 60 else 13
    font = 12 if n <= 60 else 10
    label_w, panel_w, gap, top = 150, 344, 20, 46
    bar_max = panel_w - 118
    width = label_w + 3 * (panel_w + gap)
    height = top + n * row + 10
    out = [
        f'<svg role="img" aria-label="per-layer params, MACs and activation memory" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">'
    ]
    for i in range(n):
        if i % 2 == 0:
            out.append(f'<rect x="0" y="{top + i * row}" width="{width}" height="{row}" fill="#f6f7f9"/>')
    for i, layer in enumerate(layers):
        y = top + i * row + row * 0.72
        out.append(
            f'<text x="{label_w - 8}" y="{y:.1f}" font-size="{font}" text-anchor="end" '
            f'fill="#1d2329"><title>{escape(layer["name"])} '
            f"({escape(layer['type'])})</title>{escape(_short(layer['name']))}</text>"
        )
    for s, (key, label, kind, color) in enumerate(SERIES):
        x0 = label_w + s * (panel_w + gap)
        total = totals[key]
        peak = max((layer[key] for layer in layers), default=0)
        out.append(f'<text x="{x0}" y="18" font-size="14" font-weight="600" fill="{color}">{escape(label)}</text>')
        out.append(
            f'<text x="{x0}" y="35" font-size="11" fill="#59636e">total {escape(u.value(total, kind, exact))}; bars '
            "scaled to the largest layer</text>"
        )
        out.append(f'<line x1="{x0}" y1="{top - 3}" x2="{x0}" y2="{height - 6}" stroke="#adb5bd" stroke-width="1"/>')
        for i, layer in enumerate(layers):
            v = layer[key]
            y = top + i * row
            w = 0.0 if not peak else bar_max * v / peak
            share = "" if not (total and v) else (" (<1%)" if v / total < 0.005 else f" ({v / total:.0%})")
            tip = f"{layer['name']}: {label} {u.exact_text(v, kind)}{share}"
            if w > 0:
                out.append(
                    f'<rect x="{x0}" y="{y + 2}" width="{max(w, 1.0):.1f}" height="{row - 4}" fill="{color}" '
                    f'rx="1"><title>{escape(tip)}</title></rect>'
                )
            text = u.value(v, kind, exact) + share if v else "0"
            out.append(
                f'<text x="{x0 + w + 4:.1f}" y="{y + row * 0.72:.1f}" font-size="{font - 1}" '
                f'fill="#3b434b">{escape(text)}</text>'
            )
    out.append("</svg>")
    return "\n".join(out)


def _td(text: str, tip: str, num: bool) -> str:
    attrs = (' class="n"' if num else "") + (f' title="{escape(tip)}"' if tip else "")
    return f"<td{attrs}>{escape(text)}</td>"


def _table(
    head: list[tuple[str, bool]],
    rows: list[list[tuple[str, str, bool]]],
    total: list[tuple[str, str, bool]] | None = None,
) -> str:
    right = ' class="n"'
    ths = "".join(f"<th{right if num else ''}>{escape(h)}</th>" for h, num in head)
    out = ['<div class="scroll">', "<table>", f"<thead><tr>{ths}</tr></thead>", "<tbody>"]
    out += ["<tr>" + "".join(_td(*c) for c in r) + "</tr>" for r in rows]
    if total:
        out.append('<tr class="total">' + "".join(_td(*c) for c in total) + "</tr>")
    out += ["</tbody>", "</table>", "</div>"]
    return "\n".join(out)


def render(a: Any, exact: bool = False) -> str:
    from cnnsize.views.report import to_dict

    d = to_dict(a)
    cols = u.LAYER_COLUMNS
    num = {k: kind in ("count", "bytes") for k, _h, kind in cols}
    rows = [
        [
            (u.value(layer.get(k), kind, exact), u.exact_text(layer.get(k), kind) if num[k] else "", num[k])
            for k, _h, kind in cols
        ]
        for layer in d["layers"]
    ]
    tot = u.total_row(d)
    total = [
        (
            u.value(tot[k], kind, exact) if k in tot else "",
            u.exact_text(tot[k], kind) if k in tot and num[k] else "",
            num[k],
        )
        for k, _h, kind in cols
    ]
    body = [
        "<header>",
        f"<h1>{escape(d['model'])}</h1>",
        f'<p class="sub">{escape(u.subtitle(d))}</p>',
    ]
    if d.get("source"):
        body.append(f'<p class="sub">source: {escape(d["source"])}</p>')
    body.append("</header>")
    body.append('<section class="cards">')
    for label, text, ex in u.summary(d, exact):
        body.append(
            f'<div class="card"><div class="k">{escape(label)}</div><div class="v" '
            f'title="{escape(ex)}">{escape(text)}</div></div>'
        )
    body.append("</section>")
    body += [
        "<h2>Where the cost sits</h2>",
        "<figure>",
        _layer_chart(d["layers"], d["totals"], exact),
        "<figcaption>One row per layer; each series is scaled to its largest layer, with the layer's share of the "
        "model total in brackets. Hover for exact values.</figcaption>",
        "</figure>",
        "<h2>Per layer</h2>",
        _table([(h, num[k]) for k, h, _t in cols], rows, total),
        f"<footer>cnnsize {escape(d['cnnsize_version'])} · convention {escape(d['convention'])}: "
        f"{escape(d['convention_definition'])}"
        + (f" · spec {escape(d['spec'])}" if d.get("spec") else "")
        + "</footer>",
    ]
    return _page(f"cnnsize: {d['model']}", body)


def _compare_chart(d: dict[str, Any], exact: bool) -> str:
    """Small multiples: one panel per numeric metric, one bar per model,
    scaled to the largest model."""
    names = [m["model"] for m in d["models"]]
    rows = [r for r in d["rows"] if r["kind"] in ("count", "bytes")]
    colors = ["#4e79a7", "#e15759", "#59a14f", "#f28e2b", "#76b7b2", "#b07aa1", "#edc948", "#9c755f"]
    per_row, panel_w, bar_h = 3, 400, 16
    panel_h = 28 + len(names) * (bar_h + 4) + 8
    label_w = 130
    nrows = -(-len(rows) // per_row)
    width, height = per_row * panel_w, nrows * panel_h
    out = [
        f'<svg role="img" aria-label="models compared per metric" width="{width}" height="{height}" viewBox="0 0 '
        f'{width} {height}">'
    ]
    for idx, row in enumerate(rows):
        x0, y0 = (idx % per_row) * panel_w, (idx // per_row) * panel_h
        out.append(
            f'<text x="{x0 + 4}" y="{y0 + 18}" font-size="13" font-weight="600" '
            f'fill="#1d2329">{escape(row["label"])}</text>'
        )
        vals = [v or 0 for v in row["values"]]
        peak = max(vals, default=0)
        bar_max = panel_w - label_w - 90
        for j, (name, v) in enumerate(zip(names, vals)):
            y = y0 + 28 + j * (bar_h + 4)
            w = 0.0 if not peak else bar_max * v / peak
            out.append(
                f'<text x="{x0 + label_w - 6}" y="{y + bar_h * 0.75:.1f}" font-size="11" text-anchor="end" '
                f'fill="#3b434b">{escape(_short(name, 18))}</text>'
            )
            if w > 0:
                out.append(
                    f'<rect x="{x0 + label_w}" y="{y}" width="{max(w, 1.0):.1f}" height="{bar_h}" '
                    f'fill="{colors[j % len(colors)]}" rx="1"><title>{escape(name)}: '
                    f"{escape(u.exact_text(v, row['kind']))}</title></rect>"
                )
            out.append(
                f'<text x="{x0 + label_w + w + 4:.1f}" y="{y + bar_h * 0.75:.1f}" font-size="11" '
                f'fill="#3b434b">{escape(u.value(v, row["kind"], exact))}</text>'
            )
    out.append("</svg>")
    return "\n".join(out)


def render_compare(d: dict[str, Any], exact: bool = False) -> str:
    names, ratio_heads = u.compare_headers(d)
    head = [("metric", False), *((n, True) for n in names), *((h, True) for h in ratio_heads)]
    rows = []
    for row in d["rows"]:
        vals, ratios = u.compare_cells(row, exact)
        tips = [u.exact_text(v, row["kind"]) for v in row["values"]]
        rows.append(
            [(row["label"], "", False), *((v, t, True) for v, t in zip(vals, tips)), *((r, "", True) for r in ratios)]
        )
    body = [
        "<header>",
        f"<h1>{escape(' vs '.join(names) if len(names) <= 4 else f'{len(names)} models compared')}</h1>",
        f'<p class="sub">batch {d["batch"]} · {escape(d["dtype"])} · convention {escape(d["convention"])} · ratios '
        f"are to {escape(names[0])}</p>",
        "</header>",
        "<h2>Side by side</h2>",
        _table(head, rows),
        "<h2>Per metric</h2>",
        "<figure>",
        _compare_chart(d, exact),
        "<figcaption>Each panel is scaled to the largest model for that metric. Hover for exact values.</figcaption>",
        "</figure>",
        f"<footer>cnnsize {escape(d['cnnsize_version'])} · specs: "
        f"{escape(', '.join(m['spec'] for m in d['models']))}</footer>",
    ]
    return _page(f"cnnsize: {' vs '.join(names)}", body)
