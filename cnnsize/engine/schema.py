"""JSON Schema (Draft 2020-12) of the spec format, generated from the code
that reads specs: the top-level, block, instance and budget key sets of
cnnsize.engine.spec and each kind's keys in the registry
(cnnsize.engine.kinds), descriptions included. Nothing here lists layer kinds
or their keys by hand, so a new kind or key shows up in the schema (and in
editors' completion) as soon as it is registered. :func:`kinds_markdown`
writes docs/kinds.md, the reference of every kind, from the same registry.

cnnsize itself never validates with this schema: the loader's own checks
stay authoritative and give located errors. The schema is for editors and
for other tools that want to check a spec without running cnnsize.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "urn:cnnsize:spec:1"
TEMPLATE_REF = {"$ref": "#/$defs/template"}
MAX_SPATIAL_AXES = 3
MAX_DIM = 10**9

COMMON_DOCS: dict[str, str] = {
    "name": "unique layer name; default <type>_<n>. May be a ${...} template (e.g. per repetition)",
    "type": "the layer kind",
    "inputs": (
        "layers feeding this one (default: the previous layer; the first layer reads 'input'); merges take several"
    ),
    "repeat": "expand this entry N times in a chain; names become name.0, name.1, ...; ${i} is the repetition index",
    "note": "free text, kept but shown nowhere",
    "when": "leave this entry out when false (usually a ${...} template over block arguments)",
    "block": "name of a block defined under 'blocks:'",
}

TOP_DOCS: dict[str, str] = {
    "cnnsize": "format version",
    "name": "model name",
    "source": "where the architecture is published (paper, table, code)",
    "description": "free text",
    "input": "input shape per sample: channels, then 0 to 3 spatial sizes",
    "vars": "named values usable in ${...} templates; `--set name=value` overrides them",
    "defaults": "layer keys applied to every layer whose kind accepts them",
    "blocks": "reusable groups of layers with arguments",
    "layers": "the layers, in order",
    "outputs": "which layers are network outputs (default: the last layer)",
    "budgets": "limits checked by `cnnsize check`",
}

BLOCK_DOCS: dict[str, str] = {
    "args": "block arguments and their defaults; ~ (null) marks a required argument",
    "layers": "the block's layers; 'input' in their inputs is the block's input",
    "output": "local name of the layer that is the block's output (default: its last layer)",
    "description": "free text",
    "note": "free text",
}


def _tpl(schema: dict[str, Any]) -> dict[str, Any]:
    """A value that may also be written as a ${...} template (the spec reader
    renders templates in any layer value, list items included:
    engine/spec/state.py, BuildState.value)."""
    return {"anyOf": [schema, TEMPLATE_REF]}


# Value types shared by many keys live once under $defs (keeps the schema
# small enough for editors); build_schema() collects them.
_TYPES: dict[str, dict[str, Any]] = {}


def _named(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    _TYPES[name] = schema
    return {"$ref": f"#/$defs/{name}"}


def _doc(schema: dict[str, Any], text: str) -> dict[str, Any]:
    """Attach a description. Draft-07 tools (most editors) ignore keywords
    beside a $ref, so a bare $ref is wrapped to keep its description visible."""
    if "$ref" in schema:
        return {"allOf": [schema], "description": text}
    return {**schema, "description": text}


def _int(minimum: int) -> dict[str, Any]:
    return _named(f"int_min{minimum}", _tpl({"type": "integer", "minimum": minimum, "maximum": MAX_DIM}))


def _axes(minimum: int) -> dict[str, Any]:
    one = _int(minimum)
    return _named(
        f"axes_min{minimum}",
        {"anyOf": [one, {"type": "array", "minItems": 1, "maxItems": MAX_SPATIAL_AXES, "items": one}]},
    )


def _checker_schema(check: Callable[..., Any]) -> dict[str, Any] | None:
    """The schema fragment of one registry.t_* checker, read from the checker
    itself: its factory's name and the values it closes over (minimum,
    choices, ...). None for a checker this module does not know."""
    from cnnsize.engine.kinds.activation import ACTIVATIONS

    factory = check.__qualname__.split(".")[0]
    env = inspect.getclosurevars(check).nonlocals
    if factory == "t_int":
        return _int(env["minimum"])
    if factory == "t_axes":
        inner = inspect.getclosurevars(env["one"]).nonlocals
        return _axes(inner["minimum"])
    if factory == "t_bool":
        return _named("bool", _tpl({"type": "boolean"}))
    if factory == "t_bias":
        return _tpl({"anyOf": [{"type": "boolean"}, {"const": "untied"}]})
    if factory == "t_padding":
        pair = {"type": "array", "minItems": 2, "maxItems": 2, "items": _int(0)}
        return _named(
            "padding",
            {
                "anyOf": [
                    _axes(0),
                    _tpl({"enum": ["same", "valid"]}),
                    {"type": "array", "minItems": 1, "maxItems": MAX_SPATIAL_AXES, "items": _tpl(pair)},
                ]
            },
        )
    if factory == "t_number":
        s: dict[str, Any] = {"type": "number"}
        s["exclusiveMinimum" if env["exclusive"] else "minimum"] = env["minimum"]
        if env["maximum"] is not None:
            s["maximum"] = env["maximum"]
        return _tpl(s)
    if factory == "t_choice":
        return _tpl({"enum": list(env["choices"])})
    if factory == "t_table":
        row = {"type": "array", "minItems": 1, "uniqueItems": True, "items": _int(0)}
        return _tpl({"type": "array", "minItems": 1, "items": _tpl(row)})
    if factory == "t_shape":
        return _tpl({"type": "array", "minItems": 1, "items": {"anyOf": [_int(1), {"const": -1}]}})
    if factory == "t_activation":
        return _named(
            "activation", _tpl({"anyOf": [{"enum": [*ACTIVATIONS, "none"]}, {"type": "null"}, {"const": False}]})
        )
    return None


def key_schema(kind: str, key: str) -> dict[str, Any]:
    """Schema of one key of one layer kind, with its description and default."""
    from cnnsize.engine.kinds import RULES

    spec = RULES[kind].keys[key]
    frag = _checker_schema(spec.check)
    doc = spec.doc
    out: dict[str, Any] = dict(frag) if frag is not None else {}
    if not spec.required:
        # ~ (null) on an optional key means "the default" (engine/spec/layer.py)
        out = {"anyOf": [out, {"type": "null"}]} if out else {}
    suffix = "required" if spec.required else (f"default {spec.default!r}" if spec.default is not None else "optional")
    out = _doc(out, f"{doc} ({suffix})" if doc else suffix)
    if spec.default is not None and not isinstance(spec.default, (list, dict)):
        out["default"] = spec.default
    return out


def _names_enum(kind: str) -> list[str]:
    from cnnsize.engine.kinds import KINDS

    return sorted(n for n, k in KINDS.items() if k == kind)


def _common_props() -> dict[str, Any]:
    name = {
        "anyOf": [{"type": "string", "pattern": r"^\S+$", "not": {"const": "input"}}, TEMPLATE_REF],
        "description": COMMON_DOCS["name"],
    }
    ref = {"type": "string", "minLength": 1}
    return {
        "name": name,
        "inputs": {
            "anyOf": [ref, {"type": "array", "minItems": 1, "items": ref}],
            "description": COMMON_DOCS["inputs"],
        },
        "repeat": _doc(_int(0), COMMON_DOCS["repeat"]),
        "note": {"type": "string", "description": COMMON_DOCS["note"]},
        "when": {"anyOf": [{"type": "boolean"}, TEMPLATE_REF], "description": COMMON_DOCS["when"]},
    }


def _layer_defs() -> dict[str, Any]:
    from cnnsize.engine.kinds import COMMON_KEYS, KINDS, RULES
    from cnnsize.engine.spec import INSTANCE_KEYS

    common = {k: _named(f"layer_{k}", v) for k, v in _common_props().items()}
    missing = COMMON_KEYS - set(common) - {"type"}
    if missing:  # a new common key in the registry must get a schema here
        raise RuntimeError(f"schema.py does not describe common layer keys {sorted(missing)}")
    kind_names = sorted(KINDS)
    branches = []
    for kind, rule in sorted(RULES.items()):
        props = {k: key_schema(kind, k) for k in rule.keys}
        branches.append(
            {
                "if": {"properties": {"type": {"enum": _names_enum(kind)}}, "required": ["type"]},
                "then": {
                    "description": f"{kind}: {rule.summary}",
                    "properties": {**common, "type": True, **props},
                    "additionalProperties": False,
                },
            }
        )
    layer = {
        "type": "object",
        "description": "one layer: a mapping with 'type:' (a layer kind) and that kind's keys",
        "required": ["type"],
        "properties": {
            **common,
            "type": {"enum": kind_names, "description": COMMON_DOCS["type"]},
        },
        "allOf": branches,
    }
    instance = {
        "type": "object",
        "description": "an instance of a block: 'block:' names it; other keys are the block's arguments",
        "required": ["block"],
        "properties": {
            "block": {"type": "string", "description": COMMON_DOCS["block"]},
            **{k: common[k] for k in sorted(INSTANCE_KEYS - {"block"})},
            "inputs": {
                "anyOf": [
                    {"type": "string"},
                    {"type": "array", "minItems": 1, "maxItems": 1, "items": {"type": "string"}},
                ],
                "description": "the one layer feeding the block (default: the previous layer)",
            },
        },
        "not": {"required": ["type"]},
        "additionalProperties": True,
    }
    return {
        "layer": layer,
        "instance": instance,
        # if/then/else rather than oneOf: validators and editors then report
        # the one branch that applies ("'kernal' was unexpected"), not "no match"
        "entry": {
            "type": "object",
            "if": {"required": ["block"]},
            "then": {"$ref": "#/$defs/instance"},
            "else": {"$ref": "#/$defs/layer"},
        },
        "layers": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/entry"}},
    }


def _required_unless_default() -> list[dict[str, Any]]:
    """A rule's required key may come from the spec's 'defaults:'. JSON Schema
    cannot look up from a layer to the document root, so the root says, per
    required key: unless defaults has it, every layer of a kind that needs it
    (top level and inside blocks) must have it."""
    from cnnsize.engine.kinds import RULES

    needs: dict[str, list[str]] = {}
    for kind, rule in sorted(RULES.items()):
        for key, spec in rule.keys.items():
            if spec.required:
                needs.setdefault(key, []).append(kind)
    out = []
    for key, kinds in sorted(needs.items()):
        names = sorted(n for k in kinds for n in _names_enum(k))
        item = {"if": {"properties": {"type": {"enum": names}}, "required": ["type"]}, "then": {"required": [key]}}
        layers = {"items": item}
        out.append(
            {
                "if": {"properties": {"defaults": {"required": [key]}}, "required": ["defaults"]},
                "else": {
                    "properties": {
                        "layers": layers,
                        "blocks": {"additionalProperties": {"properties": {"layers": layers}}},
                    }
                },
            }
        )
    return out


def _defaults_schema() -> dict[str, Any]:
    """A default may be any layer key but the common ones; its value must be
    valid for at least one kind that takes the key."""
    from cnnsize.engine.kinds import COMMON_KEYS, RULES

    by_key: dict[str, list[dict[str, Any]]] = {}
    for _kind, rule in sorted(RULES.items()):
        for key in rule.keys:
            if key in COMMON_KEYS:
                continue
            frag = _checker_schema(rule.keys[key].check) or {}
            if frag not in by_key.setdefault(key, []):
                by_key[key].append(frag)
    props = {}
    for key, frags in sorted(by_key.items()):
        kinds = sorted(k for k, r in RULES.items() if key in r.keys)
        s: dict[str, Any] = frags[0] if len(frags) == 1 else {"anyOf": frags}
        docs: dict[str, list[str]] = {}
        for k in kinds:
            docs.setdefault(RULES[k].keys[key].doc, []).append(k)
        text = next(iter(docs)) if len(docs) == 1 else "; ".join(f"{', '.join(ks)}: {d}" for d, ks in docs.items())
        props[key] = _doc(s, f"{text}; applies to {', '.join(kinds)}")
    return {"type": "object", "description": TOP_DOCS["defaults"], "properties": props, "additionalProperties": False}


def _quantity_pattern() -> str:
    from cnnsize.engine.units import _SUFFIX

    suffixes = "|".join(sorted((re.escape(s) for s in _SUFFIX if s), key=lambda s: (-len(s), s)))
    return rf"^\s*[0-9][0-9_,]*(\.[0-9]+)?\s*({suffixes})?\s*$"


def _budget_doc(key: str) -> str:
    bound, _, what = key.partition("_")
    what = what.replace("_", " ")
    if bound == "max":
        return f"`cnnsize check` fails when {what} exceed this"
    return f"`cnnsize check` fails when {what} is below this"


def _budgets_schema() -> dict[str, Any]:
    from cnnsize.engine.spec import BUDGET_KEYS

    qty = {
        "anyOf": [
            {"type": "integer", "minimum": 0},
            {"type": "number", "minimum": 0},
            {"type": "string", "pattern": _quantity_pattern()},
        ]
    }
    return {
        "type": "object",
        "description": TOP_DOCS["budgets"] + "; values are integers or quantities such as 5M, 1.5G, 100MiB",
        "properties": {k: {**qty, "description": _budget_doc(k)} for k in sorted(BUDGET_KEYS)},
        "additionalProperties": False,
    }


def build_schema() -> dict[str, Any]:
    """The whole schema as a dict (ready for json.dumps)."""
    from cnnsize.engine.expr import FUNCTIONS
    from cnnsize.engine.spec import BLOCK_KEYS, FORMAT_VERSION, INSTANCE_KEYS, TOP_KEYS

    ident = {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"}
    block_args = {
        "type": "object",
        "description": BLOCK_DOCS["args"],
        "propertyNames": {**ident, "not": {"enum": sorted(INSTANCE_KEYS)}},
    }
    block_props = {
        "args": block_args,
        "layers": _doc({"$ref": "#/$defs/layers"}, BLOCK_DOCS["layers"]),
        "output": {"type": "string", "description": BLOCK_DOCS["output"]},
        "description": {"type": "string", "description": BLOCK_DOCS["description"]},
        "note": {"type": "string", "description": BLOCK_DOCS["note"]},
    }
    top_props: dict[str, Any] = {
        "cnnsize": {"const": FORMAT_VERSION},
        "name": {"type": "string"},
        "source": {"type": "string"},
        "description": {"type": "string"},
        "input": {
            "anyOf": [
                {"type": "array", "minItems": 1, "maxItems": 1 + MAX_SPATIAL_AXES, "items": _int(1)},
                TEMPLATE_REF,
            ]
        },
        "vars": {
            "type": "object",
            "propertyNames": ident,
            "additionalProperties": {"type": ["number", "boolean", "string"]},
        },
        "defaults": _defaults_schema(),
        "blocks": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["layers"],
                "properties": {k: block_props[k] for k in sorted(BLOCK_KEYS)},
                "additionalProperties": False,
            },
        },
        "layers": {"$ref": "#/$defs/layers"},
        "outputs": {"type": "array", "items": {"type": "string"}},
        "budgets": _budgets_schema(),
    }
    for key, doc in TOP_DOCS.items():
        if key in top_props:
            top_props[key] = _doc(top_props[key], doc)
    if set(top_props) != set(TOP_KEYS) or set(block_props) != set(BLOCK_KEYS):
        raise RuntimeError("schema.py is out of step with cnnsize.engine.spec TOP_KEYS/BLOCK_KEYS")
    layer_defs = _layer_defs()
    return {
        "$schema": DIALECT,
        "$id": SCHEMA_ID,
        "title": f"cnnsize spec (format version {FORMAT_VERSION})",
        "description": (
            "A CNN architecture for cnnsize: input shape, layers, blocks and budgets. Reference: docs/spec.md."
        ),
        "type": "object",
        "required": ["cnnsize", "name", "input", "layers"],
        "properties": top_props,
        "additionalProperties": False,
        "allOf": _required_unless_default(),
        "$defs": {
            **layer_defs,
            **dict(sorted(_TYPES.items())),
            "template": {
                "type": "string",
                "pattern": r"\$\{[^{}]*\}",
                "description": "a ${...} template: an expression over vars, block arguments, i and n, with functions "
                + ", ".join(FUNCTIONS),
            },
        },
    }


def render(indent: int = 2) -> str:
    import json

    return json.dumps(build_schema(), indent=indent) + "\n"


# --- docs/kinds.md --------------------------------------------------------------------


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def _torch_side(rule: Any) -> list[str]:
    from cnnsize.engine.registry import Missing

    lines = []
    to = rule.to_torch
    if isinstance(to, Missing):
        lines.append(f"- to torch: none ({to.reason})")
    else:
        doc = (to.__doc__ or "").strip().split("\n")[0]
        lines.append(f"- to torch: `{to.__module__}.{to.__qualname__.split('.')[0]}`" + (f": {doc}" if doc else ""))
    ft = rule.from_torch
    if isinstance(ft, Missing):
        lines.append(f"- from torch: none of its own ({ft.reason})")
    else:
        for tm in ft:
            names = [f"`{n}`" for n in (*tm.modules, *tm.functions)] + [f"`Tensor.{m}`" for m in tm.methods]
            lines.append(f"- from torch: {', '.join(names)}")
    fo = rule.from_onnx
    if isinstance(fo, Missing):
        lines.append(f"- from ONNX: none ({fo.reason})")
    else:
        lines.append("- from ONNX: " + ", ".join(f"`{op}`" for om in fo for op in om.ops))
    return lines


def kinds_markdown() -> str:
    """docs/kinds.md: every layer kind with its aliases, keys (description,
    default) and torch mappings, from the registry."""
    from cnnsize.engine.kinds import KINDS, RULES

    def aliases(kind: str) -> str:
        return ", ".join(f"`{a}`" for a, k in KINDS.items() if k == kind and a != kind)

    out = [
        "# Layer kinds",
        "",
        "Generated from the registry (`cnnsize/engine/kinds/`) by",
        "`python -m cnnsize.engine.schema --kinds-md -o docs/kinds.md`; do not edit by hand",
        "(tests/test_registry.py fails when this file is out of date).",
        "Every kind also takes the common keys `name`, `inputs`, `repeat`, `note` and `when` (docs/spec.md).",
        "",
        "| kind | category | aliases | summary |",
        "|---|---|---|---|",
    ]
    for kind, rule in sorted(RULES.items()):
        out.append(f"| [`{kind}`](#{kind}) | {rule.category} | {aliases(kind)} | {_md(rule.summary)} |")
    for kind, rule in sorted(RULES.items()):
        out += ["", f"## {kind}", "", _md(rule.summary) + ".", ""]
        if aliases(kind):
            out += [f"Aliases: {aliases(kind)}.", ""]
        out += [f"Category: {rule.category}; inputs: {rule.inputs}; trainable parameters: {_md(rule.params_doc)}.", ""]
        out += ["| key | default | meaning |", "|---|---|---|"]
        for key, spec in rule.keys.items():
            default = "required" if spec.required else ("-" if spec.default is None else f"`{spec.default!r}`")
            out.append(f"| `{key}` | {default} | {_md(spec.doc)} |")
        out += ["", *_torch_side(rule)]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    """python -m cnnsize.engine.schema [--kinds-md] [-o FILE]: the JSON
    schema (as `cnnsize schema` prints it) or docs/kinds.md."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m cnnsize.engine.schema")
    ap.add_argument("--kinds-md", action="store_true", help="write the layer-kind reference (docs/kinds.md)")
    ap.add_argument("-o", "--output", help="file to write (default: standard output)")
    args = ap.parse_args(argv)
    text = kinds_markdown() if args.kinds_md else render()
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
