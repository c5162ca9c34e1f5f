"""The package's plan, checked: dependencies run one way through the layers

    cli -> session -> bottle -> {plan, workspace} -> tracking -> {manifest, engine, proxies} -> base

with no import cycle, no upward or sideways import, and no command importing another."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "claude_bottle"

# A layer may import only from layers of a lower rank (and from inside itself).
RANK = {
    "base": 0,
    "manifest": 1,
    "engine": 1,
    "proxies": 1,
    "tracking": 2,  # labels, owners, finding by label: speaks to the engine through its seam
    "plan": 3,
    "workspace": 3,
    "bottle": 4,
    "session": 5,
    "cli": 6,
    "__main__": 7,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "base"  # the package itself: its version and start-up handler
    if parts[1] == "__main__":
        return "__main__"
    return parts[1] if parts[1] in RANK else "base"  # modules directly in the package


def imports_of(path: Path) -> set[str]:
    """Every claude_bottle module `path` imports, at any depth (lazy imports too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == PACKAGE:
            assert node.level == 0, f"{path}: relative import"
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == PACKAGE}
    return found


MODULES = {module_name(p): p for p in (SRC / PACKAGE).rglob("*.py")}
GRAPH = {name: imports_of(path) for name, path in MODULES.items()}


def test_every_module_sits_in_a_known_layer() -> None:
    stray = [m for m in MODULES if m.count(".") >= 2 and m.split(".")[1] not in RANK]
    assert stray == []


@pytest.mark.parametrize("module", sorted(GRAPH), ids=str)
def test_imports_only_downward(module: str) -> None:
    upward = [
        dep
        for dep in sorted(GRAPH[module])
        if layer(dep) != layer(module) and RANK[layer(dep)] >= RANK[layer(module)]
    ]
    assert upward == [], f"{module} ({layer(module)}) imports a layer at or above its own"


def test_no_command_imports_a_sibling_command() -> None:
    commands = f"{PACKAGE}.cli.commands"
    siblings = {
        m: sorted(d for d in deps if d.startswith(commands + ".") and d != m)
        for m, deps in GRAPH.items()
        if m.startswith(commands + ".")
    }
    assert {m: d for m, d in siblings.items() if d} == {}


def test_no_import_cycle() -> None:
    # The commands' collecting __init__ imports its own members: not a cycle of meaning.
    graph = {m: {d for d in deps if d in GRAPH and d != m} for m, deps in GRAPH.items()}
    for m, deps in graph.items():
        deps.discard(m.rpartition(".")[0])  # a module "imports" its package on the way in
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append([*path[path.index(dep) :], dep] if dep in path else [node, dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_the_graph_is_read() -> None:
    # A check that could not fail would prove nothing: the graph has the edges we know.
    assert f"{PACKAGE}.engine.api" in GRAPH[f"{PACKAGE}.bottle.agent"]
    assert layer(f"{PACKAGE}.errors") == "base"
