"""What expanding a spec's layers may read and write: :class:`BuildState`.

The reader (reader.py) fills it from the document's top level (vars,
defaults, blocks) and hands it to the expansion (expand.py) and to the
layer definitions (layer.py), which add layers and diagnostics to it and
read nothing else of the reader's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cnnsize.engine.errors import Diagnostic, Loc, did_you_mean, limit
from cnnsize.engine.expr import has_template, render
from cnnsize.engine.spec.model import MAX_BLOCK_DEPTH, MAX_LAYERS, LayerDef, Names
from cnnsize.engine.yamlload import LMap


class BuildState:
    __slots__ = (
        "file", "diags", "layers", "all_names", "vars", "defaults", "blocks", "broken_blocks", "type_counts",
        "too_many", "max_layers", "max_block_depth", "block_sizes", "base_params", "ctx",
    )  # fmt: skip

    def __init__(self, filename: str) -> None:
        self.file = filename
        self.diags: list[Diagnostic] = []
        self.layers: list[LayerDef] = []
        self.all_names: dict[str, LayerDef] = {}  # full name -> layer
        # the document's top level, read before any layer
        self.vars: dict[str, Any] = {}
        self.defaults: dict[str, Any] = {}
        self.blocks: dict[str, LMap] = {}
        self.broken_blocks: set[str] = set()  # reported once; their instances become placeholders
        self.type_counts: dict[tuple[str, str], int] = {}  # (scope prefix, kind) -> automatic names given
        self.too_many = False  # the layer limit was hit: expansion stops
        self.max_layers = limit("MAX_LAYERS", MAX_LAYERS)
        self.max_block_depth = limit("MAX_BLOCK_DEPTH", MAX_BLOCK_DEPTH)
        # block -> fewest layers one instance expands to. Kept for one read
        # only, and whatever fastpath says: sized afresh at every use, blocks
        # nested 32 deep could cost 2**32 visits before the limit refuses them
        self.block_sizes: dict[str, int] = {}
        self.base_params: dict[str, Any] = {}  # fast path: kind -> (params from defaults, required keys) or None
        # (block, instance, instance location) of the instances being expanded
        self.ctx: list[tuple[str, str, Loc | None]] = []

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

    def value(self, v: Any, scope: Mapping[str, Any]) -> Any:
        """A value with its templates rendered."""
        if isinstance(v, str):
            return render(v, scope) if "${" in v else v
        if isinstance(v, list):
            return [self.value(x, scope) for x in v]
        return v

    def new_layer(self, ld: LayerDef) -> None:
        if self.ctx:
            _b, ld.instance, ld.instance_loc = self.ctx[-1]
        self.layers.append(ld)
        self.all_names[ld.name] = ld

    def placeholder(
        self,
        entry: LMap,
        names: Names,
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
        ld = LayerDef(
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
        self.new_layer(ld)
        names.local.setdefault(local, full)
        return full

    def taken(self, names: Names, local: str, full: str) -> bool:
        return full in self.all_names or local in names.local

    def lookup(self, ref: str, names: Names) -> str | None:
        """The full name an input name means in ``names`` (None: no such layer)."""
        if ref == "input":
            return names.input_name
        n: Names | None = names
        while n is not None:
            if ref in n.local:
                return n.local[ref]
            n = n.parent
        return ref if ref in self.all_names else None
