"""cnnsize profile: estimates against a real CPU run (lenet5), the roofline
arithmetic, the device profiles, the memory refusal and Ctrl-C."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402

from cnnsize import analyze_file  # noqa: E402
from cnnsize.torch import devices, memory_check  # noqa: E402
from cnnsize.torch import profile as prof  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LENET5 = os.path.join(ROOT, "specs", "lenet5.yaml")
RESNET18 = os.path.join(ROOT, "specs", "resnet18.yaml")
UNIT = devices.DeviceProfile("unit", "unit test device", 1e9, {"float32": 1e9}, {"float32": 1e9}, "test")


def _cli(*args, env_extra=None, timeout=300):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "cnnsize", *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=timeout
    )


@pytest.fixture(scope="module")
def lenet_run():
    a = analyze_file(LENET5, batch=2)
    at = analyze_file(LENET5, batch=2, convention="torch")
    return a, at, prof.profile(a, at, "cpu", repeat=2, warmup=1, dev=UNIT)


def test_lenet5_every_estimate_equals_the_run(lenet_run):
    a, at, res = lenet_run
    assert res["schema"] == "cnnsize.profile/1"
    assert [r["name"] for r in res["layers"]] == ["C1", "S2", "C3", "S4", "C5", "F6", "output"]
    for row, r, rt in zip(res["layers"], a.layers, at.layers):
        assert row["mismatches"] == [], row["name"]
        assert row["measured_output_shape"] == list(r.output_shape)
        assert row["measured_params"] == r.params
        # FlopCounterMode's count for the batch of 2 equals the torch-convention estimate
        assert row["measured_flops"] == 2 * rt.flops
        assert row["measured_activation_bytes"] == r.activation_bytes == 2 * r.units * 4
        assert row["time_s"] > 0 and row["roofline_s"] > 0
    t = res["totals"]
    # LeNet-5 (paper): 60,000 trainable parameters in all (156+12+1516+32+48120+10164)
    assert t["measured_params"] == t["params"] == 156 + 12 + 1516 + 32 + 48120 + 10164
    # conv/fc MACs of one sample: C1 117600, C3 150000 (table), C5 48000, F6 10080
    assert t["measured_flops"] == t["flops"] == 2 * 2 * (117600 + 150000 + 48000 + 10080)
    assert t["mismatched_layers"] == 0


def test_lenet5_cpu_peak_is_the_live_tensor_sum(lenet_run):
    a, _at, res = lenet_run
    t = res["totals"]
    # params + RBF codes (10 x 84 float32), plus C3's gather indices (int64): the
    # 60 table entries (6x3 + 6x4 + 3x4 + 6) and the 16-map output permutation
    assert t["param_buffer_bytes"] == (a.totals["params"] + 10 * 84) * 4 + (60 + 16) * 8
    assert t["measured_peak_bytes"] == t["param_buffer_bytes"] + a.totals["peak_activation_bytes"]
    assert "live activation storages" in t["peak_method"]


def test_roofline_arithmetic_for_lenet5_c1():
    a = analyze_file(LENET5)
    roof = devices.roofline(a, UNIT, "float32", "cpu")["C1"]
    # work: 2 x 117,600 MACs + 4,704 bias adds + tanh at 5 FLOPs x 4,704 units (cnnsize convention)
    assert roof["work_flops"] == 2 * 117600 + 4704 + 5 * 4704
    # bytes: input 1x32x32 + output 6x28x28 + 156 params, 4 bytes each
    assert roof["bytes_moved"] == (32 * 32 + 6 * 28 * 28 + 156) * 4
    assert roof["roofline_s"] == max((2 * 117600 + 4704 + 5 * 4704) / 1e9, (32 * 32 + 6 * 28 * 28 + 156) * 4 / 1e9)
    assert roof["bound"] == "compute"


def test_device_profiles_named_gpus_and_user_file(tmp_path, monkeypatch):
    devs = devices.load_devices()
    for key in (
        "a100-sxm4-40gb",
        "a100-sxm4-80gb",
        "h100-sxm",
        "h100-pcie",
        "h200-sxm",
        "v100-sxm2",
        "t4",
        "l4",
        "rtx-4090",
    ):
        assert key in devs and devs[key].source
    # NVIDIA H100 datasheet: 3.35 TB/s; TF32 989 TFLOPS with sparsity, so 494.5 dense
    assert devs["h100-sxm"].bandwidth == 3350e9
    assert devs["h100-sxm"].matrix_peak("float32", tf32=True) == 494.5e12
    assert devs["h100-sxm"].matrix_peak("float32", tf32=False) == 67e12
    assert devices.match_device("NVIDIA H100 80GB HBM3", devs).key == "h100-sxm"
    assert devices.match_device("NVIDIA A100-SXM4-80GB", devs).key == "a100-sxm4-80gb"
    assert devices.match_device("Tesla T4", devs).key == "t4"
    user = tmp_path / "cnnsize"
    user.mkdir()
    (user / "devices.yaml").write_text(
        "devices:\n  mine: {name: My GPU, match: [mygpu], bandwidth_gbs: 100, matrix_tflops: {float32: 2}}\n"
    )
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    devs = devices.load_devices()
    assert devs["mine"].matrix_peak("float32", False) == 2e12 and "h100-sxm" in devs


def test_calibration_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNSIZE_CACHE_DIR", str(tmp_path))
    first = devices.calibrated_profile("cpu", "float32")
    assert "measured now" in first.source and first.matrix["float32"] > 0 and first.bandwidth > 0
    second = devices.calibrated_profile("cpu", "float32")
    assert "cached" in second.source and second.matrix == first.matrix
    assert json.loads((tmp_path / "calibration.json").read_text())


def test_refusal_happens_before_any_allocation(monkeypatch):
    from cnnsize.commands.profile import profile as profile_cmd

    def boom(*a, **k):
        raise AssertionError("allocated although the estimate does not fit")

    monkeypatch.setattr(memory_check, "available_memory", lambda device: (10 * 2**20, "test"))
    monkeypatch.setattr(prof, "materialize", boom)
    monkeypatch.setattr(devices, "calibrate", boom)
    monkeypatch.setattr(devices, "resolve_profile", boom)
    r = CliRunner().invoke(profile_cmd, [RESNET18, "--batch", "8"])
    assert r.exit_code == 1, r.output
    assert "refusing to profile" in r.output and "--force" in r.output
    a = analyze_file(RESNET18, batch=8)
    need = (
        int(
            (a.totals["param_bytes"] + a.totals["buffer_bytes"] + a.totals["peak_activation_bytes"])
            * memory_check.MARGIN_FACTOR
        )
        + memory_check.MARGIN_BYTES
    )
    assert f"{need / 2**20:,.1f} MiB" in r.output


def test_cli_refuses_over_memory_limit_exit_1():
    from cnnsize.commands.profile import profile as profile_cmd

    r = CliRunner().invoke(profile_cmd, [LENET5, "--memory-limit", "1MiB"])
    assert r.exit_code == 1, r.output
    assert "refusing to profile 'LeNet-5'" in r.output and "1.0 MiB (--memory-limit)" in r.output


def test_cli_forced_json_run(tmp_path):
    # a named device profile: no calibration (test_calibration_is_cached covers it)
    out = _cli(
        "profile",
        LENET5,
        "--device",
        "cpu",
        "--repeat",
        "1",
        "--warmup",
        "0",
        "--format",
        "json",
        "--memory-limit",
        "1MiB",
        "--force",
        "--device-profile",
        "h100-sxm",
        env_extra={"CNNSIZE_CACHE_DIR": str(tmp_path)},
    )
    assert out.returncode == 0, out.stderr
    assert "running anyway (--force)" in out.stderr
    d = json.loads(out.stdout)
    assert d["schema"] == "cnnsize.profile/1" and d["totals"]["mismatched_layers"] == 0
    assert d["memory_check"]["forced"] is True
    assert d["device_profile"]["key"] == "h100-sxm" and not (tmp_path / "calibration.json").exists()


def test_cli_bad_device_is_usage_error():
    from cnnsize.commands.profile import profile as profile_cmd

    r = CliRunner().invoke(profile_cmd, [LENET5, "--device", "tpu"])
    assert r.exit_code == 2 and "--device" in r.output


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cli_cuda_without_gpu_is_usage_error():
    from cnnsize.commands.profile import profile as profile_cmd

    r = CliRunner().invoke(profile_cmd, [LENET5, "--device", "cuda"])
    assert r.exit_code == 2 and "sees no CUDA device" in r.output


@pytest.mark.slow
def test_ctrl_c_ends_cleanly(tmp_path):
    env = {**os.environ, "CNNSIZE_CACHE_DIR": str(tmp_path)}
    p = subprocess.Popen(
        [sys.executable, "-m", "cnnsize", "profile", LENET5, "--repeat", "1000000", "--warmup", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    # wait until the run is in its timed loop (the calibration has been cached)
    deadline = time.time() + 120
    while time.time() < deadline and not (tmp_path / "calibration.json").exists():
        time.sleep(0.2)
    time.sleep(1.0)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
