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

from cnnsize.engine import fastpath
from cnnsize.engine.errors import limit, limit_hint

MAX_EXPR_CHARS = 1000  # characters in one expression, and in a string result
MAX_INT_BITS = 256  # bits of any integer an expression computes
MAX_EXPONENT = 64  # |b| in a ** b
MAX_ROUND_DIGITS = 64  # |nd| in round(x, nd): round(5, -10**9) would compute 10**10**9

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
    if nd is None:
        return round(x)
    if not isinstance(nd, int) or isinstance(nd, bool) or abs(nd) > MAX_ROUND_DIGITS:
        raise ValueError(f"the digits argument must be an integer of at most {MAX_ROUND_DIGITS} in size")
    return round(x, nd)


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


# (MAX_INT_BITS, MAX_EXPR_CHARS) as read once for a whole parse (frozen_limits);
# None outside one. Every intermediate value is checked against them, and
# reading the environment each time was a tenth of the time of parsing a spec
# full of templates.
_FROZEN: tuple[int, int] | None = None


def _max_bits() -> int:
    return _FROZEN[0] if _FROZEN is not None else limit("MAX_INT_BITS", MAX_INT_BITS)


def _max_chars() -> int:
    return _FROZEN[1] if _FROZEN is not None else limit("MAX_EXPR_CHARS", MAX_EXPR_CHARS)


def freeze_limits() -> tuple[int, int] | None:
    """Read the limits once, until thaw_limits(the returned token)."""
    global _FROZEN
    token = _FROZEN
    _FROZEN = (limit("MAX_INT_BITS", MAX_INT_BITS), limit("MAX_EXPR_CHARS", MAX_EXPR_CHARS))
    return token


def thaw_limits(token: tuple[int, int] | None) -> None:
    global _FROZEN
    _FROZEN = token


def _check_num(v: Any) -> Any:
    """Every intermediate value passes here: bounded ints, finite floats,
    short strings; nothing else (complex numbers, huge lists) gets through."""
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int):
        if v.bit_length() > _max_bits():
            raise ExprError(
                f"integer result has more than {_max_bits()} bits (the limit on numbers in expressions)",
                limit_hint("MAX_INT_BITS", MAX_INT_BITS, "use smaller numbers"),
            )
        return v
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            raise ExprError("the result is not a finite number (float overflow)", "use smaller numbers")
        return v
    if isinstance(v, str):
        if len(v) > _max_chars():
            raise ExprError(
                f"string result is longer than {_max_chars()} characters",
                limit_hint("MAX_EXPR_CHARS", MAX_EXPR_CHARS, "use a shorter string"),
            )
        return v
    if isinstance(v, list):
        return v
    raise ExprError(f"the result {type(v).__name__} is not a number, string, bool or list", "use real numbers")


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float))  # bool included: True + 1 is 2, as in Python


def _check_operands(op: ast.operator, a: Any, b: Any) -> None:
    # arithmetic on numbers only; '+' also joins two strings. No list
    # arithmetic ([0] * 10**9), no string repetition or %-formatting.
    if _is_num(a) and _is_num(b):
        return
    if isinstance(op, ast.Add) and isinstance(a, str) and isinstance(b, str):
        return
    sym = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**"}[
        type(op)
    ]
    raise ExprError(
        f"'{sym}' is not defined for {_tname(a)} and {_tname(b)}",
        "arithmetic takes numbers ('+' also joins two strings)",
    )


