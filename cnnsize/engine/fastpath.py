"""The performance contract's one switch: every fast path and every memo in
the engine asks :func:`enabled` before taking its shortcut.

With the switch off, the engine takes only its general paths and remembers
nothing between calls; the test suite runs the golden cases, the zoo and the
bad-spec corpus both ways and requires byte-identical outputs, so a shortcut
can never change an answer unnoticed.

Off for a whole process: ``CNNSIZE_FAST_PATHS=0`` in the environment.
Off in a test: :func:`set_enabled` (the ``general_paths`` fixture).
"""

from __future__ import annotations

import os
from collections.abc import Callable

_enabled = os.environ.get("CNNSIZE_FAST_PATHS", "1") != "0"
_clearers: list[Callable[[], None]] = []


def enabled() -> bool:
    return _enabled


def set_enabled(on: bool) -> bool:
    """Turn fast paths and memos on or off; returns the previous setting.
    Memos are emptied either way, so nothing remembered under one setting
    answers a call made under the other."""
    global _enabled
    before, _enabled = _enabled, bool(on)
    clear_memos()
    return before


def register_memo(clear: Callable[[], None]) -> None:
    """Declare a memo: ``clear`` forgets everything it holds."""
    _clearers.append(clear)


def clear_memos() -> None:
    for clear in _clearers:
        clear()
