"""From a loaded YAML document to a flat, validated list of layers.

Blocks and ``repeat`` are expanded here; templates are evaluated with the
allow-listed evaluator; every layer key is checked against its rule's key
table. Errors are collected (not raised one by one) so that a user sees all
of them in one run, in source order.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from cnnsize.engine.errors import (
    Diagnostic,
    Loc,
    RuleError,
    SpecError,
    did_you_mean,
    in_source_order,
    limit,
    limit_hint,
)
from cnnsize.engine.expr import ExprError, freeze_limits, has_template, render, thaw_limits
from cnnsize.engine.rules import COMMON_KEYS, KINDS, RULES, t_int
from cnnsize.engine.yamlload import MAX_ALIAS_NODES, MAX_DEPTH, LList, LMap

FORMAT_VERSION = 1
# defaults; CNNSIZE_MAX_LAYERS / CNNSIZE_MAX_BLOCK_DEPTH in the environment raise them
MAX_LAYERS = 100_000
MAX_BLOCK_DEPTH = 32

TOP_KEYS = {
    "cnnsize",
    "name",
    "source",
    "description",
    "input",
    "vars",
    "defaults",
    "blocks",
    "layers",
    "outputs",
    "budgets",
}
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


def _allowed(kind: str) -> set[str]:
    return _ALLOWED.get(kind) or _ALLOWED.setdefault(kind, COMMON_KEYS | set(RULES[kind].keys))


def _usable_name(nm: Any) -> bool:
    """A layer name as written: text, not empty, not 'input', no white space."""
    return isinstance(nm, str) and bool(nm) and nm != "input" and " " not in nm and "\t" not in nm and "\n" not in nm


_BASE_PLAIN: dict[str, Any] = {}  # kind -> _Builder._base(kind) where a spec has no defaults
_UNSET = object()
_NO_LOCS: Mapping[str, Loc] = MappingProxyType({})  # read-only: shared by every layer without locations


# Plain classes rather than @dataclass: each dataclass exec()s generated code
# when its module is imported, which every run of the CLI pays for.


class LayerDef:
    __slots__ = (
        "name", "kind", "type", "params", "raw_inputs", "loc", "key_locs", "index", "scope", "explicit_inputs",
        "block", "inputs", "invalid", "instance", "instance_loc",
    )  # fmt: skip

    def __init__(
        self,
        name: str,
        kind: str,
        type: str,
        params: dict[str, Any],
        raw_inputs: list[str],
        loc: Loc | None,
        key_locs: Mapping[str, Loc],
        index: int,
        scope: _Names,
        explicit_inputs: bool,
        block: str | None = None,
        inputs: list[str] | None = None,
        invalid: bool = False,
        instance: str | None = None,
        instance_loc: Loc | None = None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.type = type
        self.params = params
        self.raw_inputs = raw_inputs
        self.loc = loc
        self.key_locs = key_locs
        self.index = index
        self.scope = scope
        self.explicit_inputs = explicit_inputs
        self.block = block
        self.inputs: list[str] = [] if inputs is None else inputs
        # the definition has an error (already reported): the engine does not
        # analyse it, and layers reading it are skipped rather than misreported
        self.invalid = invalid
        self.instance = instance  # innermost block instance holding this layer
        self.instance_loc = instance_loc


class Spec:
    def __init__(
        self,
        name: str,
        file: str,
        input: tuple[int, ...],
        layers: list[LayerDef],
        source: str = "",
        description: str = "",
        outputs: list[str] | None = None,
        budgets: dict[str, Any] | None = None,
        budget_locs: dict[str, Loc] | None = None,
        vars: dict[str, Any] | None = None,
        input_loc: Loc | None = None,
        loc: Loc | None = None,
        diagnostics: list[Diagnostic] | None = None,
        complete: bool = True,
        check_dangling: bool = True,
    ) -> None:
        self.name = name
        self.file = file
        self.input = input
        self.layers = layers
        self.source = source
        self.description = description
        self.outputs: list[str] = [] if outputs is None else outputs
        self.budgets: dict[str, Any] = {} if budgets is None else budgets
        self.budget_locs: dict[str, Loc] = {} if budget_locs is None else budget_locs
        self.vars: dict[str, Any] = {} if vars is None else vars
        self.input_loc = input_loc
        self.loc = loc
        # errors found while reading the spec; the engine adds its own to these
        self.diagnostics: list[Diagnostic] = [] if diagnostics is None else diagnostics
        # False when the layer graph could not be built (no usable input shape,
        # or expansion stopped at a limit): nothing can be analysed then
        self.complete = complete
        self.check_dangling = check_dangling


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
        self.max_layers = limit("MAX_LAYERS", MAX_LAYERS)
        self.max_block_depth = limit("MAX_BLOCK_DEPTH", MAX_BLOCK_DEPTH)
        self.broken_blocks: set[str] = set()
        self.block_sizes: dict[str, int] = {}
        # (block, instance, instance location) of the instances being expanded
        self.ctx: list[tuple[str, str, Loc | None]] = []

    # -- diagnostics --------------------------------------------------------

    def err(
        self,
        code: str,
        msg: str,
        hint: str = "",
        loc: Loc | None = None,
        layer: str | None = None,
        kind: str | None = None,
    ) -> None:
        d = Diagnostic(code, msg, hint, loc, layer, kind)
        if self.ctx:
            d.block, d.instance, d.instance_loc = self.ctx[-1]
        self.diags.append(d)

    def unknown_keys(
        self, m: LMap, allowed: set[str], what: str, layer: str | None = None, kind: str | None = None
    ) -> bool:
        ok = True
        for key in m:
            if key not in allowed:
                hint = did_you_mean(key, allowed) or f"allowed keys: {', '.join(sorted(allowed))}"
                self.err("unknown-key", f"unknown key '{key}' in {what}", hint, m.key_locs.get(key, m.loc), layer, kind)
                ok = False
        return ok

    def new_layer(self, ld: LayerDef) -> None:
        if self.ctx:
            _b, ld.instance, ld.instance_loc = self.ctx[-1]
        self.layers.append(ld)
        self.all_names[ld.name] = ld

    def placeholder(
        self,
        entry: LMap,
        scope: Mapping[str, Any],
        names: _Names,
        local: str | None,
        prev: str,
        kind: str | None,
        block: str | None,
        use_inputs: bool = True,
    ) -> str:
        """Stand in for an entry that could not be defined (its error is
        already reported), so that layers reading it are skipped instead of
        silently reading the layer before it and failing for the wrong reason."""
        line = entry.loc.line if entry.loc else len(self.layers)
        if local is None or has_template(local):
            local = f"<line {line}>"
        full = f"{names.prefix}{local}"
        if full in self.all_names:
            full = f"{full}<line {line}>"
        raw: list[str] = [prev]
        explicit = False
        ins = entry.get("inputs") if use_inputs else None
        if isinstance(ins, str) and not has_template(ins):
            ins = [ins]
        if isinstance(ins, list) and ins and all(isinstance(x, str) and not has_template(x) for x in ins):
            raw, explicit = list(ins), True
        k = kind or "?"
        self.new_layer(
            LayerDef(
                full,
                k,
                k,
                {},
                raw,
                entry.loc,
                dict(entry.value_locs),
                len(self.layers),
                names,
                explicit,
                block,
                invalid=True,
            )
        )
        names.local.setdefault(local, full)
        return full

    # -- templates ----------------------------------------------------------

    def value(self, v: Any, scope: Mapping[str, Any]) -> Any:
        if isinstance(v, str):
            return render(v, scope) if "${" in v else v
        if isinstance(v, list):
            return [self.value(x, scope) for x in v]
        return v

    # -- top level ----------------------------------------------------------

    def build(self, doc: Any) -> Spec:
        f = self.file
        if not isinstance(doc, LMap):
            what = "a list" if isinstance(doc, list) else f"a single {type(doc).__name__} value"
            self.err(
                "not-a-mapping",
                f"a spec must be a YAML mapping of keys, this file is {what}",
                "start with 'cnnsize: 1', 'name:', 'input:' and 'layers:'",
                getattr(doc, "loc", None) or Loc(f, 1, 1),
            )
            raise SpecError(in_source_order(self.diags))
        self.unknown_keys(doc, TOP_KEYS, "the spec")
        for key in ("cnnsize", "name", "input", "layers"):
            if key not in doc:
                self.err(
                    "missing-key",
                    f"the spec has no '{key}'",
                    {
                        "cnnsize": "add 'cnnsize: 1' (the format version)",
                        "name": "add 'name: <model name>'",
                        "input": "add e.g. 'input: [3, 224, 224]'",
                        "layers": "add 'layers:' with the list of layers",
                    }[key],
                    doc.loc,
                )
        version = doc.get("cnnsize")
        if "cnnsize" in doc and version != FORMAT_VERSION:
            self.err(
                "unsupported-version",
                f"format version {version!r} is not supported",
                f"this cnnsize reads version {FORMAT_VERSION}: write 'cnnsize: {FORMAT_VERSION}'",
                doc.where("cnnsize"),
            )
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
                self.err(
                    "bad-type",
                    "'layers' must be a non-empty list",
                    "list the layers with '- {type: ...}'",
                    doc.where("layers"),
                )
            else:
                self.expand(layers, dict(self.vars), top, "input", [], None)
        outputs = self.read_outputs(doc, top)
        budgets, budget_locs = self.read_budgets(doc)
        complete = bool(shape) and not self.too_many and bool(self.layers)
        if complete:
            self.resolve_inputs()
        # a misspelt input or output leaves a layer unconsumed: that is the
        # same mistake, so no dangling-output errors are added on top
        wiring_ok = not any(d.code in ("undefined-input", "undefined-output") for d in self.diags)
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
            diagnostics=in_source_order(self.diags),
            complete=complete,
            check_dangling=wiring_ok,
        )
        return spec

    def read_vars(self, doc: LMap) -> None:
        v = doc.get("vars", LMap())
        if not isinstance(v, LMap):
            self.err(
                "bad-type", "'vars' must be a mapping of names to values", "e.g. vars: {width: 1.0}", doc.where("vars")
            )
            v = LMap()
        for key, val in v.items():
            if not key.isidentifier():
                self.err(
                    "bad-name",
                    f"var name '{key}' is not an identifier",
                    "use letters, digits and _",
                    v.key_locs.get(key, v.loc),
                )
            else:
                self.check_var(key, val, v.where(key), "")
            self.vars[key] = val
        for key, val in self.overrides.items():
            if key not in self.vars:
                self.err(
                    "unknown-var",
                    f"--set {key}: the spec has no var '{key}'",
                    did_you_mean(key, self.vars) or f"vars: {', '.join(self.vars) or 'none'}",
                    v.loc or doc.loc,
                )
            elif self.check_var(key, val, v.where(key), "--set "):
                self.vars[key] = val

    def check_var(self, key: str, val: Any, loc: Loc | None, via: str) -> bool:
        """A var (from the spec or --set) is a plain number, bool or string."""
        if isinstance(val, (dict, list)) or val is None:
            self.err(
                "bad-type",
                f"{via}var '{key}' must be a number, bool or string, got {_short(val)}",
                "lists and mappings belong in layer keys",
                loc,
            )
            return False
        if has_template(val):
            self.err(
                "template",
                f"{via}var '{key}' is a template; vars are plain values",
                "compute it where it is used, e.g. filters: ${a * 2}",
                loc,
            )
            return False
        return True

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
            self.err(
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
            self.err(exc.code, exc.message, exc.hint, loc)
            return ()
        return tuple(shape)

    def read_defaults(self, doc: LMap) -> None:
        d = doc.get("defaults", LMap())
        if not isinstance(d, LMap):
            self.err(
                "bad-type",
                "'defaults' must be a mapping of layer keys to values",
                "e.g. defaults: {bias: false}",
                doc.where("defaults"),
            )
            return
        for key, val in d.items():
            if key in COMMON_KEYS or key not in ALL_LAYER_KEYS:
                self.err(
                    "unknown-key",
                    f"'{key}' cannot be a default",
                    did_you_mean(key, ALL_LAYER_KEYS - COMMON_KEYS)
                    or "defaults take layer keys such as bias or activation",
                    d.key_locs.get(key, d.loc),
                )
            else:
                self.defaults[key] = val

    def read_blocks(self, doc: LMap) -> None:
        b = doc.get("blocks", LMap())
        if not isinstance(b, LMap):
            self.err("bad-type", "'blocks' must be a mapping of block names to definitions", "", doc.where("blocks"))
            return
        for name, body in b.items():
            # a broken definition is reported once here; its instances
            # become placeholders instead of repeating the error
            self.broken_blocks.add(name)
            if not isinstance(body, LMap):
                self.err("bad-type", f"block '{name}' must be a mapping with 'layers:'", "", b.where(name))
                continue
            self.unknown_keys(body, BLOCK_KEYS, f"block '{name}'")
            if not isinstance(body.get("layers"), LList) or not body.get("layers"):
                self.err("missing-key", f"block '{name}' has no 'layers:' list", "add the block's layers", body.loc)
                continue
            args = body.get("args", LMap())
            if not isinstance(args, LMap):
                self.err(
                    "bad-type",
                    f"'args' of block '{name}' must be a mapping of names to defaults (~ = required)",
                    "",
                    body.where("args"),
                )
                continue
            ok = True
            for a in args:
                if not a.isidentifier() or a in INSTANCE_KEYS:
                    self.err(
                        "bad-name",
                        f"block argument '{a}' is not a usable name",
                        f"use an identifier other than {', '.join(sorted(INSTANCE_KEYS))}",
                        args.key_locs.get(a, args.loc),
                    )
                    ok = False
            if ok:
                self.broken_blocks.discard(name)
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
                self.err(
                    "undefined-output",
                    f"output '{o}' is not a layer",
                    did_you_mean(o, list(top.local) + list(self.all_names)),
                    loc,
                )
            else:
                resolved.append(full)
        return resolved

    def read_budgets(self, doc: LMap) -> tuple[dict[str, Any], dict[str, Loc]]:
        if "budgets" not in doc:
            return {}, {}
        from cnnsize.engine.units import parse_quantity

        b = doc["budgets"]
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
                self.err(
                    "bad-budget", f"budget '{key}': {exc}", "write an integer or e.g. 5M, 1.5G, 100MiB", b.where(key)
                )
        return out, dict(b.value_locs)

    # -- layers -------------------------------------------------------------

    def expand(
        self, entries: LList, scope: dict[str, Any], names: _Names, prev: str, stack: list[str], block: str | None
    ) -> str:
        """Expand entries in order; return the name of the last layer."""
        for entry, eloc in zip(entries, entries.item_locs):
            if self.too_many:
                return prev
            te = type(entry)
            if te is LMap or te is dict:  # dict: from the Python API, left unwrapped by _wrap_spec
                done = self.plain_layer(entry, scope, names, prev, block)
                if done is not None:
                    prev = done
                    continue
                if te is dict:
                    entry = _wrap(entry)  # anything unusual: the general path, which reports it
            if not isinstance(entry, LMap):
                self.err(
                    "bad-layer",
                    f"a layer must be a mapping, got {type(entry).__name__} {str(entry)[:40]!r}",
                    "write '- {name: x, type: conv, ...}'",
                    eloc,
                )
                prev = self.placeholder(LMap(eloc), scope, names, None, prev, None, block)
                continue
            nm0 = entry.get("name")
            if not isinstance(nm0, str):
                nm0 = None
            if "when" in entry:
                try:
                    cond = self.value(entry["when"], scope)
                except ExprError as exc:
                    self.err("template", exc.message, exc.hint, entry.where("when"), nm0)
                    prev = self.placeholder(entry, scope, names, nm0, prev, None, block)
                    continue
                if not isinstance(cond, bool):
                    self.err(
                        "bad-type",
                        f"'when' must be true or false, got {cond!r}",
                        "write a comparison, e.g. ${i == 0}",
                        entry.where("when"),
                        nm0,
                    )
                    prev = self.placeholder(entry, scope, names, nm0, prev, None, block)
                    continue
                if not cond:
                    continue
            if "block" in entry:
                if "type" in entry:
                    self.err(
                        "bad-layer",
                        "a layer has both 'type' and 'block'",
                        "a block instance names only 'block'",
                        entry.loc,
                        nm0,
                    )
                    prev = self.placeholder(entry, scope, names, nm0, prev, None, block)
                    continue
                prev = self.instance(entry, scope, names, prev, stack)
            else:
                if "when" in entry:  # its condition holds: a layer like any other
                    done = self.plain_layer(entry, scope, names, prev, block, when_true=True)
                    if done is not None:
                        prev = done
                        continue
                prev = self.layer(entry, scope, names, prev, block, nm0)
        return prev

    def min_size(self, entries: Any, stack: tuple[str, ...] = ()) -> int:
        """A lower bound on the layers an entry list expands to (an entry with
        `when`, or with a repeat computed by a template, counts 0), so that a
        repeat that must pass the layer limit is refused before expanding."""
        if not isinstance(entries, LList) or len(stack) > self.max_block_depth:
            return 0
        total = 0
        for e in entries:
            if not isinstance(e, LMap) or "when" in e:
                continue
            r = e.get("repeat", 1)
            if isinstance(r, bool) or not isinstance(r, int) or r < 0:
                continue
            if "block" in e:
                b = e["block"]
                if not isinstance(b, str) or b not in self.blocks or b in stack:
                    continue
                if b not in self.block_sizes:
                    self.block_sizes[b] = self.min_size(self.blocks[b].get("layers"), (*stack, b))
                total += r * self.block_sizes[b]
            else:
                total += r
            if total > self.max_layers:
                return total  # enough to refuse; stop before the numbers grow
        return total

    def repeat_count(
        self, entry: LMap, scope: Mapping[str, Any], who: str | None, kind: str, per_rep: int = 1
    ) -> tuple[int | None, bool]:
        """(count, ok): count is None without 'repeat'; ok is False after an error."""
        if "repeat" not in entry:
            return None, True
        try:
            n = self.value(entry["repeat"], scope)
        except ExprError as exc:
            self.err("template", exc.message, exc.hint, entry.where("repeat"), who, kind)
            return None, False
        if (
            isinstance(n, int)
            and not isinstance(n, bool)
            and n > 0
            and len(self.layers) + n * per_rep > self.max_layers
        ):
            each = f" of {per_rep:,} layers each" if per_rep > 1 else ""
            self.err(
                "limit-layers",
                f"repeat: {n:,}{each} would expand the spec past the {self.max_layers:,}-layer limit",
                limit_hint("MAX_LAYERS", MAX_LAYERS, "use fewer repeats"),
                entry.where("repeat"),
                who,
                kind,
            )
            self.too_many = True
            return None, False
        try:
            t_int(0)(n, "repeat")
        except RuleError as exc:
            self.err(exc.code, exc.message, exc.hint, entry.where("repeat"), who, kind)
            return None, False
        return int(n), True

    def auto_name(self, names: _Names, typ: str) -> str:
        k = (names.prefix, typ)
        while True:  # skip names the user already took
            self.type_counts[k] = self.type_counts.get(k, 0) + 1
            name = f"{typ}_{self.type_counts[k]}"
            if name not in names.local and names.prefix + name not in self.all_names:
                return name

    def read_name(self, entry: LMap, names: _Names, typ: str) -> str | None:
        if "name" not in entry:
            return self.auto_name(names, typ)
        nm = entry["name"]
        if has_template(nm):
            return nm  # rendered per repetition
        if not _usable_name(nm):
            self.err(
                "bad-name",
                f"layer name {nm!r} is not usable",
                "use a non-empty name without spaces, other than 'input'",
                entry.where("name"),
                None,
                typ,
            )
            return None
        return nm

    def taken(self, names: _Names, local: str, full: str) -> bool:
        return full in self.all_names or local in names.local

    def register(self, names: _Names, local: str, full: str, loc: Loc | None, who: str, kind: str) -> bool:
        if self.taken(names, local, full):
            first = self.all_names.get(full) or self.all_names.get(names.local.get(local, ""))
            where = f" (first at line {first.loc.line})" if first and first.loc else ""
            self.err(
                "duplicate-name",
                f"layer name '{local}' is used twice{where}",
                "give every layer a unique name",
                loc,
                who,
                kind,
            )
            return False
        return True

    def layer(
        self, entry: LMap, scope: dict[str, Any], names: _Names, prev: str, block: str | None, nm0: str | None
    ) -> str:
        """Define one layer entry (``nm0``: its name when that is a string)."""
        typ = entry.get("type")
        if typ is None:
            self.err(
                "missing-key",
                "layer has no 'type'",
                "add e.g. 'type: conv' (or 'block:' for a block instance)",
                entry.loc,
                nm0,
            )
            return self.placeholder(entry, scope, names, nm0, prev, None, block)
        if not isinstance(typ, str) or typ not in KINDS:
            self.err(
                "unknown-kind",
                f"unknown layer type {typ!r}",
                did_you_mean(str(typ), KINDS) or "see docs/spec.md for the layer kinds",
                entry.where("type"),
                nm0,
                str(typ),
            )
            return self.placeholder(entry, scope, names, nm0, prev, typ if isinstance(typ, str) else None, block)
        kind = KINDS[typ]
        rule = RULES[kind]
        allowed = _allowed(kind)
        # An unknown key is reported, and the layer is still analysed from its
        # known keys (so one run also finds the shape errors after it).
        self.unknown_keys(entry, allowed, f"a {kind} layer", nm0, kind)
        # a required key that an unknown key is a misspelling of ('filter:'
        # for 'filters:') is not reported missing too: the hint says it
        misspelt = {did_you_mean(k, allowed)[len("did you mean '") : -2] for k in entry if k not in allowed}
        local = self.read_name(entry, names, kind)
        if local is None:
            return self.placeholder(entry, scope, names, None, prev, kind, block)
        count, ok = self.repeat_count(entry, scope, local, kind)
        if not ok:
            return prev if self.too_many else self.placeholder(entry, scope, names, local, prev, kind, block)
        reps = 1 if count is None else count
        line = entry.loc.line if entry.loc else 0
        for r in range(reps):
            sc = scope if count is None else {**scope, "i": r, "n": count}
            try:
                lname = render(local, sc) if has_template(local) else local
            except ExprError as exc:
                self.err("template", exc.message, exc.hint, entry.where("name"), local, kind)
                return self.placeholder(entry, scope, names, None, prev, kind, block)
            if not isinstance(lname, str) or not lname or lname == "input":
                self.err(
                    "bad-name",
                    f"layer name {lname!r} must be a non-empty string other than 'input'",
                    "",
                    entry.where("name"),
                    local,
                    kind,
                )
                return self.placeholder(entry, scope, names, None, prev, kind, block)
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
                        if key not in misspelt:
                            self.err(
                                "missing-key", f"{kind} layer needs '{key}'", f"add '{key}:'", entry.loc, full, kind
                            )
                        bad = True
                    params[key] = spec.default
                    continue
                val = raw
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
                except (TypeError, ValueError, ArithmeticError):
                    # a key check that did not expect this type of value
                    self.err(
                        "bad-type",
                        f"'{key}' cannot be {_short(val)}",
                        "see docs/spec.md for the values this key takes",
                        loc,
                        full,
                        kind,
                    )
                    bad = True
            raw_inputs: list[str] = [prev]
            explicit = "inputs" in entry and r == 0
            if explicit:
                try:
                    ins = self.value(entry["inputs"], sc)
                except ExprError as exc:
                    self.err("template", exc.message, exc.hint, entry.where("inputs"), full, kind)
                    ins = None
                else:
                    if isinstance(ins, str):
                        ins = [ins]
                    if not isinstance(ins, list) or not ins or not all(isinstance(x, str) for x in ins):
                        self.err(
                            "bad-type",
                            f"'inputs' must be a list of layer names, got {ins!r}",
                            "e.g. inputs: [conv1, conv2]",
                            entry.where("inputs"),
                            full,
                            kind,
                        )
                        ins = None
                if ins is None:
                    bad, explicit = True, False
                else:
                    raw_inputs = list(ins)
            registered = self.register(names, lname + suffix, full, entry.where("name"), full, kind)
            if not registered:
                # keep it under a distinct name, so the layers after it read it (and are skipped)
                full, bad = f"{full}<line {line}>", True
            self.new_layer(
                LayerDef(
                    full,
                    kind,
                    typ,
                    params,
                    raw_inputs,
                    entry.loc,
                    dict(entry.value_locs),
                    len(self.layers),
                    names,
                    explicit,
                    block,
                    invalid=bad,
                )
            )
            if registered:
                names.local[lname + suffix] = full
                if count is not None:
                    names.local[lname] = full  # the repeated layer's name means its last copy
            prev = full
            if len(self.layers) > self.max_layers:
                self.err(
                    "limit-layers",
                    f"the spec expands past the {self.max_layers:,}-layer limit",
                    limit_hint("MAX_LAYERS", MAX_LAYERS, "use fewer layers or repeats"),
                    entry.loc,
                    full,
                    kind,
                )
                self.too_many = True
                return prev
        return prev

    def plain_layer(
        self,
        entry: dict[str, Any],
        scope: dict[str, Any],
        names: _Names,
        prev: str,
        block: str | None,
        when_true: bool = False,
    ) -> str | None:
        """The common layer, defined in one pass: a known type, known keys, a
        plain name or none, inputs that name layers (templates rendered),
        values that pass their checks, no repeat or block, and a `when` only
        once expand() has found it true. From YAML (an LMap, with its locations) or from
        the Python API (a plain dict, not wrapped: a batch of specs has
        thousands of them). Returns the layer's full name; None when anything
        differs, having recorded nothing, so that layer() defines it or
        reports exactly what is wrong."""
        typ = entry.get("type")
        if type(typ) is not str or typ not in KINDS or "repeat" in entry or ("when" in entry and not when_true):
            return None
        kind = KINDS[typ]
        if not _allowed(kind).issuperset(entry):
            return None
        # Values need no copying: fast_params() copies lists as it reads them,
        # and refuses tuples and dicts (no key takes one), which the general
        # path then wraps and reports. A note is not read, so it must be text
        # to be as harmless as it is when wrapped.
        located = type(entry) is LMap
        note = entry.get("note")
        if note is not None and type(note) is not str and not located:
            return None
        explicit = "inputs" in entry
        raw_inputs = [prev]
        if explicit:
            ins = entry["inputs"]
            if type(ins) is str:
                ins = [ins]
            if not (type(ins) is list or type(ins) is LList) or not ins or not all(type(x) is str for x in ins):
                return None
            if any("${" in x for x in ins):
                try:
                    ins = [self.value(x, scope) for x in ins]
                except ExprError:
                    return None  # reported by layer()
                if not all(isinstance(x, str) for x in ins):
                    return None
            raw_inputs = list(ins)
        nm = entry.get("name")
        if nm is not None and not (_usable_name(nm) and "${" not in nm):
            return None  # a template (rendered by layer()) or a bad name (reported there)
        if nm is not None and self.taken(names, nm, names.prefix + nm):
            return None  # a duplicate: reported by layer()
        if len(self.layers) >= self.max_layers:
            return None
        params = self.fast_params(entry, kind, scope)  # type: ignore[arg-type]
        if params is None:
            return None
        local = self.auto_name(names, kind) if nm is None else nm
        full = f"{names.prefix}{local}"
        if located:
            self.new_layer(
                LayerDef(
                    full,
                    kind,
                    typ,
                    params,
                    raw_inputs,
                    entry.loc,
                    dict(entry.value_locs),
                    len(self.layers),
                    names,
                    explicit,
                    block,
                )
            )  # type: ignore[attr-defined]
        else:
            # no locations to keep: the shared empty table, and the implicit
            # input is already the resolved one (two allocations fewer a layer)
            self.new_layer(
                LayerDef(
                    full,
                    kind,
                    typ,
                    params,
                    raw_inputs,
                    None,
                    _NO_LOCS,
                    len(self.layers),
                    names,
                    explicit,
                    block,
                    None if explicit else raw_inputs,
                )
            )
        names.local[local] = full
        return full

    def fast_params(self, entry: LMap, kind: str, scope: Mapping[str, Any]) -> dict[str, Any] | None:
        """A layer's checked params in one pass over the keys it names, on top
        of the defaults prepared once per kind. None at the first problem (or
        where defaults need per-layer work): the layer then goes through the
        per-key loop in layer(), which reports every problem in rule-key order."""
        base = self.base_params.get(kind, _UNSET)
        if base is _UNSET:
            if self.defaults:
                base = self._base(kind)
            else:
                # the keys' own defaults: the same for every spec without defaults
                base = _BASE_PLAIN.get(kind) or _BASE_PLAIN.setdefault(kind, self._base(kind))
            self.base_params[kind] = base
        if base is None:
            return None
        params, required = base
        params = dict(params)
        keys = RULES[kind].keys
        try:
            for key, val in entry.items():
                spec = keys.get(key)
                if spec is None:
                    continue  # name, type, inputs, ... and unknown keys (reported by unknown_keys)
                if isinstance(val, (str, list)):
                    val = self.value(val, scope)
                params[key] = spec.default if val is None and not spec.required else spec.check(val, key)
        except (ExprError, RuleError, TypeError, ValueError, ArithmeticError):
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
                except (RuleError, TypeError, ValueError, ArithmeticError):
                    return None
            else:
                params[key] = spec.default
                if spec.required:
                    required.append(key)
        return params, required

    def instance(self, entry: LMap, scope: dict[str, Any], names: _Names, prev: str, stack: list[str]) -> str:
        bname = entry["block"]
        who = entry.get("name") if isinstance(entry.get("name"), str) else None

        def stand_in(local: str | None, use_inputs: bool = True) -> str:
            return self.placeholder(
                entry, scope, names, local, prev, bname if isinstance(bname, str) else None, None, use_inputs
            )

        if not isinstance(bname, str) or (bname not in self.blocks and bname not in self.broken_blocks):
            self.err(
                "unknown-block",
                f"unknown block {bname!r}",
                did_you_mean(str(bname), self.blocks) or f"blocks defined: {', '.join(self.blocks) or 'none'}",
                entry.where("block"),
                who,
            )
            return stand_in(who)
        if bname in self.broken_blocks:
            return stand_in(who)  # its definition's errors are already reported
        if bname in stack:
            self.err(
                "recursive-block",
                f"block '{bname}' uses itself ({' -> '.join([*stack, bname])})",
                "a block cannot contain itself",
                entry.where("block"),
                who,
                bname,
            )
            return stand_in(who)
        if len(stack) >= self.max_block_depth:
            self.err(
                "limit-block-depth",
                f"blocks nest deeper than {self.max_block_depth} levels",
                limit_hint("MAX_BLOCK_DEPTH", MAX_BLOCK_DEPTH, "flatten the blocks"),
                entry.loc,
                who,
                bname,
            )
            return stand_in(who)
        body = self.blocks[bname]
        args = body.get("args", LMap())
        arg_keys = {k for k in entry if k not in INSTANCE_KEYS}
        for k in sorted(
            arg_keys - set(args),
            key=lambda k: (entry.key_locs[k].line, entry.key_locs[k].col) if entry.key_locs.get(k) else (0, 0),
        ):
            self.err(
                "unknown-arg",
                f"block '{bname}' has no argument '{k}'",
                did_you_mean(k, args) or f"its arguments: {', '.join(args) or 'none'}",
                entry.key_locs.get(k, entry.loc),
                who,
                bname,
            )
        missing = [a for a, d in args.items() if d is None and a not in entry]
        for a in missing:
            self.err(
                "missing-arg",
                f"block '{bname}' needs argument '{a}'",
                f"add '{a}:' to the instance",
                entry.loc,
                who,
                bname,
            )
        if missing or arg_keys - set(args):
            return stand_in(who)
        local = self.read_name(entry, names, bname)
        if local is None:
            return stand_in(None)
        count, ok = self.repeat_count(entry, scope, local, bname, self.min_size(body.get("layers"), (*stack, bname)))
        if not ok:
            return prev if self.too_many else stand_in(local)
        reps = 1 if count is None else count
        last = prev
        for r in range(reps):
            if self.too_many:
                return last
            sc = scope if count is None else {**scope, "i": r, "n": count}
            full_inst = f"{names.prefix}{local}" + (f".{r}" if count is not None else "")
            if r == 0 and "inputs" in entry:
                try:
                    ins = self.value(entry["inputs"], sc)
                except ExprError as exc:
                    self.err("template", exc.message, exc.hint, entry.where("inputs"), full_inst, bname)
                    return stand_in(local, False)
                if isinstance(ins, list) and len(ins) == 1 and isinstance(ins[0], str):
                    ins = ins[0]
                if not isinstance(ins, str):
                    self.err(
                        "bad-type",
                        "a block instance takes one input name",
                        "e.g. inputs: [conv1]",
                        entry.where("inputs"),
                        full_inst,
                        bname,
                    )
                    return stand_in(local, False)
                inp = self.resolve_now(ins, names, entry.where("inputs"), full_inst, bname)
                if inp is None:
                    return stand_in(local, False)
            else:
                inp = last
            inner_scope = dict(self.vars)
            ok = True
            for a, default in args.items():
                raw = entry[a] if a in entry else default
                try:
                    inner_scope[a] = self.value(raw, sc)
                except ExprError as exc:
                    self.err(
                        "template",
                        exc.message,
                        exc.hint,
                        entry.where(a) if a in entry else args.where(a),
                        full_inst,
                        bname,
                    )
                    ok = False
            if not ok:
                return stand_in(local)
            if count is not None:
                inner_scope.update(i=r, n=count)
            sub = _Names(full_inst + ".", inp, names)
            self.ctx.append((bname, full_inst, entry.loc))
            try:
                out = self.expand(body["layers"], inner_scope, sub, inp, [*stack, bname], bname)
                if "output" in body:
                    o = body["output"]
                    if not isinstance(o, str) or o not in sub.local:
                        self.err(
                            "undefined-output",
                            f"block '{bname}' output {o!r} is not one of its layers",
                            did_you_mean(str(o), sub.local),
                            body.where("output"),
                            full_inst,
                            bname,
                        )
                        return stand_in(local)
                    out = sub.local[o]
                if out == inp:
                    self.err(
                        "empty-block",
                        f"block '{bname}' produced no layers here (all left out by 'when')",
                        "",
                        entry.loc,
                        full_inst,
                        bname,
                    )
                    return stand_in(local)
            finally:
                self.ctx.pop()
            names.local[local + (f".{r}" if count is not None else "")] = out
            last = out
        names.local[local] = last
        return last

    def resolve_now(self, ref: str, names: _Names, loc: Loc | None, who: str, kind: str) -> str | None:
        full = self._lookup(ref, names)
        if full is not None:
            return full
        self.err(
            "undefined-input",
            f"input '{ref}' is not a layer defined before this one",
            did_you_mean(ref, list(names.local) + list(self.all_names))
            or "a block instance reads a layer defined before it (or 'input')",
            loc,
            who,
            kind,
        )
        return None

    def resolve_inputs(self) -> None:
        """Resolve input names once everything is expanded (so a forward
        reference becomes a cycle the graph can report, not a vague error)."""
        for ld in self.layers:
            if not ld.explicit_inputs:
                ld.inputs = ld.raw_inputs  # the layer before: already a full name
                continue
            out = []
            for ref in ld.raw_inputs:
                full = self._lookup(ref, ld.scope)
                if full is None:
                    candidates = list(ld.scope.local) + [
                        n for n in self.all_names if not ld.scope.prefix or n.startswith(ld.scope.prefix)
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
                    self.diags.append(d)
                    ld.invalid = True
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


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def read(
    doc: Any,
    filename: str = "<spec>",
    overrides: Mapping[str, Any] | None = None,
    diagnostics: list[Diagnostic] | None = None,
) -> Spec:
    """Validate and expand a loaded document (LMap, or a plain dict).

    Errors do not raise: they are in ``spec.diagnostics``, the faulty layers
    marked invalid (cnnsize.engine.load.parse adds what the analysis finds
    in the valid layers, and raises). ``diagnostics``: faults found while
    loading (duplicate keys) that did not stop the loader.
    """
    if isinstance(doc, dict) and not isinstance(doc, LMap):
        doc = _wrap_spec(doc)
    builder = _Builder(filename, overrides)
    builder.diags.extend(diagnostics or [])
    token = freeze_limits()
    try:
        return builder.build(doc)
    finally:
        thaw_limits(token)


def _wrap_spec(doc: dict[Any, Any]) -> LMap:
    """A spec from the Python API as an LMap, its top-level layers left as
    the caller's dicts: _Builder.plain_layer defines the common ones without
    copying them (and wraps any other)."""
    layers = doc.get("layers")
    if type(layers) is not list or not all(type(e) is dict for e in layers) or not all(type(k) is str for k in doc):
        return _wrap(doc)  # type: ignore[no-any-return]
    top = LList(None)
    top.extend(layers)
    top.item_locs = [None] * len(top)  # type: ignore[list-item]
    m = LMap(None)
    for k, v in doc.items():
        m[k] = top if k == "layers" else _wrap(v) if isinstance(v, (dict, list, tuple)) else v
    return m


def _wrap(v: Any) -> Any:
    """Plain dicts/lists (the Python API) as LMap/LList without locations.

    Bounded like the YAML loader, and checked before anything is copied: a
    dict that contains itself, nesting past MAX_DEPTH, or sub-dicts and lists
    shared so often that copying them out would add more than
    MAX_ALIAS_NODES containers (the dict form of an alias bomb) is refused
    with a diagnostic."""
    _Bound(limit("MAX_DEPTH", MAX_DEPTH), limit("MAX_ALIAS_NODES", MAX_ALIAS_NODES)).size(v, 0)
    return _copy(v)


def _copy(v: Any) -> Any:
    if isinstance(v, dict):
        m = LMap(None)
        for k, x in v.items():
            # scalars (most values) are taken as they are, without a call
            m[k if type(k) is str else str(k)] = _copy(x) if isinstance(x, (dict, list, tuple)) else x
        return m
    if isinstance(v, (list, tuple)):
        lst = LList(None)
        lst.extend(_copy(x) if isinstance(x, (dict, list, tuple)) else x for x in v)
        lst.item_locs = [None] * len(lst)  # type: ignore[list-item]
        return lst
    return v


class _Bound:
    """Containers a copy of a value would make, from one visit of each
    distinct container (a memo by identity), as the YAML loader sizes an
    anchor once: a bomb of nine lists is refused without being walked out."""

    __slots__ = ("max_depth", "max_shared", "shared", "memo", "path")

    def __init__(self, max_depth: int, max_shared: int) -> None:
        self.max_depth, self.max_shared = max_depth, max_shared
        self.shared = 0  # containers that copying the shared ones again would add
        self.memo: dict[int, tuple[int, int]] = {}  # id -> (containers, height)
        self.path: set[int] = set()  # containers being sized (a repeat is a cycle)

    def size(self, v: Any, depth: int) -> tuple[int, int]:
        if not isinstance(v, (dict, list, tuple)):
            return 0, 0
        key = id(v)
        hit = self.memo.get(key)
        if hit is not None:
            self.shared += hit[0]
            if self.shared > self.max_shared:
                raise SpecError(
                    [
                        Diagnostic(
                            "limit-alias",
                            f"shared dicts and lists in the spec would be copied into more than {self.max_shared:,} containers",
                            limit_hint("MAX_ALIAS_NODES", MAX_ALIAS_NODES, "share fewer nested values"),
                        )
                    ]
                )
            self._depth(depth + hit[1])
            return hit
        if key in self.path:
            raise SpecError(
                [
                    Diagnostic(
                        "recursive-value",
                        "a dict or list of the spec contains itself",
                        "build the spec from values that do not refer back to their container",
                    )
                ]
            )
        self._depth(depth + 1)
        self.path.add(key)
        count, height = 1, 1
        for x in v.values() if isinstance(v, dict) else v:
            if isinstance(x, (dict, list, tuple)):
                c, h = self.size(x, depth + 1)
                count += c
                height = max(height, h + 1)
        self.path.discard(key)
        self.memo[key] = (count, height)
        return count, height

    def _depth(self, depth: int) -> None:
        if depth > self.max_depth:
            raise SpecError(
                [
                    Diagnostic(
                        "limit-depth",
                        f"the spec's dicts and lists nest deeper than {self.max_depth} levels",
                        limit_hint("MAX_DEPTH", MAX_DEPTH),
                    )
                ]
            )
