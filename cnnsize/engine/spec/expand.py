"""Expanding a list of layer entries: ``when``, block instances, ``repeat``.

Everything here reads and writes only the :class:`BuildState` it is handed;
each entry that is a layer goes to layer.py (the fast path first, while
``fastpath.enabled()``), each block instance expands the block's layers in a
scope of its own.
"""

from __future__ import annotations

from typing import Any

from cnnsize.engine import fastpath
from cnnsize.engine.errors import Loc, did_you_mean, limit_hint
from cnnsize.engine.expr import ExprError
from cnnsize.engine.spec.dicts import wrap
from cnnsize.engine.spec.layer import define, define_plain, read_name, repeat_count
from cnnsize.engine.spec.model import INSTANCE_KEYS, MAX_BLOCK_DEPTH, Names
from cnnsize.engine.spec.state import BuildState
from cnnsize.engine.yamlload import LList, LMap


def expand(
    st: BuildState,
    entries: LList,
    scope: dict[str, Any],
    names: Names,
    prev: str,
    stack: list[str],
    block: str | None,
) -> str:
    """Expand entries in order; return the name of the last layer."""
    fast = fastpath.enabled()
    for entry, eloc in zip(entries, entries.item_locs):
        if st.too_many:
            return prev
        te = type(entry)
        if te is LMap or te is dict:  # dict: from the Python API, left unwrapped by wrap_spec
            done = define_plain(st, entry, scope, names, prev, block) if fast else None
            if done is not None:
                prev = done
                continue
            if te is dict:
                entry = wrap(entry)  # anything unusual: the general path, which reports it
        if not isinstance(entry, LMap):
            st.err(
                "bad-layer",
                f"a layer must be a mapping, got {type(entry).__name__} {str(entry)[:40]!r}",
                "write '- {name: x, type: conv, ...}'",
                eloc,
            )
            prev = st.placeholder(LMap(eloc), names, None, prev, None, block)
            continue
        nm0 = entry.get("name")
        if not isinstance(nm0, str):
            nm0 = None
        if "when" in entry:
            cond = _condition(st, entry, scope, nm0)
            if cond is None:
                prev = st.placeholder(entry, names, nm0, prev, None, block)
                continue
            if not cond:
                continue
        if "block" in entry:
            if "type" in entry:
                st.err(
                    "bad-layer",
                    "a layer has both 'type' and 'block'",
                    "a block instance names only 'block'",
                    entry.loc,
                    nm0,
                )
                prev = st.placeholder(entry, names, nm0, prev, None, block)
                continue
            prev = instance(st, entry, scope, names, prev, stack)
            continue
        if "when" in entry and fast:  # its condition holds: a layer like any other
            done = define_plain(st, entry, scope, names, prev, block, when_true=True)
            if done is not None:
                prev = done
                continue
        prev = define(st, entry, scope, names, prev, block, nm0)
    return prev


def _condition(st: BuildState, entry: LMap, scope: dict[str, Any], nm0: str | None) -> bool | None:
    """The entry's 'when'; None after an error."""
    try:
        cond = st.value(entry["when"], scope)
    except ExprError as exc:
        st.err("template", exc.message, exc.hint, entry.where("when"), nm0)
        return None
    if not isinstance(cond, bool):
        st.err(
            "bad-type",
            f"'when' must be true or false, got {cond!r}",
            "write a comparison, e.g. ${i == 0}",
            entry.where("when"),
            nm0,
        )
        return None
    return cond


def min_size(st: BuildState, entries: Any, stack: tuple[str, ...] = ()) -> int:
    """A lower bound on the layers an entry list expands to (an entry with
    `when`, or with a repeat computed by a template, counts 0), so that a
    repeat that must pass the layer limit is refused before expanding."""
    if not isinstance(entries, LList) or len(stack) > st.max_block_depth:
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
            if not isinstance(b, str) or b not in st.blocks or b in stack:
                continue
            if b not in st.block_sizes:
                st.block_sizes[b] = min_size(st, st.blocks[b].get("layers"), (*stack, b))
            total += r * st.block_sizes[b]
        else:
            total += r
        if total > st.max_layers:
            return total  # enough to refuse; stop before the numbers grow
    return total


