"""The package's shape: no import cycles (counting imports inside functions and under
TYPE_CHECKING), the math modules free of the training loop, and no function over 60 lines
(docstrings aside).

The import graph is read from the source with ``ast``, so an import that runs only inside a
function, or only for the type checker, counts as much as one at the top of a module: a cycle
dodged by a late import is still a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "deltaprop"
# The math of the notes: plain modules that import NumPy and each other, never the loop, the
# files or the faces. (blas is the matrix product they call; _validation the argument checks.)
MATH = ("activations", "activation_base", "losses", "targets", "penalty", "initializers", "layers",
        "optim", "blas", "metrics", "_validation")
MAX_FUNCTION_LINES = 60


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__``)."""
    return {module_name(path): path for path in sorted((SRC / PACKAGE).rglob("*.py"))}


def imported_modules(name: str, path: Path, known: set[str]) -> Iterator[str]:
    """The package's own modules that ``name`` imports anywhere in its source."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from _own(alias.name, known)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, name, is_package)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                yield from _own(candidate if candidate in known else base, known)


def _absolute(node: ast.ImportFrom, name: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    parts = name.split(".")
    anchor = parts if is_package else parts[:-1]
    anchor = anchor[:len(anchor) - node.level + 1]
    return ".".join(anchor + ([node.module] if node.module else []))


def _own(target: str, known: set[str]) -> Iterator[str]:
    """``target`` or its nearest enclosing module, if it is one of the package's."""
    while target:
        if target in known:
            yield target
            return
        target = target.rpartition(".")[0]


def import_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: set(imported_modules(name, path, known)) - {name} for name, path in found.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_the_checker_finds_a_planted_cycle_and_reads_every_kind_of_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    source = ("from __future__ import annotations\nfrom typing import TYPE_CHECKING\n"
              "if TYPE_CHECKING:\n    from deltaprop.network import Network\n"
              "def f():\n    from deltaprop.training import fit\n    import deltaprop.losses\n"
              "from . import history\nfrom .layers import Dense\n")
    path = SRC / PACKAGE / "_probe_for_the_test.py"
    known = {"deltaprop", "deltaprop.network", "deltaprop.training", "deltaprop.losses",
             "deltaprop.history", "deltaprop.layers"}
    try:
        path.write_text(source)
        found = set(imported_modules("deltaprop._probe_for_the_test", path, known))
    finally:
        path.unlink()
    assert found == known - {"deltaprop"}


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles (function-level and TYPE_CHECKING imports count):\n" + "\n".join(
        " <-> ".join(component) for component in found)


@pytest.mark.parametrize("math_module", MATH)
def test_the_math_modules_import_only_the_math(math_module):
    graph = import_graph()
    name = f"{PACKAGE}.{math_module}"
    allowed = tuple(f"{PACKAGE}.{m}" for m in MATH)
    outside = sorted(m for m in reachable(graph, name)
                     if not any(m == a or m.startswith(a + ".") for a in allowed))
    assert not outside, f"{name} reaches {outside}, beyond the math modules"


def code_lines(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the ``def`` to the end, without the docstring (numpydoc may be long)."""
    body = function.body
    has_docstring = (isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                     and isinstance(body[0].value.value, str))
    docstring = body[0].end_lineno - body[0].lineno + 1 if has_docstring else 0  # type: ignore[operator]
    return function.end_lineno - function.lineno + 1 - docstring  # type: ignore[operator]


def test_no_function_is_longer_than_60_lines():
    long = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = code_lines(node)
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name} ({lines} lines, line {node.lineno})")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"
