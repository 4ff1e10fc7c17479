"""From a loaded YAML document to a flat, validated list of layers.

Blocks and ``repeat`` are expanded here; templates are evaluated with the
allow-listed evaluator; every layer key is checked against its rule's key
table. Errors are collected (not raised one by one) so that a user sees all
of them in one run, in source order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._gc import paused
from .errors import Diagnostic, Loc, RuleError, SpecError, did_you_mean
from .expr import ExprError, has_template, render
from .rules import COMMON_KEYS, KINDS, RULES, t_int
from .yamlload import LList, LMap, load, read_text

FORMAT_VERSION = 1
MAX_LAYERS = 100_000
MAX_BLOCK_DEPTH = 32

TOP_KEYS = {"cnnsize", "name", "source", "description", "input", "vars", "defaults", "blocks", "layers", "outputs", "budgets"}
BLOCK_KEYS = {"args", "layers", "output", "description", "note"}
INSTANCE_KEYS = {"block", "name", "inputs", "repeat", "note", "when"}
BUDGET_KEYS = {
    "max_params",
    "max_weights",
    "max_macs",
    "max_flops",
    "max_connections",
    "max_units",
    "max_activation_bytes",
    "max_peak_bytes",
    "max_training_bytes",
    "min_receptive_field",
    "max_receptive_field",
}
ALL_LAYER_KEYS = set(COMMON_KEYS).union(*(r.keys for r in RULES.values()))
_ALLOWED: dict[str, set[str]] = {}  # kind -> keys a layer of that kind may have


@dataclass(slots=True)
class LayerDef:
    name: str
    kind: str
    type: str
    params: dict[str, Any]
    raw_inputs: list[str]
    loc: Loc | None
    key_locs: dict[str, Loc]
    index: int
    scope: _Names
    explicit_inputs: bool
    block: str | None = None
    inputs: list[str] = field(default_factory=list)


@dataclass
class Spec:
    name: str
    file: str
    input: tuple[int, ...]
    layers: list[LayerDef]
    source: str = ""
    description: str = ""
    outputs: list[str] = field(default_factory=list)
    budgets: dict[str, Any] = field(default_factory=dict)
    budget_locs: dict[str, Loc] = field(default_factory=dict)
    vars: dict[str, Any] = field(default_factory=dict)
    input_loc: Loc | None = None
    loc: Loc | None = None


class _Names:
    """Names visible inside one block instance (or the top level)."""

    __slots__ = ("prefix", "local", "input_name", "parent")

    def __init__(self, prefix: str, input_name: str, parent: _Names | None) -> None:
        self.prefix = prefix
        self.local: dict[str, str] = {}
        self.input_name = input_name
        self.parent = parent


class _Builder:
    def __init__(self, filename: str, overrides: Mapping[str, Any] | None) -> None:
        self.file = filename
        self.diags: list[Diagnostic] = []
        self.layers: list[LayerDef] = []
        self.all_names: dict[str, LayerDef] = {}
        self.blocks: dict[str, LMap] = {}
        self.defaults: dict[str, Any] = {}
        self.vars: dict[str, Any] = {}
        self.overrides = dict(overrides or {})
        self.type_counts: dict[tuple[str, str], int] = {}
        self.too_many = False
        self.base_params: dict[str, Any] = {}  # kind -> (params from defaults, required keys) or None

    # -- diagnostics --------------------------------------------------------

    def err(self, code: str, msg: str, hint: str = "", loc: Loc | None = None, layer: str | None = None, kind: str | None = None) -> None:
        self.diags.append(Diagnostic(code, msg, hint, loc, layer, kind))

    def unknown_keys(self, m: LMap, allowed: set[str], what: str, layer: str | None = None, kind: str | None = None) -> bool:
        ok = True
        for key in m:
            if key not in allowed:
                hint = did_you_mean(key, allowed) or f"allowed keys: {', '.join(sorted(allowed))}"
                self.err("unknown-key", f"unknown key '{key}' in {what}", hint, m.key_locs.get(key, m.loc), layer, kind)
                ok = False
        return ok

    # -- templates ----------------------------------------------------------

    def value(self, v: Any, scope: Mapping[str, Any]) -> Any:
        if has_template(v):
            return render(v, scope)
        if isinstance(v, list):
            return [self.value(x, scope) for x in v]
        return v

    # -- top level ----------------------------------------------------------

    def build(self, doc: Any) -> Spec:
        f = self.file
        if not isinstance(doc, LMap):
            raise SpecError([Diagnostic("not-a-mapping", "a spec must be a YAML mapping", "start with 'cnnsize: 1'", getattr(doc, "loc", None) or Loc(f, 1, 1))])
        self.unknown_keys(doc, TOP_KEYS, "the spec")
        for key in ("cnnsize", "name", "input", "layers"):
            if key not in doc:
                self.err("missing-key", f"the spec has no '{key}'", {"cnnsize": "add 'cnnsize: 1' (the format version)", "name": "add 'name: <model name>'", "input": "add e.g. 'input: [3, 224, 224]'", "layers": "add 'layers:' with the list of layers"}[key], doc.loc)
        version = doc.get("cnnsize")
        if "cnnsize" in doc and version != FORMAT_VERSION:
            self.err("unsupported-version", f"format version {version!r} is not supported", f"this cnnsize reads version {FORMAT_VERSION}: write 'cnnsize: {FORMAT_VERSION}'", doc.where("cnnsize"))
        name = doc.get("name", "")
        if not isinstance(name, str):
            self.err("bad-type", "'name' must be a string", "quote it", doc.where("name"))
            name = str(name)
        for key in ("source", "description"):
            if key in doc and not isinstance(doc[key], str):
                self.err("bad-type", f"'{key}' must be a string", "quote it", doc.where(key))
        self.read_vars(doc)
        shape = self.read_input(doc)
        self.read_defaults(doc)
        self.read_blocks(doc)
        top = _Names("", "input", None)
        layers = doc.get("layers")
        if "layers" in doc:
            if not isinstance(layers, LList) or not layers:
                self.err("bad-type", "'layers' must be a non-empty list", "list the layers with '- {type: ...}'", doc.where("layers"))
            else:
                self.expand(layers, dict(self.vars), top, "input", [], None)
        outputs = self.read_outputs(doc, top)
        budgets, budget_locs = self.read_budgets(doc)
        if not self.diags:
            self.resolve_inputs()
        spec = Spec(
            name=name,
            file=f,
            input=shape,
            layers=self.layers,
            source=doc.get("source", "") if isinstance(doc.get("source", ""), str) else "",
            description=doc.get("description", "") if isinstance(doc.get("description", ""), str) else "",
            outputs=outputs,
            budgets=budgets,
            budget_locs=budget_locs,
            vars=self.vars,
            input_loc=doc.where("input"),
            loc=doc.loc,
        )
        if self.diags:
            raise SpecError(sorted(self.diags, key=_order))
        return spec

    def read_vars(self, doc: LMap) -> None:
        v = doc.get("vars", LMap())
        if not isinstance(v, LMap):
            self.err("bad-type", "'vars' must be a mapping of names to values", "e.g. vars: {width: 1.0}", doc.where("vars"))
            v = LMap()
        for key, val in v.items():
            if not key.isidentifier():
                self.err("bad-name", f"var name '{key}' is not an identifier", "use letters, digits and _", v.key_locs[key])
            elif isinstance(val, (LMap, LList)) or val is None:
                self.err("bad-type", f"var '{key}' must be a number, bool or string", "", v.where(key))
            self.vars[key] = val
        for key, val in self.overrides.items():
            if key not in self.vars:
                self.err("unknown-var", f"--set {key}: the spec has no var '{key}'", did_you_mean(key, self.vars) or f"vars: {', '.join(self.vars) or 'none'}", v.loc or doc.loc)
            else:
                self.vars[key] = val

    def read_input(self, doc: LMap) -> tuple[int, ...]:
        if "input" not in doc:
            return ()
        loc = doc.where("input")
        try:
            shape = self.value(doc["input"], self.vars)
        except ExprError as exc:
            self.err("template", exc.message, exc.hint, loc)
            return ()
        if not isinstance(shape, list) or not 1 <= len(shape) <= 4:
            self.err("bad-input", f"'input' must be a list: channels then 0 to 3 spatial sizes, got {shape!r}", "e.g. input: [3, 224, 224]", loc)
            return ()
        try:
            for x in shape:
                t_int(1)(x, "input")
        except RuleError as exc:
            self.err(exc.code, exc.message, exc.hint, loc)
            return ()
        return tuple(shape)

    def read_defaults(self, doc: LMap) -> None:
        d = doc.get("defaults", LMap())
        if not isinstance(d, LMap):
            self.err("bad-type", "'defaults' must be a mapping of layer keys to values", "e.g. defaults: {bias: false}", doc.where("defaults"))
            return
        for key, val in d.items():
            if key in COMMON_KEYS or key not in ALL_LAYER_KEYS:
                self.err("unknown-key", f"'{key}' cannot be a default", did_you_mean(key, ALL_LAYER_KEYS - COMMON_KEYS) or "defaults take layer keys such as bias or activation", d.key_locs[key])
            else:
                self.defaults[key] = val

    def read_blocks(self, doc: LMap) -> None:
        b = doc.get("blocks", LMap())
        if not isinstance(b, LMap):
            self.err("bad-type", "'blocks' must be a mapping of block names to definitions", "", doc.where("blocks"))
            return
        for name, body in b.items():
            if not isinstance(body, LMap):
                self.err("bad-type", f"block '{name}' must be a mapping with 'layers:'", "", b.where(name))
                continue
            self.unknown_keys(body, BLOCK_KEYS, f"block '{name}'")
            if not isinstance(body.get("layers"), LList) or not body.get("layers"):
                self.err("missing-key", f"block '{name}' has no 'layers:' list", "add the block's layers", body.loc)
                continue
            args = body.get("args", LMap())
            if not isinstance(args, LMap):
                self.err("bad-type", f"'args' of block '{name}' must be a mapping of names to defaults (~ = required)", "", body.where("args"))
                continue
            for a in args:
                if not a.isidentifier() or a in INSTANCE_KEYS:
                    self.err("bad-name", f"block argument '{a}' is not a usable name", f"use an identifier other than {', '.join(sorted(INSTANCE_KEYS))}", args.key_locs[a])
            self.blocks[name] = body

    def read_outputs(self, doc: LMap, top: _Names) -> list[str]:
        if "outputs" not in doc:
            return [self.layers[-1].name] if self.layers else []
        outs = doc["outputs"]
        if not isinstance(outs, LList) or not all(isinstance(o, str) for o in outs):
            self.err("bad-type", "'outputs' must be a list of layer names", "", doc.where("outputs"))
            return []
        resolved = []
        for o, loc in zip(outs, outs.item_locs):
            full = top.local.get(o, o)
            if full not in self.all_names:
                self.err("undefined-output", f"output '{o}' is not a layer", did_you_mean(o, list(top.local) + list(self.all_names)), loc)
            else:
                resolved.append(full)
        return resolved

    def read_budgets(self, doc: LMap) -> tuple[dict[str, Any], dict[str, Loc]]:
        from .units import parse_quantity

        b = doc.get("budgets", LMap())
        if not isinstance(b, LMap):
            self.err("bad-type", "'budgets' must be a mapping", "e.g. budgets: {max_params: 5M}", doc.where("budgets"))
            return {}, {}
        self.unknown_keys(b, BUDGET_KEYS, "budgets")
        out: dict[str, Any] = {}
        for key, val in b.items():
            if key not in BUDGET_KEYS:
                continue
            try:
                out[key] = parse_quantity(val)
            except ValueError as exc:
                self.err("bad-budget", f"budget '{key}': {exc}", "write an integer or e.g. 5M, 1.5G, 100MiB", b.where(key))
        return out, dict(b.value_locs)

    # -- layers -------------------------------------------------------------

    def expand(self, entries: LList, scope: dict[str, Any], names: _Names, prev: str, stack: list[str], block: str | None) -> str:
        """Expand entries in order; return the name of the last layer."""
        for entry, eloc in zip(entries, entries.item_locs):
            if self.too_many:
                return prev
            if not isinstance(entry, LMap):
                self.err("bad-layer", f"a layer must be a mapping, got {type(entry).__name__}", "write '- {name: x, type: conv, ...}'", eloc)
                continue
            if "when" in entry:
                try:
                    cond = self.value(entry["when"], scope)
                except ExprError as exc:
                    self.err("template", exc.message, exc.hint, entry.where("when"), entry.get("name") if isinstance(entry.get("name"), str) else None)
                    continue
                if not isinstance(cond, bool):
                    self.err("bad-type", f"'when' must be true or false, got {cond!r}", "write a comparison, e.g. ${i == 0}", entry.where("when"))
                    continue
                if not cond:
                    continue
            if "block" in entry and "type" in entry:
                self.err("bad-layer", "a layer has both 'type' and 'block'", "a block instance names only 'block'", entry.loc)
                continue
            if "block" in entry:
                prev = self.instance(entry, scope, names, prev, stack)
            else:
                prev = self.layer(entry, scope, names, prev, block)
        return prev

    def repeat_count(self, entry: LMap, scope: Mapping[str, Any], who: str | None) -> int | None:
        if "repeat" not in entry:
            return None
        try:
            n = self.value(entry["repeat"], scope)
            t_int(0)(n, "repeat")
        except ExprError as exc:
            self.err("template", exc.message, exc.hint, entry.where("repeat"), who)
            return 0
        except RuleError as exc:
            self.err(exc.code, exc.message, exc.hint, entry.where("repeat"), who)
            return 0
        if len(self.layers) + n > MAX_LAYERS:
            self.err(
                "limit-layers",
                f"repeat: {n:,} would expand the spec past the {MAX_LAYERS:,}-layer limit",
                "use fewer repeats; the limit is cnnsize.spec.MAX_LAYERS",
                entry.where("repeat"),
                who,
            )
            self.too_many = True
            return 0
        return int(n)

    def auto_name(self, names: _Names, typ: str) -> str:
        k = (names.prefix, typ)
        self.type_counts[k] = self.type_counts.get(k, 0) + 1
        return f"{typ}_{self.type_counts[k]}"

    def read_name(self, entry: LMap, names: _Names, typ: str) -> str | None:
        if "name" not in entry:
            return self.auto_name(names, typ)
        nm = entry["name"]
        if has_template(nm):
            return nm  # rendered per repetition
        if not isinstance(nm, str) or not nm or nm == "input" or any(ch in nm for ch in " \t\n"):
            self.err("bad-name", f"layer name {nm!r} is not usable", "use a non-empty name without spaces, other than 'input'", entry.where("name"))
            return None
        return nm

    def register(self, names: _Names, local: str, full: str, loc: Loc | None, who: str) -> bool:
        if full in self.all_names or local in names.local:
            first = self.all_names.get(full) or self.all_names.get(names.local.get(local, ""))
            where = f" (first at line {first.loc.line})" if first and first.loc else ""
            self.err("duplicate-name", f"layer name '{local}' is used twice{where}", "give every layer a unique name", loc, who)
            return False
        return True

    def layer(self, entry: LMap, scope: dict[str, Any], names: _Names, prev: str, block: str | None) -> str:
        typ = entry.get("type")
        nm0 = entry.get("name") if isinstance(entry.get("name"), str) else None
        if typ is None:
            self.err("missing-key", "layer has no 'type'", "add e.g. 'type: conv' (or 'block:' for a block instance)", entry.loc, nm0)
            return prev
        if not isinstance(typ, str) or typ not in KINDS:
            self.err("unknown-kind", f"unknown layer type {typ!r}", did_you_mean(str(typ), KINDS) or "see docs/spec.md for the layer kinds", entry.where("type"), nm0, str(typ))
            return prev
        kind = KINDS[typ]
        rule = RULES[kind]
        allowed = _ALLOWED.get(kind) or _ALLOWED.setdefault(kind, COMMON_KEYS | set(rule.keys))
        if not self.unknown_keys(entry, allowed, f"a {kind} layer", nm0, kind):
            return prev
        local = self.read_name(entry, names, kind)
        if local is None:
            return prev
        count = self.repeat_count(entry, scope, local)
        reps = 1 if count is None else count
        for r in range(reps):
            sc = scope if count is None else {**scope, "i": r, "n": count}
            try:
                lname = render(local, sc) if has_template(local) else local
            except ExprError as exc:
                self.err("template", exc.message, exc.hint, entry.where("name"), local, kind)
                return prev
            if not isinstance(lname, str):
                self.err("bad-name", f"layer name {lname!r} must be a string", "", entry.where("name"), local, kind)
                return prev
            suffix = f".{r}" if count is not None else ""
            full = f"{names.prefix}{lname}{suffix}"
            fast = self.fast_params(entry, kind, sc)
            params: dict[str, Any] = {} if fast is None else fast
            bad = False
            for key, spec in rule.keys.items() if fast is None else ():
                if key in entry:
                    raw, loc = entry[key], entry.where(key)
                elif key in self.defaults:
                    raw, loc = self.defaults[key], entry.loc
                else:
                    if spec.required:
                        self.err("missing-key", f"{kind} layer needs '{key}'", f"add '{key}:'", entry.loc, full, kind)
                        bad = True
                    params[key] = spec.default
                    continue
                try:
                    val = self.value(raw, sc)
                    # ~ (null) on an optional key means "the default"
                    params[key] = spec.default if val is None and not spec.required else spec.check(val, key)
                except ExprError as exc:
                    self.err("template", exc.message, exc.hint, loc, full, kind)
                    bad = True
                except RuleError as exc:
                    self.err(exc.code, exc.message, exc.hint, loc, full, kind)
                    bad = True
            raw_inputs: list[str] = []
            explicit = "inputs" in entry and r == 0
            if explicit:
                try:
                    ins = self.value(entry["inputs"], sc)
                except ExprError as exc:
                    self.err("template", exc.message, exc.hint, entry.where("inputs"), full, kind)
                    return prev
                if isinstance(ins, str):
                    ins = [ins]
                if not isinstance(ins, list) or not ins or not all(isinstance(x, str) for x in ins):
                    self.err("bad-type", "'inputs' must be a list of layer names", "e.g. inputs: [conv1, conv2]", entry.where("inputs"), full, kind)
                    return prev
                raw_inputs = list(ins)
            else:
                raw_inputs = [prev]
            if not self.register(names, lname + suffix, full, entry.where("name"), full):
                continue
            if bad:
                names.local[lname + suffix] = full
                prev = full
                continue
            ld = LayerDef(full, kind, typ, params, raw_inputs, entry.loc, dict(entry.value_locs), len(self.layers), names, explicit, block)
            self.layers.append(ld)
            self.all_names[full] = ld
            names.local[lname + suffix] = full
            if count is not None:
                names.local[lname] = full  # the repeated layer's name means its last copy
            prev = full
            if len(self.layers) > MAX_LAYERS:
                self.err("limit-layers", f"the spec expands past the {MAX_LAYERS:,}-layer limit", "the limit is cnnsize.spec.MAX_LAYERS", entry.loc, full, kind)
                self.too_many = True
                return prev
        return prev

    def fast_params(self, entry: LMap, kind: str, scope: Mapping[str, Any]) -> dict[str, Any] | None:
        """A layer's checked params in one pass over the keys it names, on top
        of the defaults prepared once per kind. None at the first problem (or
        where defaults need per-layer work): the layer then goes through the
        per-key loop in layer(), which reports every problem in rule-key order."""
        if kind not in self.base_params:
            self.base_params[kind] = self._base(kind)
        base = self.base_params[kind]
        if base is None:
            return None
        params, required = base
        params = dict(params)
        keys = RULES[kind].keys
        try:
            for key in entry:
                spec = keys.get(key)
                if spec is None:
                    continue  # name, type, inputs, ...: unknown keys were rejected already
                val = self.value(entry[key], scope)
                params[key] = spec.default if val is None and not spec.required else spec.check(val, key)
        except (ExprError, RuleError):
            return None
        for key in required:
            if key not in entry:
                return None
        return params

    def _base(self, kind: str) -> tuple[dict[str, Any], list[str]] | None:
        params: dict[str, Any] = {}
        required = []
        for key, spec in RULES[kind].keys.items():
            if key in self.defaults:
                raw = self.defaults[key]
                if not isinstance(raw, (int, float, str, type(None))) or has_template(raw):
                    return None  # lists and templates: checked per layer
                try:
                    params[key] = spec.default if raw is None and not spec.required else spec.check(raw, key)
                except RuleError:
                    return None
            else:
                params[key] = spec.default
                if spec.required:
                    required.append(key)
        return params, required

    def instance(self, entry: LMap, scope: dict[str, Any], names: _Names, prev: str, stack: list[str]) -> str:
        bname = entry["block"]
        who = entry.get("name") if isinstance(entry.get("name"), str) else None
        if not isinstance(bname, str) or bname not in self.blocks:
            self.err("unknown-block", f"unknown block {bname!r}", did_you_mean(str(bname), self.blocks) or f"blocks defined: {', '.join(self.blocks) or 'none'}", entry.where("block"), who)
            return prev
        if bname in stack:
            self.err("recursive-block", f"block '{bname}' uses itself ({' -> '.join([*stack, bname])})", "a block cannot contain itself", entry.where("block"), who, bname)
            return prev
        if len(stack) >= MAX_BLOCK_DEPTH:
            self.err("limit-block-depth", f"blocks nest deeper than {MAX_BLOCK_DEPTH} levels", "flatten the blocks; the limit is cnnsize.spec.MAX_BLOCK_DEPTH", entry.loc, who, bname)
            return prev
        body = self.blocks[bname]
        args = body.get("args", LMap())
        arg_keys = {k for k in entry if k not in INSTANCE_KEYS}
        for k in sorted(arg_keys - set(args)):
            self.err("unknown-arg", f"block '{bname}' has no argument '{k}'", did_you_mean(k, args) or f"its arguments: {', '.join(args) or 'none'}", entry.key_locs[k], who, bname)
        missing = [a for a, d in args.items() if d is None and a not in entry]
        for a in missing:
            self.err("missing-arg", f"block '{bname}' needs argument '{a}'", f"add '{a}:' to the instance", entry.loc, who, bname)
        if missing or arg_keys - set(args):
            return prev
        local = self.read_name(entry, names, bname)
        if local is None:
            return prev
        count = self.repeat_count(entry, scope, local)
        reps = 1 if count is None else count
        last = prev
        for r in range(reps):
            sc = scope if count is None else {**scope, "i": r, "n": count}
            full_inst = f"{names.prefix}{local}" + (f".{r}" if count is not None else "")
            if r == 0 and "inputs" in entry:
                try:
                    ins = self.value(entry["inputs"], sc)
                except ExprError as exc:
                    self.err("template", exc.message, exc.hint, entry.where("inputs"), full_inst, bname)
                    return prev
                if isinstance(ins, list) and len(ins) == 1 and isinstance(ins[0], str):
                    ins = ins[0]
                if not isinstance(ins, str):
                    self.err("bad-type", "a block instance takes one input name", "e.g. inputs: [conv1]", entry.where("inputs"), full_inst, bname)
                    return prev
                inp = self.resolve_now(ins, names, entry.where("inputs"), full_inst)
                if inp is None:
                    return prev
            else:
                inp = last
            inner_scope = dict(self.vars)
            ok = True
            for a, default in args.items():
                raw = entry[a] if a in entry else default
                try:
                    inner_scope[a] = self.value(raw, sc)
                except ExprError as exc:
                    self.err("template", exc.message, exc.hint, entry.where(a) if a in entry else args.where(a), full_inst, bname)
                    ok = False
            if not ok:
                return prev
            if count is not None:
                inner_scope.update(i=r, n=count)
            sub = _Names(full_inst + ".", inp, names)
            out = self.expand(body["layers"], inner_scope, sub, inp, [*stack, bname], bname)
            if "output" in body:
                o = body["output"]
                if not isinstance(o, str) or o not in sub.local:
                    self.err("undefined-output", f"block '{bname}' output {o!r} is not one of its layers", did_you_mean(str(o), sub.local), body.where("output"), full_inst, bname)
                    return prev
                out = sub.local[o]
            if out == inp:
                self.err("empty-block", f"block '{bname}' produced no layers here (all left out by 'when')", "", entry.loc, full_inst, bname)
                return prev
            names.local[local + (f".{r}" if count is not None else "")] = out
            last = out
        names.local[local] = last
        return last

    def resolve_now(self, ref: str, names: _Names, loc: Loc | None, who: str) -> str | None:
        if ref == "input":
            return names.input_name
        n: _Names | None = names
        while n is not None:
            if ref in n.local:
                return n.local[ref]
            n = n.parent
        if ref in self.all_names:
            return ref
        self.err("undefined-input", f"input '{ref}' is not a layer defined before this one", did_you_mean(ref, list(names.local) + list(self.all_names)), loc, who)
        return None

    def resolve_inputs(self) -> None:
        """Resolve input names once everything is expanded (so a forward
        reference becomes a cycle the graph can report, not a vague error)."""
        for ld in self.layers:
            out = []
            for ref in ld.raw_inputs:
                if not ld.explicit_inputs:
                    out.append(ref)
                    continue
                full = self._lookup(ref, ld.scope)
                if full is None:
                    candidates = list(ld.scope.local) + [n for n in self.all_names if not ld.scope.prefix or n.startswith(ld.scope.prefix)]
                    self.err("undefined-input", f"input '{ref}' is not a layer", did_you_mean(ref, candidates) or "inputs name earlier layers (or 'input')", ld.key_locs.get("inputs", ld.loc), ld.name, ld.kind)
                else:
                    out.append(full)
            ld.inputs = out

    def _lookup(self, ref: str, names: _Names) -> str | None:
        if ref == "input":
            return names.input_name
        n: _Names | None = names
        while n is not None:
            if ref in n.local:
                return n.local[ref]
            n = n.parent
        return ref if ref in self.all_names else None


def _order(d: Diagnostic) -> tuple[int, int]:
    return (d.loc.line, d.loc.col) if d.loc else (0, 0)


@paused
def parse(doc: Any, filename: str = "<spec>", overrides: Mapping[str, Any] | None = None) -> Spec:
    """Validate and expand a loaded document (LMap, or a plain dict)."""
    if isinstance(doc, dict) and not isinstance(doc, LMap):
        doc = _wrap(doc)
    return _Builder(filename, overrides).build(doc)


def _wrap(v: Any) -> Any:
    """Plain dicts/lists (the Python API) as LMap/LList without locations."""
    if isinstance(v, dict):
        m = LMap(None)
        for k, x in v.items():
            m[str(k)] = _wrap(x)
        return m
    if isinstance(v, (list, tuple)):
        lst = LList(None)
        for x in v:
            lst.append(_wrap(x))
            lst.item_locs.append(None)  # type: ignore[arg-type]
        return lst
    return v


@paused
def load_spec(path: str, overrides: Mapping[str, Any] | None = None) -> Spec:
    text = read_text(path)
    return parse(load(text, path), path, overrides)


def loads_spec(text: str, filename: str = "<spec>", overrides: Mapping[str, Any] | None = None) -> Spec:
    return parse(load(text, filename), filename, overrides)
