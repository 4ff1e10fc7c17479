"""The top-level reader: a loaded document (or a Python dict) to a
:class:`Spec`.

The document's top level (version, name, vars, input, defaults, blocks,
outputs, budgets) is read here; its layers are expanded by expand.py.
Errors are collected (not raised one by one) so that a user sees all of
them in one run, in source order; nothing here runs the analysis
(cnnsize.engine.load adds its errors).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cnnsize.engine.errors import Diagnostic, Loc, RuleError, SpecError, did_you_mean, in_source_order
from cnnsize.engine.expr import ExprError, freeze_limits, has_template, thaw_limits
from cnnsize.engine.kinds import COMMON_KEYS, t_int
from cnnsize.engine.spec.dicts import wrap_spec
from cnnsize.engine.spec.expand import expand
from cnnsize.engine.spec.layer import ALL_LAYER_KEYS, short
from cnnsize.engine.spec.model import BLOCK_KEYS, BUDGET_KEYS, FORMAT_VERSION, INSTANCE_KEYS, TOP_KEYS, Names, Spec
from cnnsize.engine.spec.state import BuildState
from cnnsize.engine.yamlload import LList, LMap

_MISSING_HINTS = {
    "cnnsize": "add 'cnnsize: 1' (the format version)",
    "name": "add 'name: <model name>'",
    "input": "add e.g. 'input: [3, 224, 224]'",
    "layers": "add 'layers:' with the list of layers",
}


def read(
    doc: Any,
    filename: str = "<spec>",
    overrides: Mapping[str, Any] | None = None,
    diagnostics: list[Diagnostic] | None = None,
) -> Spec:
    """Validate and expand a loaded document (LMap, or a plain dict).

    Errors do not raise: they are in ``spec.diagnostics``, the faulty layers
    marked invalid (cnnsize.engine.load.parse adds what the analysis finds
    in the valid layers, and raises). Only a document that is no mapping at
    all, or a Python value that cannot be copied safely, raises SpecError.
    ``diagnostics``: faults found while loading (duplicate keys) that did
    not stop the loader.
    """
    if isinstance(doc, dict) and not isinstance(doc, LMap):
        doc = wrap_spec(doc)
    st = BuildState(filename)
    st.diags.extend(diagnostics or [])
    token = freeze_limits()
    try:
        return _build(st, doc, dict(overrides or {}))
    finally:
        thaw_limits(token)


def _build(st: BuildState, doc: Any, overrides: dict[str, Any]) -> Spec:
    _check_header(st, doc)
    name = doc.get("name", "")
    if not isinstance(name, str):
        st.err("bad-type", "'name' must be a string", "quote it", doc.where("name"))
        name = str(name)
    for key in ("source", "description"):
        if key in doc and not isinstance(doc[key], str):
            st.err("bad-type", f"'{key}' must be a string", "quote it", doc.where(key))
    _read_vars(st, doc, overrides)
    shape = _read_input(st, doc)
    _read_defaults(st, doc)
    _read_blocks(st, doc)
    top = Names("", "input", None)
    layers = doc.get("layers")
    if "layers" in doc:
        if not isinstance(layers, LList) or not layers:
            st.err(
                "bad-type",
                "'layers' must be a non-empty list",
                "list the layers with '- {type: ...}'",
                doc.where("layers"),
            )
        else:
            expand(st, layers, dict(st.vars), top, "input", [], None)
    outputs = _read_outputs(st, doc, top)
    budgets, budget_locs = _read_budgets(st, doc)
    complete = bool(shape) and not st.too_many and bool(st.layers)
    if complete:
        _resolve_inputs(st)
    # a misspelt input or output leaves a layer unconsumed: that is the
    # same mistake, so no dangling-output errors are added on top
    wiring_ok = not any(d.code in ("undefined-input", "undefined-output") for d in st.diags)
    source, description = doc.get("source", ""), doc.get("description", "")
    return Spec(
        name=name,
        file=st.file,
        input=shape,
        layers=st.layers,
        source=source if isinstance(source, str) else "",
        description=description if isinstance(description, str) else "",
        outputs=outputs,
        budgets=budgets,
        budget_locs=budget_locs,
        vars=st.vars,
        input_loc=doc.where("input"),
        loc=doc.loc,
        diagnostics=in_source_order(st.diags),
        complete=complete,
        check_dangling=wiring_ok,
    )


def _check_header(st: BuildState, doc: Any) -> None:
    """A mapping (else SpecError now: nothing else can be read), with the
    keys every spec has, known keys only, and the supported version."""
    if not isinstance(doc, LMap):
        what = "a list" if isinstance(doc, list) else f"a single {type(doc).__name__} value"
        st.err(
            "not-a-mapping",
            f"a spec must be a YAML mapping of keys, this file is {what}",
            "start with 'cnnsize: 1', 'name:', 'input:' and 'layers:'",
            getattr(doc, "loc", None) or Loc(st.file, 1, 1),
        )
        raise SpecError(in_source_order(st.diags))
    st.unknown_keys(doc, TOP_KEYS, "the spec")
    for key in ("cnnsize", "name", "input", "layers"):
        if key not in doc:
            st.err("missing-key", f"the spec has no '{key}'", _MISSING_HINTS[key], doc.loc)
    version = doc.get("cnnsize")
    if "cnnsize" in doc and version != FORMAT_VERSION:
        st.err(
            "unsupported-version",
            f"format version {version!r} is not supported",
            f"this cnnsize reads version {FORMAT_VERSION}: write 'cnnsize: {FORMAT_VERSION}'",
            doc.where("cnnsize"),
        )


def _read_vars(st: BuildState, doc: LMap, overrides: dict[str, Any]) -> None:
    v = doc.get("vars", LMap())
    if not isinstance(v, LMap):
        st.err("bad-type", "'vars' must be a mapping of names to values", "e.g. vars: {width: 1.0}", doc.where("vars"))
        v = LMap()
    for key, val in v.items():
        if not key.isidentifier():
            st.err(
                "bad-name",
                f"var name '{key}' is not an identifier",
                "use letters, digits and _",
                v.key_locs.get(key, v.loc),
            )
        else:
            _check_var(st, key, val, v.where(key), "")
        st.vars[key] = val
    for key, val in overrides.items():
        if key not in st.vars:
            st.err(
                "unknown-var",
                f"--set {key}: the spec has no var '{key}'",
                did_you_mean(key, st.vars) or f"vars: {', '.join(st.vars) or 'none'}",
                v.loc or doc.loc,
            )
        elif _check_var(st, key, val, v.where(key), "--set "):
            st.vars[key] = val


def _check_var(st: BuildState, key: str, val: Any, loc: Loc | None, via: str) -> bool:
    """A var (from the spec or --set) is a plain number, bool or string."""
    if isinstance(val, (dict, list)) or val is None:
        st.err(
            "bad-type",
            f"{via}var '{key}' must be a number, bool or string, got {short(val)}",
            "lists and mappings belong in layer keys",
            loc,
        )
        return False
    if has_template(val):
        st.err(
            "template",
            f"{via}var '{key}' is a template; vars are plain values",
            "compute it where it is used, e.g. filters: ${a * 2}",
            loc,
        )
        return False
    return True


def _read_input(st: BuildState, doc: LMap) -> tuple[int, ...]:
    if "input" not in doc:
        return ()
    loc = doc.where("input")
    try:
        shape = st.value(doc["input"], st.vars)
    except ExprError as exc:
        st.err("template", exc.message, exc.hint, loc)
        return ()
    if not isinstance(shape, list) or not 1 <= len(shape) <= 4:
        st.err(
            "bad-input",
            f"'input' must be a list: channels then 0 to 3 spatial sizes, got {shape!r}",
            "e.g. input: [3, 224, 224]",
            loc,
        )
        return ()
    try:
        for x in shape:
            t_int(1)(x, "input")
    except RuleError as exc:
        st.err(exc.code, exc.message, exc.hint, loc)
        return ()
    return tuple(shape)


def _read_defaults(st: BuildState, doc: LMap) -> None:
    d = doc.get("defaults", LMap())
    if not isinstance(d, LMap):
        st.err(
            "bad-type",
            "'defaults' must be a mapping of layer keys to values",
            "e.g. defaults: {bias: false}",
            doc.where("defaults"),
        )
        return
    for key, val in d.items():
        if key in COMMON_KEYS or key not in ALL_LAYER_KEYS:
            st.err(
                "unknown-key",
                f"'{key}' cannot be a default",
                did_you_mean(key, ALL_LAYER_KEYS - COMMON_KEYS)
                or "defaults take layer keys such as bias or activation",
                d.key_locs.get(key, d.loc),
            )
        else:
            st.defaults[key] = val


def _read_blocks(st: BuildState, doc: LMap) -> None:
    b = doc.get("blocks", LMap())
    if not isinstance(b, LMap):
        st.err("bad-type", "'blocks' must be a mapping of block names to definitions", "", doc.where("blocks"))
        return
    for name, body in b.items():
        # a broken definition is reported once here; its instances
        # become placeholders instead of repeating the error
        st.broken_blocks.add(name)
        if not isinstance(body, LMap):
            st.err("bad-type", f"block '{name}' must be a mapping with 'layers:'", "", b.where(name))
            continue
        st.unknown_keys(body, BLOCK_KEYS, f"block '{name}'")
        if not isinstance(body.get("layers"), LList) or not body.get("layers"):
            st.err("missing-key", f"block '{name}' has no 'layers:' list", "add the block's layers", body.loc)
            continue
        args = body.get("args", LMap())
        if not isinstance(args, LMap):
            st.err(
                "bad-type",
                f"'args' of block '{name}' must be a mapping of names to defaults (~ = required)",
                "",
                body.where("args"),
            )
            continue
        ok = True
        for a in args:
            if not a.isidentifier() or a in INSTANCE_KEYS:
                st.err(
                    "bad-name",
                    f"block argument '{a}' is not a usable name",
                    f"use an identifier other than {', '.join(sorted(INSTANCE_KEYS))}",
                    args.key_locs.get(a, args.loc),
                )
                ok = False
        if ok:
            st.broken_blocks.discard(name)
        st.blocks[name] = body


def _read_outputs(st: BuildState, doc: LMap, top: Names) -> list[str]:
    if "outputs" not in doc:
        return [st.layers[-1].name] if st.layers else []
    outs = doc["outputs"]
    if not isinstance(outs, LList) or not all(isinstance(o, str) for o in outs):
        st.err("bad-type", "'outputs' must be a list of layer names", "", doc.where("outputs"))
        return []
    resolved = []
    for o, loc in zip(outs, outs.item_locs):
        full = top.local.get(o, o)
        if full not in st.all_names:
            st.err(
                "undefined-output",
                f"output '{o}' is not a layer",
                did_you_mean(o, list(top.local) + list(st.all_names)),
                loc,
            )
        else:
            resolved.append(full)
    return resolved


def _read_budgets(st: BuildState, doc: LMap) -> tuple[dict[str, Any], dict[str, Loc]]:
    if "budgets" not in doc:
        return {}, {}
    from cnnsize.engine.units import parse_quantity

    b = doc["budgets"]
    if not isinstance(b, LMap):
        st.err("bad-type", "'budgets' must be a mapping", "e.g. budgets: {max_params: 5M}", doc.where("budgets"))
        return {}, {}
    st.unknown_keys(b, BUDGET_KEYS, "budgets")
    out: dict[str, Any] = {}
    for key, val in b.items():
        if key not in BUDGET_KEYS:
            continue
        try:
            out[key] = parse_quantity(val)
        except ValueError as exc:
            st.err("bad-budget", f"budget '{key}': {exc}", "write an integer or e.g. 5M, 1.5G, 100MiB", b.where(key))
    return out, dict(b.value_locs)


def _resolve_inputs(st: BuildState) -> None:
    """Resolve input names once everything is expanded (so a forward
    reference becomes a cycle the graph can report, not a vague error)."""
    for ld in st.layers:
        if not ld.explicit_inputs:
            ld.inputs = ld.raw_inputs  # the layer before: already a full name
            continue
        out = []
        for ref in ld.raw_inputs:
            full = st.lookup(ref, ld.scope)
            if full is None:
                candidates = list(ld.scope.local) + [
                    n for n in st.all_names if not ld.scope.prefix or n.startswith(ld.scope.prefix)
                ]
                d = Diagnostic(
                    "undefined-input",
                    f"input '{ref}' is not a layer",
                    did_you_mean(ref, candidates) or "inputs name earlier layers (or 'input')",
                    ld.key_locs.get("inputs", ld.loc),
                    ld.name,
                    ld.kind,
                )
                if ld.instance is not None:
                    d.block, d.instance, d.instance_loc = ld.block, ld.instance, ld.instance_loc
                st.diags.append(d)
                ld.invalid = True
            else:
                out.append(full)
        ld.inputs = out
