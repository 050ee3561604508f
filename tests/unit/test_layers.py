"""The package layering docs/architecture.md draws, checked on the source itself.

Imports are read with `ast` (module level and inside functions alike), so a cycle
hidden behind a function-level import counts too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PRODUCT = ("common", "user", "audit", "broker", "cesql")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> Iterator[str]:
    """Every module `path` imports, absolute, relative imports resolved."""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package.pop()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            yield module
            # `from package import module` imports that module too.
            yield from (f"{module}.{alias.name}" for alias in node.names)


def _sources(*packages: str) -> list[Path]:
    return sorted(path for package in packages for path in (REPO / package).rglob("*.py"))


def _imports_of(*packages: str) -> dict[str, set[str]]:
    return {_module_name(path): set(_imports(path)) for path in _sources(*packages)}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle among the modules of `graph`, or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        stack.append(module)
        for target in sorted(graph[module] & graph.keys()):
            if state.get(target) == "open":
                return [*stack[stack.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module)):
            return found
    return None


def _outside(imports: dict[str, set[str]], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{module} imports {target}"
        for module, targets in imports.items()
        for target in targets
        if target.split(".")[0] in forbidden
    )


def test_the_event_codec_has_no_import_cycle() -> None:
    # __init__ re-exports every module, so it is left out: only module-to-module edges.
    graph = _imports_of("common/events")
    graph.pop("common.events")
    assert _cycle(graph) is None


def test_cesql_is_a_library_that_knows_nothing_of_the_project() -> None:
    others = tuple(p for p in (*PRODUCT, "devstack", "tests", "bench") if p != "cesql")
    assert _outside(_imports_of("cesql"), others) == []


@pytest.mark.parametrize("package", PRODUCT)
def test_product_code_never_imports_the_dev_tools(package: str) -> None:
    assert _outside(_imports_of(package), ("devstack", "tests", "bench")) == []


@pytest.mark.parametrize("package", ["bench", "devstack"])
def test_bench_and_devstack_never_import_the_tests(package: str) -> None:
    assert _outside(_imports_of(package), ("tests",)) == []
