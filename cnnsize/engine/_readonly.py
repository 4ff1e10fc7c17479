"""A base for read-only records.

A frozen dataclass exec()s generated code when its class is created, which
every CLI run pays at import; these records are plain classes instead, still
refusing changes after __init__ as a frozen dataclass does (the window memo
shares Window objects, one Key serves many rules, a preset's evaluation is
cached per preset object).
"""

from __future__ import annotations

from typing import Any


class ReadOnly:
    __slots__ = ()

    def _init(self, **fields: Any) -> None:
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field '{name}' of a {type(self).__name__}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field '{name}' of a {type(self).__name__}")


class ReadOnlySlots(ReadOnly):
    """With __slots__: copy and pickle rebuild through __init__, from the
    slots in order (as __setattr__ refuses the default way)."""

    __slots__ = ()

    def __reduce__(self) -> tuple[Any, ...]:
        slots: tuple[str, ...] = type(self).__slots__
        return (type(self), tuple(getattr(self, s) for s in slots))
