"""What the profiler compares layer times with: a device's peak FLOP/s and
bandwidth (a named device from data/devices.yaml and the user's files, or a
calibration measured on this machine and cached) and the roofline time of
every layer on it.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from cnnsize.torch.materialize import DTYPES


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


def sync(device: str) -> None:
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
            sync(device)
            t0 = time.perf_counter()
            torch.mm(a, b)
            sync(device)
            if time.perf_counter() - t0 > 0.05:
                break
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            torch.mm(a, b)
            sync(device)
            best = min(best, time.perf_counter() - t0)
    flops = 2 * n**3 / best
    del a, b
    size = (512 if device.startswith("cuda") else 128) * 2**20
    src = torch.empty(size, dtype=torch.uint8, device=dev).fill_(1)
    dst = torch.empty_like(src)
    bw_best = float("inf")
    dst.copy_(src)
    sync(device)
    for _ in range(5):
        t0 = time.perf_counter()
        dst.copy_(src)
        sync(device)
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


def roofline(a: Any, dev: DeviceProfile, dtype: str, device: str) -> dict[str, dict[str, Any]]:
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
