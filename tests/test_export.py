"""Exports of `report` and `compare`: each format parses, carries the exact
figures of the analysis, and (HTML) renders offline in headless Chromium."""

import csv
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
from html.parser import HTMLParser

import pytest
from specs_inline import LENET1989, VGG16, VGG16_PARAMS

from cnnsize.engine.analysis import analyze
from cnnsize.engine.load import loads_spec
from cnnsize.render.csv import TOTAL_FIELDS
from cnnsize.render.util import LAYER_COLUMNS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# a residual branch and names that need escaping in LaTeX, Markdown and HTML
BRANCHY = """\
cnnsize: 1
name: Tiny_Res & <Co>
input: [3, 32, 32]
layers:
  - {name: stem_conv, type: conv, filters: 16, kernel: 3, padding: 1}
  - {name: bn_1, type: bn, activation: relu}
  - {name: conv_a, type: conv, filters: 16, kernel: 3, padding: 1}
  - {name: sum_1, type: add, inputs: [conv_a, bn_1]}
  - {name: pool, type: globalavgpool}
  - {name: fc_out, type: fc, units: 10}
"""


def run(*args):
    return subprocess.run([sys.executable, "-m", "cnnsize", *args], cwd=ROOT, capture_output=True, text=True)


@pytest.fixture
def specs(tmp_path):
    paths = {}
    for name, text in (("branchy", BRANCHY), ("vgg16", VGG16), ("lenet1989", LENET1989)):
        p = tmp_path / f"{name}.yaml"
        p.write_text(text)
        paths[name] = str(p)
    return paths


_CACHE = {}


def report(path, fmt, *extra):
    """A renderer's output, through the registry the CLI uses (in process:
    the CLI itself is exercised by the -o and compare tests below)."""
    import importlib

    from cnnsize.commands.report import FORMATS
    from cnnsize.engine.load import load_spec

    if path not in _CACHE:
        _CACHE[path] = analyze(load_spec(path))
    mod, fn = FORMATS[fmt].split(":")
    return getattr(importlib.import_module(mod), fn)(_CACHE[path], "--raw" in extra)


def truth(path):
    return json.loads(report(path, "json"))


# -- CSV ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["branchy", "vgg16", "lenet1989"])
def test_csv_rows_sum_to_totals(specs, name):
    rows = list(csv.DictReader(io.StringIO(report(specs[name], "csv"))))
    d = truth(specs[name])
    *layers, total = rows
    assert total["name"] == "total"
    assert [r["name"] for r in layers] == [x["name"] for x in d["layers"]]
    for f in TOTAL_FIELDS:
        assert sum(int(r[f]) for r in layers) == int(total[f]) == d["totals"][f], f
    for r, x in zip(layers, d["layers"]):
        assert r["output_shape"] == "x".join(map(str, x["output_shape"]))
        assert int(r["params"]) == x["params"] and int(r["macs"]) == x["macs"]


def test_csv_vgg16_exact_params(specs):
    total = list(csv.DictReader(io.StringIO(report(specs["vgg16"], "csv"))))[-1]
    assert int(total["params"]) == VGG16_PARAMS


# -- HTML -----------------------------------------------------------------------

VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "wbr", "source", "rect", "line"}


