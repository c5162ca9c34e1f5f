"""DockerEngine failures are classified once, into typed kinds, by the docker CLI's
implementation; nothing else in the package knows docker's templates or wording."""

from __future__ import annotations

import ast
import itertools
import re
import subprocess
from pathlib import Path

import pytest

from claude_bottle.engine.docker import DockerEngine
from claude_bottle.engine.docker.runner import error_kind
from claude_bottle.errors import (
    AddressConflict,
    EngineError,
    EngineUnavailable,
    NameConflict,
    NotFound,
    NotRunning,
    PathNotFound,
)

SRC = Path(__file__).resolve().parents[3] / "src" / "claude_bottle"
DOCKER_IMPLEMENTATION = SRC / "engine" / "docker"  # the package: argv, runner, resources, images

# What the docker CLI (and its daemon) say, word for word, for each kind.
SAID = [
    pytest.param(
        'docker: Error response from daemon: Conflict. The container name "/claude-bottle-a" is already '
        'in use by container "0123abcd". You have to remove (or rename) that container to be able to '
        "reuse that name.",
        NameConflict,
        id="container-name-in-use",
    ),
    pytest.param(
        "Error response from daemon: network with name claude-bottle-egress already exists",
        NameConflict,
        id="network-exists",
    ),
    pytest.param(
        "Error response from daemon: invalid pool request: "
        "Pool overlaps with other one on this address space",
        AddressConflict,
        id="subnet-overlaps",
    ),
    pytest.param(
        "Error response from daemon: container 0123abcd is not running", NotRunning, id="not-running"
    ),
    pytest.param("Error response from daemon: No such container: gone", NotFound, id="no-container"),
    pytest.param("Error response from daemon: network gone not found", NotFound, id="no-network"),
    pytest.param(
        "Error response from daemon: Could not find the file /work in container a",
        PathNotFound,
        id="no-path",
    ),
    pytest.param("Error response from daemon: something else entirely", EngineError, id="other"),
]


@pytest.mark.parametrize(("stderr", "kind"), SAID)
def test_each_wording_is_one_kind(stderr: str, kind: type[EngineError]) -> None:
    assert error_kind(stderr) is kind
    error = DockerEngine(binary="docker").error(("rm", "gone"), 1, stderr, "cannot remove gone")
    assert type(error) is kind
    assert isinstance(error, EngineError)
    assert str(error) == f"cannot remove gone (exit 1): {stderr}"


def test_a_path_not_found_is_a_not_found() -> None:
    assert issubclass(PathNotFound, NotFound)


@pytest.mark.parametrize(
    "stderr",
    [
        "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
        "error during connect: Get http://%2F%2F.%2Fpipe%2Fdocker_engine/v1.24/version: open //./pipe",
        "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock",
    ],
)
def test_an_unreachable_daemon_is_its_own_kind(stderr: str) -> None:
    error = DockerEngine(binary="docker").error(("ps",), 1, stderr)
    assert isinstance(error, EngineUnavailable)
    assert str(error).startswith("cannot reach the Docker engine (")


def test_failed_for_reads_a_finished_call() -> None:
    engine = DockerEngine(binary="docker")
    gone = subprocess.CompletedProcess(["docker", "rm", "x"], 1, "", "Error: No such container: x")
    fine = subprocess.CompletedProcess(["docker", "rm", "x"], 0, "x\n", "")
    assert engine.failed_for(gone, NotFound)
    assert not engine.failed_for(gone, NameConflict)
    assert not engine.failed_for(fine, NotFound)


# A Go template as the docker CLI takes it (`{{.Names}}`, `{{json .Runtimes}}`,
# `{{index ...}}`), also written inside an f-string (`{{{{.Label ...}}}}`).
GO_TEMPLATE = re.compile(r"\{\{+\s*(\.[A-Za-z]|json\b|index\b|\(index\b)")
DOCKER_WORDS = (
    "is already in use",
    "already exists",
    "overlaps",
    "is not running",
    "No such",
    "not found",
    "Could not find the file",
    "Cannot connect to the Docker daemon",
    "error during connect",
)


