"""Quantities: parsing budgets like ``5M`` or ``100MiB`` and printing
human numbers like ``61.1M``. Integers stay exact everywhere else."""

from __future__ import annotations

import re
from typing import Any

_SUFFIX = {
    "": 1,
    "k": 10**3,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "KB": 10**3,
    "kB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KiB": 2**10,
    "MiB": 2**20,
    "GiB": 2**30,
    "TiB": 2**40,
    "B": 1,
}
# compiled on first use (re caches it): only budgets are parsed, and
# compiling at import cost every run about 0.2 ms
_QTY = r"^\s*([0-9][0-9_,]*(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$"


def parse_quantity(value: Any) -> int:
    """``5M`` -> 5_000_000, ``100MiB`` -> 104_857_600; exact, no float rounding."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"must be >= 0, got {value}")
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")) or value < 0:
            raise ValueError(f"must be a finite number >= 0, got {value}")
        value = repr(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a number or a string like 5M, got {type(value).__name__}")
    from decimal import Decimal, InvalidOperation  # only budgets need it: not at start-up

    m = re.match(_QTY, value)
    if not m or m.group(2) not in _SUFFIX:
        raise ValueError(f"cannot read {value!r}; suffixes: k M G T, KB MB GB, KiB MiB GiB")
    try:
        num = Decimal(m.group(1).replace("_", "").replace(",", ""))
    except InvalidOperation:
        raise ValueError(f"cannot read {value!r}") from None
    total = num * _SUFFIX[m.group(2)]
    if total != total.to_integral_value():
        raise ValueError(f"{value!r} is not a whole number")
    return int(total)


def human(n: int | float, binary: bool = False) -> str:
    """61100840 -> '61.1M'; bytes with binary=True -> '233.1 MiB'."""
    if binary:
        for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
            if abs(n) >= size:
                return f"{n / size:.1f} {unit}"
        return f"{int(n)} B"
    for unit, size in (("T", 10**12), ("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:g}" if isinstance(n, float) else str(n)


DTYPE_BYTES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "int8": 1, "uint8": 1}
