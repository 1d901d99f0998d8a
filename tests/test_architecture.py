"""The folder list is the architecture: each layer imports only the layers below it, so nothing cycles.

errors < format < storage < inputs < plan < run < the commands beside it (verify, fake, show,
trainer, demo) < __main__. Checked on the source's import statements, module level and inside
functions alike.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "imagenet_convert"
LAYERS = ("errors", "format", "storage", "inputs", "plan", "run")
COMMANDS = ("verify", "fake", "show", "trainer", "demo")


def _rank(module: str) -> int:
    """A module's layer; the commands share one, above ``run``; ``__main__`` is the top."""
    part = module.split(".")[1] if "." in module else ""
    if part in LAYERS:
        return LAYERS.index(part)
    return len(LAYERS) if part in COMMANDS else len(LAYERS) + 1


def _imports() -> list[tuple[str, str]]:
    """(importer, imported) for every import of one of our modules by another; ``from package import
    module`` counts as importing that module."""
    paths = {_name(path): path for path in PACKAGE.rglob("*.py")}
    found = []
    for name, path in paths.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("imagenet_convert."):
                for alias in node.names:
                    submodule = f"{node.module}.{alias.name}"
                    found.append((name, submodule if submodule in paths else str(node.module)))
    return found


def _name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = [f"{a} -> {b}" for a, b in _imports() if _rank(b) > _rank(a)]
    assert not upward


def test_the_package_root_holds_only_entry_points_and_a_few_modules() -> None:
    modules = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert modules == ["__init__.py", "__main__.py", "demo.py", "errors.py", "show.py"]


def test_no_import_cycle() -> None:
    graph: dict[str, set[str]] = {}
    for importer, imported in _imports():
        graph.setdefault(importer, set()).add(imported)
    state: dict[str, str] = {}

    def cycle_from(module: str, path: list[str]) -> list[str] | None:
        state[module] = "open"
        for nxt in sorted(graph.get(module, ())):
            if state.get(nxt) == "open":
                return [*path[path.index(nxt) :], nxt] if nxt in path else [module, nxt]
            if nxt not in state and (found := cycle_from(nxt, [*path, nxt])):
                return found
        state[module] = "done"
        return None

    cycles = [
        found for module in sorted(graph) if module not in state and (found := cycle_from(module, [module]))
    ]
    assert not cycles
