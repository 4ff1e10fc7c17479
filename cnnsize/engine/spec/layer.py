"""One layer entry to one :class:`LayerDef` per repetition.

Two paths, one answer. :func:`define` is the general path: it takes any
entry and reports every problem, each key in its rule's key order.
:func:`define_plain` is the fast path, taken only while
``fastpath.enabled()``: the common entry (a known type, known keys, a plain
name or none, no repeat) in one pass, and no entry at all that differs (it
then records nothing, and :func:`define` takes the entry). The two are
compared on the zoo, the golden cases, the bad-spec corpus and edge cases
(tests/test_spec_paths.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cnnsize.engine import fastpath
from cnnsize.engine.errors import Loc, RuleError, did_you_mean, limit_hint
from cnnsize.engine.expr import ExprError, has_template, render
from cnnsize.engine.kinds import COMMON_KEYS, KINDS, RULES, t_int
from cnnsize.engine.spec.model import MAX_LAYERS, NO_LOCS, LayerDef, Names
from cnnsize.engine.spec.state import BuildState
from cnnsize.engine.yamlload import LList, LMap

ALL_LAYER_KEYS = set(COMMON_KEYS).union(*(r.keys for r in RULES.values()))
ALLOWED: dict[str, set[str]] = {kind: COMMON_KEYS | set(rule.keys) for kind, rule in RULES.items()}

# kind -> base params for a spec without defaults (the keys' own defaults):
# the same for every such spec, so made once per process (fast path only)
_BASE_PLAIN: dict[str, Any] = {}
fastpath.register_memo(_BASE_PLAIN.clear)
_UNSET = object()


def usable_name(nm: Any) -> bool:
    """A layer name as written: text, not empty, not 'input', no white space."""
    return isinstance(nm, str) and bool(nm) and nm != "input" and " " not in nm and "\t" not in nm and "\n" not in nm


def short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def auto_name(st: BuildState, names: Names, kind: str) -> str:
    k = (names.prefix, kind)
    while True:  # skip names the user already took
        st.type_counts[k] = st.type_counts.get(k, 0) + 1
        name = f"{kind}_{st.type_counts[k]}"
        if name not in names.local and names.prefix + name not in st.all_names:
            return name


def read_name(st: BuildState, entry: LMap, names: Names, kind: str) -> str | None:
    """The entry's name as written (a template is rendered per repetition),
    an automatic one without 'name', None after an error."""
    if "name" not in entry:
        return auto_name(st, names, kind)
    nm = entry["name"]
    if has_template(nm):
        return nm  # type: ignore[no-any-return]
    if not usable_name(nm):
        st.err(
            "bad-name",
            f"layer name {nm!r} is not usable",
            "use a non-empty name without spaces, other than 'input'",
            entry.where("name"),
            None,
            kind,
        )
        return None
    return nm  # type: ignore[no-any-return]


def register(st: BuildState, names: Names, local: str, full: str, loc: Loc | None, kind: str) -> bool:
    if st.taken(names, local, full):
        first = st.all_names.get(full) or st.all_names.get(names.local.get(local, ""))
        where = f" (first at line {first.loc.line})" if first and first.loc else ""
        st.err(
            "duplicate-name",
            f"layer name '{local}' is used twice{where}",
            "give every layer a unique name",
            loc,
            full,
            kind,
        )
        return False
    return True


def repeat_count(
    st: BuildState, entry: LMap, scope: Mapping[str, Any], who: str | None, kind: str, per_rep: int = 1
) -> tuple[int | None, bool]:
    """(count, ok): count is None without 'repeat'; ok is False after an error."""
    if "repeat" not in entry:
        return None, True
    try:
        n = st.value(entry["repeat"], scope)
    except ExprError as exc:
        st.err("template", exc.message, exc.hint, entry.where("repeat"), who, kind)
        return None, False
    if isinstance(n, int) and not isinstance(n, bool) and n > 0 and len(st.layers) + n * per_rep > st.max_layers:
        each = f" of {per_rep:,} layers each" if per_rep > 1 else ""
        st.err(
            "limit-layers",
            f"repeat: {n:,}{each} would expand the spec past the {st.max_layers:,}-layer limit",
            limit_hint("MAX_LAYERS", MAX_LAYERS, "use fewer repeats"),
            entry.where("repeat"),
            who,
            kind,
        )
        st.too_many = True
        return None, False
    try:
        t_int(0)(n, "repeat")
    except RuleError as exc:
        st.err(exc.code, exc.message, exc.hint, entry.where("repeat"), who, kind)
        return None, False
    return int(n), True


# -- the general path --------------------------------------------------------


def define(
    st: BuildState, entry: LMap, scope: dict[str, Any], names: Names, prev: str, block: str | None, nm0: str | None
) -> str:
    """Define one layer entry, every repetition of it (``nm0``: its name when
    that is a string); returns the full name of the last layer defined."""
    typ = entry.get("type")
    if typ is None:
        st.err(
            "missing-key",
            "layer has no 'type'",
            "add e.g. 'type: conv' (or 'block:' for a block instance)",
            entry.loc,
            nm0,
        )
        return st.placeholder(entry, names, nm0, prev, None, block)
    if not isinstance(typ, str) or typ not in KINDS:
        st.err(
            "unknown-kind",
            f"unknown layer type {typ!r}",
            did_you_mean(str(typ), KINDS) or "see docs/spec.md for the layer kinds",
            entry.where("type"),
            nm0,
            str(typ),
        )
        return st.placeholder(entry, names, nm0, prev, typ if isinstance(typ, str) else None, block)
    kind = KINDS[typ]
    allowed = ALLOWED[kind]
    # An unknown key is reported, and the layer is still analysed from its
    # known keys (so one run also finds the shape errors after it).
    st.unknown_keys(entry, allowed, f"a {kind} layer", nm0, kind)
    # a required key that an unknown key is a misspelling of ('filter:'
    # for 'filters:') is not reported missing too: the hint says it
    misspelt = {did_you_mean(k, allowed)[len("did you mean '") : -2] for k in entry if k not in allowed}
    local = read_name(st, entry, names, kind)
    if local is None:
        return st.placeholder(entry, names, None, prev, kind, block)
    count, ok = repeat_count(st, entry, scope, local, kind)
    if not ok:
        return prev if st.too_many else st.placeholder(entry, names, local, prev, kind, block)
    for r in range(1 if count is None else count):
        sc = scope if count is None else {**scope, "i": r, "n": count}
        lname = _rendered_name(st, entry, local, sc, kind)
        if lname is None:
            return st.placeholder(entry, names, None, prev, kind, block)
        suffix = f".{r}" if count is not None else ""
        prev = _define_one(st, entry, sc, names, prev, block, typ, kind, lname, suffix, misspelt)
        if st.too_many:
            break
    return prev


def _rendered_name(st: BuildState, entry: LMap, local: str, sc: Mapping[str, Any], kind: str) -> str | None:
    try:
        lname = render(local, sc) if has_template(local) else local
    except ExprError as exc:
        st.err("template", exc.message, exc.hint, entry.where("name"), local, kind)
        return None
    if not isinstance(lname, str) or not lname or lname == "input":
        st.err(
            "bad-name",
            f"layer name {lname!r} must be a non-empty string other than 'input'",
            "",
            entry.where("name"),
            local,
            kind,
        )
        return None
    return lname


def _define_one(
    st: BuildState,
    entry: LMap,
    sc: Mapping[str, Any],
    names: Names,
    prev: str,
    block: str | None,
    typ: str,
    kind: str,
    lname: str,
    suffix: str,
    misspelt: set[str],
) -> str:
    """One repetition of a layer entry, named ``lname + suffix`` in its
    scope (``suffix``: '.r' for repetition r of a repeat, else empty)."""
    local = lname + suffix
    full = f"{names.prefix}{local}"
    params, bad = _params(st, entry, kind, sc, full, misspelt)
    raw_inputs: list[str] = [prev]
    explicit = "inputs" in entry and suffix in ("", ".0")  # later repetitions read the one before
    if explicit:
        ins = _inputs(st, entry, sc, full, kind)
        if ins is None:
            bad, explicit = True, False
        else:
            raw_inputs = ins
    registered = register(st, names, local, full, entry.where("name"), kind)
    if not registered:
        # keep it under a distinct name, so the layers after it read it (and are skipped)
        line = entry.loc.line if entry.loc else 0
        full, bad = f"{full}<line {line}>", True
    ld = LayerDef(
        full, kind, typ, params, raw_inputs, entry.loc, dict(entry.value_locs), len(st.layers), names, explicit, block
    )
    ld.invalid = bad
    st.new_layer(ld)
    if registered:
        names.local[local] = full
        if suffix:
            names.local[lname] = full  # the repeated layer's name means its last copy
    if len(st.layers) > st.max_layers:
        st.err(
            "limit-layers",
            f"the spec expands past the {st.max_layers:,}-layer limit",
            limit_hint("MAX_LAYERS", MAX_LAYERS, "use fewer layers or repeats"),
            entry.loc,
            full,
            kind,
        )
        st.too_many = True
    return full


def _params(
    st: BuildState, entry: LMap, kind: str, sc: Mapping[str, Any], full: str, misspelt: set[str]
) -> tuple[dict[str, Any], bool]:
    """(params, bad): every key of the kind's rule, from the entry, the
    spec's defaults or the key's own default, each problem reported."""
    params: dict[str, Any] = {}
    bad = False
    for key, spec in RULES[kind].keys.items():
        if key in entry:
            raw, loc = entry[key], entry.where(key)
        elif key in st.defaults:
            raw, loc = st.defaults[key], entry.loc
        else:
            if spec.required:
                if key not in misspelt:
                    st.err("missing-key", f"{kind} layer needs '{key}'", f"add '{key}:'", entry.loc, full, kind)
                bad = True
            params[key] = spec.default
            continue
        val = raw
        try:
            val = st.value(raw, sc)
            # ~ (null) on an optional key means "the default"
            params[key] = spec.default if val is None and not spec.required else spec.check(val, key)
        except ExprError as exc:
            st.err("template", exc.message, exc.hint, loc, full, kind)
            bad = True
        except RuleError as exc:
            st.err(exc.code, exc.message, exc.hint, loc, full, kind)
            bad = True
        except (TypeError, ValueError, ArithmeticError):
            # a key check that did not expect this type of value
            st.err(
                "bad-type",
                f"'{key}' cannot be {short(val)}",
                "see docs/spec.md for the values this key takes",
                loc,
                full,
                kind,
            )
            bad = True
    return params, bad


def _inputs(st: BuildState, entry: LMap, sc: Mapping[str, Any], full: str, kind: str) -> list[str] | None:
    """The entry's 'inputs' as a list of names; None after an error."""
    try:
        ins = st.value(entry["inputs"], sc)
    except ExprError as exc:
        st.err("template", exc.message, exc.hint, entry.where("inputs"), full, kind)
        return None
    if isinstance(ins, str):
        ins = [ins]
    if not isinstance(ins, list) or not ins or not all(isinstance(x, str) for x in ins):
        st.err(
            "bad-type",
            f"'inputs' must be a list of layer names, got {ins!r}",
            "e.g. inputs: [conv1, conv2]",
            entry.where("inputs"),
            full,
            kind,
        )
        return None
    return list(ins)