# -- block instances ----------------------------------------------------------


class _Instance:
    """One block instance entry being expanded: where it stands, and its
    stand-in for when it cannot be (its error already reported)."""

    __slots__ = ("st", "entry", "scope", "names", "prev", "bname", "who")

    def __init__(self, st: BuildState, entry: LMap, scope: dict[str, Any], names: Names, prev: str) -> None:
        self.st, self.entry, self.scope, self.names, self.prev = st, entry, scope, names, prev
        self.bname = entry["block"]
        self.who = entry.get("name") if isinstance(entry.get("name"), str) else None

    def stand_in(self, local: str | None, use_inputs: bool = True) -> str:
        b = self.bname if isinstance(self.bname, str) else None
        return self.st.placeholder(self.entry, self.names, local, self.prev, b, None, use_inputs)

    def err(self, code: str, msg: str, hint: str, loc: Loc | None, who: str | None = None) -> None:
        self.st.err(code, msg, hint, loc, self.who if who is None else who, self.bname)


def instance(st: BuildState, entry: LMap, scope: dict[str, Any], names: Names, prev: str, stack: list[str]) -> str:
    """Expand a block instance entry, every repetition of it; returns the
    full name of the last repetition's output layer."""
    it = _Instance(st, entry, scope, names, prev)
    if not _usable_block(it, stack) or not _args_match(it):
        return it.stand_in(it.who)
    bname: str = it.bname
    body = st.blocks[bname]
    local = read_name(st, entry, names, bname)
    if local is None:
        return it.stand_in(None)
    count, ok = repeat_count(st, entry, scope, local, bname, min_size(st, body.get("layers"), (*stack, bname)))
    if not ok:
        return prev if st.too_many else it.stand_in(local)
    last = prev
    for r in range(1 if count is None else count):
        if st.too_many:
            return last
        sc = scope if count is None else {**scope, "i": r, "n": count}
        suffix = f".{r}" if count is not None else ""
        full_inst = f"{names.prefix}{local}{suffix}"
        inp = _instance_input(it, sc, full_inst) if r == 0 and "inputs" in entry else last
        if inp is None:
            return it.stand_in(local, False)
        inner = _inner_scope(it, body, sc, full_inst)
        if inner is None:
            return it.stand_in(local)
        if count is not None:
            inner.update(i=r, n=count)
        out, ok = _expand_body(it, body, inner, full_inst, inp, stack, local)
        if not ok:
            return out
        names.local[local + suffix] = out
        last = out
    names.local[local] = last
    return last


def _usable_block(it: _Instance, stack: list[str]) -> bool:
    """The block exists, is well defined, is not its own ancestor and nests
    within the limit (else the error is reported, or was with its definition)."""
    st, bname, entry = it.st, it.bname, it.entry
    if not isinstance(bname, str) or (bname not in st.blocks and bname not in st.broken_blocks):
        st.err(
            "unknown-block",
            f"unknown block {bname!r}",
            did_you_mean(str(bname), st.blocks) or f"blocks defined: {', '.join(st.blocks) or 'none'}",
            entry.where("block"),
            it.who,
        )
        return False
    if bname in st.broken_blocks:
        return False  # its definition's errors are already reported
    if bname in stack:
        it.err(
            "recursive-block",
            f"block '{bname}' uses itself ({' -> '.join([*stack, bname])})",
            "a block cannot contain itself",
            entry.where("block"),
        )
        return False
    if len(stack) >= st.max_block_depth:
        it.err(
            "limit-block-depth",
            f"blocks nest deeper than {st.max_block_depth} levels",
            limit_hint("MAX_BLOCK_DEPTH", MAX_BLOCK_DEPTH, "flatten the blocks"),
            entry.loc,
        )
        return False
    return True


