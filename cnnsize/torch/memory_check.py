"""The profiler's safety check: before anything is allocated, the run's peak
as the analysis estimates it (no torch run) against the memory the device has
free, so that ``cnnsize profile`` refuses a run that would not fit instead of
swapping or dying mid-way.
"""

from __future__ import annotations

import os
from typing import Any

import torch

# the estimate the safety check compares with available memory:
# (params + buffers + peak activations) * MARGIN_FACTOR + MARGIN_BYTES, to
# leave room for temporaries inside operators and the runtime's workspaces
MARGIN_FACTOR = 1.2
MARGIN_BYTES = 64 * 2**20


class MemoryRefused(Exception):
    def __init__(self, estimate: int, available: int, source: str, device: str) -> None:
        self.estimate, self.available, self.source, self.device = estimate, available, source, device
        super().__init__(
            f"the estimated peak of this run, {_mib(estimate)} (params + buffers + peak activations, x{MARGIN_FACTOR} "
            f"+ {_mib(MARGIN_BYTES)}), "
            f"exceeds the memory available on {device}, {_mib(available)} ({source})"
        )


def _mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def estimated_peak(a: Any) -> dict[str, int]:
    """What the run will hold at most, from the analysis alone (no torch)."""
    t = a.totals
    base = t["param_bytes"] + t["buffer_bytes"] + t["peak_activation_bytes"]
    return {
        "param_bytes": t["param_bytes"],
        "buffer_bytes": t["buffer_bytes"],
        "peak_activation_bytes": t["peak_activation_bytes"],
        "peak_bytes": base,
        "with_margin": int(base * MARGIN_FACTOR) + MARGIN_BYTES,
    }


def available_memory(device: str) -> tuple[int, str]:
    """(bytes available now, how it was read)."""
    if device.startswith("cuda"):
        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free), "torch.cuda.mem_get_info"
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024, "/proc/meminfo MemAvailable"
    except OSError:
        pass
    pages = os.sysconf("SC_AVPHYS_PAGES") if hasattr(os, "sysconf") else 0
    return int(pages * os.sysconf("SC_PAGE_SIZE")), "sysconf SC_AVPHYS_PAGES"


def check_memory(a: Any, device: str, limit: int | None = None) -> dict[str, Any]:
    """Refuse (MemoryRefused) before anything is allocated if the estimate does
    not fit; ``limit`` replaces the device's available memory."""
    est = estimated_peak(a)
    if limit is not None:
        avail, source = limit, "--memory-limit"
    else:
        avail, source = available_memory(device)
    info = {
        **est,
        "available_bytes": avail,
        "available_source": source,
        "margin_factor": MARGIN_FACTOR,
        "margin_bytes": MARGIN_BYTES,
    }
    if est["with_margin"] > avail:
        raise MemoryRefused(est["with_margin"], avail, source, device)
    return info
