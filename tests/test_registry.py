"""The layer-kind registry: every kind has every part (or says why not), a
kind or alias cannot be registered twice, and the generated references
(docs/kinds.md, docs/spec.schema.json) are current."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cnnsize.engine import registry, schema
from cnnsize.engine.kinds import KINDS, RULES
from cnnsize.engine.registry import CATEGORIES, Key, Missing, OnnxMap, TorchMap, register, t_int

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARTS = ("keys", "apply", "category", "to_torch", "from_torch", "from_onnx")


def incomplete(rules: dict[str, registry.Rule]) -> list[str]:
    """Every missing part of every kind, as 'kind: part (why)'."""
    out = []
    for kind, rule in rules.items():
        for key, spec in rule.keys.items():
            if not isinstance(spec, Key) or not spec.doc.strip():
                out.append(f"{kind}: key {key} has no description")
        if not callable(rule.apply):
            out.append(f"{kind}: no rule")
        if rule.category not in CATEGORIES:
            out.append(f"{kind}: category {rule.category!r}")
        for part in ("to_torch", "from_torch", "from_onnx"):
            value = getattr(rule, part)
            if isinstance(value, Missing):
                if not value.reason.strip():
                    out.append(f"{kind}: {part} missing without a reason")
            elif part == "from_torch":
                if not value or not all(isinstance(m, TorchMap) and callable(m.convert) for m in value):
                    out.append(f"{kind}: from_torch is neither mappings nor a Missing")
                elif not any(m.modules or m.functions or m.methods for m in value):
                    out.append(f"{kind}: from_torch maps nothing")
            elif part == "from_onnx":
                if not value or not all(
                    isinstance(m, OnnxMap) and callable(m.convert) and m.ops and m.doc.strip() for m in value
                ):
                    out.append(f"{kind}: from_onnx is neither mappings nor a Missing")
            elif not callable(value):
                out.append(f"{kind}: {part} is neither callable nor a Missing")
    return out


def test_every_kind_has_every_part_or_a_reason():
    assert incomplete(RULES) == []


@pytest.mark.parametrize("part", ["to_torch", "from_torch", "from_onnx", "apply", "doc", "category"])
def test_removing_a_part_fails_the_completeness_check(monkeypatch, part):
    rule = RULES["conv"]
    if part == "doc":
        monkeypatch.setitem(rule.keys, "filters", Key(t_int(1), "", required=True))
    elif part == "category":
        monkeypatch.setattr(rule, "category", "")
    else:
        monkeypatch.setattr(rule, part, None)
    assert incomplete(RULES), f"conv without its {part} passed the completeness check"
    monkeypatch.setattr(rule, "from_onnx", Missing(""))  # a Missing must say why
    assert any("without a reason" in m for m in incomplete(RULES))


def test_only_onnx_is_missing_for_most_kinds():
    # a Missing is the exception: which kinds lack a torch side, and why, is listed here
    missing_torch = sorted(
        (k, p) for k, r in RULES.items() for p in ("to_torch", "from_torch") if isinstance(getattr(r, p), Missing)
    )
    assert missing_torch == [
        ("adaptivemaxpool", "from_torch"),
        ("dwconv", "from_torch"),
        ("globalmaxpool", "from_torch"),
    ]
    missing_onnx = sorted(k for k, r in RULES.items() if isinstance(r.from_onnx, Missing))
    assert missing_onnx == [
        "adaptiveavgpool",
        "adaptivemaxpool",
        "dwconv",
        "rbf",
        "sepconv",
        "silu",
        "subsample",
    ]


def test_onnx_mappings_name_op_types_once():
    seen: dict[str, str] = {}
    for kind, r in RULES.items():
        if isinstance(r.from_onnx, Missing):
            continue
        assert r.from_onnx and all(isinstance(m, OnnxMap) and callable(m.convert) and m.ops for m in r.from_onnx)
        for m in r.from_onnx:
            for op in m.ops:
                assert op not in seen, f"ONNX {op} mapped by {seen[op]} and {kind}"
                seen[op] = kind


def _register_probe(name: str, aliases: tuple[str, ...] = ()) -> None:
    register(
        name,
        {},
        aliases=aliases,
        category="shape",
        summary="probe",
        to_torch=Missing("probe"),
        from_torch=Missing("probe"),
    )(lambda p, ins: registry.Result(ins[0].shape))


def test_a_kind_cannot_be_registered_twice(monkeypatch):
    monkeypatch.setattr(registry, "KINDS", dict(KINDS))
    monkeypatch.setattr(registry, "RULES", dict(RULES))
    with pytest.raises(ValueError, match="'conv' registered twice"):
        _register_probe("conv")
    with pytest.raises(ValueError, match="'linear' registered twice"):
        _register_probe("probe_kind", aliases=("linear",))  # an alias of fc
    assert "probe_kind" not in registry.KINDS and "probe_kind" not in registry.RULES  # nothing half-registered
    with pytest.raises(ValueError, match="'swish' registered twice"):
        registry.add_alias("swish", "relu")


def test_unknown_category_is_refused():
    with pytest.raises(ValueError, match="unknown category"):
        register("probe", {}, category="misc", summary="", to_torch=Missing("x"), from_torch=Missing("x"))


def test_registry_and_kinds_import_no_torch():
    code = "import sys, cnnsize.engine.kinds, cnnsize.engine.conventions; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_torch_mappings_resolve_and_no_object_has_two_kinds():
    pytest.importorskip("torch")
    from cnnsize.torch.importer import torch_tables

    modules, functions, methods = torch_tables()
    n = sum(len(m.modules) for r in RULES.values() if not isinstance(r.from_torch, Missing) for m in r.from_torch)
    assert len(modules) == n  # a class claimed twice would have raised or collapsed
    assert methods["view"] is methods["reshape"]


def test_conventions_read_their_kind_sets_from_the_registry():
    from cnnsize.engine import conventions

    assert conventions.CONV_KINDS == ("conv", "dwconv", "sepconv")
    assert conventions.MAC_KINDS == ("conv", "dwconv", "sepconv", "deconv", "fc")
    assert conventions.ACT_KINDS == {k for k, r in RULES.items() if r.category == "activation"}
    assert set(conventions.POOL_KINDS) == {k for k, r in RULES.items() if r.category == "pool"}


def test_kinds_reference_is_current():
    with open(os.path.join(ROOT, "docs", "kinds.md"), encoding="utf-8") as fh:
        committed = fh.read()
    assert committed == schema.kinds_markdown(), (
        "regenerate: python -m cnnsize.engine.schema --kinds-md -o docs/kinds.md"
    )


def test_kinds_reference_names_every_kind_alias_and_key():
    text = schema.kinds_markdown()
    for kind, rule in RULES.items():
        assert f"## {kind}\n" in text
        for key in rule.keys:
            assert f"| `{key}` |" in text
    for alias in KINDS:
        assert f"`{alias}`" in text


def test_schema_module_writes_both_files(tmp_path):
    for args, expected in ((["--kinds-md"], schema.kinds_markdown()), ([], schema.render())):
        f = tmp_path / "out"
        out = subprocess.run(
            [sys.executable, "-m", "cnnsize.engine.schema", *args, "-o", str(f)],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        assert out.returncode == 0, out.stderr
        assert f.read_text(encoding="utf-8") == expected


def test_import_md_operator_table_is_current():
    from cnnsize.onnx.reading import TABLE_BEGIN, TABLE_END, ops_markdown

    with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "import.md")) as fh:
        text = fh.read()
    committed = text[text.index(TABLE_BEGIN) : text.index(TABLE_END) + len(TABLE_END)] + "\n"
    assert committed == ops_markdown(), "regenerate: python -m cnnsize.onnx.importer --ops-md (into docs/import.md)"
