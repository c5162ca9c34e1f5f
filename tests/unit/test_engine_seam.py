"""The engine seam, checked: outside `engine/` the package reaches an engine only
through the protocol (engine/api.py) and the one function that picks an engine
(engine/select.py). No module there imports an engine's implementation or names
an engine class, none asks `isinstance` of one, and no module in `engine/` is
over 300 lines (each engine is cut by concern, not grown in one file)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "claude_bottle"
ENGINE = PACKAGE / "engine"
# The way in, for every layer above: the protocol, and the selection of an engine.
ALLOWED = {"claude_bottle.engine", "claude_bottle.engine.api", "claude_bottle.engine.select"}
MAX_LINES = 300


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def protocol_methods() -> set[str]:
    tree = ast.parse((ENGINE / "api.py").read_text())
    protocols = [
        n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name in {"Engine", "ImageStore"}
    ]
    return {item.name for p in protocols for item in p.body if isinstance(item, ast.FunctionDef)}


def engine_classes() -> set[str]:
    """The classes in engine/ that are engines or parts of one: they define a method
    of the Engine (or ImageStore) protocol, or are made of classes that do."""
    methods = protocol_methods()
    classes = [
        node
        for path in ENGINE.rglob("*.py")
        if path.name != "api.py"  # the protocol itself
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
    ]
    found = {
        c.name for c in classes if any(isinstance(i, ast.FunctionDef) and i.name in methods for i in c.body)
    }
    grown = True
    while grown:
        more = {c.name for c in classes if any(isinstance(b, ast.Name) and b.id in found for b in c.bases)}
        grown = not more <= found
        found |= more
    return found


CLASSES = engine_classes()
OUTSIDE = sorted(p for p in PACKAGE.rglob("*.py") if ENGINE not in p.parents)


def side_doors(tree: ast.AST) -> list[str]:
    """Engine modules other than the way in, and engine classes, that `tree` imports."""
    doors: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith("claude_bottle.engine") and node.module not in ALLOWED:
                doors.append(node.module)
            for alias in node.names:
                named = f"{node.module}.{alias.name}"
                package = node.module == "claude_bottle.engine"  # `from claude_bottle.engine import docker`
                if alias.name in CLASSES or (package and named not in ALLOWED):
                    doors.append(named)
        elif isinstance(node, ast.Import):
            doors += [a.name for a in node.names if a.name.startswith("claude_bottle.engine.")
                      and a.name not in ALLOWED]  # fmt: skip
    return doors


def engine_isinstance(tree: ast.AST) -> list[int]:
    """Lines where `isinstance` (or `issubclass`) is asked of an engine class."""

    def names(node: ast.expr) -> set[str]:
        if isinstance(node, ast.Tuple):
            return {n for elt in node.elts for n in names(elt)}
        if isinstance(node, ast.Attribute):
            return {node.attr}
        return {node.id} if isinstance(node, ast.Name) else set()

    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in {"isinstance", "issubclass"}
        and len(node.args) == 2
        and names(node.args[1]) & CLASSES
    ]


def test_the_engine_classes_are_found() -> None:
    # A check that could not fail would prove nothing: both engines are known, and
    # nothing that only travels through the seam (a spec, a stream) is taken for one.
    assert {"DockerEngine", "DockerResources", "DockerImages", "KubernetesEngine"} <= CLASSES
    assert not {"DockerExecStream", "Found", "ContainerSpec", "KubernetesSettings"} & CLASSES


@pytest.mark.parametrize("path", OUTSIDE, ids=lambda p: module_name(p))
def test_only_the_seam_is_imported_from_engine(path: Path) -> None:
    assert side_doors(ast.parse(path.read_text())) == []


@pytest.mark.parametrize("path", OUTSIDE, ids=lambda p: module_name(p))
def test_no_isinstance_on_an_engine(path: Path) -> None:
    assert engine_isinstance(ast.parse(path.read_text())) == []


def test_the_checks_see_a_side_door() -> None:
    door = (
        "from claude_bottle.engine.docker import DockerEngine\n"
        "import claude_bottle.engine.k8s.manifests\n"
        "from claude_bottle.engine import select\n"
        "from claude_bottle.engine.select import locate\n"
        "if isinstance(engine, (int, DockerEngine)): pass\n"
        "if isinstance(engine, select.KubernetesEngine): pass\n"
    )
    tree = ast.parse(door)
    assert side_doors(tree) == [
        "claude_bottle.engine.docker",
        "claude_bottle.engine.docker.DockerEngine",
        "claude_bottle.engine.k8s.manifests",
    ]
    assert engine_isinstance(tree) == [5, 6]


@pytest.mark.parametrize("path", sorted(ENGINE.rglob("*.py")), ids=lambda p: module_name(p))
def test_no_engine_module_is_over_300_lines(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{module_name(path)}: {lines} lines"
