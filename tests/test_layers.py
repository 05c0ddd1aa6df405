"""The package's import graph, read statically with ``ast`` (docs/architecture.md).

Two rules of the layout: nothing below the CLI imports ``simlib.cli``, and no import cycle
among simlib modules. Every ``import`` statement counts, also one inside a function (a lazy
import still couples the two modules); only imports under ``if TYPE_CHECKING:`` are left out,
because they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "simlib"

# The CLI (the simlib.cli package: its modules import each other) and the ``python -m simlib``
# entry point may import the CLI.
CLI_IMPORTERS_ALLOWED = {"simlib.cli", "simlib.__main__"}


def is_cli(module: str) -> bool:
    """simlib.cli or one of its modules (simlib.cli.run, simlib.cli.options, ...)."""
    return module == "simlib.cli" or module.startswith("simlib.cli.")

# Edges left in cycles for now, each a known debt of issue 12: remove the line when the edge
# goes. Any cycle that removing these edges does not break fails the test.
ALLOWED_CYCLE_EDGES: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Every Import/ImportFrom node, at any depth, outside ``if TYPE_CHECKING:`` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The simlib modules ``name`` imports: ``from a.b import c`` is ``a.b.c`` if that is a
    module, else ``a.b``; relative imports are resolved against the importing package."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _imports(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        for target in targets:
            while target and target not in known:  # import simlib.engine.run.x -> simlib.engine.run
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imported_modules(name, path, set(mods)) for name, path in mods.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_reader_sees_lazy_and_relative_imports_and_skips_type_checking(tmp_path):
    src = tmp_path / "m.py"
    src.write_text(
        "from typing import TYPE_CHECKING\n"
        "import simlib.errors\n"
        "if TYPE_CHECKING:\n    from simlib.results import RunResult\n"
        "def f():\n    from simlib.engine import run\n    from . import paths\n"
    )
    known = {"simlib", "simlib.errors", "simlib.results", "simlib.engine", "simlib.engine.run", "simlib.paths", "simlib.m"}
    assert imported_modules("simlib.m", src, known) == {"simlib.errors", "simlib.engine.run", "simlib.paths"}


def test_cycle_finder_finds_a_three_module_cycle_and_nothing_in_a_chain():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_nothing_below_the_cli_imports_the_cli():
    offenders = sorted(m for m, deps in import_graph().items()
                       if any(is_cli(d) for d in deps) and not (is_cli(m) or m in CLI_IMPORTERS_ALLOWED))
    assert offenders == [], f"these library modules import simlib.cli (move the helper below the CLI): {offenders}"


def test_no_import_cycles_among_simlib_modules():
    graph = import_graph()
    for (src, dst) in ALLOWED_CYCLE_EDGES:
        graph[src].discard(dst)
    assert cycles(graph) == [], "import cycle(s) among simlib modules (see docs/architecture.md for the layers)"


@pytest.mark.parametrize("edge", sorted(ALLOWED_CYCLE_EDGES))
def test_every_allowed_exception_still_exists(edge):
    """An allowance for an edge that is gone must be deleted, so the list only shrinks."""
    src, dst = edge
    assert dst in import_graph()[src], f"{src} no longer imports {dst}: delete it from ALLOWED_CYCLE_EDGES"
