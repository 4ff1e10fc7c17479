"""Pause Python's cyclic garbage collector while a spec is built and analysed.

Both steps allocate many small objects and free them by reference counting;
what they build forms no garbage cycles that must be reclaimed mid-run, yet
the collector's periodic passes over the growing heap took about 40% of the
time of analysing ResNet-152. The collector is paused for the call only,
restored afterwards (also on errors), and only by the outermost call, so
nested calls cost nothing. With fast paths off (cnnsize.engine.fastpath) the
collector is left alone: the general path touches no process state.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from cnnsize.engine import fastpath

F = TypeVar("F", bound=Callable[..., Any])


def paused(fn: F) -> F:
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not gc.isenabled() or not fastpath.enabled():
            return fn(*args, **kwargs)
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            gc.enable()

    return wrapper  # type: ignore[return-value]
