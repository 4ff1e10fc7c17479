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

from cnnsize.engine.errors import Diagnostic, Loc, SpecError, limit, limit_hint

try:  # the C loader is much faster; fall back silently where libyaml is absent
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

# Defaults of the resource limits; CNNSIZE_<NAME> in the environment
# overrides each (cnnsize.engine.errors.limit), and every error that hits one says so.
MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
MAX_ALIAS_NODES = 100_000

_STR = "tag:yaml.org,2002:str"
# Tags the safe loader resolves by itself; any other explicit tag
# (!!python/..., !!set, !custom) is refused rather than silently ignored.
_PLAIN_TAGS = {
    "tag:yaml.org,2002:" + t for t in ("str", "int", "float", "bool", "null", "seq", "map", "timestamp", "merge")
}


class LMap(dict):  # type: ignore[type-arg]
    """A mapping that remembers where it and each of its keys and values are."""

    __slots__ = ("loc", "key_locs", "value_locs")

    # dict.__init__ is not called: a new dict is already empty
    def __init__(self, loc: Loc | None = None) -> None:
        self.loc = loc
        self.key_locs: dict[str, Loc] = {}
        self.value_locs: dict[str, Loc] = {}

    def where(self, key: str) -> Loc | None:
        return self.value_locs.get(key) or self.key_locs.get(key) or self.loc


class LList(list):  # type: ignore[type-arg]
    __slots__ = ("loc", "item_locs")

    def __init__(self, loc: Loc | None = None) -> None:
        self.loc = loc
        self.item_locs: list[Loc] = []


def _fail(code: str, msg: str, hint: str, loc: Loc | None) -> SpecError:
    return SpecError([Diagnostic(code, msg, hint, loc)])


def _size_error(size: int, where: Loc) -> SpecError:
    cap = limit("MAX_BYTES", MAX_BYTES)
    return _fail(
        "limit-file-size",
        f"the spec is {size:,} bytes or more, past the {cap:,}-byte limit on a spec file",
        limit_hint("MAX_BYTES", MAX_BYTES, "use blocks and repeat instead of writing layers out"),
        where,
    )


def read_text(path: str) -> str:
    import os

    # line 0: the fault is the path itself, there is no line to point at
    whole = Loc(path, 0, 0)
    if os.path.isdir(path):
        raise _fail(
            "not-a-file", f"'{path}' is a directory, not a spec file", "give the path of a .yaml spec file", whole
        )
    cap = limit("MAX_BYTES", MAX_BYTES)
    try:
        with open(path, "rb") as fh:
            data = fh.read(cap + 1)
    except FileNotFoundError:
        raise _fail("file-not-found", f"no such file: '{path}'", "check the path", whole) from None
    except OSError as exc:
        raise _fail(
            "file-unreadable", f"cannot read '{path}': {exc.strerror or exc}", "check the path and permissions", whole
        ) from None
    if len(data) > cap:
        raise _size_error(len(data), Loc(path, 1, 1))
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]  # a UTF-8 byte order mark is harmless
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        hint = "save the spec as UTF-8"
        if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            hint = "the file is UTF-16; save it as UTF-8"
        raise _fail(
            "not-utf8", f"byte 0x{data[exc.start]:02x} is not valid UTF-8", hint, Loc(path, line, col)
        ) from None


def _mark_loc(filename: str, mark: Any) -> Loc:
    return Loc(filename, mark.line + 1, mark.column + 1)


def _char_at(text: str, mark: Any) -> str:
    if mark is None:
        return ""
    lines = text.split("\n", mark.line + 1)
    if mark.line >= len(lines):
        return ""
    line = lines[mark.line]
    return line[mark.column] if mark.column < len(line) else ""