# -- the fast path -----------------------------------------------------------


def define_plain(
    st: BuildState,
    entry: dict[str, Any],
    scope: dict[str, Any],
    names: Names,
    prev: str,
    block: str | None,
    when_true: bool = False,
) -> str | None:
    """The common layer, defined in one pass: a known type, known keys, a
    plain name or none, inputs that name layers (templates rendered),
    values that pass their checks, no repeat or block, and a `when` only
    once the expansion has found it true. From YAML (an LMap, with its
    locations) or from the Python API (a plain dict, not wrapped: a batch of
    specs has thousands of them). Returns the layer's full name; None when
    anything differs, having recorded nothing, so that :func:`define`
    defines it or reports exactly what is wrong."""
    typ = entry.get("type")
    if type(typ) is not str or typ not in KINDS or "repeat" in entry or ("when" in entry and not when_true):
        return None
    kind = KINDS[typ]
    if not ALLOWED[kind].issuperset(entry):
        return None
    # Values need no copying: _fast_params() copies lists as it reads them,
    # and refuses tuples and dicts (no key takes one), which the general
    # path then wraps and reports. A note is not read, so it must be text
    # to be as harmless as it is when wrapped.
    located = type(entry) is LMap
    note = entry.get("note")
    if note is not None and type(note) is not str and not located:
        return None
    explicit = "inputs" in entry
    raw_inputs = _plain_inputs(st, entry["inputs"], scope) if explicit else [prev]
    if raw_inputs is None:
        return None
    nm = entry.get("name")
    if nm is not None and not (usable_name(nm) and "${" not in nm):
        return None  # a template (rendered by define()) or a bad name (reported there)
    if nm is not None and st.taken(names, nm, names.prefix + nm):
        return None  # a duplicate: reported by define()
    if len(st.layers) >= st.max_layers:
        return None
    params = _fast_params(st, entry, kind, scope)
    if params is None:
        return None
    local = auto_name(st, names, kind) if nm is None else nm
    full = f"{names.prefix}{local}"
    if type(entry) is LMap:
        ld = LayerDef(
            full,
            kind,
            typ,
            params,
            raw_inputs,
            entry.loc,
            dict(entry.value_locs),
            len(st.layers),
            names,
            explicit,
            block,
        )
    else:
        # no locations to keep: the shared empty table (an allocation fewer a layer)
        ld = LayerDef(full, kind, typ, params, raw_inputs, None, NO_LOCS, len(st.layers), names, explicit, block)
    st.new_layer(ld)
    names.local[local] = full
    return full


