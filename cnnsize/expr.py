"""Template expressions: an allow-listed evaluator over Python's *syntax* tree.

``ast.parse`` only parses; we walk the tree ourselves and accept literals,
names from the given scope, arithmetic, comparisons, boolean logic,
conditional expressions and a short list of pure functions. Anything else
(attributes, subscripts, calls to other names, lambdas, comprehensions) is an
error, so a spec can never run code.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

MAX_EXPR_CHARS = 1000
MAX_INT_BITS = 256

TEMPLATE = re.compile(r"\$\{([^{}]*)\}")


class ExprError(Exception):
    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def _make_divisible(v: Any, divisor: Any, min_value: Any = None) -> int:
    # torchvision's _make_divisible (MobileNet): round to the nearest multiple,
    # never going more than 10% below v.
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return int(new_v)


def _round(x: Any, nd: Any = None) -> Any:
    return round(x) if nd is None else round(x, nd)


FUNCTIONS: dict[str, Any] = {
    "min": min,
    "max": max,
    "abs": abs,
    "int": int,
    "round": _round,
    "ceil": math.ceil,
    "floor": math.floor,
    "make_divisible": _make_divisible,
}

_BINOPS: dict[type, Any] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
    ast.Pow: lambda a, b: a**b,
}
_CMPS: dict[type, Any] = {
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
}


def _check_num(v: Any) -> Any:
    if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > MAX_INT_BITS:
        raise ExprError(f"integer result has more than {MAX_INT_BITS} bits", "use smaller numbers")
    if isinstance(v, str) and len(v) > MAX_EXPR_CHARS:
        raise ExprError("string result is too long", "")
    return v


@lru_cache(maxsize=4096)
def _parse(source: str) -> ast.expr:
    # Blocks repeat the same few expressions many times: parse each once.
    try:
        return ast.parse(source, mode="eval").body
    except SyntaxError as exc:
        raise ExprError(f"cannot parse expression '{source}': {exc.msg}", "check the brackets and operators") from None
    except (RecursionError, MemoryError, ValueError):
        raise ExprError(f"cannot parse expression '{source}'", "simplify it") from None


def evaluate(source: str, scope: Mapping[str, Any]) -> Any:
    if len(source) > MAX_EXPR_CHARS:
        raise ExprError(f"expression is longer than {MAX_EXPR_CHARS} characters", "shorten it")
    try:
        return _eval(_parse(source.strip()), scope)
    except RecursionError:
        raise ExprError("expression is nested too deeply", "simplify it") from None


def _eval(node: ast.AST, scope: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, (int, float, str, bool)) or node.value is None:
            return _check_num(node.value)
        raise ExprError(f"literal {node.value!r} is not allowed", "use numbers, strings, true/false")
    if isinstance(node, ast.Name):
        if node.id in ("true", "True"):
            return True
        if node.id in ("false", "False"):
            return False
        if node.id in scope:
            return scope[node.id]
        from .errors import did_you_mean

        known = [k for k in scope if not k.startswith("_")]
        raise ExprError(f"unknown name '{node.id}' in expression", did_you_mean(node.id, known) or f"known names: {', '.join(sorted(known)) or 'none'}")
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        a = _eval(node.left, scope)
        b = _eval(node.right, scope)
        if isinstance(node.op, ast.Pow):
            if not isinstance(b, (int, float)) or isinstance(b, bool) or abs(b) > 64:
                raise ExprError("exponent must be a number of at most 64", "")
        if isinstance(node.op, ast.Mult) and (isinstance(a, str) or isinstance(b, str)):
            raise ExprError("strings cannot be multiplied", "")
        try:
            return _check_num(_BINOPS[type(node.op)](a, b))
        except ZeroDivisionError:
            raise ExprError("division by zero", "") from None
        except (TypeError, OverflowError) as exc:
            raise ExprError(f"cannot compute: {exc}", "") from None
    if isinstance(node, ast.UnaryOp):
        v = _eval(node.operand, scope)
        if isinstance(node.op, ast.Not):
            return not v
        if isinstance(node.op, ast.USub) and isinstance(v, (int, float)):
            return -v
        if isinstance(node.op, ast.UAdd) and isinstance(v, (int, float)):
            return v
        raise ExprError("unsupported unary operator", "")
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            result: Any = True
            for value in node.values:
                result = _eval(value, scope)
                if not result:
                    return result
            return result
        result = False
        for value in node.values:
            result = _eval(value, scope)
            if result:
                return result
        return result
    if isinstance(node, ast.Compare):
        left = _eval(node.left, scope)
        for op, comp in zip(node.ops, node.comparators):
            if type(op) not in _CMPS:
                raise ExprError("unsupported comparison", "use == != < <= > >=")
            right = _eval(comp, scope)
            try:
                if not _CMPS[type(op)](left, right):
                    return False
            except TypeError as exc:
                raise ExprError(f"cannot compare: {exc}", "") from None
            left = right
        return True
    if isinstance(node, ast.IfExp):
        return _eval(node.body, scope) if _eval(node.test, scope) else _eval(node.orelse, scope)
    if isinstance(node, ast.List) or isinstance(node, ast.Tuple):
        return [_eval(e, scope) for e in node.elts]
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS or node.keywords:
            name = node.func.id if isinstance(node.func, ast.Name) else "this"
            raise ExprError(f"calling '{name}' is not allowed", f"allowed functions: {', '.join(FUNCTIONS)}")
        args = [_eval(a, scope) for a in node.args]
        try:
            return _check_num(FUNCTIONS[node.func.id](*args))
        except (TypeError, ValueError, OverflowError) as exc:
            raise ExprError(f"{node.func.id}(): {exc}", "") from None
    raise ExprError(f"'{ast.unparse(node)}' is not allowed in an expression", "use arithmetic, comparisons and the allowed functions")


def has_template(value: Any) -> bool:
    return isinstance(value, str) and "${" in value


def render(value: str, scope: Mapping[str, Any]) -> Any:
    """Evaluate a template string: a lone ``${e}`` keeps its type."""
    m = TEMPLATE.fullmatch(value.strip())
    if m:
        return evaluate(m.group(1), scope)
    if "${" in TEMPLATE.sub("", value):
        raise ExprError(f"unterminated or nested '${{' in '{value}'", "write ${expression}")
    return TEMPLATE.sub(lambda mm: _fmt(evaluate(mm.group(1), scope)), value)


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)
