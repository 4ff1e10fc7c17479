"""Profile a materialized spec: every estimate of the analysis against what a
real run measures, layer by layer.

Per layer: output shape and parameters (must be equal), FLOPs against
``torch.utils.flop_counter.FlopCounterMode`` under the ``torch`` convention
(must be equal), activation bytes against the tensor the layer produced, and
time (median over repeats, after warm-up, from forward hooks) against a
roofline estimate for the device. The result is a plain dict (schema
``cnnsize.profile/1``); cnnsize/render/profile.py renders it.

The device's peaks and the roofline come from :mod:`cnnsize.torch.devices`;
the check that refuses a run before it allocates, from
:mod:`cnnsize.torch.memory_check`. This module only runs and measures.
"""

from __future__ import annotations

import platform
import resource
import statistics
import time
import weakref
from collections.abc import Callable
from typing import Any

import torch

from cnnsize.torch.devices import DeviceProfile, device_name, resolve_profile, roofline, sync
from cnnsize.torch.materialize import DTYPES, materialize
from cnnsize.torch.memory_check import estimated_peak

SCHEMA = "cnnsize.profile/1"


class _Live:
    """Sum of the bytes of live layer outputs (and the input), by storage, as
    the run frees them: the CPU's measure of peak activation memory."""

    def __init__(self) -> None:
        self.storages: dict[int, list[int]] = {}  # data_ptr -> [bytes, live tensors]
        self.live = 0
        self.peak = 0

    def add(self, t: torch.Tensor) -> None:
        st = t.untyped_storage()
        key = st.data_ptr()
        ent = self.storages.get(key)
        if ent is None:
            ent = self.storages[key] = [st.nbytes(), 0]
            self.live += ent[0]
            self.peak = max(self.peak, self.live)
        ent[1] += 1
        weakref.finalize(t, self._release, key)

    def _release(self, key: int) -> None:
        ent = self.storages.get(key)
        if ent is None:
            return
        ent[1] -= 1
        if ent[1] == 0:
            self.live -= ent[0]
            del self.storages[key]


def _tensors(o: Any) -> list[torch.Tensor]:
    if isinstance(o, torch.Tensor):
        return [o]
    if isinstance(o, (tuple, list)):
        return [t for x in o for t in _tensors(x)]
    return []


def _maxrss_bytes() -> int:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(r if platform.system() == "Darwin" else r * 1024)


Tick = Callable[[str, int, int], None]