def _matched_wording(tree: ast.AST) -> list[str]:
    """String constants tested with `in`/`not in`: how a caller matches an engine's English."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(isinstance(op, ast.In | ast.NotIn) for op in node.ops):
            left = node.left
            if isinstance(left, ast.Constant) and isinstance(left.value, str):
                found += [w for w in DOCKER_WORDS if w in left.value]
    return found


def _outside_the_implementation() -> list[Path]:
    return [p for p in sorted(SRC.rglob("*.py")) if DOCKER_IMPLEMENTATION not in p.parents]


def test_go_templates_appear_only_in_the_docker_implementation() -> None:
    offenders = {
        str(p.relative_to(SRC)): GO_TEMPLATE.findall(p.read_text())
        for p in _outside_the_implementation()
        if GO_TEMPLATE.search(p.read_text())
    }
    assert offenders == {}


def test_docker_wording_is_matched_only_in_the_docker_implementation() -> None:
    offenders = {
        str(p.relative_to(SRC)): words
        for p in _outside_the_implementation()
        if (words := _matched_wording(ast.parse(p.read_text())))
    }
    assert offenders == {}


# Each engine classifies its own failures, in one module: Docker's from the CLI's
# words, Kubernetes' from the API's status codes (its one seam to the cluster).
ENGINE_SEAMS = (DOCKER_IMPLEMENTATION / "runner.py", SRC / "engine" / "k8s" / "cluster.py")


def test_engine_errors_are_built_only_by_the_implementations() -> None:
    # A hand-built EngineError would skip the classification (and the unreachable check).
    kinds = {"EngineError", "NotFound", "PathNotFound", "NameConflict", "NotRunning", "AddressConflict"}
    offenders = [
        f"{p.relative_to(SRC)}:{node.lineno}"
        for p in sorted(SRC.rglob("*.py"))
        if p not in ENGINE_SEAMS
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in kinds
    ]
    assert offenders == []


# The docker CLI's subcommands and flags, as they would sit in an argv tuple or
# list or be passed one by one to a call: the bottle layer speaks engine.api's
# specs instead, and only engine/docker/ spells them.
DOCKER_ARGV_WORDS = frozenset({
    "--network", "--network-alias", "--ip", "--cap-drop", "--cap-add", "--security-opt", "--privileged",
    "--label", "--env", "--volume", "--mount", "--tmpfs", "--read-only", "--pids-limit", "--memory",
    "--cpus", "--runtime", "--init", "--detach", "--rm", "--entrypoint", "--format", "--filter", "--publish",
    "-it", "cp", "exec", "logs", "inspect", "ps",
})  # fmt: skip
DOCKER_ARGV_PAIRS = frozenset({
    ("network", "create"), ("network", "rm"), ("network", "connect"), ("network", "ls"), ("rm", "-f"),
    ("image", "inspect"), ("run", "--rm"), ("run", "-d"),
})  # fmt: skip
# The same words with another meaning: the CLI's own options, and the display of
# any engine's command line, which cuts an `--env NAME=value` to its name.
ARGV_WORDS_ALLOWED = {
    "cli/commands/__init__.py": {"ps"},  # our own command of that name
    "cli/commands/cleanup.py": {"--label"},
    "cli/commands/doctor.py": {"--runtime"},
    "errors.py": {"--env"},
}


def _argv_words(tree: ast.AST) -> list[str]:
    """Docker's argv words among the string constants of a sequence or of a call's arguments."""
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            elements = node.elts
        elif isinstance(node, ast.Call):
            elements = node.args
        else:
            continue
        words = [
            e.value if isinstance(e, ast.Constant) and isinstance(e.value, str) else None for e in elements
        ]
        found += [w for w in words if w in DOCKER_ARGV_WORDS]
        found += [f"{a} {b}" for a, b in itertools.pairwise(words) if (a, b) in DOCKER_ARGV_PAIRS]
    return found


def test_docker_argv_is_spelled_only_in_the_docker_implementation() -> None:
    offenders = {
        name: words
        for p in _outside_the_implementation()
        if (name := str(p.relative_to(SRC)))
        and (
            words := sorted(set(_argv_words(ast.parse(p.read_text()))) - ARGV_WORDS_ALLOWED.get(name, set()))
        )
    }
    assert offenders == {}


def test_the_checks_can_fail() -> None:
    # The implementation itself holds what the checks look for, so they are not vacuous.
    texts = [p.read_text() for p in sorted(DOCKER_IMPLEMENTATION.glob("*.py"))]
    assert any(GO_TEMPLATE.search(text) for text in texts)
    assert _matched_wording(ast.parse('"No such" in stderr'))
    implementation = {word for text in texts for word in _argv_words(ast.parse(text))}
    assert {"--network", "--cap-drop", "cp", "exec", "network create", "rm -f"} <= implementation
    assert _argv_words(ast.parse('engine.run("logs", name)')) == ["logs"]
    assert _argv_words(ast.parse('("run", "--rm", "-i", "--network", f"container:{x}")')) == [
        "--rm", "--network", "run --rm",
    ]  # fmt: skip
