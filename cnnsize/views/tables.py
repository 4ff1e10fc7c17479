"""The seed tables: every published figure beside what cnnsize computes.

The published side (figure, source lines, convention, notes) comes from
cnnsize/data/seed_tables.yaml. The computed side never does: each row names a
spec (a file in specs/ or a small inline spec), optionally an input size, and
a metric or a formula over the analysis; this module analyses the spec and
evaluates that. The data file's own ``expected_computed`` is only used by the
tests, as an independent hand derivation to check the engine against.

Formula vocabulary (a small allow-listed evaluator, never eval; ``layer``
is the row's layer): ``sum(metric, all | types=[kinds] | exclude=[layers])``,
``count(types=[kinds])``, ``path_depth(types=[kinds])`` (most layers of those
kinds on one input-to-output path), ``prod(x)``, ``input_shape``,
``metric(layer)``, ``output_shape(layer)[i]``, ``receptive_field(layer)[i]``,
``<expr>@spec`` or ``<expr>@spec[CxHxW]`` (evaluate on another spec and
input), and ``+ - * /`` on exact fractions.
"""

from __future__ import annotations

import ast
import math
import os
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from cnnsize.engine.analysis import SUMMED

SCHEMA = "cnnsize.tables/1"
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_FILE = os.path.join(_PACKAGE, "data", "seed_tables.yaml")
DEFAULT_SPECS_DIR = os.path.join(os.path.dirname(_PACKAGE), "specs")

LAYER_METRICS = SUMMED  # the per-layer figures a table row may sum


class TableError(Exception):
    """A row cannot be computed (missing spec, unknown metric, bad formula)."""


def load_data(path: str = DATA_FILE) -> list[dict[str, Any]]:
    import yaml

    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if not isinstance(data, list) or not all(isinstance(t, dict) and "id" in t for t in data):
        raise TableError(f"{path}: expected a list of tables with 'id'")
    return data


def _exact(v: Any) -> Any:
    """Numbers as exact fractions (decimal literals read as written)."""
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int):
        return Fraction(v)
    if isinstance(v, float):
        return Fraction(repr(v))
    if isinstance(v, (list, tuple)):
        return [_exact(x) for x in v]
    return v


def plain(v: Any) -> Any:
    """Exact values back to JSON numbers: int when whole, else float."""
    if isinstance(v, Fraction):
        return int(v) if v.denominator == 1 else float(v)
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return v


# --- analyses -------------------------------------------------------------


@dataclass
class Context:
    specs_dir: str = DEFAULT_SPECS_DIR
    cache: dict[tuple[Any, ...], Any] = field(default_factory=dict)

    def analysis(self, spec: Any, inline: Any = None, input_shape: Any = None, convention: str = "cnnsize") -> Any:
        from cnnsize.engine.analysis import analyze
        from cnnsize.engine.errors import SpecError
        from cnnsize.engine.load import load_spec, parse

        shape = tuple(input_shape) if input_shape else None
        key = (spec if inline is None else repr(inline), shape, convention)
        if key not in self.cache:
            try:
                if inline is not None:
                    s = parse(inline, f"<inline spec {inline.get('name', '')}>")
                else:
                    path = os.path.join(self.specs_dir, f"{spec}.yaml")
                    if not os.path.exists(path):
                        raise TableError(f"spec '{spec}' is not in {os.path.relpath(self.specs_dir)}/")
                    s = load_spec(path)
                self.cache[key] = analyze(s, input_shape=shape, convention=convention)
            except SpecError as exc:
                self.cache[key] = TableError(
                    f"spec '{spec}' does not analyse: {exc.diagnostics[0].format() if exc.diagnostics else exc}"
                )
            except TableError as exc:
                self.cache[key] = exc
        got = self.cache[key]
        if isinstance(got, TableError):
            raise got
        return got


def _longest_path(a: Any, kinds: frozenset[str]) -> int:
    """Most layers of ``kinds`` on any path from the input to an output
    (parallel branches count once; a shortcut is a shorter path)."""
    best: dict[str, int] = {"input": 0}
    for r in a.layers:  # topological order
        here = 1 if r.kind in kinds or r.written_type in kinds else 0
        best[r.name] = here + max((best[i] for i in r.inputs), default=0)
    return max((best[o] for o in a.outputs if o in best), default=0)


