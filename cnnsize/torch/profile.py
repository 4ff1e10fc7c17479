"""Profile a materialized spec: every estimate of the analysis against what a
real run measures, layer by layer.

Per layer: output shape and parameters (must be equal), FLOPs against
``torch.utils.flop_counter.FlopCounterMode`` under the ``torch`` convention
(must be equal), activation bytes against the tensor the layer produced, and
time (median over repeats, after warm-up, from forward hooks) against a
roofline estimate for the device. The result is a plain dict (schema
``cnnsize.profile/1``); cnnsize/render/profile.py renders it.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from cnnsize.torch.materialize import DTYPES, materialize

SCHEMA = "cnnsize.profile/1"
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


# --- memory ----------------------------------------------------------------------


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


# --- device profiles ----------------------------------------------------------------


@dataclass
class DeviceProfile:
    key: str
    name: str
    bandwidth: float  # bytes/s
    matrix: dict[str, float]  # FLOP/s per dtype
    vector: dict[str, float] = field(default_factory=dict)
    source: str = ""

    def matrix_peak(self, dtype: str, tf32: bool) -> float:
        if dtype == "float32" and tf32 and "tf32" in self.matrix:
            return self.matrix["tf32"]
        return self.matrix.get(dtype) or self.matrix["float32"]

    def vector_peak(self, dtype: str) -> float:
        return self.vector.get(dtype) or self.vector.get("float32") or self.matrix_peak(dtype, False)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "bandwidth_bytes_per_s": self.bandwidth,
            "matrix_flops_per_s": self.matrix,
            "vector_flops_per_s": self.vector,
            "source": self.source,
        }


def device_files() -> list[str]:
    from importlib.resources import files

    out = [str(files("cnnsize").joinpath("data/devices.yaml"))]
    cfg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    user = os.path.join(cfg, "cnnsize", "devices.yaml")
    if os.path.exists(user):
        out.append(user)
    extra = os.environ.get("CNNSIZE_DEVICES")
    if extra:
        out.append(extra)
    return out


def load_devices() -> dict[str, DeviceProfile]:
    import yaml

    devs: dict[str, DeviceProfile] = {}
    for path in device_files():
        with open(path, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh) or {}
        for key, d in (doc.get("devices") or {}).items():
            try:
                devs[key] = DeviceProfile(
                    key,
                    d.get("name", key),
                    float(d["bandwidth_gbs"]) * 1e9,
                    {k: float(v) * 1e12 for k, v in d["matrix_tflops"].items()},
                    {k: float(v) * 1e12 for k, v in (d.get("vector_tflops") or {}).items()},
                    d.get("source", path),
                )
                devs[key].match = [str(m).lower() for m in d.get("match", [])]  # type: ignore[attr-defined]
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{path}: device '{key}' needs bandwidth_gbs and matrix_tflops ({exc})") from None
    return devs


def match_device(name: str, devs: dict[str, DeviceProfile]) -> DeviceProfile | None:
    best, best_len = None, 0
    low = name.lower()
    for d in devs.values():
        for m in getattr(d, "match", []):
            if m in low and len(m) > best_len:
                best, best_len = d, len(m)
    return best


def cache_dir() -> str:
    d = os.environ.get("CNNSIZE_CACHE_DIR")
    if not d:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        d = os.path.join(base, "cnnsize")
    return d


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return cpu_name()


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(torch.device(device))


def calibrate(device: str, dtype: str) -> dict[str, Any]:
    """Measure achievable FLOP/s (a square matmul) and bandwidth (a large copy)."""
    tdtype = DTYPES[dtype]
    dev = torch.device(device)
    # grow the matmul until one takes ~50 ms (or the size cap): a large enough
    # problem for the peak, without minutes on dtypes the CPU only emulates
    with torch.inference_mode():
        for n in (1024, 2048, 4096) if device.startswith("cuda") else (256, 512, 1024):
            a = torch.randn(n, n, device=dev).to(tdtype)
            b = torch.randn(n, n, device=dev).to(tdtype)
            torch.mm(a, b)
            _sync(device)
            t0 = time.perf_counter()
            torch.mm(a, b)
            _sync(device)
            if time.perf_counter() - t0 > 0.05:
                break
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            torch.mm(a, b)
            _sync(device)
            best = min(best, time.perf_counter() - t0)
    flops = 2 * n**3 / best
    del a, b
    size = (512 if device.startswith("cuda") else 128) * 2**20
    src = torch.empty(size, dtype=torch.uint8, device=dev).fill_(1)
    dst = torch.empty_like(src)
    bw_best = float("inf")
    dst.copy_(src)
    _sync(device)
    for _ in range(5):
        t0 = time.perf_counter()
        dst.copy_(src)
        _sync(device)
        bw_best = min(bw_best, time.perf_counter() - t0)
    del src, dst
    return {
        "flops_per_s": flops,
        "bandwidth_bytes_per_s": 2 * size / bw_best,  # a copy reads and writes every byte
        "matmul": f"{n}x{n} @ {n}x{n} {dtype}, best of 5",
        "copy": f"{size // 2**20} MiB copy_, best of 5 (read + write counted)",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def calibrated_profile(device: str, dtype: str, recalibrate: bool = False) -> DeviceProfile:
    """The device measured by :func:`calibrate`, cached per device, thread
    count, torch version and dtype in ~/.cache/cnnsize/calibration.json."""
    name = device_name(device)
    threads = torch.get_num_threads()
    key = f"{name}|{device.split(':')[0]}|threads={threads}|torch={torch.__version__}|{dtype}"
    path = os.path.join(cache_dir(), "calibration.json")
    cache: dict[str, Any] = {}
    try:
        with open(path, encoding="utf-8") as fh:
            cache = json.load(fh)
    except (OSError, ValueError):
        cache = {}
    hit = cache.get(key) if not recalibrate else None
    if hit is None:
        hit = calibrate(device, dtype)
        cache[key] = hit
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = path + f".{os.getpid()}"
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(cache, fh, indent=1)
            os.replace(tmp, path)
        except OSError:
            pass  # an unwritable cache only costs a calibration next time
        how = "measured now"
    else:
        how = f"cached {hit['measured_at']} in {path}"
    src = f"calibrated ({how}): {hit['matmul']}; {hit['copy']}; {threads} threads"
    return DeviceProfile(f"calibrated:{name}", name, hit["bandwidth_bytes_per_s"], {dtype: hit["flops_per_s"]}, {}, src)


def resolve_profile(device: str, dtype: str, named: str | None = None, recalibrate: bool = False) -> DeviceProfile:
    """A named profile from devices.yaml, else the GPU's own entry, else a calibration."""
    devs = load_devices()
    if named:
        if named not in devs:
            from cnnsize.engine.errors import did_you_mean

            raise KeyError(
                f"unknown device profile '{named}'; {did_you_mean(named, devs) or 'known: ' + ', '.join(sorted(devs))}"
            )
        return devs[named]
    if device.startswith("cuda"):
        hit = match_device(device_name(device), devs)
        if hit is not None:
            return hit
    return calibrated_profile(device, dtype, recalibrate)


