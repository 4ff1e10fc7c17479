"""`cnnsize graph`: Mermaid and DOT output that parses, holds exactly the
layer graph of build_graph, and carries each tensor's analysed shape."""

import os
import re
import shutil
import subprocess
import sys

import pytest

from cnnsize.engine.analysis import analyze, build_graph
from cnnsize.engine.load import loads_spec
from cnnsize.render import graph as render_graph

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BRANCHY = """
cnnsize: 1
name: 'Branchy "quoted" #1'
input: [3, 32, 32]
layers:
  - {name: stem, type: conv, filters: 8, kernel: 3, padding: 1}
  - {name: a, type: conv, filters: 4, kernel: 1}
  - {name: 'b"x', type: conv2d, filters: 6, kernel: 3, padding: 1, inputs: [stem]}
  - {name: end, type: concat, inputs: [a, 'b"x']}
  - {name: pool, type: maxpool, kernel: 2}
  - {name: head, type: fc, units: 10}
  - {name: aux, type: fc, units: 5, inputs: [end]}
outputs: [head, aux]
"""


def _analysis(text=BRANCHY):
    a = analyze(loads_spec(text))
    return a, build_graph(a.spec)


def _expected_edges(a, g):
    shapes = {"input": a.input_shape, **{r.name: r.output_shape for r in a.layers}}
    return {(u, v, "x".join(map(str, shapes[u]))) for u, v in g.edges()}


# --- a small DOT parser: enough of the grammar to check structure ----------

TOKEN = re.compile(r'\s*(?:("(?:[^"\\]|\\.)*")|(->|[{}\[\];,=])|([A-Za-z_][A-Za-z0-9_.]*|-?[0-9.]+))')


def _tokens(text):
    pos, out = 0, []
    text = text.rstrip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        assert m, f"DOT syntax error at {text[pos : pos + 30]!r}"
        quoted, punct, word = m.groups()
        out.append(
            ("id", quoted[1:-1].encode().decode("unicode_escape"))
            if quoted
            else ("p", punct)
            if punct
            else ("id", word)
        )
        pos = m.end()
    return out


def _parse_dot(text):
    toks = _tokens(text)
    i = 0

    def take(kind, value=None):
        nonlocal i
        t = toks[i]
        assert t[0] == kind and (value is None or t[1] == value), f"expected {value or kind}, got {t}"
        i += 1
        return t[1]

    def attrs():
        nonlocal i
        out = {}
        take("p", "[")
        while toks[i] != ("p", "]"):
            k = take("id")
            take("p", "=")
            out[k] = take("id")
            if toks[i] == ("p", ","):
                i += 1
        take("p", "]")
        return out

    assert take("id") == "digraph"
    name = take("id")
    take("p", "{")
    nodes, edges = {}, []
    while toks[i] != ("p", "}"):
        first = take("id")
        if toks[i] == ("p", "="):  # graph attribute: rankdir=TB;
            i += 1
            take("id")
        elif first in ("node", "edge"):
            attrs()
        elif toks[i] == ("p", "->"):
            i += 1
            second = take("id")
            edges.append((first, second, attrs().get("label")))
        else:
            nodes[first] = attrs()
        take("p", ";")
    take("p", "}")
    assert i == len(toks), "text after the closing brace"
    return name, nodes, edges


def test_dot_structure_matches_the_graph():
    a, g = _analysis()
    name, nodes, edges = _parse_dot(render_graph.dot(a, g))
    assert name == a.model
    layer_nodes = {n: v for n, v in nodes.items() if v["label"] != "output"}
    assert set(layer_nodes) == set(g.nodes)
    sinks = {n for n, v in nodes.items() if v["label"] == "output"}
    assert len(sinks) == len(a.outputs) == 2
    graph_edges = {e for e in edges if e[1] not in sinks}
    assert graph_edges == _expected_edges(a, g)
    # output edges carry the outputs' shapes: head 10, aux 5
    assert {(u, lab) for u, v, lab in edges if v in sinks} == {("head", "10"), ("aux", "5")}
    # labels: name, newline, kind (with the alias written in the spec)
    assert nodes['b"x']["label"] == 'b"x\nconv (conv2d)'
    assert nodes["input"]["label"] == "input\n3x32x32"


