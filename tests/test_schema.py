"""`cnnsize schema`: a valid Draft 2020-12 schema, generated from the rule
tables, that accepts every spec cnnsize accepts and rejects what the loader
rejects at parse level (unknown keys and kinds, wrong value types)."""

import glob
import json
import os
import subprocess
import sys

import pytest
import yaml

jsonschema = pytest.importorskip("jsonschema")
from jsonschema import Draft202012Validator  # noqa: E402

from cnnsize.engine import schema as schema_mod  # noqa: E402
from cnnsize.engine.errors import SpecError  # noqa: E402
from cnnsize.engine.kinds import COMMON_KEYS, KINDS, RULES  # noqa: E402
from cnnsize.engine.kinds.activation import ACTIVATIONS  # noqa: E402
from cnnsize.engine.load import loads_spec  # noqa: E402
from cnnsize.engine.spec import BUDGET_KEYS, TOP_KEYS  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEC_FILES = sorted(glob.glob(os.path.join(ROOT, "specs", "*.yaml")))


@pytest.fixture(scope="module")
def schema():
    return schema_mod.build_schema()


@pytest.fixture(scope="module")
def validator(schema):
    return Draft202012Validator(schema)


def test_schema_is_valid_draft_2020_12(schema):
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_cli_prints_the_same_schema(tmp_path):
    out = subprocess.run([sys.executable, "-m", "cnnsize", "schema"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == schema_mod.build_schema()
    f = tmp_path / "s.json"
    out = subprocess.run(
        [sys.executable, "-m", "cnnsize", "schema", "-o", str(f)], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(f.read_text()) == schema_mod.build_schema()


def test_generated_from_the_rule_tables(schema):
    # the type enum is exactly the registered kinds and aliases
    assert schema["$defs"]["layer"]["properties"]["type"]["enum"] == sorted(KINDS)
    branches = schema["$defs"]["layer"]["allOf"]
    assert len(branches) == len(RULES)
    for br in branches:
        names = br["if"]["properties"]["type"]["enum"]
        kind = KINDS[names[0]]
        props = br["then"]["properties"]
        assert set(props) == COMMON_KEYS | set(RULES[kind].keys)
        assert br["then"]["additionalProperties"] is False
    assert set(schema["properties"]) == TOP_KEYS
    assert set(schema["properties"]["budgets"]["properties"]) == BUDGET_KEYS
    assert schema["$defs"]["activation"]["anyOf"][0]["anyOf"][0]["enum"] == [*ACTIVATIONS, "none"]


def test_every_rule_key_has_a_schema_and_a_description():
    # A new checker in the registry that schema.py cannot describe would make
    # its key accept anything; a key without a description helps nobody.
    for kind, rule in RULES.items():
        for key, spec in rule.keys.items():
            assert schema_mod._checker_schema(spec.check) is not None, (kind, key)
            assert spec.doc.strip(), (kind, key)


@pytest.mark.skipif(not SPEC_FILES, reason="no specs/ in this checkout")
@pytest.mark.parametrize("path", SPEC_FILES, ids=[os.path.basename(p) for p in SPEC_FILES])
def test_every_spec_in_specs_validates(validator, path):
    with open(path, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    errors = [f"{e.json_path}: {e.message[:200]}" for e in validator.iter_errors(doc)]
    assert errors == []


HEAD = "cnnsize: 1\nname: t\ninput: [3, 32, 32]\n"

# (spec body, what cnnsize says): the schema must agree with the loader.
VALID = {
    "plain": "layers:\n  - {name: c, type: conv, filters: 8, kernel: 3, padding: same, activation: relu}\n"
    "  - {type: maxpool, kernel: 2}\n  - {type: fc, units: 10}\n",
    "aliases_and_axes": "layers:\n"
    "  - {type: conv2d, filters: 8, kernel: [3, 5], stride: [1, 2], padding: [[1, 1], [2, 2]]}\n"
    "  - {type: bn}\n  - {type: linear, units: 10, bias: false}\n",
    "templates": "vars: {w: 16, k: 3}\nlayers:\n"
    "  - {name: 'c${i}', type: conv, filters: '${w * 2}', kernel: ['${k}', 3], repeat: '${2}', padding: "
    "'${k // 2}'}\n  - {type: fc, units: 10, when: '${w > 8}'}\n",
    "null_means_default": "layers:\n  - {type: conv, filters: 8, kernel: 3, stride: ~, activation: ~}\n",
    "kernel_from_defaults": "defaults: {kernel: 3, activation: relu}\nlayers:\n  - {type: conv, filters: 8}\n"
    "  - {type: conv, filters: 8, padding: 1}\n",
    "untied_bias_table": "layers:\n  - {type: conv, filters: 2, kernel: 5, bias: untied, table: [[0, 1], [1, 2]]}\n",
    "blocks": (
        "blocks:\n  b:\n    args: {f: ~, s: 1}\n    layers:\n"
        "      - {name: c, type: conv, filters: '${f}', kernel: 3, stride: '${s}', padding: 1}\n"
        "      - {name: sum, type: add, inputs: [c, input], when: '${s == 1}'}\n"
        "layers:\n  - {type: conv, filters: 8, kernel: 1}\n  - {name: s1, block: b, repeat: 2, f: 8}\n  - {type: gap}\n"
    ),
    "budgets": "layers:\n  - {type: fc, units: 10}\n"
    "budgets: {max_params: 5M, max_macs: 1.5G, max_peak_bytes: 100MiB, min_receptive_field: 3, max_flops: "
    "1000}\n",
    "outputs_and_merge": "layers:\n  - {name: a, type: conv, filters: 4, kernel: 1}\n"
    "  - {name: b, type: conv, filters: 4, kernel: 1, inputs: input}\n"
    "  - {name: m, type: concat, inputs: [a, b]}\noutputs: [m]\n",
}
INVALID = {
    "unknown_key": "layers:\n  - {type: conv, filters: 8, kernel: 3, filter: 2}\n",
    "unknown_kind": "layers:\n  - {type: convv, filters: 8, kernel: 3}\n",
    "missing_required": "layers:\n  - {type: conv, kernel: 3}\n",
    "missing_required_in_block": "blocks:\n  b:\n    layers:\n      - {type: fc}\nlayers:\n  - {block: b}\n",
    "float_filters": "layers:\n  - {type: conv, filters: 8.5, kernel: 3}\n",
    "zero_kernel": "layers:\n  - {type: conv, filters: 8, kernel: 0}\n",
    "bad_padding_word": "layers:\n  - {type: conv, filters: 8, kernel: 3, padding: full}\n",
    "bad_activation": "layers:\n  - {type: conv, filters: 8, kernel: 3, activation: rleu}\n",
    "bad_bias": "layers:\n  - {type: conv, filters: 8, kernel: 3, bias: shared}\n",
    "type_and_block": "blocks:\n  b:\n    layers:\n      - {type: relu}\nlayers:\n  - {type: relu, block: b}\n",
    "bad_budget_key": "layers:\n  - {type: fc, units: 10}\nbudgets: {max_param: 5M}\n",
    "bad_budget_value": "layers:\n  - {type: fc, units: 10}\nbudgets: {max_params: 5 lots}\n",
    "common_key_as_default": "defaults: {name: x}\nlayers:\n  - {type: fc, units: 10}\n",
    "unknown_top_key": "layer: []\nlayers:\n  - {type: fc, units: 10}\n",
    "template_without_braces": "layers:\n  - {type: fc, units: '$units'}\n",
    "dropout_p_above_1": "layers:\n  - {type: dropout, p: 1.5}\n",
}


@pytest.mark.parametrize("name", sorted(VALID))
def test_schema_accepts_what_cnnsize_accepts(validator, name):
    text = HEAD + VALID[name]
    loads_spec(text)  # cnnsize accepts it (raises otherwise)
    assert [e.message for e in validator.iter_errors(yaml.safe_load(text))] == []


@pytest.mark.parametrize("name", sorted(INVALID))
def test_schema_rejects_what_cnnsize_rejects(validator, name):
    text = HEAD + INVALID[name]
    with pytest.raises(SpecError):
        loads_spec(text)
    assert list(validator.iter_errors(yaml.safe_load(text))) != []


def test_missing_top_level_keys(validator):
    errors = list(validator.iter_errors({"name": "x"}))
    assert any("'cnnsize' is a required property" in e.message for e in errors)
    assert any("'layers' is a required property" in e.message for e in errors)


def test_committed_schema_file_is_current():
    path = os.path.join(ROOT, "docs", "spec.schema.json")
    with open(path, encoding="utf-8") as fh:
        committed = fh.read()
    assert committed == schema_mod.render(), "regenerate: python -m cnnsize schema -o docs/spec.schema.json"


def test_draft07_readers_get_the_same_verdicts(schema):
    # Editors' YAML language server validates with draft-07 semantics: the
    # schema must mean the same there (no keyword beside a $ref, no 2019+ keywords).
    from jsonschema import Draft7Validator

    def walk(node):
        if isinstance(node, dict):
            assert not ("$ref" in node and len(node) > 1), node
            assert not {
                "unevaluatedProperties",
                "unevaluatedItems",
                "$dynamicRef",
                "prefixItems",
                "dependentRequired",
            } & set(node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(schema)
    v7 = Draft7Validator({**schema, "$schema": "http://json-schema.org/draft-07/schema#"})
    for text in VALID.values():
        assert list(v7.iter_errors(yaml.safe_load(HEAD + text))) == []
    for text in INVALID.values():
        assert list(v7.iter_errors(yaml.safe_load(HEAD + text))) != []
