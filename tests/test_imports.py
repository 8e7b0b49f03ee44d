"""The import graph of ``idtheory``: no cycles, and the kernels at the bottom.

How the graph is read (statically, with :mod:`ast`, so no module is imported):

* a node is a module of the ``idtheory`` package (``idtheory/x/__init__.py`` is ``idtheory.x``);
* an edge A → B is an ``import``/``from ... import`` in A that names B (``from P import n``
  points at ``P.n`` when that is a module, else at ``P``), **wherever the statement stands**:
  at module level, or inside a function (a lazy import). A lazy import still makes A depend
  on B; keeping those acyclic too keeps every dependency pointing down. Only imports under
  ``if TYPE_CHECKING:`` are left out: they never run;
* the registry of :mod:`idtheory.projections` imports its classes by dotted path
  (``importlib``), which no ``import`` statement shows: each registered module is added as
  an edge from ``idtheory.projections``;
* the implicit import of a parent package before its submodule is not an edge (Python
  finishes the parent's ``__init__`` first, so it cannot close a cycle at import time).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "idtheory"


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods[".".join(parts)] = path
    return mods


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported_names(module: str, path: Path, node: ast.AST) -> list[str]:
    """Dotted names an import statement may refer to (candidates for a module)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    assert isinstance(node, ast.ImportFrom)
    base = node.module or ""
    if node.level:  # relative: resolve against the importing module's package
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join(package + ([node.module] if node.module else []))
    return [f"{base}.{alias.name}" for alias in node.names] + [base]


def _imports(module: str, path: Path, mods: dict[str, Path]) -> set[str]:
    """The idtheory modules that ``module`` imports (see the module docstring)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            candidates = _imported_names(module, path, node)
            if isinstance(node, ast.ImportFrom):  # `from P import n`: P.n if a module, else P
                base = candidates.pop()
                targets = [c if c in mods else base for c in candidates]
            else:
                targets = candidates
            for target in targets:
                while target and target not in mods:  # `import a.b.c` of a non-module: its module
                    target = target.rpartition(".")[0]
                if target and target != module:
                    found.add(target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def import_graph() -> dict[str, set[str]]:
    """module → the idtheory modules it imports."""
    mods = _modules()
    graph = {m: _imports(m, p, mods) for m, p in mods.items()}
    from idtheory.projections import REGISTRY  # torch-free

    graph["idtheory.projections"] |= {path.partition(":")[0] for path in REGISTRY.values()}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, …, a], or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in sorted(graph):
        if root in state:
            continue
        path, stack = [root], [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def test_find_cycle_finds_lazy_and_long_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_graph_reads_lazy_relative_and_guarded_imports(tmp_path: Path) -> None:
    src = (
        "from typing import TYPE_CHECKING\n"
        "from . import b\n"
        "if TYPE_CHECKING:\n    import pkg.c\n"
        "def f():\n    from pkg.d import thing\n"
    )
    mods = {m: tmp_path / f"{m}.py" for m in ("pkg.a", "pkg.b", "pkg.c", "pkg.d")}
    mods["pkg"] = tmp_path / "__init__.py"
    mods["pkg.a"].write_text(src)
    assert _imports("pkg.a", mods["pkg.a"], mods) == {"pkg.b", "pkg.d"}


def test_import_graph_has_no_cycle() -> None:
    graph = import_graph()
    assert (
        "idtheory.projections.fastfood"
        in graph["idtheory.subspace"] | graph["idtheory.projections"]
    )
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def test_kernels_import_nothing_above_them() -> None:
    """``idtheory.kernels`` holds tensor functions: it imports only itself (and no torch.nn)."""
    graph = import_graph()
    kernels = [m for m in graph if m.startswith("idtheory.kernels")]
    assert len(kernels) >= 3
    for module in kernels:
        above = {t for t in graph[module] if not t.startswith("idtheory.kernels")}
        assert not above, f"{module} imports {sorted(above)}"
        assert "nn.Module" not in _modules()[module].read_text(encoding="utf-8"), module


@pytest.mark.parametrize(
    "module", ["idtheory.config", "idtheory.projections", "idtheory.cli", "idtheory.data"]
)
def test_config_and_registry_import_without_torch(module: str) -> None:
    code = f"import sys, {module}; assert 'torch' not in sys.modules, sorted(sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
