"""`cnnsize check`: budgets from flags and from the spec, exit codes, and the
text / JSON / GitHub-annotation outputs."""

import json
import os
import re
import subprocess
import sys

import pytest
from specs_inline import VGG16, VGG16_MACS, VGG16_PARAMS

from cnnsize.commands.outcome import EXIT_BUDGET, EXIT_OK, EXIT_SPEC, exit_code_for
from cnnsize.engine.spec import BUDGET_KEYS
from cnnsize.render.check import gh_annotation, gh_data, gh_prop
from cnnsize.views.check import BUDGETS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args):
    return subprocess.run([sys.executable, "-m", "cnnsize", *args], cwd=ROOT, capture_output=True, text=True)


@pytest.fixture
def vgg16(tmp_path):
    p = tmp_path / "vgg16.yaml"
    p.write_text(VGG16)
    return str(p)


def with_budgets(tmp_path, block, name="budgeted.yaml"):
    p = tmp_path / name
    p.write_text(VGG16 + block)
    return str(p)


def test_every_spec_budget_key_has_a_flag():
    assert {b.key for b in BUDGETS} == BUDGET_KEYS


def test_exit_code_for():
    assert exit_code_for([]) == EXIT_OK
    assert exit_code_for([{"status": "ok"}, {"status": "ok"}]) == EXIT_OK
    assert exit_code_for([{"status": "ok"}, {"status": "exceeded"}]) == EXIT_BUDGET
    # an invalid spec outranks an exceeded budget: the check could not run
    assert exit_code_for([{"status": "exceeded"}, {"status": "invalid"}]) == EXIT_SPEC


def test_vgg16_max_params_100M_exceeded(vgg16):
    out = run("check", vgg16, "--max-params", "100M")
    assert out.returncode == 1, out.stderr
    assert "138,357,544" in out.stdout
    assert f"{VGG16_PARAMS:,}" == "138,357,544"
    assert "--max-params 100,000,000" in out.stdout
    assert out.stdout.splitlines()[0].startswith(f"{vgg16}: budget exceeded")


def test_vgg16_max_params_200M_holds(vgg16):
    out = run("check", vgg16, "--max-params", "200M")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ok" in out.stdout and "138,357,544" in out.stdout


def test_github_annotations(vgg16):
    out = run("check", vgg16, "--max-params", "100M", "--max-macs", "20G", "--format", "github")
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    anns = [ln for ln in lines if ln.startswith("::")]
    assert len(anns) == 1
    # ::error file=F,line=L,col=C,title=T::message, properties escaped (no raw ':' or ',')
    m = re.fullmatch(r"::error ((?:[a-z]+=[^,:]*)(?:,[a-z]+=[^,:]*)*)::(.*)", anns[0])
    assert m, anns[0]
    props = dict(kv.split("=", 1) for kv in m.group(1).split(","))
    assert props["file"] == gh_prop(vgg16)
    assert props["title"] == "cnnsize budget"
    assert "line" not in props  # a flag's budget points at the spec file, not a line
    assert "138,357,544" in m.group(2)
    assert "\n" not in m.group(2) and "%" not in m.group(2).replace("%25", "").replace("%0A", "").replace("%0D", "")


def test_github_annotation_points_at_spec_budget_line(tmp_path):
    p = with_budgets(tmp_path, "budgets:\n  max_params: 5M\n")
    out = run("check", p, "--format", "github")
    assert out.returncode == 1
    (ann,) = [ln for ln in out.stdout.splitlines() if ln.startswith("::error")]
    line = VGG16.count("\n") + 2  # the line after 'budgets:'
    # 'max_params: 5M': the value starts at column 15
    assert f"line={line},col=15," in ann, ann
    assert "budgets.max_params 5,000,000" in ann


def test_github_escaping():
    assert gh_data("50% a\r\nb") == "50%25 a%0D%0Ab"
    assert gh_prop("C:\\a,b.yaml") == "C%3A\\a%2Cb.yaml"
    assert gh_annotation("error", "m", "a,b:c", 3, 4, "t,1") == "::error file=a%2Cb%3Ac,line=3,col=4,title=t%2C1::m"


def test_spec_budgets_and_flag_override(tmp_path):
    p = with_budgets(tmp_path, "budgets:\n  max_params: 100M\n  max_macs: 20G\n")
    out = run("check", p)
    assert out.returncode == 1
    assert "budgets.max_params 100,000,000" in out.stdout
    line = VGG16.count("\n") + 2
    assert f"{p}:{line}:15: budget exceeded" in out.stdout
    # the flag wins over the spec's budget of the same name; the other budget still applies
    out = run("check", p, "--max-params", "200M", "--format", "json")
    assert out.returncode == 0, out.stdout
    doc = json.loads(out.stdout)
    checks = {c["budget"]: c for c in doc["results"][0]["checks"]}
    assert checks["max_params"]["source"] == "flag" and checks["max_params"]["limit"] == 200_000_000
    assert checks["max_macs"]["source"] == "spec" and checks["max_macs"]["measured"] == VGG16_MACS
    assert checks["max_macs"]["line"] == line + 1