def profile(
    a: Any,
    a_torch: Any,
    device: str = "cpu",
    repeat: int = 10,
    warmup: int = 3,
    dev: DeviceProfile | None = None,
    memory: dict[str, Any] | None = None,
    tick: Tick | None = None,
) -> dict[str, Any]:
    """Run the spec analysed as ``a`` (any convention; batch and dtype are
    taken from it) and ``a_torch`` (the same under the ``torch`` convention)."""
    dtype, batch = a.dtype, a.batch
    if dtype not in DTYPES:
        raise ValueError(f"profile runs float dtypes only ({', '.join(DTYPES)}), not {dtype}")
    tdev = torch.device(device)
    cuda = tdev.type == "cuda"
    tick = tick or (lambda stage, i, n: None)
    dev = dev or resolve_profile(device, dtype)
    rss0 = _maxrss_bytes()
    if cuda:
        torch.cuda.reset_peak_memory_stats(tdev)
    model = materialize(a, device=device, dtype=dtype)
    mods = model.layer_modules()
    names = [n for n, _ in mods]
    measured_params = {n: sum(p.numel() for p in m.parameters()) for n, m in mods}
    param_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    buffer_bytes = sum(b.numel() * b.element_size() for b in model.buffers())

    # 1. one untimed pass: shapes, FLOPs, bytes produced, live memory
    from torch.utils.flop_counter import FlopCounterMode

    shapes: dict[str, list[int]] = {}
    produced: dict[str, int] = {}
    flops: dict[str, int] = {}
    live = _Live()
    fc = FlopCounterMode(display=False)
    start: dict[str, int] = {}
    done = [0]

    def pre(n: str) -> Callable[..., None]:
        def hook(mod: Any, args: Any) -> None:
            start[n] = fc.get_total_flops()

        return hook

    def post(n: str) -> Callable[..., None]:
        def hook(mod: Any, args: Any, out: Any) -> None:
            flops[n] = fc.get_total_flops() - start[n]
            ts = _tensors(out)
            shapes[n] = list(ts[0].shape[1:]) if ts else []
            produced[n] = sum(t.numel() * t.element_size() for t in ts)
            for t in ts:
                live.add(t)
            done[0] += 1
            tick("check", done[0], len(names))

        return hook

    handles = []
    for n, m in mods:
        handles.append(m.register_forward_pre_hook(pre(n)))
        handles.append(m.register_forward_hook(post(n)))
    if cuda:
        torch.cuda.synchronize(tdev)
        base_alloc = torch.cuda.memory_allocated(tdev)
        torch.cuda.reset_peak_memory_stats(tdev)
    x = torch.randn(batch, *a.input_shape, device=tdev, dtype=DTYPES[dtype])
    with torch.inference_mode(), fc:
        live.add(x)
        holder = [x]
        del x
        out = model(holder)
        del out
    for h in handles:
        h.remove()
    if cuda:
        torch.cuda.synchronize(tdev)
        peak_measured = torch.cuda.max_memory_allocated(tdev) - base_alloc + param_bytes + buffer_bytes
        peak_method = (
            "CUDA allocator: torch.cuda.max_memory_allocated during the forward (all tensors, workspaces included) + "
            "params + buffers"
        )
    else:
        peak_measured = live.peak + param_bytes + buffer_bytes
        peak_method = (
            "CPU: largest sum of live activation storages (input + layer outputs, tracked by forward hooks and freed "
            "with the tensors; "
            "temporaries inside operators are not seen) + params + buffers"
        )
    rss_growth = max(0, _maxrss_bytes() - rss0)

    # 2. timed passes: per-layer time from hooks, then whole forwards without hooks
    times: dict[str, list[float]] = {n: [] for n in names}
    t_start: dict[str, Any] = {}
    events: list[tuple[str, Any, Any]] = []

    def tpre(n: str) -> Callable[..., None]:
        if cuda:

            def hook(mod: Any, args: Any) -> None:
                e = torch.cuda.Event(enable_timing=True)
                e.record()
                t_start[n] = e
        else:

            def hook(mod: Any, args: Any) -> None:
                t_start[n] = time.perf_counter_ns()

        return hook

    def tpost(n: str) -> Callable[..., None]:
        if cuda:

            def hook(mod: Any, args: Any, out: Any) -> None:
                e = torch.cuda.Event(enable_timing=True)
                e.record()
                events.append((n, t_start[n], e))
        else:

            def hook(mod: Any, args: Any, out: Any) -> None:
                times[n].append((time.perf_counter_ns() - t_start[n]) * 1e-9)

        return hook

    x = torch.randn(batch, *a.input_shape, device=tdev, dtype=DTYPES[dtype])
    total_passes = 2 * (warmup + repeat)
    step = 0
    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
            step += 1
            tick("warm-up", step, total_passes)
        sync(device)
        handles = [m.register_forward_pre_hook(tpre(n)) for n, m in mods] + [
            m.register_forward_hook(tpost(n)) for n, m in mods
        ]
        for _ in range(repeat):
            events.clear()
            model(x)
            sync(device)
            for n, e0, e1 in events:
                times[n].append(e0.elapsed_time(e1) * 1e-3)
            step += 1
            tick("layers", step, total_passes)
        for h in handles:
            h.remove()
        for _ in range(warmup):
            model(x)
            step += 1
            tick("warm-up", step, total_passes)
        forward_times = []
        for _ in range(repeat):
            sync(device)
            t0 = time.perf_counter()
            model(x)
            sync(device)
            forward_times.append(time.perf_counter() - t0)
            step += 1
            tick("forward", step, total_passes)
    del x, model

    roof = roofline(a, dev, dtype, device)
    by_name_t = {r.name: r for r in a_torch.layers}
    layers = []
    for r in a.layers:
        rt = by_name_t[r.name]
        est_flops = rt.flops * batch
        med = statistics.median(times[r.name]) if times[r.name] else None
        rf = roof[r.name]
        row = {
            "name": r.name,
            "type": r.kind,
            "output_shape": list(r.output_shape),
            "measured_output_shape": shapes.get(r.name),
            "params": r.params,
            "measured_params": measured_params[r.name],
            "flops": est_flops,
            "measured_flops": flops.get(r.name),
            "activation_bytes": r.activation_bytes,
            "measured_activation_bytes": produced.get(r.name),
            "work_flops": rf["work_flops"],
            "bytes_moved": rf["bytes_moved"],
            "roofline_s": rf["roofline_s"],
            "bound": rf["bound"],
            "time_s": med,
            "time_min_s": min(times[r.name]) if times[r.name] else None,
            "time_ratio": (med / rf["roofline_s"]) if med is not None and rf["roofline_s"] > 0 else None,
        }
        row["mismatches"] = [
            k
            for k, ok in (
                ("shape", row["output_shape"] == row["measured_output_shape"]),
                ("params", row["params"] == row["measured_params"]),
                ("flops", row["flops"] == row["measured_flops"]),
                ("activation_bytes", row["activation_bytes"] == row["measured_activation_bytes"]),
            )
            if not ok
        ]
        layers.append(row)
    est = estimated_peak(a)
    sum_t = sum(r["time_s"] or 0.0 for r in layers)
    sum_roof = sum(r["roofline_s"] for r in layers)
    ratios = [r["time_ratio"] for r in layers if r["time_ratio"] is not None]
    totals = {
        "params": sum(r["params"] for r in layers),
        "measured_params": sum(measured_params.values()),
        "flops": sum(r["flops"] for r in layers),
        "measured_flops": fc.get_total_flops(),
        "activation_bytes": sum(r["activation_bytes"] for r in layers),
        "measured_activation_bytes": sum(produced.values()),
        "time_layers_s": sum_t,
        "time_forward_s": statistics.median(forward_times) if forward_times else None,
        "roofline_s": sum_roof,
        "time_ratio": sum_t / sum_roof if sum_roof else None,
        "time_ratio_min": min(ratios) if ratios else None,
        "time_ratio_max": max(ratios) if ratios else None,
        "peak_bytes": est["peak_bytes"],
        "measured_peak_bytes": peak_measured,
        "peak_method": peak_method,
        "param_buffer_bytes": param_bytes + buffer_bytes,
        "maxrss_growth_bytes": rss_growth,
        "mismatched_layers": sum(1 for r in layers if r["mismatches"]),
    }
    return {
        "schema": SCHEMA,
        "model": a.model,
        "spec": a.spec.file,
        "input": list(a.input_shape),
        "batch": batch,
        "dtype": dtype,
        "flops_convention": "torch",
        "device": {
            "name": device_name(device),
            "torch_device": device,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "device_profile": dev.to_json(),
        "repeat": repeat,
        "warmup": warmup,
        "memory_check": memory,
        "layers": layers,
        "totals": totals,
    }
