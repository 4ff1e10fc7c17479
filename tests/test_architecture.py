"""The package's shape, checked: no import cycle, arrows one way, small modules and functions.

Imports are read with `ast` from the source (module level and inside functions,
where the lazy imports live), so a cycle or a back edge hidden in a function body
is found too. Arrows run commands -> render -> views -> engine and torch -> engine
(docs/architecture.md); the engine never imports torch, click or rich.
"""

from __future__ import annotations

import ast
import os

import networkx as nx
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PKG = os.path.join(ROOT, "cnnsize")

MAX_MODULE_LINES = 600
MAX_ENGINE_FUNCTION_LINES = 80

# Modules allowed over MAX_MODULE_LINES, each with its reason (mirrored in docs/architecture.md).
MODULE_SIZE_EXCEPTIONS: dict[str, str] = {}

# Engine functions allowed over MAX_ENGINE_FUNCTION_LINES ("module:qualified name"), each with its reason.
FUNCTION_SIZE_EXCEPTIONS: dict[str, str] = {}

# Back edges that close an import cycle today, each with its reason; left out of the
# cycle check until they are gone. (The lead empties this after merging issue 11.)
KNOWN_BACK_EDGES: dict[tuple[str, str], str] = {}

# (importer package, imported package): arrows that must not exist.
FORBIDDEN = [
    ("engine", "views"),
    ("engine", "render"),
    ("engine", "commands"),
    ("engine", "torch"),
    ("views", "render"),
    ("views", "commands"),
    ("render", "commands"),
    ("torch", "commands"),
    ("torch", "render"),
]
# Imports allowed across a forbidden arrow, each with its reason: (importing module or
# package prefix, imported module or library prefix) -> why. Kept empty unless a
# design decision says otherwise; checked by test_every_exception_is_still_needed.
LAYERING_EXCEPTIONS: dict[tuple[str, str], str] = {}

# Third-party libraries the engine never imports (the analysis path stays light).
ENGINE_FORBIDDEN_LIBRARIES = ("torch", "click", "rich")


def _module_name(path: str) -> str:
    rel = os.path.relpath(path, ROOT)[: -len(".py")].split(os.sep)
    if rel[-1] == "__init__":
        rel = rel[:-1]
    return ".".join(rel)


def _modules() -> dict[str, str]:
    """Every module of the package: dotted name -> file path."""
    found = {}
    for folder, _dirs, files in os.walk(PKG):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(folder, f)
                found[_module_name(path)] = path
    return found


MODULES = _modules()


def _tree(path: str) -> ast.Module:
    with open(path, encoding="utf-8") as fh:
        return ast.parse(fh.read(), filename=path)


def _is_package(module: str) -> bool:
    return MODULES[module].endswith("__init__.py")


