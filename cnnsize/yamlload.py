"""Safe YAML loading that keeps a source location for every key and value.

PyYAML's safe composer gives nodes with marks; we convert nodes ourselves so
that duplicate keys, non-string keys, alias bombs and absurd nesting are
caught with a location instead of being silently accepted or exhausting the
machine. Nothing here constructs Python objects beyond plain scalars.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import Diagnostic, Loc, SpecError

try:  # the C loader is much faster; fall back silently where libyaml is absent
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
MAX_ALIAS_NODES = 100_000


class LMap(dict):  # type: ignore[type-arg]
    """A mapping that remembers where it and each of its keys and values are."""

    __slots__ = ("loc", "key_locs", "value_locs")

    def __init__(self, loc: Loc | None = None) -> None:
        super().__init__()
        self.loc = loc
        self.key_locs: dict[str, Loc] = {}
        self.value_locs: dict[str, Loc] = {}

    def where(self, key: str) -> Loc | None:
        return self.value_locs.get(key) or self.key_locs.get(key) or self.loc


class LList(list):  # type: ignore[type-arg]
    __slots__ = ("loc", "item_locs")

    def __init__(self, loc: Loc | None = None) -> None:
        super().__init__()
        self.loc = loc
        self.item_locs: list[Loc] = []


def loc_of(value: Any) -> Loc | None:
    return getattr(value, "loc", None)


def _fail(code: str, msg: str, hint: str, loc: Loc | None) -> SpecError:
    return SpecError([Diagnostic(code, msg, hint, loc)])


def read_text(path: str) -> str:
    import os

    if os.path.isdir(path):
        raise _fail("not-a-file", f"'{path}' is a directory", "give the path of a .yaml spec file", None)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise _fail("file-not-found", f"no such file: '{path}'", "check the path", None) from None
    except OSError as exc:
        raise _fail("file-unreadable", f"cannot read '{path}': {exc.strerror}", "check the path and permissions", None) from None
    if len(data) > MAX_BYTES:
        raise _fail(
            "limit-file-size",
            f"spec is larger than the {MAX_BYTES // (1024 * 1024)} MiB limit",
            "split the spec or use blocks and repeat; the limit is cnnsize.yamlload.MAX_BYTES",
            Loc(path, 1, 1),
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise _fail(
            "not-utf8", f"byte 0x{data[exc.start]:02x} is not valid UTF-8", "save the spec as UTF-8", Loc(path, line, col)
        ) from None


def _mark_loc(filename: str, mark: Any) -> Loc:
    return Loc(filename, mark.line + 1, mark.column + 1)


def load(text: str, filename: str = "<spec>") -> Any:
    """Parse one YAML document into LMap/LList/scalars with locations."""
    if len(text) > MAX_BYTES:
        raise _fail("limit-file-size", "spec is larger than the 4 MiB limit", "split the spec", Loc(filename, 1, 1))
    # Pass 1: the event stream is produced iteratively, so depth and alias
    # use can be bounded before the (recursive) composer sees the document.
    depth = 0
    nodes = 0
    try:
        for ev in yaml.parse(text, Loader=_Loader):
            if isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                nodes += 1
                if depth > MAX_DEPTH:
                    raise _fail(
                        "limit-depth",
                        f"YAML nesting is deeper than {MAX_DEPTH} levels",
                        "a spec needs only a few levels; the limit is cnnsize.yamlload.MAX_DEPTH",
                        _mark_loc(filename, ev.start_mark),
                    )
            elif isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
            elif isinstance(ev, yaml.ScalarEvent):
                nodes += 1
        root = yaml.compose(text, Loader=_Loader)
    except SpecError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = _mark_loc(filename, mark) if mark is not None else Loc(filename, 1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        hint = "fix the YAML syntax"
        if "\\t" in problem or "tab" in problem:
            hint = "indent with spaces, not tabs"
        raise _fail("yaml-syntax", f"YAML syntax error: {problem}", hint, loc) from None
    except yaml.YAMLError as exc:
        raise _fail("yaml-syntax", f"YAML error: {exc}", "fix the YAML syntax", Loc(filename, 1, 1)) from None
    if root is None:
        raise _fail("empty-spec", "the spec is empty", "start with 'cnnsize: 1', 'name:', 'input:' and 'layers:'", Loc(filename, 1, 1))
    return _Converter(filename, nodes + MAX_ALIAS_NODES).convert(root)


class _Converter:
    def __init__(self, filename: str, budget: int) -> None:
        self.filename = filename
        self.budget = budget
        self.scalars = SafeConstructor()

    def loc(self, node: Node) -> Loc:
        return _mark_loc(self.filename, node.start_mark)

    def convert(self, node: Node) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise _fail(
                "limit-alias",
                f"YAML aliases expand to more than {MAX_ALIAS_NODES:,} extra nodes (an alias bomb?)",
                "write the values out or use blocks; the limit is cnnsize.yamlload.MAX_ALIAS_NODES",
                self.loc(node),
            )
        if isinstance(node, ScalarNode):
            try:
                return self.scalars.construct_object(node, deep=True)
            except yaml.YAMLError as exc:
                raise _fail("yaml-value", f"cannot read value: {exc}", "quote it as a string", self.loc(node)) from None
        if isinstance(node, SequenceNode):
            out = LList(self.loc(node))
            for item in node.value:
                out.append(self.convert(item))
                out.item_locs.append(self.loc(item))
            return out
        if isinstance(node, MappingNode):
            m = LMap(self.loc(node))
            for knode, vnode in node.value:
                if knode.tag == "tag:yaml.org,2002:merge":
                    raise _fail("yaml-merge-key", "YAML merge keys (<<) are not supported", "write the keys out, or use defaults: / blocks:", self.loc(knode))
                if not isinstance(knode, ScalarNode):
                    raise _fail("bad-key", "mapping keys must be plain strings", "use a name as the key", self.loc(knode))
                key = knode.value
                if knode.tag != "tag:yaml.org,2002:str" and knode.style is None:
                    resolved = self.scalars.construct_object(knode)
                    if not isinstance(resolved, str):
                        raise _fail("bad-key", f"key {key!r} is read as {type(resolved).__name__}, not a name", f"quote it: '\"{key}\":'", self.loc(knode))
                if key in m:
                    raise _fail(
                        "duplicate-key",
                        f"key '{key}' appears twice in this mapping (first at line {m.key_locs[key].line})",
                        "remove one of them",
                        self.loc(knode),
                    )
                m.key_locs[key] = self.loc(knode)
                m.value_locs[key] = self.loc(vnode)
                m[key] = self.convert(vnode)
            return m
        raise _fail("yaml-node", "unsupported YAML node", "", self.loc(node))  # pragma: no cover