class _Eval:
    def __init__(self, ctx: Context, table: dict[str, Any], row: dict[str, Any]) -> None:
        self.ctx = ctx
        self.table = table
        self.row = row
        specs = row.get("spec", table.get("spec"))
        self.spec = specs[0] if isinstance(specs, list) else specs
        self.inline = row.get("spec_inline")
        self.input = row.get("input")
        self.convention = row.get("preset", table.get("preset", "cnnsize"))

    def analysis(self) -> Any:
        if self.spec is None and self.inline is None:
            raise TableError("the row names no spec")
        return self.ctx.analysis(self.spec, self.inline, self.input, self.convention)

    def layer(self, name: str) -> Any:
        a = self.analysis()
        try:
            return a.layer(name)
        except KeyError:
            raise TableError(f"no layer '{name}' in {a.model}") from None

    def select(self, a: Any, types: list[str] | None, exclude: list[str] | None) -> list[Any]:
        out = []
        for r in a.layers:
            if types is not None and r.kind not in types and r.written_type not in types:
                continue
            if exclude and r.name in exclude:
                continue
            out.append(r)
        return out

    # -- the value of a row ------------------------------------------------

    def value(self) -> Any:
        formula = self.row.get("formula")
        if formula:
            tree = _parse_formula(str(formula))
            if tree is not None:
                return self.eval(tree.body)
        return self.metric(str(self.row.get("metric")), self.row.get("layer"))

    def metric(self, metric: str, layer: str | None) -> Any:
        a = self.analysis()
        if metric == "output_shape":
            return _exact(list(self.layer(layer).output_shape if layer else a.layer(a.outputs[0]).output_shape))
        if metric == "input_shape":
            return _exact(list(a.input_shape))
        if metric == "receptive_field":
            from cnnsize.engine.analysis import _rf_json

            r = self.layer(layer) if layer else a.layer(a.outputs[0])
            return _exact(_rf_json(r.rf)[0])
        if layer:
            if metric not in LAYER_METRICS:
                raise TableError(f"unknown per-layer metric '{metric}'")
            return Fraction(getattr(self.layer(layer), metric))
        if metric in a.totals and isinstance(a.totals[metric], int):
            return Fraction(a.totals[metric])
        raise TableError(f"unknown metric '{metric}' (give a formula)")

    # -- formulas ---------------------------------------------------------

    def names(self, node: ast.AST) -> list[str]:
        if isinstance(node, (ast.List, ast.Tuple)):
            return [self.word(e) for e in node.elts]
        return [self.word(node)]

    def word(self, node: ast.AST) -> str:
        if isinstance(node, ast.Constant) and node.value == "":
            return ""
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        raise TableError(f"expected a name, got {ast.unparse(node)}")

    def eval(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return _exact(node.value)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
            left, right = self.eval(node.left), self.eval(node.right)
            if not isinstance(left, Fraction) or not isinstance(right, Fraction):
                raise TableError(f"arithmetic on a non-number in {ast.unparse(node)}")
            if isinstance(node.op, ast.Add):
                return left + right
            if isinstance(node.op, ast.Sub):
                return left - right
            if isinstance(node.op, ast.Mult):
                return left * right
            if right == 0:
                raise TableError(f"division by zero in {ast.unparse(node)}")
            return left / right
        if isinstance(node, ast.Name):
            if node.id == "input_shape":
                return self.metric("input_shape", None)
            raise TableError(f"unknown name '{node.id}' in formula")
        if isinstance(node, ast.Subscript):
            seq = self.eval(node.value)
            idx = node.slice
            if not (
                isinstance(seq, list)
                and isinstance(idx, ast.Constant)
                and isinstance(idx.value, int)
                and -len(seq) <= idx.value < len(seq)
            ):
                raise TableError(f"cannot index {ast.unparse(node)}")
            return seq[idx.value]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            return self.call(node.func.id, node)
        raise TableError(f"unsupported formula syntax: {ast.unparse(node)}")

    def layer_arg(self, node: ast.AST) -> str:
        name = self.word(node)
        if name == "layer":
            if not self.row.get("layer"):
                raise TableError("the formula uses 'layer' but the row names none")
            return str(self.row["layer"])
        return name

    def call(self, fn: str, node: ast.Call) -> Any:
        kw = {k.arg: self.names(k.value) for k in node.keywords}
        if fn == _AT:
            return self.at(node)
        if fn in ("sum", "count", "path_depth"):
            a = self.analysis()
            args = list(node.args)
            metric = self.word(args.pop(0)) if fn == "sum" and args else None
            if args and self.word(args[0]) != "all":
                raise TableError(f"{fn}(): write 'all', types=[...] or exclude=[...]")
            if fn == "path_depth":
                if "types" not in kw:
                    raise TableError("path_depth() needs types=[...]")
                return Fraction(_longest_path(a, frozenset(kw["types"])))
            rows = self.select(a, kw.get("types"), kw.get("exclude"))
            if fn == "count":
                return Fraction(len(rows))
            if metric not in LAYER_METRICS:
                raise TableError(f"sum(): unknown per-layer metric '{metric}'")
            return Fraction(sum(getattr(r, metric) for r in rows))
        if fn == "prod":
            seq = self.eval(node.args[0])
            if not isinstance(seq, list):
                raise TableError("prod() takes a shape")
            return Fraction(math.prod(seq))
        if fn in ("output_shape", "receptive_field") or fn in LAYER_METRICS:
            if len(node.args) != 1:
                raise TableError(f"{fn}() takes one layer")
            return self.metric(fn, self.layer_arg(node.args[0]))
        raise TableError(f"unknown function '{fn}' in formula")

    def at(self, node: ast.Call) -> Any:
        """expr@spec[CxHxW]: the same formula on another spec (and input)."""
        expr, spec_node, shape_node = node.args
        spec = self.word(spec_node)
        shape = None
        text = self.word(shape_node)
        if text:
            shape = [int(x) for x in text.split("x")]
        sub = _Eval(self.ctx, {"spec": spec}, {"spec": spec, "input": shape, "preset": self.convention})
        return sub.eval(expr)


_AT = "__at__"


def _rewrite_at(text: str) -> str:
    """Turn the postfix ``X@spec[CxHxW]`` into a call ``__at__(X, spec, 'CxHxW')``
    (Python would read '@' as a left-associative operator)."""
    while "@" in text:
        i = text.index("@")
        m = re.match(r"@\s*([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+(?:x\d+)*)\])?", text[i:])
        if not m:
            raise TableError(f"cannot read '@' in {text!r}: write expr@spec or expr@spec[3x227x227]")
        j = i  # walk left over one operand: (...) or name(...) or a name
        if j > 0 and text[j - 1] == ")":
            depth = 0
            while j > 0:
                j -= 1
                depth += {")": 1, "(": -1}.get(text[j], 0)
                if depth == 0:
                    break
        while j > 0 and (text[j - 1].isalnum() or text[j - 1] == "_"):
            j -= 1
        operand = text[j:i]
        text = f"{text[:j]}{_AT}({operand}, {m.group(1)}, '{m.group(2) or ''}'){text[i + m.end() :]}"
    return text


def _parse_formula(text: str) -> ast.Expression | None:
    """A formula, or None when it is prose (a definition the metric names)."""
    try:
        return ast.parse(_rewrite_at(text), mode="eval")
    except SyntaxError:
        return None


# --- comparison -----------------------------------------------------------


def _round_to(x: Fraction, unit: Fraction, mode: str) -> Fraction:
    q = x / unit
    if mode == "floor":
        return math.floor(q) * unit
    # half away from zero, as people round printed figures
    return (math.floor(q + Fraction(1, 2)) if q >= 0 else -math.floor(-q + Fraction(1, 2))) * unit


def compare(published: Any, computed: Any, rounding: dict[str, Any] | None) -> tuple[str, Any]:
    """(verdict, difference): exact | rounded | does-not-add-up, and
    computed - published (0 inside a published range or bound)."""
    pub = _exact(published)
    if isinstance(computed, list) or isinstance(pub, list) and not (rounding and rounding.get("mode") == "range"):
        same = computed == pub
        return ("exact" if same else "does-not-add-up"), ("same" if same else "differs")
    if not isinstance(computed, Fraction) or pub is None:
        return "not-computed", None
    if not rounding:
        diff = computed - pub
        return ("exact" if diff == 0 else "does-not-add-up"), diff
    mode = rounding.get("mode")
    if mode == "range":
        lo, hi = pub
        diff = Fraction(0) if lo <= computed <= hi else (computed - lo if computed < lo else computed - hi)
        return ("exact" if diff == 0 else "does-not-add-up"), diff
    if mode in ("lower_bound", "upper_bound"):
        ok = computed > pub if mode == "lower_bound" else computed < pub
        return ("exact" if ok else "does-not-add-up"), (Fraction(0) if ok else computed - pub)
    diff = computed - pub
    if diff == 0:
        return "exact", diff
    unit = _exact(rounding.get("unit", 1))
    return ("rounded" if _round_to(computed, unit, mode or "nearest") == pub else "does-not-add-up"), diff


def build(
    name: str | None = None, data: list[dict[str, Any]] | None = None, ctx: Context | None = None
) -> dict[str, Any]:
    """Every table (or the one named) with published, computed and difference per row."""
    data = load_data() if data is None else data
    ctx = ctx or Context()
    if name is not None:
        data = [t for t in data if t["id"] == name]
    tables = []
    for t in data:
        rows = []
        for row in t.get("rows", []):
            entry: dict[str, Any] = {
                "label": row.get("label"),
                "layer": row.get("layer"),
                "metric": row.get("metric"),
                "spec": row.get("spec", t.get("spec"))
                if not row.get("spec_inline")
                else f"inline: {row['spec_inline'].get('name', '')}",
                "input": row.get("input"),
                "line": row.get("line"),
                "published": row.get("published"),
                "published_value": row.get("published_value"),
                "unit": row.get("unit"),
                "rounding": (row.get("rounding") or {}).get("text"),
                "preset": row.get("preset", t.get("preset", "cnnsize")),
            }
            try:
                value = _Eval(ctx, t, row).value()
                error = None
            except TableError as exc:
                value, error = None, str(exc)
            verdict, diff = compare(row.get("published_value"), value, row.get("rounding"))
            entry.update(
                computed=plain(value),
                difference=plain(diff),
                verdict=verdict,
                convention=row.get("convention") or t.get("convention"),
                derivation=row.get("derivation"),
                note=row.get("note"),
                error=error,
            )
            if row.get("reproduced_by"):
                entry["reproduced_by"] = row["reproduced_by"]
            rows.append(entry)
        tables.append(
            {
                "id": t["id"],
                "title": t.get("title"),
                "seed": t.get("seed"),
                "where": t.get("where"),
                "spec": t.get("spec"),
                "convention": t.get("convention"),
                "rows": rows,
            }
        )
    return {"schema": SCHEMA, "tables": tables}
