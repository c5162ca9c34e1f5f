"""The host context is made once, at the CLI's edge (issue 24): cli/main.py reads
every setting (`Settings.from_environ()`) and makes the paths (`HostPaths`),
and passes both down. Checked here on the source's syntax trees:

- nothing but cli/main.py calls `Settings.from_environ()`;
- nothing writes os.environ (the CLI's options travel in Settings; a child
  process is given an explicit environment);
- nothing but paths.py asks for the user's home (`Path.home()`, `expanduser`,
  or HOME read from an environment)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "claude_bottle"

EDGE = "cli/main.py"
PATHS = "paths.py"
# The two processes the tool starts read their settings at their own edge, once:
# the CLI, and the watchdog (started by the CLI with an explicit environment).
WATCHDOG = "bottle/reaper.py"
# The engines' own clients' files, found where those clients find them: the
# kubeconfig (as kubectl does) and the docker CLI's config (its current context).
ENGINE_READS_HOME = {"engine/k8s/cluster.py", "engine/docker/endpoint.py"}

ENVIRON_WRITERS = {"setdefault", "update", "pop", "popitem", "clear", "__setitem__", "__delitem__"}


def sources() -> Iterator[tuple[str, ast.AST]]:
    for path in sorted(SRC.rglob("*.py")):
        yield path.relative_to(SRC).as_posix(), ast.parse(path.read_text(), str(path))


def is_os_environ(node: ast.AST, aliases: set[str]) -> bool:
    """`os.environ`, or a name bound to it (`from os import environ as env`)."""
    if isinstance(node, ast.Attribute) and node.attr == "environ":
        return isinstance(node.value, ast.Name) and node.value.id == "os"
    return isinstance(node, ast.Name) and node.id in aliases


def environ_aliases(tree: ast.AST) -> set[str]:
    return {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "os"
        for alias in node.names
        if alias.name == "environ"
    }


def settings_reads(tree: ast.AST) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "from_environ"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "Settings"
    ]


def environ_writes(tree: ast.AST) -> list[int]:
    aliases = environ_aliases(tree)
    found = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        targets: list[ast.AST] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        elif isinstance(node, ast.Delete):
            targets = list(node.targets)
        if any(isinstance(t, ast.Subscript) and is_os_environ(t.value, aliases) for t in targets):
            found.append(line)
        if any(is_os_environ(t, aliases) for t in targets):  # os.environ = {...}
            found.append(line)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            receiver, name = node.func.value, node.func.attr
            if name in ENVIRON_WRITERS and is_os_environ(receiver, aliases):
                found.append(line)
            if name in ("putenv", "unsetenv") and isinstance(receiver, ast.Name) and receiver.id == "os":
                found.append(line)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("putenv", "unsetenv")
        ):
            found.append(line)
    return found


def home_lookups(tree: ast.AST) -> list[int]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            func = node.func
            path_home = func.attr == "home" and isinstance(func.value, ast.Name) and func.value.id == "Path"
            if path_home or func.attr == "expanduser":
                found.append(node.lineno)
            elif func.attr in ("get", "getenv") and node.args and _is_home(node.args[0]):
                found.append(node.lineno)  # environ.get("HOME"), os.getenv("HOME")
        elif isinstance(node, ast.Subscript) and _is_home(node.slice):
            found.append(node.lineno)  # environ["HOME"]
    return found


def _is_home(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value == "HOME"


def offenders(check: str) -> list[str]:
    rules = {
        "settings": (settings_reads, {EDGE, WATCHDOG}),
        "environ": (environ_writes, set()),
        "home": (home_lookups, {PATHS} | ENGINE_READS_HOME),
    }
    find, allowed = rules[check]
    return [f"{name}:{line}" for name, tree in sources() if name not in allowed for line in find(tree)]


def test_only_the_cli_edge_reads_the_settings() -> None:
    assert offenders("settings") == []


def test_nothing_writes_the_processs_environment() -> None:
    assert offenders("environ") == []


def test_only_paths_asks_for_the_users_home() -> None:
    assert offenders("home") == []


def test_the_watchdog_reads_its_settings_once_where_it_starts() -> None:
    tree = ast.parse((SRC / WATCHDOG).read_text())
    entry = [n for n in ast.walk(tree) if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test)]
    assert len(settings_reads(tree)) == 1
    assert [len(settings_reads(block)) for block in entry] == [1]


def test_the_edge_makes_both_once() -> None:
    main = ast.parse((SRC / EDGE).read_text())
    assert len(settings_reads(main)) == 1
    made = [
        node
        for node in ast.walk(main)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "from_environ"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "HostPaths"
    ]
    assert len(made) == 1


@pytest.mark.parametrize("name", sorted(ENGINE_READS_HOME | {WATCHDOG}))
def test_each_exception_is_still_there(name: str) -> None:
    assert (SRC / name).is_file(), f"{name} moved: update the exceptions of this test"


@pytest.mark.parametrize(
    ("check", "source"),
    [
        pytest.param("settings", "Settings.from_environ()", id="settings-read"),
        pytest.param("environ", "os.environ['X'] = '1'", id="environ-assign"),
        pytest.param("environ", "os.environ.setdefault('X', '1')", id="environ-setdefault"),
        pytest.param("environ", "os.environ.update(X='1')", id="environ-update"),
        pytest.param("environ", "os.environ.pop('X')", id="environ-pop"),
        pytest.param("environ", "del os.environ['X']", id="environ-del"),
        pytest.param("environ", "os.putenv('X', '1')", id="putenv"),
        pytest.param("environ", "from os import environ as e\ne['X'] = '1'", id="environ-alias"),
        pytest.param("home", "Path.home()", id="path-home"),
        pytest.param("home", "Path('~').expanduser()", id="path-expanduser"),
        pytest.param("home", "os.path.expanduser('~')", id="os-expanduser"),
        pytest.param("home", "os.environ['HOME']", id="home-subscript"),
        pytest.param("home", "env.get('HOME')", id="home-get"),
    ],
)
def test_each_check_finds_what_it_forbids(check: str, source: str) -> None:
    find = {"settings": settings_reads, "environ": environ_writes, "home": home_lookups}[check]
    assert find(ast.parse(source)) != []
    assert find(ast.parse("os.environ.get('X')\nPath.cwd()\nSettings()")) == []