# --- the run -----------------------------------------------------------------------


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


def _roofline(a: Any, dev: DeviceProfile, dtype: str, device: str) -> dict[str, dict[str, Any]]:
    """Per layer: the work (cnnsize convention FLOPs, all element-wise work
    included), the bytes it must move, and max(compute time, memory time)."""
    from cnnsize.engine.units import DTYPE_BYTES

    if a.convention != "cnnsize":
        # the work of a layer is every FLOP cnnsize counts (element-wise work included)
        from cnnsize.engine.analysis import analyze

        a = analyze(
            a.spec, input_shape=a.input_shape, batch=a.batch, dtype=a.dtype, convention="cnnsize", optimizer=a.optimizer
        )

    nbytes = DTYPE_BYTES[dtype]
    sizes = {"input": a.totals["input_bytes"]}
    cuda = device.startswith("cuda")
    out: dict[str, dict[str, Any]] = {}
    for r in a.layers:
        sizes[r.name] = r.activation_bytes
        mac_flops = 2 * r.exact_macs * a.batch
        other = (r.flops - 2 * r.exact_macs) * a.batch
        moved = sum(sizes[i] for i in r.inputs) + r.activation_bytes + r.param_bytes + r.buffers * nbytes
        tf32 = cuda and (
            torch.backends.cuda.matmul.allow_tf32 if r.kind in ("fc", "rbf") else torch.backends.cudnn.allow_tf32
        )
        t_compute = mac_flops / dev.matrix_peak(dtype, tf32) + other / dev.vector_peak(dtype)
        t_memory = moved / dev.bandwidth
        out[r.name] = {
            "work_flops": mac_flops + other,
            "bytes_moved": moved,
            "roofline_s": max(t_compute, t_memory),
            "bound": "compute" if t_compute >= t_memory else "memory",
        }
    return out


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
        _sync(device)
        handles = [m.register_forward_pre_hook(tpre(n)) for n, m in mods] + [
            m.register_forward_hook(tpost(n)) for n, m in mods
        ]
        for _ in range(repeat):
            events.clear()
            model(x)
            _sync(device)
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
            _sync(device)
            t0 = time.perf_counter()
            model(x)
            _sync(device)
            forward_times.append(time.perf_counter() - t0)
            step += 1
            tick("forward", step, total_passes)
    del x, model

    roof = _roofline(a, dev, dtype, device)
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