def _scan(text: str, filename: str) -> None:
    """Bound the document before anything recursive sees it.

    The event stream is produced iteratively, so this pass can measure the
    nesting depth and the size of the document *after* alias expansion
    (anchored subtrees are measured once, then charged at every alias) and
    refuse a "billion laughs" at the first alias that crosses the limit,
    without ever building the expansion.
    """
    max_depth = limit("MAX_DEPTH", MAX_DEPTH)
    max_alias = limit("MAX_ALIAS_NODES", MAX_ALIAS_NODES)
    size: dict[str, int] = {}  # anchor -> nodes in its expansion
    height: dict[str, int] = {}  # anchor -> nesting levels inside it
    open_: list[list[Any]] = []  # per open collection: [anchor, nodes, height]
    extra = 0  # nodes added by aliases
    for ev in yaml.parse(text, Loader=_Loader):
        if isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            if len(open_) + 1 > max_depth:
                raise _fail(
                    "limit-depth",
                    f"YAML nesting is deeper than {max_depth} levels",
                    limit_hint("MAX_DEPTH", MAX_DEPTH, "a spec needs only a few levels"),
                    _mark_loc(filename, ev.start_mark),
                )
            open_.append([ev.anchor, 1, 1])
        elif isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            anchor, n, h = open_.pop()
            if anchor is not None:
                size[anchor], height[anchor] = n, h
            if open_:
                open_[-1][1] += n
                open_[-1][2] = max(open_[-1][2], h + 1)
        elif isinstance(ev, yaml.ScalarEvent):
            if ev.anchor is not None:
                size[ev.anchor], height[ev.anchor] = 1, 0
            if open_:
                open_[-1][1] += 1
        elif isinstance(ev, yaml.AliasEvent):
            loc = _mark_loc(filename, ev.start_mark)
            if ev.anchor not in size:
                if any(o[0] == ev.anchor for o in open_):
                    raise _fail(
                        "yaml-recursive-alias",
                        f"alias *{ev.anchor} refers to a collection that contains it",
                        "a YAML value cannot contain itself; write it out",
                        loc,
                    )
                continue  # an undefined alias: the composer reports it with its location
            n = size[ev.anchor]
            extra += n
            if extra > max_alias:
                raise _fail(
                    "limit-alias",
                    f"YAML aliases expand to more than {max_alias:,} extra nodes (*{ev.anchor} alone is {n:,}): an "
                    "alias bomb?",
                    limit_hint("MAX_ALIAS_NODES", MAX_ALIAS_NODES, "write the values out, or use blocks"),
                    loc,
                )
            if len(open_) + height[ev.anchor] > max_depth:
                raise _fail(
                    "limit-depth",
                    f"alias *{ev.anchor} nests the document deeper than {max_depth} levels",
                    limit_hint("MAX_DEPTH", MAX_DEPTH),
                    loc,
                )
            if open_:
                open_[-1][1] += n
                open_[-1][2] = max(open_[-1][2], height[ev.anchor] + 1)


def load(text: str, filename: str = "<spec>") -> Any:
    """Parse one YAML document into LMap/LList/scalars with locations."""
    doc, diags = load_with_diagnostics(text, filename)
    if diags:
        raise SpecError(diags)
    return doc


