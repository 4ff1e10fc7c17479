"""A spec given as Python dicts and lists (the API) as the reader's
LMap/LList, without locations; bounded as the YAML loader bounds a file."""

from __future__ import annotations

from typing import Any

from cnnsize.engine.errors import Diagnostic, SpecError, limit, limit_hint
from cnnsize.engine.yamlload import MAX_ALIAS_NODES, MAX_DEPTH, LList, LMap


def wrap_spec(doc: dict[Any, Any]) -> LMap:
    """A spec from the Python API as an LMap, its top-level layers left as
    the caller's dicts: the expansion wraps each one as it reaches it,
    unless the layer fast path (layer.define_plain) defines it without a
    copy (a batch of specs has thousands of them). Either way each layer
    dict is read, and bounded, on its own."""
    layers = doc.get("layers")
    if type(layers) is not list or not all(type(e) is dict for e in layers) or not all(type(k) is str for k in doc):
        return wrap(doc)  # type: ignore[no-any-return]
    top = LList(None)
    top.extend(layers)
    top.item_locs = [None] * len(top)  # type: ignore[list-item]
    m = LMap(None)
    for k, v in doc.items():
        m[k] = top if k == "layers" else wrap(v) if isinstance(v, (dict, list, tuple)) else v
    return m


def wrap(v: Any) -> Any:
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
                            "shared dicts and lists in the spec would be copied into more than "
                            f"{self.max_shared:,} containers",
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