def test_dot_edges_carry_output_shapes():
    a, g = _analysis()
    _name, _nodes, edges = _parse_dot(render_graph.dot(a, g))
    labels = {(u, v): lab for u, v, lab in edges}
    assert labels[("input", "stem")] == "3x32x32"
    assert labels[("stem", "a")] == "8x32x32"  # 3x3 padding 1 keeps 32
    assert labels[("end", "pool")] == f"{4 + 6}x32x32"  # concat of 4 and 6 maps
    assert labels[("pool", "head")] == "10x16x16"


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz 'dot' not installed")
def test_graphviz_accepts_the_dot():
    a, g = _analysis()
    out = subprocess.run(["dot", "-Tsvg"], input=render_graph.dot(a, g), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


MERMAID_NODE = re.compile(r'^    (n\d+|out\d+)(\["|\(\[")([^"]*)("\]|"\]\))$')
MERMAID_EDGE = re.compile(r'^    (n\d+) -->\|"([^"]*)"\| (n\d+|out\d+)$')


def _unescape(s):
    for code, ch in (("#quot;", '"'), ("#lt;", "<"), ("#gt;", ">"), ("#amp;", "&"), ("#35;", "#")):
        s = s.replace(code, ch)
    return s


def test_mermaid_syntax_and_structure():
    a, g = _analysis()
    text = render_graph.mermaid(a, g)
    lines = text.rstrip("\n").split("\n")
    assert lines[0] == "flowchart TD"
    labels, edges = {}, []
    for line in lines[1:]:
        m = MERMAID_NODE.match(line)
        if m:
            assert (m.group(2), m.group(4)) in (('["', '"]'), ('(["', '"])'))  # brackets pair up
            labels[m.group(1)] = m.group(3)
            continue
        m = MERMAID_EDGE.match(line)
        assert m, f"not a Mermaid node or edge line: {line!r}"
        edges.append(m.groups())
    # every label is free of characters that would end the string
    for lab in labels.values():
        assert '"' not in lab and "<" not in lab.replace("<br/>", "")
    by_name = {_unescape(lab.split("<br/>")[0]): nid for nid, lab in labels.items() if nid.startswith("n")}
    assert set(by_name) == set(g.nodes)
    ids = {v: k for k, v in by_name.items()}
    got = {(ids[u], ids[v], lab) for u, lab, v in edges if v in ids}
    assert got == _expected_edges(a, g)
    assert sum(1 for _u, _l, v in edges if v.startswith("out")) == 2
    assert labels[by_name["end"]] == "end<br/>concat"  # 'end' is a Mermaid keyword: only ever a label
    assert _unescape(labels[by_name['b"x']]) == 'b"x<br/>conv (conv2d)'


def test_cli_graph_lenet5_and_formats(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(BRANCHY)
    for fmt, head in (("mermaid", "flowchart TD"), ("dot", "digraph")):
        out = subprocess.run(
            [sys.executable, "-m", "cnnsize", "graph", str(spec), "--format", fmt],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith(head)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "cnnsize",
            "graph",
            str(spec),
            "--direction",
            "LR",
            "--input",
            "3x64x64",
            "-o",
            str(tmp_path / "g.mmd"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    text = (tmp_path / "g.mmd").read_text()
    assert text.startswith("flowchart LR") and '|"3x64x64"|' in text


def test_cli_graph_bad_spec_exits_3(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("cnnsize: 1\nname: t\ninput: [3, 8, 8]\nlayers:\n  - {type: conv, filters: 4, kernel: 9}\n")
    out = subprocess.run(
        [sys.executable, "-m", "cnnsize", "graph", str(spec)], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 3
    assert "s.yaml:5:" in out.stderr and "Traceback" not in out.stderr
