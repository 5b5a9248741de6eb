"""The package's import graph (no cycles, function-body imports included) and the code digests in the cache keys."""

import shutil

import pytest

from audit import sourcecode
from audit.sourcecode import function_code, import_closure, import_graph, source_digest


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_imports_in_function_bodies():
    graph = import_graph()
    assert "audit.report.render" in graph["audit.pipeline.run"]  # imported inside a function
    assert "audit.checks.base" in graph["audit.checks.registry"]


def test_no_import_cycles_in_audit():
    assert cycles(import_graph()) == []


def test_each_stage_hashes_the_code_it_runs_and_not_the_rest():
    from audit.pipeline import STAGES

    regions = import_closure(tuple(function_code(STAGES["regions"].compute)[1]))
    assert "audit.regions" in regions and not any(m.startswith(("audit.cam", "audit.model")) for m in regions)
    cam = import_closure(tuple(function_code(STAGES["cam"].compute)[1]))
    assert {"audit.cam.core", "audit.cam.gradcam", "audit.model"} <= set(cam) and "audit.regions" not in cam
    assert "audit.cam.methods" in cam  # the registry, through which the engine reaches every method module
    data = import_closure(tuple(function_code(STAGES["data"].compute)[1]))
    assert not any(m.startswith("audit.cam") for m in data)  # a new CAM method regenerates no data
    checks = import_closure(tuple(function_code(STAGES["checks"].compute)[1]))
    assert {"audit.checks.artifact_reliance", "audit.checks.shortcut_probe"} <= set(checks)  # found by entry point
    definitions, _ = function_code(STAGES["checks"].compute)
    assert "_retrain" in definitions  # a helper of the pipeline module that the stage calls


def test_editing_a_module_changes_the_digest_of_what_imports_it_only(tmp_path, monkeypatch):
    copy = tmp_path / "audit"
    shutil.copytree(sourcecode.PACKAGE_ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(sourcecode, "PACKAGE_ROOT", copy)
    before = {
        r: source_digest((r,))
        for r in ("audit.regions.estimate", "audit.regions.taxonomy", "audit.cam", "audit.scores")
    }
    regions = copy / "regions" / "estimate.py"
    regions.write_text(regions.read_text() + "\n# an edit\n")
    after = {r: source_digest((r,)) for r in before}
    assert after["audit.regions.estimate"] != before["audit.regions.estimate"]
    assert after["audit.regions.taxonomy"] == before["audit.regions.taxonomy"]  # the taxonomy does not import it
    assert after["audit.cam"] == before["audit.cam"]  # nor does the CAM code


def test_an_unknown_module_is_an_error():
    with pytest.raises(ValueError, match="no module audit.nope"):
        import_closure(("audit.nope",))


def test_every_import_from_the_package_resolves_function_bodies_included():
    """A lazy ``from audit.x import name`` inside a function fails only when that function runs; check all."""
    import ast
    import importlib

    missing = []
    for module, path in sourcecode.modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").startswith("audit"):
                target = importlib.import_module(node.module)
                missing += [f"{module}: {node.module}.{a.name}" for a in node.names if not hasattr(target, a.name)
                            and f"{node.module}.{a.name}" not in sourcecode.modules()]  # fmt: skip
    assert missing == []