class WellFormed(HTMLParser):
    """Every element closed in order (SVG shapes may self-close)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.tags, self.text = [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag in VOID and (not self.stack or self.stack[-1] != tag):
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse_html(text):
    p = WellFormed()
    p.feed(text)
    p.close()
    assert not p.errors, p.errors[:5]
    assert not p.stack, p.stack
    return p


def assert_offline(text):
    assert not re.search(r"https?://", text)
    assert "<script" not in text and "<link" not in text and "@import" not in text and "url(" not in text


def test_html_report_well_formed_offline_with_chart(specs):
    text = report(specs["branchy"], "html")
    assert_offline(text)
    p = parse_html(text)
    d = truth(specs["branchy"])
    names = [t for t, _a in p.tags]
    assert names.count("svg") == 1 and names.count("table") == 1
    # one bar per non-zero value in each of the three series
    bars = [a for t, a in p.tags if t == "rect" and a.get("fill") in ("#4e79a7", "#e15759", "#59a14f")]
    expected = sum(1 for x in d["layers"] for k in ("params", "macs", "activation_bytes") if x[k])
    assert len(bars) == expected
    # the escaped model name comes back intact, and so does each layer name
    body = "".join(p.text)
    assert "Tiny_Res & <Co>" in body
    for x in d["layers"]:
        assert x["name"] in body
    # the table has a header, one row per layer and the total row
    assert names.count("tr") == 1 + len(d["layers"]) + 1


def test_html_exact_values_in_tooltips(specs):
    text = report(specs["vgg16"], "html")
    assert f'title="{VGG16_PARAMS:,}"' in text
    assert report(specs["vgg16"], "html", "--raw").count(f"{VGG16_PARAMS:,}") >= 2


# -- LaTeX ----------------------------------------------------------------------


def check_latex(text, ncols):
    lines = [ln.strip() for ln in text.splitlines()]
    top, mids, bottom = (
        lines.index(r"\toprule"),
        [i for i, ln in enumerate(lines) if ln == r"\midrule"],
        lines.index(r"\bottomrule"),
    )
    assert top < mids[0] < bottom
    spec = re.search(r"\\begin\{tabular\}\{([lcr]+)\}", text).group(1)
    assert len(spec) == ncols
    body = [ln for ln in lines[top + 1 : bottom] if ln != r"\midrule"]
    for ln in body:
        assert ln.endswith(r"\\")
        assert len(re.findall(r"(?<!\\)&", ln)) == ncols - 1, ln
    # nothing unescaped that LaTeX would choke on
    for ln in body:
        assert not re.search(r"(?<!\\)[_%#]", ln.replace(r"\textbackslash{}", "")), ln
    return body


def test_latex_report_booktabs_and_escaping(specs):
    text = report(specs["branchy"], "latex")
    body = check_latex(text, len(LAYER_COLUMNS))
    assert len(body) == 1 + len(truth(specs["branchy"])["layers"]) + 1
    assert r"stem\_conv" in text and r"Tiny\_Res \& \textless{}Co\textgreater{}" in text
    assert r"$16\times32\times32$" in text


def test_latex_compare(specs):
    text = run("compare", specs["lenet1989"], specs["vgg16"], "--format", "latex", "--raw").stdout
    body = check_latex(text, 1 + 2 + 1)
    assert any(ln.startswith("parameters & 9,760 & 138,357,544 &") for ln in body)


# -- Markdown ------------------------------------------------------------------


def md_tables(text):
    """Lines of each table, split into cells on unescaped pipes."""
    cells = []
    for ln in text.splitlines():
        if ln.startswith("|"):
            parts = re.split(r"(?<!\\)\|", ln)
            assert parts[0] == "" and parts[-1] == "", ln
            cells.append(parts[1:-1])
    return cells


def test_markdown_report_columns_consistent(specs):
    rows = md_tables(report(specs["branchy"], "md"))
    assert all(len(r) == len(LAYER_COLUMNS) for r in rows)
    assert all(re.fullmatch(r"-{3}:?|:?-{3}:?", c) for c in rows[1])
    assert len(rows) == 2 + len(truth(specs["branchy"])["layers"]) + 1


def test_markdown_compare(specs):
    rows = md_tables(run("compare", specs["lenet1989"], specs["vgg16"], "--format", "md", "--raw").stdout)
    assert all(len(r) == 4 for r in rows)
    by_metric = {r[0].strip(): r for r in rows[2:]}
    assert by_metric["parameters"][1].strip() == "9,760"
    assert by_metric["units (incl. input)"][1].strip() == "1,256"


# -- -o FILE and the compare exports -----------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "md", "html", "latex", "json"])
def test_output_file_equals_stdout(specs, tmp_path, fmt):
    dest = tmp_path / f"out.{fmt}"
    out = run("report", specs["branchy"], "--format", fmt, "-o", str(dest))
    assert out.returncode == 0 and out.stdout == ""
    assert dest.read_text() == report(specs["branchy"], fmt)
    if fmt == "md":
        assert run("report", specs["branchy"], "--format", fmt).stdout == dest.read_text()


def test_compare_html_and_csv(specs, tmp_path):
    dest = tmp_path / "cmp.html"
    assert (
        run(
            "compare", specs["lenet1989"], specs["vgg16"], specs["branchy"], "--format", "html", "-o", str(dest)
        ).returncode
        == 0
    )
    text = dest.read_text()
    assert_offline(text)
    p = parse_html(text)
    assert [t for t, _a in p.tags].count("svg") == 1
    rows = {
        r["metric"]: r
        for r in csv.DictReader(
            io.StringIO(run("compare", specs["lenet1989"], specs["vgg16"], "--format", "csv").stdout)
        )
    }
    assert rows["params"]["LeNet-1989"] == "9760" and rows["params"]["VGG-16"] == str(VGG16_PARAMS)
    assert float(rows["params"]["VGG-16 / first"]) == VGG16_PARAMS / 9760


def test_renderers_compute_nothing():
    """The exports show exactly the analysis' numbers: rendering from an
    Analysis whose totals are altered shows the altered totals."""
    from cnnsize.render import csv as render_csv

    a = analyze(loads_spec(BRANCHY))
    a.totals["params"] = 123_456_789
    total = list(csv.DictReader(io.StringIO(render_csv.render(a))))[-1]
    assert total["params"] == "123456789"


# -- headless Chromium -------------------------------------------------------

CHROMIUM = next(
    (
        p
        for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser", shutil.which("chromium") or "")
        if p and os.path.exists(p)
    ),
    None,
)


def png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def screenshot(html_path, png_path, profile, size=(1400, 1000)):
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--screenshot={png_path}",
        f"--window-size={size[0]},{size[1]}",
        f"file://{html_path}",
    ]
    subprocess.run(cmd, capture_output=True, timeout=120)
    with open(png_path, "rb") as fh:
        return fh.read()


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_html_renders_in_headless_chromium(specs, tmp_path):
    html_path = tmp_path / "vgg16.html"
    assert run("report", specs["vgg16"], "--format", "html", "-o", str(html_path)).returncode == 0
    data = screenshot(html_path, tmp_path / "shot.png", tmp_path / "profile")
    assert png_size(data) == (1400, 1000)
    assert len(data) > 20_000  # a blank page compresses to a few KB
    try:
        from PIL import Image
    except ImportError:
        return
    img = Image.open(io.BytesIO(data)).convert("RGB")
    colors = {c for _n, c in img.getcolors(maxcolors=1 << 20)}
    # the three bar series were painted
    for hexc in ("4e79a7", "e15759", "59a14f"):
        assert tuple(int(hexc[i : i + 2], 16) for i in (0, 2, 4)) in colors, hexc


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_latex_compiles(specs, tmp_path):
    # every character LaTeX treats specially, in the model name (the caption)
    hard = BRANCHY.replace("name: Tiny_Res & <Co>", "name: 'Tiny_Res & <Co> 50% #1 $x$ ~a^b {c} \\end'")
    from cnnsize.engine.load import load_spec

    (tmp_path / "hard.yaml").write_text(hard)
    assert load_spec(str(tmp_path / "hard.yaml")).name == "Tiny_Res & <Co> 50% #1 $x$ ~a^b {c} \\end"
    (tmp_path / "r1.tex").write_text(report(str(tmp_path / "hard.yaml"), "latex"))
    (tmp_path / "r2.tex").write_text(report(specs["lenet1989"], "latex", "--raw"))
    (tmp_path / "c1.tex").write_text(run("compare", specs["lenet1989"], specs["branchy"], "--format", "latex").stdout)
    (tmp_path / "doc.tex").write_text(
        "\\documentclass{article}\n\\usepackage[margin=1cm,landscape]{geometry}\n\\usepackage{booktabs}\n\\begin{document}\n\\input{r1}\n\\input{r2}\n\\input{c1}\n\\end{document}\n"
    )
    out = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout[-2000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 1000
