"""The package's import structure, read from the source (ast), nothing imported.

- No import circles between acnet's modules (lazy imports inside functions
  count: a circle through them still ties the two modules together).
- The layers: the runtime at the bottom, then training, then export, then
  benchmarks; a layer never imports a higher one. The runtime never imports
  torch, training never imports TensorRT.
- What a runtime-only install runs (``acnet.runtime``, the ``acnet`` command,
  ``acnet bench``'s modules) imports no torch, onnx or TensorRT when it loads.

Imports under ``if TYPE_CHECKING:`` are left out: they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "acnet"

#: Lower layers first; a module imports only from its own layer and those below.
LAYERS = ("acnet.runtime", "acnet.training", "acnet.export", "acnet.benchmarks")
#: Third-party packages a layer never imports, anywhere.
NEVER = {"acnet.runtime": {"torch", "torchvision"}, "acnet.training": {"tensorrt"}}
#: Modules that must load without these (a runtime-only install runs them).
LIGHT = ("acnet.runtime", "acnet.cli", "acnet.benchmarks", "acnet.benchmarks.cli")
HEAVY = {"torch", "torchvision", "onnx", "tensorrt"}


def _modules() -> dict[str, Path]:
    """Every module of the package; scripts in data folders (runtime/c/tests/fuzz: no __init__.py) are no modules."""
    out = {}
    for path in PACKAGE.rglob("*.py"):
        if any(not (folder / "__init__.py").is_file() for folder in path.parents if folder.is_relative_to(PACKAGE)):
            continue
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _resolve(name: str) -> str:
    """The acnet module a dotted name lives in (``acnet.x.y.func`` -> ``acnet.x.y``)."""
    while name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(module: str) -> list[tuple[str, bool, int]]:
    """(imported name, at import time?, line) for each name ``module`` imports."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    found = []

    def visit(node: ast.AST, top: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child, top)
            return
        if isinstance(node, ast.Import):
            found.extend((alias.name, top, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.append((full if full in MODULES else base, top, node.lineno))
        inside = top and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(tree, True)
    return found


IMPORTS = {m: _imports(m) for m in MODULES}


def _edges(at_import_time_only: bool = False) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, names in IMPORTS.items():
        for name, top, _ in names:
            if name.split(".")[0] == "acnet" and (top or not at_import_time_only):
                target = _resolve(name)
                if target != module:
                    edges[module].add(target)
    return edges


def _circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
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
                    found.append(sorted(component))
    return found


def _layer(module: str) -> int | None:
    return next((i for i, prefix in enumerate(LAYERS) if module == prefix or module.startswith(prefix + ".")), None)


def test_the_checker_sees_the_package():
    assert len(MODULES) > 50 and "acnet.runtime.segmenter" in MODULES
    # A lazy import inside a function is an edge too, and a TYPE_CHECKING one is not.
    assert "acnet.export.graph" in _edges()["acnet.export.verify"]
    assert "acnet.export.graph" not in _edges(at_import_time_only=True)["acnet.export.verify"]
    assert ("onnx", True) not in {(name, top) for name, top, _ in IMPORTS["acnet.export.verify"]}
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circles():
    circles = _circles(_edges())
    assert not circles, "import circles: " + "; ".join(" <-> ".join(c) for c in circles)


def test_no_layer_imports_a_higher_one():
    wrong = []
    for module, names in IMPORTS.items():
        layer = _layer(module)
        for name, _, line in names:
            if layer is None or name.split(".")[0] != "acnet":
                continue
            target = _layer(_resolve(name))
            if target is not None and target > layer:
                wrong.append(f"{module}:{line} imports {name}")
    assert not wrong, "a lower layer imports a higher one: " + "; ".join(wrong)


@pytest.mark.parametrize("layer", sorted(NEVER))
def test_layer_never_imports_its_forbidden_packages(layer):
    wrong = [f"{module}:{line} imports {name}" for module, names in IMPORTS.items() if _layer(module) == LAYERS.index(layer)
             for name, _, line in names if name.split(".")[0] in NEVER[layer]]
    assert not wrong, "; ".join(wrong)


@pytest.mark.parametrize("module", LIGHT)
def test_runtime_only_entry_points_load_no_heavy_package(module):
    """Follow the imports that run when ``module`` loads (module level, and each package above a module)."""
    edges = _edges(at_import_time_only=True)
    seen, todo, heavy = set(), [module], []
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        parts = current.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # importing a.b.c runs a and a.b first
        todo += sorted(edges[current])
        heavy += [f"{current}:{line} imports {name}" for name, top, line in IMPORTS[current]
                  if top and name.split(".")[0] in HEAVY]
    assert not heavy, f"loading {module} imports " + "; ".join(heavy)
