"""The package's own source: its import graph and a digest of the code a stage runs.

A cache key that hashed only the config and the version would hand a developer who edits
``regions/estimate.py`` the regions computed by the old code.  :func:`source_digest` hashes the source of
the named modules and of every ``audit`` module they import (anywhere in their body, function
bodies included, since the stages import lazily), so an edit invalidates exactly the stages whose
code it touches (and, through the upstream keys, everything computed from them).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "PACKAGE_ROOT",
    "function_code",
    "function_digest",
    "import_closure",
    "import_graph",
    "modules",
    "source_digest",
]

PACKAGE_ROOT = Path(__file__).resolve().parent
"""The ``audit`` package folder."""


def _snapshot() -> tuple[tuple[str, str, int, int], ...]:
    """(module, path, mtime, size) of every module: what the caches below are keyed on, so an
    edited file is read again even in a long-lived process."""
    out = []
    for f in sorted(PACKAGE_ROOT.rglob("*.py")):
        parts = f.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
        st = f.stat()
        out.append((".".join(parts[:-1] if parts[-1] == "__init__" else parts), str(f), st.st_mtime_ns, st.st_size))
    return tuple(out)


def _modules(snapshot) -> dict[str, Path]:
    return {m: Path(f) for m, f, _, _ in snapshot}


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__.py``)."""
    return _modules(_snapshot())


def _package_of(name: str, file: str | Path) -> str:
    return name if str(file).endswith("__init__.py") else name.rpartition(".")[0]


def _imports(node: ast.Import | ast.ImportFrom, package: str, mods) -> list[tuple[str, str]]:
    """(name the statement binds, package module it refers to) for one import statement in a module
    of ``package``: ``from a.b import c`` refers to ``a.b.c`` when that is a module, else to ``a.b``;
    relative imports are resolved; modules outside the package are left out."""
    if isinstance(node, ast.Import):
        pairs = [((a.asname or a.name).split(".")[0], a.name) for a in node.names]
    else:
        base = node.module or ""
        if node.level:
            up = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join(up + ([node.module] if node.module else []))
        pairs = [(a.asname or a.name, f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base) for a in node.names]
    return [(bound, target) for bound, target in pairs if target in mods]


def import_graph() -> dict[str, frozenset[str]]:
    """module -> the package's modules it imports anywhere in its body.  ``from a.b import c``
    counts ``a.b.c`` when that is a module, else ``a.b``; relative imports are resolved."""
    return _import_graph(_snapshot())


@functools.lru_cache(maxsize=4)
def _import_graph(snapshot) -> dict[str, frozenset[str]]:
    mods = _modules(snapshot)
    graph: dict[str, frozenset[str]] = {}
    for name, path in mods.items():
        package = _package_of(name, path)
        found = {
            target
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Import | ast.ImportFrom)
            for _, target in _imports(node, package, mods)
        }
        graph[name] = frozenset(found - {name})
    return graph


def import_closure(roots: tuple[str, ...]) -> list[str]:
    """The modules ``roots`` name (a package includes all its modules) and everything they
    import from the package, transitively; sorted."""
    return _closure(tuple(roots), _snapshot())


def _closure(roots: tuple[str, ...], snapshot) -> list[str]:
    mods = _modules(snapshot)
    graph = _import_graph(snapshot)
    todo = [m for m in mods if any(m == r or m.startswith(f"{r}.") for r in roots)]
    unknown = [r for r in roots if not any(m == r or m.startswith(f"{r}.") for m in mods)]
    if unknown:
        raise ValueError(f"no module {', '.join(unknown)} in the audit package")
    seen: set[str] = set()
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(graph[m] - seen)
    return sorted(seen)


def source_digest(roots: tuple[str, ...]) -> str:
    """SHA-256 (16 hex digits) of the source of :func:`import_closure` ``(roots)``, module by module."""
    return _source_digest(tuple(sorted(set(roots))), _snapshot())


@functools.lru_cache(maxsize=256)
def _source_digest(roots: tuple[str, ...], snapshot) -> str:
    digest = hashlib.sha256()
    mods = _modules(snapshot)
    for m in _closure(roots, snapshot):
        digest.update(m.encode() + b"\0" + mods[m].read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


@functools.lru_cache(maxsize=16)
def _module_index(name: str, file: str, snapshot) -> tuple[dict[str, str], dict[str, ast.AST], dict[str, str], str]:
    """A module's top-level definitions by name (source text and node), its top-level imported
    names -> module, and its package."""
    mods = _modules(snapshot)
    package = _package_of(name, file)
    source = Path(file).read_text(encoding="utf-8")
    defs: dict[str, ast.AST] = {}
    imported: dict[str, str] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defs[node.name] = node
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            for t in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(t, ast.Name):
                    defs[t.id] = node
        elif isinstance(node, ast.ImportFrom | ast.Import):
            imported.update(_imports(node, package, mods))
    lines = source.splitlines(keepends=True)
    segments = {n: "".join(lines[node.lineno - 1 : node.end_lineno]) for n, node in defs.items()}
    return segments, defs, imported, package


def function_code(func: Callable) -> tuple[list[str], list[str]]:
    """What ``func`` (a module-level function of the package) runs: the names of the module-level
    functions, classes and assignments of its module that it names, transitively (itself
    included), and the package modules they import (at module level or inside a body); the
    latter's own imports are followed by :func:`import_closure`."""
    module = inspect.getmodule(func)
    snapshot = _snapshot()
    segments, defs, imported, package = _module_index(module.__name__, module.__file__, snapshot)
    mods = _modules(snapshot)
    seen: set[str] = set()
    roots: set[str] = set()
    todo = [func.__name__]
    while todo:
        n = todo.pop()
        if n in seen or n not in defs:
            continue
        seen.add(n)
        node = defs[n]
        for inner in ast.walk(node):
            if isinstance(inner, ast.Import | ast.ImportFrom):
                roots.update(target for _, target in _imports(inner, package, mods))
        for ident in _names(node):
            if ident in defs:
                todo.append(ident)
            elif ident in imported:
                roots.add(imported[ident])
    return sorted(seen), sorted(roots)


def function_digest(func: Callable) -> str:
    """SHA-256 (16 hex digits) of the code ``func`` runs (:func:`function_code`): the source of
    its definitions and of every package module in the import closure of the modules it imports."""
    module = inspect.getmodule(func)
    snapshot = _snapshot()
    segments = _module_index(module.__name__, module.__file__, snapshot)[0]
    definitions, roots = function_code(func)
    digest = hashlib.sha256()
    for n in definitions:
        digest.update(n.encode() + b"\0" + segments[n].encode() + b"\0")
    digest.update(_source_digest(tuple(roots), snapshot).encode())
    return digest.hexdigest()[:16]