def _args_match(it: _Instance) -> bool:
    """Every argument the instance gives is one of the block's, and every
    required one is given (each one that is not, reported)."""
    entry, bname = it.entry, it.bname
    args = it.st.blocks[bname].get("args", LMap())
    arg_keys = {k for k in entry if k not in INSTANCE_KEYS}
    for k in sorted(
        arg_keys - set(args),
        key=lambda k: (entry.key_locs[k].line, entry.key_locs[k].col) if entry.key_locs.get(k) else (0, 0),
    ):
        it.err(
            "unknown-arg",
            f"block '{bname}' has no argument '{k}'",
            did_you_mean(k, args) or f"its arguments: {', '.join(args) or 'none'}",
            entry.key_locs.get(k, entry.loc),
        )
    missing = [a for a, d in args.items() if d is None and a not in entry]
    for a in missing:
        it.err("missing-arg", f"block '{bname}' needs argument '{a}'", f"add '{a}:' to the instance", entry.loc)
    return not missing and not arg_keys - set(args)


def _instance_input(it: _Instance, sc: dict[str, Any], full_inst: str) -> str | None:
    """The full name of the one layer the instance's 'inputs' names; None after an error."""
    st, entry = it.st, it.entry
    try:
        ins = st.value(entry["inputs"], sc)
    except ExprError as exc:
        it.err("template", exc.message, exc.hint, entry.where("inputs"), full_inst)
        return None
    if isinstance(ins, list) and len(ins) == 1 and isinstance(ins[0], str):
        ins = ins[0]
    if not isinstance(ins, str):
        it.err(
            "bad-type",
            "a block instance takes one input name",
            "e.g. inputs: [conv1]",
            entry.where("inputs"),
            full_inst,
        )
        return None
    full = st.lookup(ins, it.names)
    if full is None:
        it.err(
            "undefined-input",
            f"input '{ins}' is not a layer defined before this one",
            did_you_mean(ins, list(it.names.local) + list(st.all_names))
            or "a block instance reads a layer defined before it (or 'input')",
            entry.where("inputs"),
            full_inst,
        )
    return full


def _inner_scope(it: _Instance, body: LMap, sc: dict[str, Any], full_inst: str) -> dict[str, Any] | None:
    """The vars, then the block's arguments as this instance gives them; None after an error."""
    st, entry = it.st, it.entry
    args = body.get("args", LMap())
    inner = dict(st.vars)
    ok = True
    for a, default in args.items():
        raw = entry[a] if a in entry else default
        try:
            inner[a] = st.value(raw, sc)
        except ExprError as exc:
            it.err("template", exc.message, exc.hint, entry.where(a) if a in entry else args.where(a), full_inst)
            ok = False
    return inner if ok else None


def _expand_body(
    it: _Instance, body: LMap, inner: dict[str, Any], full_inst: str, inp: str, stack: list[str], local: str
) -> tuple[str, bool]:
    """The block's layers for one repetition: (the full name of its output
    layer, True), or (the instance's stand-in, False) after an error; the
    stand-in is made inside the instance, as the layers before it were."""
    st, bname = it.st, it.bname
    sub = Names(full_inst + ".", inp, it.names)
    st.ctx.append((bname, full_inst, it.entry.loc))
    try:
        out = expand(st, body["layers"], inner, sub, inp, [*stack, bname], bname)
        if "output" in body:
            o = body["output"]
            if not isinstance(o, str) or o not in sub.local:
                it.err(
                    "undefined-output",
                    f"block '{bname}' output {o!r} is not one of its layers",
                    did_you_mean(str(o), sub.local),
                    body.where("output"),
                    full_inst,
                )
                return it.stand_in(local), False
            out = sub.local[o]
        if out == inp:
            it.err(
                "empty-block",
                f"block '{bname}' produced no layers here (all left out by 'when')",
                "",
                it.entry.loc,
                full_inst,
            )
            return it.stand_in(local), False
    finally:
        st.ctx.pop()
    return out, True
