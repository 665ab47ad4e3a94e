"""No import cycles in the package: a module never needs, directly or through others, a module that needs it.

The graph is read from the source (``ast``), not by importing: every ``import`` and ``from ... import`` in a
module, at any depth (an import inside a function that dodges a cycle at load time is still a cycle in the
design), except those under ``if TYPE_CHECKING:`` (annotations only). ``from scratchnet import backend``
counts as an import of ``scratchnet.backend``, not of the package's ``__init__``.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "scratchnet"


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    class Visitor(ast.NodeVisitor):
        def visit_If(self, node: ast.If) -> None:
            test = node.test
            if getattr(test, "id", getattr(test, "attr", None)) == "TYPE_CHECKING":
                for child in node.orelse:
                    self.visit(child)
                return
            self.generic_visit(node)

        def visit_Import(self, node: ast.Import) -> None:
            found.update(alias.name for alias in node.names)

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                found.add(sub if sub in modules else module)

    Visitor().visit(ast.parse(path.read_text(encoding="utf-8")))
    return {m for m in found if m in modules and m != name}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
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
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return components


def test_the_package_has_no_import_cycle():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert len(graph) > 30 and graph["scratchnet.layers.dense"], "the import graph was not read"
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def test_tier_one_never_imports_tier_two():
    """The layers and the maths they use (tier 1) reach no fast path and no compiled kernel by import, even
    indirectly: the fast paths are chosen at run time, in one place (``backend``, ``Layer.dispatch``), so
    the walk stops at ``backend``, the module that chooses (and reports which kernels are built)."""
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    graph["scratchnet.backend"] = set()
    tier_one = [m for m in graph if m.startswith(("scratchnet.layers", "scratchnet.maths"))]
    assert "scratchnet.layers.dense" in tier_one and "scratchnet.maths.im2col" in tier_one
    for module in tier_one:
        tier_two = sorted(
            m for m in _reachable(graph, module) if m.startswith(("scratchnet.fast", "scratchnet._kernels"))
        )
        assert tier_two == [], f"{module} imports tier 2: {tier_two}"


def test_the_tier_check_sees_an_indirect_import():
    graph = {
        "scratchnet.layers.a": {"scratchnet.b"},
        "scratchnet.b": {"scratchnet.fast.c"},
        "scratchnet.fast.c": set(),
    }
    assert "scratchnet.fast.c" in _reachable(graph, "scratchnet.layers.a")


def test_layer_methods_are_the_code_their_files_define():
    """No method rewriting: every forward/backward a layer class holds is the function its own class body
    wrote (not a wrapper put there at class creation), so a breakpoint in the layer's file fires."""
    import importlib
    import inspect

    from scratchnet.layers.base import Layer

    for name in sorted(_modules()):
        if name.startswith(("scratchnet.layers", "scratchnet.unsupervised", "scratchnet.model")):
            importlib.import_module(name)
    classes, todo = [], [Layer]
    while todo:
        cls = todo.pop()
        classes.append(cls)
        todo.extend(cls.__subclasses__())
    checked = 0
    for cls in classes:
        if not cls.__module__.startswith("scratchnet"):
            continue
        for method in ("forward", "backward", "backward_params", "forward_loop", "backward_loop"):
            fn = cls.__dict__.get(method)
            if fn is None:
                continue
            assert inspect.isfunction(fn) and not hasattr(fn, "__wrapped__"), f"{cls.__qualname__}.{method}"
            assert fn.__qualname__ == f"{cls.__qualname__}.{method}", f"{cls.__qualname__}.{method} is {fn}"
            checked += 1
    assert checked > 30


def test_the_package_root_reaches_what_users_reach_for():
    """After ``import scratchnet`` alone: the callbacks, model files and plotting (imported on first use, so a
    training script does not load matplotlib)."""
    import subprocess
    import sys

    code = (
        "import sys, scratchnet as sn; assert 'matplotlib' not in sys.modules; "
        "sn.callbacks.ModelCheckpoint, sn.load_model, sn.register_layer, sn.layers.InputSpec; "
        "assert callable(sn.plotting.new_figure) and 'matplotlib' in sys.modules; "
        "assert callable(sn.datasets.load_mnist)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PACKAGE.parent)
