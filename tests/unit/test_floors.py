"""The floors of the package: each imports only from floors below it, and no
modules import each other in a cycle.

Every ``import`` and ``from ... import`` anywhere in a module counts: at module
level, inside functions and under ``if TYPE_CHECKING:``. The couplings not yet
removed are listed below, each with its reason; the test also fails when one
of them no longer occurs, so that those lists only shrink.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

# Lowest first. A module belongs to the floor of its longest listed prefix; a
# module may import from its own floor and any floor below it.
FLOORS: list[tuple[str, tuple[str, ...]]] = [
    (
        "leaf",
        (
            "taskbeam._errors",
            "taskbeam._json",
            "taskbeam._schema",
            "taskbeam._spec",
            "taskbeam._version",
        ),
    ),
    ("graph", ("taskbeam.graph",)),
    ("examples", ("taskbeam.examples",)),
    ("store", ("taskbeam.store",)),
    ("engine", ("taskbeam.engine",)),
    ("broadcast", ("taskbeam.broadcast",)),
    (
        "shell",
        (
            "taskbeam._service",
            "taskbeam._history",
            "taskbeam._compare",
            "taskbeam._compare_view",
            "taskbeam._stored",
            "taskbeam.dask",
            "taskbeam.otel",
            "taskbeam.widget",
            "taskbeam.server",
            "taskbeam.testing",
        ),
    ),
    (
        "top",
        (
            "taskbeam._cli",
            "taskbeam._cli_common",
            "taskbeam._cli_lab",
            "taskbeam._cli_parser",
            "taskbeam._cli_questions",
            "taskbeam._cli_run",
            "taskbeam._cli_show",
            "taskbeam.__main__",
            "taskbeam",
        ),
    ),
]

# Imports that point up a floor: (importer, imported) -> why it is still there.
UPWARD: dict[tuple[str, str], str] = {}

# Imports that close a cycle: (importer, imported) -> why. Without these edges
# the import graph has no cycle; each of them still lies on one.
CYCLES: dict[tuple[str, str], str] = {}


def modules() -> dict[str, Path]:
    """Every module of src/taskbeam by dotted name (a package by its own name)."""
    out = {}
    for path in sorted((SRC / "taskbeam").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _package(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def imports(name: str, path: Path, known: set[str]) -> Iterator[tuple[str, int]]:
    """``(imported module, line)`` for every import of a taskbeam module in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package(name, path)
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            named = [f"{target}.{alias.name}" for alias in node.names]
            submodules = [m for m in named if m in known]
            # ``from pkg import submodule`` imports the submodule; ``from pkg
            # import name`` imports the package (its __init__).
            if target in known and len(submodules) < len(named):
                yield target, node.lineno
            for module in submodules:
                yield module, node.lineno


def floor_of(module: str) -> int:
    best, where = -1, -1
    for index, (_, prefixes) in enumerate(FLOORS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, where = len(prefix), index
    assert where >= 0, f"{module} is on no floor: add it to FLOORS"
    return where


def graph() -> dict[str, dict[str, int]]:
    """``{importer: {imported: first line}}`` over the package, self-imports left out."""
    found = modules()
    known = set(found)
    edges: dict[str, dict[str, int]] = {name: {} for name in found}
    for name, path in found.items():
        for target, line in imports(name, path, known):
            if target != name:
                edges[name].setdefault(target, line)
    return edges


def reaches(edges: dict[str, dict[str, int]], start: str, goal: str) -> bool:
    seen, stack = {start}, [start]
    while stack:
        for nxt in edges[stack.pop()]:
            if nxt == goal:
                return True
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return False


def cycle(edges: dict[str, dict[str, int]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1: on the path, 2: finished
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for nxt in sorted(edges[module]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(edges):
        if module not in state and (found := visit(module)) is not None:
            return found
    return None


def test_every_module_is_on_a_floor() -> None:
    for module in modules():
        floor_of(module)


def test_no_import_points_up_a_floor() -> None:
    edges = graph()
    found = {
        (importer, imported): line
        for importer, targets in edges.items()
        for imported, line in targets.items()
        if floor_of(imported) > floor_of(importer)
    }
    new = [
        f"{importer} (floor {FLOORS[floor_of(importer)][0]}, line {line}) imports "
        f"{imported} (floor {FLOORS[floor_of(imported)][0]})"
        for (importer, imported), line in sorted(found.items())
        if (importer, imported) not in UPWARD
    ]
    assert not new, "imports up a floor:\n" + "\n".join(new)
    gone = sorted(set(UPWARD) - set(found))
    assert not gone, f"known upward imports that no longer occur (drop them from UPWARD): {gone}"


def test_no_import_cycle() -> None:
    edges = graph()
    for importer, imported in CYCLES:
        assert imported in edges.get(importer, {}), (
            f"{importer} no longer imports {imported}: drop it from CYCLES"
        )
        assert reaches(edges, imported, importer), (
            f"{importer} -> {imported} no longer closes a cycle: drop it from CYCLES"
        )
    pruned = {
        importer: {t: line for t, line in targets.items() if (importer, t) not in CYCLES}
        for importer, targets in edges.items()
    }
    found = cycle(pruned)
    assert found is None, "import cycle: " + " -> ".join(found or [])


def test_the_checker_sees_every_kind_of_import(tmp_path: Path) -> None:
    source = (
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "import taskbeam._errors\n"
        "from . import _schema\n"
        "from .graph import Graph\n"
        "if TYPE_CHECKING:\n"
        "    from taskbeam.engine._run import Run\n"
        "def f() -> None:\n"
        "    from taskbeam.widget import GraphView\n"
    )
    path = tmp_path / "_probe.py"
    path.write_text(source, encoding="utf-8")
    known = {
        "taskbeam._errors",
        "taskbeam._schema",
        "taskbeam.graph",
        "taskbeam.engine._run",
        "taskbeam.widget",
    }
    found = sorted(t for t, _ in imports("taskbeam._probe", path, known))
    assert found == sorted(known)
    assert cycle({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b": 1}, "b": {}}) is None


def test_the_engine_writes_through_the_store_protocol() -> None:
    """The engine names ``SQLiteStore`` only to make the default store of
    ``continue_run()`` and ``rerun()``; the recorder knows its run only through what it
    is given."""
    uses = set()
    for name, path in modules().items():
        if not name.startswith("taskbeam.engine"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where: dict[ast.AST, str | None] = {tree: None}  # node -> enclosing function
        for parent in ast.walk(tree):
            for child in ast.iter_child_nodes(parent):
                own = isinstance(parent, ast.FunctionDef | ast.AsyncFunctionDef)
                where[child] = parent.name if own else where[parent]
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and any(
                a.name == "SQLiteStore" for a in node.names
            ):
                uses.add((name, where[node]))
    assert set(uses) == {
        ("taskbeam.engine._start", "continue_run"),
        ("taskbeam.engine._start", "rerun"),
    }
    assert "taskbeam.engine._run" not in graph()["taskbeam.engine._persist"]
