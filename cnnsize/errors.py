"""Diagnostics: what went wrong, where, and what to change.

Rules raise :class:`RuleError` without any location; the engine (which knows
the spec) turns it into a :class:`Diagnostic` carrying file:line:column, the
layer and its kind. Only the CLI decides exit codes from diagnostics.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import Any


@dataclass(frozen=True, slots=True)
class Loc:
    file: str
    line: int  # 1-based
    col: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(slots=True)
class Diagnostic:
    code: str
    message: str
    hint: str = ""
    loc: Loc | None = None
    layer: str | None = None
    kind: str | None = None
    severity: str = "error"

    def format(self) -> str:
        where = f"{self.loc}: " if self.loc else ""
        who = ""
        if self.layer is not None:
            who = f"layer '{self.layer}'" + (f" ({self.kind})" if self.kind else "") + ": "
        text = f"{where}{self.severity}[{self.code}]: {who}{self.message}"
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
            "line": self.loc.line if self.loc else None,
            "column": self.loc.col if self.loc else None,
            "layer": self.layer,
            "kind": self.kind,
        }


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


@dataclass
class SpecError(Exception):
    """One or more diagnostics that make a spec unusable."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(d.format() for d in self.diagnostics)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = get_close_matches(str(word), sorted(set(choices)), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""
