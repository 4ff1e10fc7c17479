"""The layer graph as Mermaid or Graphviz DOT text (renders only).

Nodes are cnnsize.engine.analysis.build_graph's nodes; an edge's label is the shape
of the tensor on it, i.e. the analysed output shape of its source layer (or
the input shape for edges out of 'input').
"""

from __future__ import annotations

from typing import Any

from cnnsize.engine.analysis import Analysis


def _shape(shape: Any) -> str:
    return "x".join(str(d) for d in shape)


def _parts(a: Analysis, graph: Any) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """(node name, first label line, second label line) and (src, dst, edge label),
    in the analysis' topological order."""
    by_name = {r.name: r for r in a.layers}
    nodes = [("input", "input", _shape(a.input_shape))]
    for r in a.layers:
        kind = r.kind if r.written_type == r.kind else f"{r.kind} ({r.written_type})"
        nodes.append((r.name, r.name, kind))
    shapes = {"input": a.input_shape, **{r.name: r.output_shape for r in a.layers}}
    order = {n: i for i, (n, _l1, _l2) in enumerate(nodes)}
    edges = sorted(graph.edges(), key=lambda e: (order[e[1]], order[e[0]]))
    out_edges = [(u, v, _shape(shapes[u])) for u, v in edges]
    # network outputs get an edge to a sink so their shape is visible too
    for name in a.outputs:
        if name in by_name:
            out_edges.append((name, "", _shape(shapes[name])))
    return nodes, out_edges


def _mermaid_text(s: str) -> str:
    # Mermaid labels are double-quoted strings; entity codes stand for the
    # characters that would end or break them.
    return s.replace("#", "#35;").replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def mermaid(a: Analysis, graph: Any, direction: str = "TD") -> str:
    nodes, edges = _parts(a, graph)
    ids = {name: f"n{i}" for i, (name, _l1, _l2) in enumerate(nodes)}
    lines = [f"flowchart {direction}"]
    for name, l1, l2 in nodes:
        shape = ('(["', '"])') if name == "input" else ('["', '"]')
        lines.append(f"    {ids[name]}{shape[0]}{_mermaid_text(l1)}<br/>{_mermaid_text(l2)}{shape[1]}")
    for i in range(len(a.outputs)):
        lines.append(f'    out{i}(["output"])')
    outs = {name: f"out{i}" for i, name in enumerate(a.outputs)}
    for u, v, label in edges:
        dst = ids[v] if v else outs[u]
        lines.append(f'    {ids[u]} -->|"{_mermaid_text(label)}"| {dst}')
    return "\n".join(lines) + "\n"


def _dot_id(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def dot(a: Analysis, graph: Any, direction: str = "TB") -> str:
    nodes, edges = _parts(a, graph)
    lines = [
        f"digraph {_dot_id(a.model or 'cnnsize')} {{",
        f"    rankdir={direction};",
        '    node [shape=box, style="rounded", fontname="Helvetica"];',
        '    edge [fontname="Helvetica", fontsize=10];',
    ]
    for name, l1, l2 in nodes:
        attrs = f"label={_dot_id(l1 + chr(10) + l2)}"
        if name == "input":
            attrs += ", shape=oval"
        lines.append(f"    {_dot_id(name)} [{attrs}];")
    taken = {n for n, _l1, _l2 in nodes}
    outs: dict[str, str] = {}
    for i, name in enumerate(a.outputs):
        sink = f"__output{i}"
        while sink in taken:  # a layer may be called anything
            sink = "_" + sink
        outs[name] = sink
        lines.append(f'    {_dot_id(sink)} [label="output", shape=oval];')
    for u, v, label in edges:
        lines.append(f"    {_dot_id(u)} -> {_dot_id(v or outs[u])} [label={_dot_id(label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