def _imports(module: str) -> list[tuple[str, int]]:
    """Every absolute module name `module` imports (anywhere in its body), with the line.

    Lazy imports count: function-level statements and "module:attr" strings that
    importlib loads later.

    `from a.b import c` yields `a.b.c` when that is a module of ours and `a.b` otherwise;
    relative imports are resolved against the module's package.
    """
    out = []
    package = module if _is_package(module) else module.rpartition(".")[0]
    for node in ast.walk(_tree(MODULES[module])):
        if isinstance(node, ast.Import):
            out.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and ":" in node.value:
            # "cnnsize.x.y:attr" in a lazy-loading table (commands/cli.py COMMANDS, the
            # renderer tables) is an import that importlib performs later
            target = node.value.partition(":")[0]
            if target in MODULES:
                out.append((target, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base_parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.append((sub if sub in MODULES else base, node.lineno))
    return out


def _own(name: str) -> str | None:
    """The cnnsize module that an imported name lands in (the longest known prefix), or None."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _graph() -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from(MODULES)
    for module in MODULES:
        for name, _line in _imports(module):
            target = _own(name)
            # a package's __init__ importing its own submodules is not a back edge; a
            # submodule importing its package is (the package runs first either way)
            if target is not None and target != module:
                g.add_edge(module, target)
    return g


def _subpackage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_the_scan_sees_the_package():
    # a scan that finds nothing would pass every check below: known edges, one at module
    # level (report.py's `from cnnsize.commands.common import ...`) and one inside a function
    # (report.py's lazy `from cnnsize.render import table`)
    assert {"cnnsize.engine.spec", "cnnsize.commands.cli", "cnnsize.render.table", "cnnsize.torch.materialize"} <= set(
        MODULES
    )
    g = _graph()
    assert g.has_edge("cnnsize.commands.report", "cnnsize.commands.common")
    assert g.has_edge("cnnsize.commands.report", "cnnsize.render.table")
    assert g.has_edge("cnnsize.commands.cli", "cnnsize.commands.report")  # "cnnsize.commands.report:report"


def test_relative_and_function_level_imports_are_resolved(tmp_path, monkeypatch):
    # the resolver on a made-up package member: a lazy import in a function body and
    # a relative `from . import x` both become edges
    fake = tmp_path / "m.py"
    fake.write_text("def f():\n    from ..engine import spec\n    import cnnsize.render.table\nfrom . import check\n")
    monkeypatch.setitem(MODULES, "cnnsize.commands._fake", str(fake))
    names = {n for n, _ in _imports("cnnsize.commands._fake")}
    assert {"cnnsize.engine.spec", "cnnsize.render.table", "cnnsize.commands.check"} <= names


def test_no_import_cycle():
    g = _graph()
    g.remove_edges_from(KNOWN_BACK_EDGES)
    cycles = list(nx.simple_cycles(g))
    shown = "\n".join(" -> ".join(c + [c[0]]) for c in sorted(cycles, key=len)[:10])
    assert not cycles, f"{len(cycles)} import cycle(s) among cnnsize modules, shortest first:\n{shown}"


@pytest.mark.parametrize(("source", "target"), FORBIDDEN, ids=[f"{s}-not-{t}" for s, t in FORBIDDEN])
def test_layering(source, target):
    bad = []
    for module in sorted(MODULES):
        if _subpackage(module) != source:
            continue
        for name, line in _imports(module):
            own = _own(name)
            if own is not None and _subpackage(own) == target and not _excepted(module, name):
                bad.append(f"{MODULES[module]}:{line}: {module} imports {name}")
    assert not bad, f"cnnsize/{source}/ must not import cnnsize/{target}/:\n" + "\n".join(bad)


def test_engine_imports_no_torch_click_or_rich():
    bad = []
    for module in sorted(MODULES):
        if _subpackage(module) != "engine":
            continue
        for name, line in _imports(module):
            if name.split(".")[0] in ENGINE_FORBIDDEN_LIBRARIES and not _excepted(module, name):
                bad.append(f"{MODULES[module]}:{line}: imports {name}")
    assert not bad, "the engine imports no torch, click or rich:\n" + "\n".join(bad)


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix.rstrip(".") + ".")


def _excepted(module: str, imported: str) -> bool:
    return any(_under(module, m) and _under(imported, i) for m, i in LAYERING_EXCEPTIONS)


def _module_lines(module: str) -> int:
    with open(MODULES[module], encoding="utf-8") as fh:
        return sum(1 for _ in fh)


def test_no_module_over_the_limit():
    over = {m: _module_lines(m) for m in MODULES if _module_lines(m) > MAX_MODULE_LINES}
    unexplained = {m: n for m, n in over.items() if m not in MODULE_SIZE_EXCEPTIONS}
    assert not unexplained, f"modules over {MAX_MODULE_LINES} lines (split, or add a reason): {unexplained}"


def _functions(module: str) -> dict[str, int]:
    """Qualified name -> length in lines, for every function and method (nested ones too)."""
    out: dict[str, int] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                start = min([child.lineno] + [d.lineno for d in child.decorator_list])
                assert child.end_lineno is not None
                out[name] = child.end_lineno - start + 1
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(_tree(MODULES[module]), "")
    return out


def _engine_functions() -> dict[str, int]:
    return {
        f"{module}:{name}": n
        for module in MODULES
        if _subpackage(module) == "engine"
        for name, n in _functions(module).items()
    }


def test_function_length_is_measured():
    # a tiny function's length, counted by hand: def line, docstring, return = 3 lines
    src = 'def f(x):\n    """doc."""\n    return x\n'
    tree = ast.parse(src)
    fn = tree.body[0]
    assert isinstance(fn, ast.FunctionDef)
    assert fn.end_lineno is not None and fn.end_lineno - fn.lineno + 1 == 3
    assert _engine_functions(), "found no engine function at all"


def test_no_engine_function_over_the_limit():
    over = {f: n for f, n in _engine_functions().items() if n > MAX_ENGINE_FUNCTION_LINES}
    unexplained = {f: n for f, n in over.items() if f not in FUNCTION_SIZE_EXCEPTIONS}
    assert not unexplained, (
        f"engine functions over {MAX_ENGINE_FUNCTION_LINES} lines (split, or add a reason): {unexplained}"
    )


def test_every_exception_is_still_needed():
    # an exception that no longer applies is removed, so the table stays the list of real ones
    stale = [m for m in MODULE_SIZE_EXCEPTIONS if m not in MODULES or _module_lines(m) <= MAX_MODULE_LINES]
    funcs = _engine_functions()
    stale += [f for f in FUNCTION_SIZE_EXCEPTIONS if funcs.get(f, 0) <= MAX_ENGINE_FUNCTION_LINES]
    g = _graph()
    stale += [f"{a} -> {b}" for a, b in KNOWN_BACK_EDGES if not g.has_edge(a, b)]
    imports = {(m, i) for m in MODULES for i, _ in _imports(m)}
    stale += [
        f"{m} may import {i}"
        for m, i in LAYERING_EXCEPTIONS
        if not any(_under(a, m) and _under(b, i) for a, b in imports)
    ]
    reasons = [
        *MODULE_SIZE_EXCEPTIONS.values(),
        *FUNCTION_SIZE_EXCEPTIONS.values(),
        *KNOWN_BACK_EDGES.values(),
        *LAYERING_EXCEPTIONS.values(),
    ]
    for reason in reasons:
        assert reason.strip(), "every exception says why"
    assert not stale, f"exceptions that no longer apply (remove them): {stale}"
