"""No import circles among tinyml's modules (DESIGN.md: "no import circles").

Every `import` / `from ... import` in every module counts, the ones inside
functions (lazy imports) and under TYPE_CHECKING included: a lazy import hides
a circle from Python at start-up, not from the reader. `from pkg import name`
is an edge to pkg.name when that is a module, else to pkg. The implicit import
of a package's __init__ when one of its submodules is imported is not an edge
(as in import-linter and pydeps).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "tinyml"


def module_files(root: Path) -> dict[str, tuple[Path, bool]]:
    mods = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        mods[".".join(parts)] = (path, is_package)
    return mods


def _owner(name: str, mods) -> str | None:
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    mods = module_files(root)
    top = root.name
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, (path, is_package) in mods.items():
        package = mod if is_package else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                for alias in node.names:
                    sub = f"{source}.{alias.name}"
                    targets.append(sub if sub in mods else source)
            for target in targets:
                if target == top or target.startswith(top + "."):
                    owner = _owner(target, mods)
                    if owner and owner != mod:
                        graph[mod].add(owner)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return cycles


def _describe(graph, cycle) -> str:
    members = set(cycle)
    return "; ".join(f"{m} -> {', '.join(sorted(graph[m] & members))}" for m in cycle)


def test_tinyml_has_no_import_cycles():
    graph = import_graph()
    cycles = find_cycles(graph)
    assert not cycles, "import circles: " + " | ".join(_describe(graph, c) for c in cycles)


def test_the_graph_sees_lazy_and_relative_imports():
    graph = import_graph()
    assert "tinyml.runtimes" in graph["tinyml.firmware"]            # top-level relative import
    assert "tinyml.runtimes.aot.firmware" in graph["tinyml.runtimes"]  # inside a function
    assert "tinyml.emulators.qemu" in graph["tinyml.emulators"]      # the runner registry
    assert "tinyml.example_data" in graph["tinyml.data"]
    assert "tinyml.data" not in graph["tinyml.example_data"]


def test_a_cycle_through_a_function_local_import_is_found(tmp_path):
    pkg = tmp_path / "tinyml"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import thing\n")
    (pkg / "b.py").write_text("def thing():\n    from .sub import c\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "c.py").write_text("from .. import a\n")
    (pkg / "d.py").write_text("import tinyml.a\n")
    graph = import_graph(pkg)
    assert find_cycles(graph) == [["tinyml.a", "tinyml.b", "tinyml.sub.c"]]