def test_json_verdict(vgg16):
    out = run("check", vgg16, "--max-params", "100M", "--max-activation", "100MiB", "--format", "json")
    assert out.returncode == 1
    doc = json.loads(out.stdout)
    assert doc["schema"] == "cnnsize.check/1" and doc["ok"] is False and doc["exit_code"] == 1
    (res,) = doc["results"]
    assert res["status"] == "exceeded" and res["model"] == "VGG-16"
    checks = {c["budget"]: c for c in res["checks"]}
    assert checks["max_params"] | {"message": None} == {
        "budget": "max_params",
        "flag": "--max-params",
        "metric": "params",
        "bound": "max",
        "measured": VGG16_PARAMS,
        "limit": 100 * 10**6,
        "ok": False,
        "source": "flag",
        "file": vgg16,
        "line": None,
        "column": None,
        "message": None,
    }
    # activations of one float32 sample: every layer output of VGG-16 at 224
    # (units 15,087,080 = total minus the 150,528 input values) x 4 bytes
    assert checks["max_activation_bytes"]["measured"] == 15_087_080 * 4
    assert checks["max_activation_bytes"]["limit"] == 100 * 2**20
    assert checks["max_activation_bytes"]["ok"] is True


def test_receptive_field_budgets(vgg16):
    # VGG-16's last conv stage sees 212x212 at pool5; fc6 then reads the whole
    # 7x7 map: 212 + (7 - 1) * 32 = 404 on each axis
    out = run("check", vgg16, "--min-receptive-field", "405", "--format", "json")
    assert out.returncode == 1
    (c,) = json.loads(out.stdout)["results"][0]["checks"]
    assert c["measured"] == 212 + (7 - 1) * 32 and c["limit"] == 405 and c["bound"] == "min"
    assert run("check", vgg16, "--min-receptive-field", "404", "--max-receptive-field", "404").returncode == 0
    assert run("check", vgg16, "--max-receptive-field", "403").returncode == 1


def test_invalid_spec_exits_3_with_diagnostics(tmp_path, vgg16):
    bad = tmp_path / "bad.yaml"
    bad.write_text(VGG16.replace("type: fc, units: 4096}", "type: fcc, units: 4096}", 1))
    out = run("check", str(bad), vgg16, "--max-params", "100M")
    assert out.returncode == 3
    assert f"{bad}:" in out.stderr and "fcc" in out.stderr
    # the valid spec is still checked and reported
    assert "138,357,544" in out.stdout
    gh = run("check", str(bad), "--format", "github")
    assert gh.returncode == 3
    assert gh.stdout.startswith(f"::error file={gh_prop(str(bad))},line=")
    js = run("check", str(bad), "--format", "json")
    assert js.returncode == 3 and json.loads(js.stdout)["results"][0]["status"] == "invalid"


def test_bad_flag_value_is_usage_error(vgg16):
    out = run("check", vgg16, "--max-params", "lots")
    assert out.returncode == 2
    assert "--max-params" in out.stderr and "Traceback" not in out.stderr


def test_no_budgets_passes_and_says_so(vgg16):
    out = run("check", vgg16)
    assert out.returncode == 0
    assert "no budgets" in out.stdout


def test_pre_commit_hook_manifest():
    import yaml

    with open(os.path.join(ROOT, ".pre-commit-hooks.yaml"), encoding="utf-8") as fh:
        hooks = yaml.safe_load(fh)
    (hook,) = [h for h in hooks if h["id"] == "cnnsize-check"]
    assert hook["entry"] == "cnnsize check"
    assert hook["language"] == "python"
    assert re.search(hook["files"], "specs/vgg16.yaml") and re.search(hook["files"], "specs/x.yml")
    assert not re.search(hook["files"], ".github/workflows/ci.yaml")


ZOO_VGG16 = os.path.join(ROOT, "specs", "vgg16.yaml")


@pytest.mark.skipif(not os.path.exists(ZOO_VGG16), reason="specs/vgg16.yaml not in this checkout")
def test_issue_commands_on_the_zoo_spec():
    out = run("check", "specs/vgg16.yaml", "--max-params", "100M")
    assert out.returncode == 1
    assert "138,357,544" in out.stdout and "--max-params 100,000,000" in out.stdout
    assert run("check", "specs/vgg16.yaml", "--max-params", "200M").returncode == 0
    gh = run("check", "specs/vgg16.yaml", "--max-params", "100M", "--format", "github")
    assert gh.returncode == 1
    (ann,) = gh.stdout.splitlines()
    assert ann.startswith("::error file=specs/vgg16.yaml,title=cnnsize budget::")
    assert "138,357,544" in ann and "100,000,000" in ann
