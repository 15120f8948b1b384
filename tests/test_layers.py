"""The layer contract of docs/architecture.md, read from the source (every import, including
the lazy ones inside functions):

    reference < common < {networks, simulator, kernels} < validation < gilt < benchmarks

A package imports only packages of a lower floor (and itself); the three packages of the middle
floor never import each other; and no module imports, directly or through others, a module that
imports it back (no import circles)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FLOORS = {"reference": 0, "common": 1, "networks": 2, "simulator": 2, "kernels": 2,
          "validation": 3, "gilt": 4, "benchmarks": 5}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    return {_module_name(p): p for pkg in FLOORS for p in sorted((ROOT / pkg).rglob("*.py"))}


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """Project modules imported anywhere in ``path`` (resolved to the longest known name)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name.split(".")[0] in FLOORS:
                found.add(name)
    found.discard(module)
    return found


def _graph() -> dict[str, set[str]]:
    sources = _sources()
    known = set(sources)
    return {mod: _imports(mod, path, known) for mod, path in sources.items()}


def test_no_import_goes_up_or_sideways():
    bad = []
    for mod, targets in _graph().items():
        top = mod.split(".")[0]
        for target in targets:
            other = target.split(".")[0]
            if other != top and FLOORS[other] >= FLOORS[top]:
                bad.append(f"{mod} imports {target}")
    assert not bad, "imports against the layer order:\n" + "\n".join(sorted(bad))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
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
                    out.append(sorted(component))
    return out


def _without_package_reexports(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """A package's ``__init__`` re-exporting its own submodules is not a circle: drop the
    edges from a submodule to its own parent packages (``a.b.c -> a``, ``a.b.c -> a.b``)."""
    return {mod: {t for t in targets if not mod.startswith(t + ".")}
            for mod, targets in graph.items()}


def test_no_import_circles():
    cycles = _cycles(_without_package_reexports(_graph()))
    assert not cycles, "import circles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize("case, expected", [
    ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
    ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
])
def test_cycle_finder_finds_known_circles(case, expected):
    assert _cycles(case) == expected


def test_checker_reads_lazy_and_relative_imports(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("def f():\n    import simulator.npu.model\n    from .x import y\n")
    known = {"simulator.npu.model", "simulator", "networks.x"}
    assert _imports("networks.m", src, known) == {"simulator.npu.model", "networks.x"}