def _tname(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    return {int: "int", float: "float", str: "string", list: "list"}.get(type(v), type(v).__name__)


def _parse(source: str) -> ast.expr:
    try:
        return ast.parse(source, mode="eval").body
    except SyntaxError as exc:
        raise ExprError(f"cannot parse expression '{source}': {exc.msg}", "check the brackets and operators") from None
    except (RecursionError, MemoryError, ValueError, OverflowError):
        raise ExprError(f"cannot parse expression '{source[:60]}'", "simplify it") from None


# Blocks repeat the same few expressions many times: while fast paths are on,
# each is parsed once (fastpath: off, every use parses; an error is never kept).
_parse_cached = lru_cache(maxsize=4096)(_parse)
fastpath.register_memo(_parse_cached.cache_clear)


def evaluate(source: str, scope: Mapping[str, Any]) -> Any:
    if len(source) > _max_chars():
        raise ExprError(
            f"expression is longer than {_max_chars()} characters",
            limit_hint("MAX_EXPR_CHARS", MAX_EXPR_CHARS, "shorten it, or move parts into vars"),
        )
    try:
        tree = _parse_cached(source.strip()) if fastpath.enabled() else _parse(source.strip())
        return _check_num(_eval(tree, scope))
    except RecursionError:
        raise ExprError("expression is nested too deeply", "simplify it") from None


def _eval(node: ast.AST, scope: Mapping[str, Any]) -> Any:
    ev = _EVAL.get(type(node))
    if ev is None:
        raise _refused(node)
    return ev(node, scope)


def _refused(node: ast.AST) -> ExprError:
    return ExprError(
        f"'{ast.unparse(node)}' is not allowed in an expression",
        "use arithmetic, comparisons and the allowed functions",
    )


def _constant(node: ast.Constant, scope: Mapping[str, Any]) -> Any:
    if isinstance(node.value, (int, float, str, bool)) or node.value is None:
        return _check_num(node.value)
    raise ExprError(f"literal {node.value!r} is not allowed", "use numbers, strings, true/false")


def _name(node: ast.Name, scope: Mapping[str, Any]) -> Any:
    if node.id in ("true", "True"):
        return True
    if node.id in ("false", "False"):
        return False
    if node.id in scope:
        return scope[node.id]
    from cnnsize.engine.errors import did_you_mean

    known = [k for k in scope if not k.startswith("_")]
    raise ExprError(
        f"unknown name '{node.id}' in expression",
        did_you_mean(node.id, known) or f"known names: {', '.join(sorted(known)) or 'none'}",
    )


def _binop(node: ast.BinOp, scope: Mapping[str, Any]) -> Any:
    if type(node.op) not in _BINOPS:
        raise _refused(node)
    a = _eval(node.left, scope)
    b = _eval(node.right, scope)
    _check_operands(node.op, a, b)
    if isinstance(node.op, ast.Pow) and abs(b) > MAX_EXPONENT:
        raise ExprError(
            f"exponent {b} is larger than {MAX_EXPONENT} (a fixed limit on ** in expressions)",
            "use a smaller power; powers are for width multipliers, not for sizes",
        )
    if (
        isinstance(node.op, ast.Pow)
        and isinstance(a, (int, float))
        and a < 0
        and isinstance(b, float)
        and not b.is_integer()
    ):
        raise ExprError(f"({a}) ** {b} is not a real number", "")
    try:
        return _check_num(_BINOPS[type(node.op)](a, b))
    except ZeroDivisionError:
        raise ExprError(f"division by zero in '{ast.unparse(node)}'", "check the divisor") from None
    except (TypeError, OverflowError, ValueError) as exc:
        raise ExprError(f"cannot compute '{ast.unparse(node)}': {exc}", "") from None


def _unaryop(node: ast.UnaryOp, scope: Mapping[str, Any]) -> Any:
    v = _eval(node.operand, scope)
    if isinstance(node.op, ast.Not):
        return not v
    if isinstance(node.op, ast.USub) and _is_num(v):
        return -v
    if isinstance(node.op, ast.UAdd) and _is_num(v):
        return v
    raise ExprError(f"'{ast.unparse(node)}': unary operator on {_tname(v)} is not allowed", "use it on numbers")


def _boolop(node: ast.BoolOp, scope: Mapping[str, Any]) -> Any:
    # Python's own: the first falsy operand of 'and', the first truthy of 'or', else the last
    stop_when = not isinstance(node.op, ast.And)
    result: Any = not stop_when
    for value in node.values:
        result = _eval(value, scope)
        if bool(result) == stop_when:
            return result
    return result


def _compare(node: ast.Compare, scope: Mapping[str, Any]) -> Any:
    left = _eval(node.left, scope)
    for op, comp in zip(node.ops, node.comparators):
        if type(op) not in _CMPS:
            raise ExprError("unsupported comparison", "use == != < <= > >=")
        right = _eval(comp, scope)
        ordered = not isinstance(op, (ast.Eq, ast.NotEq))
        if ordered and not ((_is_num(left) and _is_num(right)) or (isinstance(left, str) and isinstance(right, str))):
            raise ExprError(
                f"cannot compare {_tname(left)} with {_tname(right)} in '{ast.unparse(node)}'",
                "compare numbers with numbers, strings with strings",
            )
        if not _CMPS[type(op)](left, right):
            return False
        left = right
    return True


def _ifexp(node: ast.IfExp, scope: Mapping[str, Any]) -> Any:
    return _eval(node.body, scope) if _eval(node.test, scope) else _eval(node.orelse, scope)


def _sequence(node: ast.List | ast.Tuple, scope: Mapping[str, Any]) -> Any:
    return [_eval(e, scope) for e in node.elts]


def _call(node: ast.Call, scope: Mapping[str, Any]) -> Any:
    if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS or node.keywords:
        name = ast.unparse(node.func) if not isinstance(node.func, ast.Name) else node.func.id
        raise ExprError(f"calling '{name[:60]}' is not allowed", f"allowed functions: {', '.join(FUNCTIONS)}")
    args = [_eval(a, scope) for a in node.args]
    fname = node.func.id
    for a in args:
        # min/max also take one list of numbers
        if not (
            _is_num(a)
            or (fname in ("min", "max") and len(args) == 1 and isinstance(a, list) and all(_is_num(x) for x in a))
        ):
            raise ExprError(f"{fname}() takes numbers, got {_tname(a)}", "")
    try:
        return _check_num(FUNCTIONS[fname](*args))
    except ZeroDivisionError:
        raise ExprError(f"division by zero in {fname}()", "check the divisor") from None
    except (TypeError, ValueError, OverflowError) as exc:
        raise ExprError(f"{fname}(): {exc}", "") from None


# the node types an expression may hold, each with its evaluator; any other is refused
_EVAL: dict[type, Any] = {
    ast.Constant: _constant,
    ast.Name: _name,
    ast.BinOp: _binop,
    ast.UnaryOp: _unaryop,
    ast.BoolOp: _boolop,
    ast.Compare: _compare,
    ast.IfExp: _ifexp,
    ast.List: _sequence,
    ast.Tuple: _sequence,
    ast.Call: _call,
}


def has_template(value: Any) -> bool:
    return isinstance(value, str) and "${" in value


def _lone(value: str) -> str | None:
    """The expression of a lone ${e} (the usual template), else None."""
    m = TEMPLATE.fullmatch(value.strip())
    return m.group(1) if m else None


# blocks render the same few strings for every instance: while fast paths
# are on, the match is made once each
_lone_cached = lru_cache(maxsize=4096)(_lone)
fastpath.register_memo(_lone_cached.cache_clear)


def render(value: str, scope: Mapping[str, Any]) -> Any:
    """Evaluate a template string: a lone ``${e}`` keeps its type."""
    lone = _lone_cached(value) if fastpath.enabled() else _lone(value)
    if lone is not None:
        return evaluate(lone, scope)
    if "${" in TEMPLATE.sub("", value):
        raise ExprError(f"unterminated or nested '${{' in '{value}'", "write ${expression}")
    return TEMPLATE.sub(lambda mm: _fmt(evaluate(mm.group(1), scope)), value)


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)
