"""Diagnostics: what went wrong, where, and what to change.

Rules raise :class:`RuleError` without any location; the engine (which knows
the spec) turns it into a :class:`Diagnostic` carrying file:line:column, the
layer and its kind. Only the CLI decides exit codes from diagnostics.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, NamedTuple

# Plain classes rather than @dataclass: each dataclass exec()s generated code
# when its module is imported, which every run of the CLI pays for.


class Loc(NamedTuple):
    # a NamedTuple: immutable, hashable and equal by value (in_source_order
    # merges repeats by location) at C speed; one is made per YAML node
    file: str
    line: int  # 1-based
    col: int  # 1-based

    def __str__(self) -> str:
        # line 0: the problem is the file itself (missing, a directory, empty)
        return f"{self.file}:{self.line}:{self.col}" if self.line else self.file


class Diagnostic:
    __slots__ = (
        "code",
        "message",
        "hint",
        "loc",
        "layer",
        "kind",
        "severity",
        "block",
        "instance",
        "instance_loc",
        "more_instances",
    )

    def __init__(
        self,
        code: str,
        message: str,
        hint: str = "",
        loc: Loc | None = None,
        layer: str | None = None,
        kind: str | None = None,
        severity: str = "error",
        block: str | None = None,
        instance: str | None = None,
        instance_loc: Loc | None = None,
        more_instances: int = 0,
    ) -> None:
        self.code = code
        self.message = message
        self.hint = hint
        self.loc = loc
        self.layer = layer
        self.kind = kind
        self.severity = severity
        # set when the fault lies inside a block definition: which block and
        # which instance of it (the location alone is shared by all instances)
        self.block = block
        self.instance = instance
        self.instance_loc = instance_loc
        self.more_instances = more_instances

    @property
    def context(self) -> str:
        if self.block is None or self.instance is None:
            return ""
        text = f"in block '{self.block}' instance {self.instance}"
        if self.instance_loc is not None and self.instance_loc.line:
            text += f" at line {self.instance_loc.line}"
        if self.more_instances:
            text += f", and {self.more_instances} more instance{'s' if self.more_instances > 1 else ''}"
        return text

    def format(self) -> str:
        where = f"{self.loc}: " if self.loc else ""
        who = ""
        if self.layer is not None:
            who = f"layer '{self.layer}'" + (f" ({self.kind})" if self.kind else "") + ": "
        text = f"{where}{self.severity}[{self.code}]: {who}{self.message}"
        if self.context:
            text += f" ({self.context})"
        if self.hint:
            text += f"; {self.hint}"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
            "file": self.loc.file if self.loc else None,
            "line": self.loc.line if self.loc and self.loc.line else None,
            "column": self.loc.col if self.loc and self.loc.line else None,
            "layer": self.layer,
            "kind": self.kind,
            "block": self.block,
            "instance": self.instance,
            "instance_line": self.instance_loc.line if self.instance_loc and self.instance_loc.line else None,
            "more_instances": self.more_instances,
            "context": self.context or None,
        }

    def sort_key(self) -> tuple[int, int]:
        return (self.loc.line, self.loc.col) if self.loc else (0, 0)


class RuleError(Exception):
    """A plain error raised by a layer rule or a value check.

    ``key`` names the layer key at fault so the engine can point at it.
    """

    def __init__(self, code: str, message: str, hint: str = "", key: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint
        self.key = key


class SpecError(Exception):
    """One or more diagnostics that make a spec unusable."""

    def __init__(self, diagnostics: list[Diagnostic] | None = None, skipped: list[str] | None = None) -> None:
        # Exception.__init__ is not called (as with the dataclass before):
        # BaseException.__new__ already keeps the arguments in self.args
        self.diagnostics: list[Diagnostic] = [] if diagnostics is None else diagnostics
        # layers not analysed because a layer they depend on has an error
        self.skipped: list[str] = [] if skipped is None else skipped

    def __str__(self) -> str:
        return "\n".join(d.format() for d in self.diagnostics)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    from difflib import get_close_matches  # only on errors: not at start-up

    close = get_close_matches(str(word), sorted(set(choices)), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


def in_source_order(diags: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Sort by location and merge repeats of one fault.

    A fault inside a block definition (or a repeated layer) is found once per
    expansion; it is reported once, naming the first instance and counting
    the others. Diagnostics without a location (the file itself) come first.
    """
    out: list[Diagnostic] = []
    seen: dict[tuple[Any, ...], Diagnostic] = {}
    for d in sorted(diags, key=Diagnostic.sort_key):
        key = (d.code, d.loc, d.message, d.hint, d.block)
        first = seen.get(key)
        if first is None:
            seen[key] = d
            out.append(d)
        elif d.instance is not None and d.instance != first.instance:
            first.more_instances += 1 + d.more_instances
    return out


def limit(name: str, default: int) -> int:
    """The value of a resource limit: ``CNNSIZE_<NAME>`` in the environment
    raises (or lowers) it; otherwise the built-in default."""
    raw = os.environ.get(f"CNNSIZE_{name}")
    if raw is None:
        return default
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        return default
    return value if value > 0 else default


def limit_hint(name: str, default: int, what: str = "") -> str:
    """How to raise a limit, for the hint of the error that hits it."""
    current = limit(name, default)
    return (
        f"{what + '; ' if what else ''}the limit {name} is {current:,}: raise it with the environment variable "
        f"CNNSIZE_{name}={current * 2}"
    )
