"""Budgets held against an analysis, as data: each budget of ``cnnsize
check`` (a flag or the spec's ``budgets:`` block), what was measured, and
whether it holds. cnnsize.render.check prints them; the exit code is
cnnsize.commands.outcome.exit_code_for's."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cnnsize.engine.units import human


@dataclass(frozen=True)
class Budget:
    key: str  # name in the spec's budgets: block
    flag: str  # command-line flag
    metric: str  # what is measured, as printed
    total: str  # key in Analysis.totals
    bound: str  # "max" or "min"
    bytes: bool = False


# One row per budget; the spec's keys are cnnsize.engine.spec.BUDGET_KEYS.
BUDGETS: tuple[Budget, ...] = (
    Budget("max_params", "--max-params", "params", "params", "max"),
    Budget("max_weights", "--max-weights", "weights", "weights", "max"),
    Budget("max_macs", "--max-macs", "MACs", "macs", "max"),
    Budget("max_flops", "--max-flops", "FLOPs", "flops", "max"),
    Budget("max_connections", "--max-connections", "connections", "connections", "max"),
    Budget("max_units", "--max-units", "units", "units", "max"),
    Budget("max_activation_bytes", "--max-activation", "activation memory", "activation_bytes", "max", True),
    Budget("max_peak_bytes", "--max-peak-memory", "peak inference memory", "peak_activation_bytes", "max", True),
    Budget("max_training_bytes", "--max-training-memory", "training memory", "training_bytes", "max", True),
    Budget("min_receptive_field", "--min-receptive-field", "receptive field", "receptive_field", "min"),
    Budget("max_receptive_field", "--max-receptive-field", "receptive field", "receptive_field", "max"),
)


@dataclass
class Outcome:
    budget: Budget
    measured: int | float | None
    limit: int
    ok: bool
    source: str  # "flag" or "spec"
    file: str
    line: int | None = None
    col: int | None = None

    def where(self) -> str:
        return f"{self.file}:{self.line}:{self.col}" if self.line else self.file

    def limit_name(self) -> str:
        return self.budget.flag if self.source == "flag" else f"budgets.{self.budget.key}"

    def message(self) -> str:
        b = self.budget
        lim = _qty(self.limit, b.bytes)
        if self.measured is None:
            why = "is undefined for this network (no spatial output)"
            return f"{b.metric} {why}, so {self.limit_name()} {lim} cannot hold"
        verb = "exceeds" if b.bound == "max" else "is below"
        rel = "<=" if b.bound == "max" else ">="
        meas = _qty(self.measured, b.bytes)
        if self.ok:
            return f"{b.metric} {meas} {rel} {self.limit_name()} {lim}"
        over = self.measured - self.limit
        pct = f" ({over / self.limit:+.1%})" if self.limit else ""
        return f"{b.metric} {meas} {verb} {self.limit_name()} {lim}{pct}"

    def to_json(self) -> dict[str, Any]:
        return {
            "budget": self.budget.key,
            "flag": self.budget.flag,
            "metric": self.budget.total,
            "bound": self.budget.bound,
            "measured": self.measured,
            "limit": self.limit,
            "ok": self.ok,
            "source": self.source,
            "file": self.file,
            "line": self.line,
            "column": self.col,
            "message": self.message(),
        }


@dataclass
class Result:
    spec: str
    model: str | None = None
    outcomes: list[Outcome] = field(default_factory=list)
    diagnostics: list[Any] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.diagnostics:
            return "invalid"
        return "exceeded" if any(not o.ok for o in self.outcomes) else "ok"

    @property
    def violations(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]


def _qty(v: int | float, is_bytes: bool) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    exact = f"{v:,}"
    if is_bytes:
        return f"{exact} B ({human(v, binary=True)})" if v >= 1024 else f"{exact} B"
    return f"{exact} ({human(v)})" if v >= 1000 else exact


def _measure(b: Budget, totals: dict[str, Any]) -> int | float | None:
    v = totals.get(b.total)
    if b.total == "receptive_field":
        if not v:
            return None
        # every spatial axis must reach a minimum; none may pass a maximum
        return min(v) if b.bound == "min" else max(v)
    return v


def evaluate(a: Any, flags: dict[str, int]) -> list[Outcome]:
    """Each budget that applies to this analysis, measured against its limit."""
    spec = a.spec
    out = []
    for b in BUDGETS:
        if b.key in flags:
            limit, source, line, col = flags[b.key], "flag", None, None
        elif b.key in spec.budgets:
            loc = spec.budget_locs.get(b.key)
            limit, source = spec.budgets[b.key], "spec"
            line, col = (loc.line, loc.col) if loc else (None, None)
        else:
            continue
        measured = _measure(b, a.totals)
        if measured is None:
            ok = False
        elif b.bound == "max":
            ok = measured <= limit
        else:
            ok = measured >= limit
        out.append(Outcome(b, measured, limit, ok, source, spec.file, line, col))
    return out