def _plain_inputs(st: BuildState, ins: Any, scope: Mapping[str, Any]) -> list[str] | None:
    if type(ins) is str:
        ins = [ins]
    if not (type(ins) is list or type(ins) is LList) or not ins or not all(type(x) is str for x in ins):
        return None
    if any("${" in x for x in ins):
        try:
            ins = [st.value(x, scope) for x in ins]
        except ExprError:
            return None  # reported by define()
        if not all(isinstance(x, str) for x in ins):
            return None
    return list(ins)


def _fast_params(
    st: BuildState, entry: Mapping[str, Any], kind: str, scope: Mapping[str, Any]
) -> dict[str, Any] | None:
    """A layer's checked params in one pass over the keys it names, on top
    of the defaults prepared once per kind. None at the first problem (or
    where defaults need per-layer work): the layer then goes through the
    general path, which reports every problem in rule-key order."""
    base = st.base_params.get(kind, _UNSET)
    if base is _UNSET:
        if st.defaults:
            base = _base(st.defaults, kind)
        else:
            base = _BASE_PLAIN.get(kind) or _BASE_PLAIN.setdefault(kind, _base(st.defaults, kind))
        st.base_params[kind] = base
    if base is None:
        return None
    params, required = base
    params = dict(params)
    keys = RULES[kind].keys
    try:
        for key, val in entry.items():
            spec = keys.get(key)
            if spec is None:
                continue  # name, type, inputs, ... (unknown keys send the entry to define())
            if isinstance(val, (str, list)):
                if type(val) is list and not _copyable(val):
                    return None
                val = st.value(val, scope)
            params[key] = spec.default if val is None and not spec.required else spec.check(val, key)
    except (ExprError, RuleError, TypeError, ValueError, ArithmeticError):
        return None
    for key in required:
        if key not in entry:
            return None
    return params


def _copyable(v: list[Any]) -> bool:
    """A caller's list the fast path may copy as it reads it: of scalars, or
    of distinct lists of scalars (what keys take). Anything deeper, shared
    or containing itself goes to the general path, which bounds the copy
    (a list from YAML was bounded by the loader)."""
    seen: set[int] = set()
    for x in v:
        if isinstance(x, list):
            if id(x) in seen or any(isinstance(y, (list, tuple, dict)) for y in x):
                return False
            seen.add(id(x))
    return True


def _base(defaults: Mapping[str, Any], kind: str) -> tuple[dict[str, Any], list[str]] | None:
    """(params from the defaults, keys still required); None where a default
    must be checked per layer (a list or a template)."""
    params: dict[str, Any] = {}
    required = []
    for key, spec in RULES[kind].keys.items():
        if key in defaults:
            raw = defaults[key]
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