def load_with_diagnostics(text: str, filename: str = "<spec>") -> tuple[Any, list[Diagnostic]]:
    """Like :func:`load`, but faults that leave the document readable
    (duplicate keys, keys that are not names) are returned, not raised, so
    that the rest of the spec can still be checked in the same run."""
    if len(text) > limit("MAX_BYTES", MAX_BYTES):
        raise _size_error(len(text), Loc(filename, 1, 1))
    try:
        _scan(text, filename)
        root = yaml.compose(text, Loader=_Loader)
    except SpecError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = _mark_loc(filename, mark) if mark is not None else Loc(filename, 1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        hint = "fix the YAML syntax"
        code = "yaml-syntax"
        at = _char_at(text, mark)
        if at == "\t" or "\\t" in problem or "tab" in problem:
            code, hint = "yaml-tab", "YAML does not allow tabs for indentation: indent with spaces"
        elif "another document" in problem:
            code, hint = (
                "yaml-multi-document",
                "a spec is one YAML document: remove the '---' separators after the first",
            )
        elif "found undefined alias" in problem:
            code, hint = "yaml-undefined-alias", "define the anchor (&name) before using the alias (*name)"
        ctx = exc.context_mark
        if exc.context and ctx is not None and mark is not None and (ctx.line, ctx.column) != (mark.line, mark.column):
            problem += f" ({exc.context} that starts at line {ctx.line + 1}, column {ctx.column + 1})"
        raise _fail(code, f"YAML syntax error: {problem}", hint, loc) from None
    except yaml.reader.ReaderError as exc:
        # a character YAML forbids (NUL, other control characters)
        before = text[: exc.position]
        loc = Loc(filename, before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1)
        raise _fail(
            "yaml-syntax",
            f"YAML syntax error: character {exc.character!r} is not allowed in YAML ({exc.reason})",
            "remove it; a spec is plain text",
            loc,
        ) from None
    except yaml.YAMLError as exc:
        raise _fail("yaml-syntax", f"YAML error: {exc}", "fix the YAML syntax", Loc(filename, 1, 1)) from None
    except RecursionError:  # pragma: no cover - _scan bounds the depth first
        raise _fail(
            "limit-depth",
            "the YAML document is nested too deeply",
            limit_hint("MAX_DEPTH", MAX_DEPTH),
            Loc(filename, 1, 1),
        ) from None
    if root is None or (
        isinstance(root, ScalarNode) and root.tag == "tag:yaml.org,2002:null" and root.value in ("", "~", "null")
    ):
        raise _fail(
            "empty-spec",
            "the spec is empty",
            "start with 'cnnsize: 1', 'name:', 'input:' and 'layers:'",
            Loc(filename, 1, 1),
        )
    if isinstance(root, ScalarNode):
        raise _fail(
            "not-a-mapping",
            f"a spec must be a YAML mapping of keys, this file is a single value {root.value[:40]!r}",
            "start with 'cnnsize: 1', 'name:', 'input:' and 'layers:'",
            _mark_loc(filename, root.start_mark),
        )
    conv = _Converter(filename)
    return conv.convert(root, 0), conv.diags


class _Converter:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.scalars = SafeConstructor()
        self.diags: list[Diagnostic] = []
        self.max_depth = limit("MAX_DEPTH", MAX_DEPTH)

    def loc(self, node: Node) -> Loc:
        return _mark_loc(self.filename, node.start_mark)

    def check_tag(self, node: Node) -> None:
        if node.tag in _PLAIN_TAGS:
            return
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        raise _fail(
            "yaml-tag",
            f"YAML tag '{tag}' is not allowed",
            "a spec holds only plain mappings, lists, strings and numbers: drop the tag",
            self.loc(node),
        )

    def convert(self, node: Node, depth: int) -> Any:
        # _scan bounded depth and alias expansion; this is a second fence
        if depth > self.max_depth:  # pragma: no cover
            raise _fail(
                "limit-depth",
                "the YAML document is nested too deeply",
                limit_hint("MAX_DEPTH", MAX_DEPTH),
                self.loc(node),
            )
        if isinstance(node, ScalarNode):
            return node.value if node.tag == _STR else self.scalar(node)  # a string: without the constructor
        if node.tag not in _PLAIN_TAGS:
            self.check_tag(node)
        if isinstance(node, SequenceNode):
            fname = self.filename
            out = LList(self.loc(node))
            for item in node.value:
                out.append(self.convert(item, depth + 1))
                mark = item.start_mark
                out.item_locs.append(Loc(fname, mark.line + 1, mark.column + 1))
            return out
        if isinstance(node, MappingNode):
            return self.mapping(node, depth)
        raise _fail("yaml-node", "unsupported YAML node", "", self.loc(node))  # pragma: no cover

    def scalar(self, node: ScalarNode) -> Any:
        tag = node.tag
        if tag not in _PLAIN_TAGS:
            self.check_tag(node)
        try:
            return SafeConstructor.yaml_constructors[tag](self.scalars, node)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc).split("\n")[0]
            raise _fail(
                "yaml-value", f"cannot read value: {problem}", "quote it if it is text", self.loc(node)
            ) from None
        except (ValueError, OverflowError) as exc:
            # e.g. an integer literal of more than 4300 digits
            raise _fail(
                "yaml-value",
                f"cannot read value {node.value[:40]!r}{'...' if len(node.value) > 40 else ''}: {exc}",
                "write a smaller number",
                self.loc(node),
            ) from None

    def mapping(self, node: MappingNode, depth: int) -> LMap:
        m = LMap(self.loc(node))
        for knode, vnode in node.value:
            # a plain string key (the usual one) without a call
            key = knode.value if knode.tag == _STR and isinstance(knode, ScalarNode) else self.key(knode, depth)
            if key is None:
                continue
            kloc = self.loc(knode)
            if key in m:
                # keep the first value and go on, so later faults are found too
                self.diags.append(
                    Diagnostic(
                        "duplicate-key",
                        f"key '{key}' appears twice in this mapping (first at line {m.key_locs[key].line})",
                        "remove one of them",
                        kloc,
                    )
                )
                continue
            m.key_locs[key] = kloc
            m.value_locs[key] = self.loc(vnode)
            m[key] = self.convert(vnode, depth + 1)
        return m

    def key(self, knode: Node, depth: int) -> str | None:
        """A mapping key as a name; None (reported) when it is not one."""
        if knode.tag == "tag:yaml.org,2002:merge":
            raise _fail(
                "yaml-merge-key",
                "YAML merge keys (<<) are not supported",
                "write the keys out, or use defaults: / blocks:",
                self.loc(knode),
            )
        if not isinstance(knode, ScalarNode):
            self.diags.append(
                Diagnostic(
                    "bad-key",
                    "mapping keys must be plain strings, not a list or mapping",
                    "use a name as the key",
                    self.loc(knode),
                )
            )
            return None
        key: str = knode.value
        if knode.tag != _STR:
            resolved = self.convert(knode, depth + 1)
            if not isinstance(resolved, str):
                self.diags.append(
                    Diagnostic(
                        "bad-key",
                        f"key {key!r} is read as {type(resolved).__name__}, not a name",
                        f"quote it: '\"{key}\":'",
                        self.loc(knode),
                    )
                )
                return None
        return key
