"""Issue 20: nothing a manifest names steers a program on this machine.

Each host tool gets an environment built from an allowlist of the user's own
variables; the agent's values reach the docker client through an env file on a
pipe it inherits, never its environment; a manifest naming a variable that steers
the docker client, git, ssh, a shell, the loader, node or claude-bottle itself is
refused in one line. A Hypothesis property drives manifests with arbitrary
variable names through the planner and the Docker engine's container creation
(its docker calls recorded, not run) and holds that the docker client's
environment never holds a manifest's name, nor its argv or environment a value."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claude_bottle.bottle.agent import agent_spec, env_values
from claude_bottle.bottle.sidecar import sidecar_spec
from claude_bottle.engine.docker import DockerEngine
from claude_bottle.engine.docker.envfile import OWN_PREFIX, env_file, env_file_problem, env_file_text
from claude_bottle.errors import ManifestError, UsageError
from claude_bottle.hostenv import (
    DOCKER_NAMES,
    DOCKER_PREFIXES,
    docker_env,
    git_env,
    plain_env,
    refused_env_name,
    refused_names_pattern,
    watchdog_env,
)
from claude_bottle.manifest.parse import parse_manifest
from claude_bottle.plan.plan import Options, build_plan

SQUID_CONF = "CLAUDE_BOTTLE_SQUID_CONF"
PROPERTY = settings(
    max_examples=int(os.environ.get("CLAUDE_BOTTLE_FUZZ_EXAMPLES", "400")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def manifest(env: Any) -> dict[str, Any]:
    return {
        "bottles": {"b": {"egress": {"allow": ["a.test"]}}},
        "agents": {"a": {"bottle": "b", "env": env}},
    }


# --- Refused names -------------------------------------------------------------------


DOCKER = "the docker client reads DOCKER_*, BUILDKIT_* and BUILDX_*"
LOADER = "the dynamic loader and the C library read LD_*, DYLD_*, GCONV_PATH, LOCPATH and HOSTALIASES"
GIT = "git reads GIT_* (all but GIT_AUTHOR_*, GIT_COMMITTER_* and GIT_TERMINAL_PROMPT)"
NODE = "node (Claude Code) loads code named by NODE_OPTIONS, NODE_PATH and NODE_REPL_EXTERNAL_MODULE"
SHELLS = "shells run code named by BASH_ENV, ENV, SHELLOPTS, BASHOPTS, PS4 and PROMPT_COMMAND"
CLAUDE_CODE = (
    "Claude Code runs every command through SHELL, CLAUDE_CODE_SHELL, CLAUDE_CODE_SHELL_PREFIX and "
    "CLAUDE_ENV_FILE, and reads its setup from CLAUDE_CONFIG_DIR"
)
REFUSED = [
    ("DOCKER_HOST", DOCKER),
    ("DOCKER_CONFIG", DOCKER),
    ("BUILDKIT_PROGRESS", DOCKER),
    ("LD_PRELOAD", LOADER),
    ("GCONV_PATH", LOADER),
    ("PATH", "every program on this machine and in the bottle finds others by it"),
    ("SSH_AUTH_SOCK", "ssh reads SSH_*"),
    ("GIT_SSH_COMMAND", GIT),
    ("GIT_CONFIG_GLOBAL", GIT),
    ("NODE_OPTIONS", NODE),
    ("BASH_ENV", SHELLS),
    ("CLAUDE_CODE_SHELL_PREFIX", CLAUDE_CODE),
    ("CLAUDE_BOTTLE_SQUID_CONF", "claude-bottle reads CLAUDE_BOTTLE_* itself"),
]


@pytest.mark.parametrize(("name", "why"), [pytest.param(n, w, id=n) for n, w in REFUSED])
def test_a_name_that_steers_a_tool_is_refused_in_one_line(tmp_path: Path, name: str, why: str) -> None:
    for env, where in (({name: "x"}, f"agents.a.env.{name}"), ([name], "agents.a.env[0]"),
                       ({name: {"from_env": "HOME"}}, f"agents.a.env.{name}")):  # fmt: skip
        with pytest.raises(ManifestError) as refused:
            parse_manifest(manifest(env), "m.json", tmp_path)
        assert str(refused.value) == f"m.json: {where}: '{name}' is refused: {why}"


@pytest.mark.parametrize(
    "name",
    ["MODE", "GITHUB_TOKEN", "GIT_AUTHOR_NAME", "GIT_COMMITTER_EMAIL", "LANG", "TZ", "ANTHROPIC_API_KEY"],
)
def test_a_name_that_steers_nothing_is_accepted(tmp_path: Path, name: str) -> None:
    parsed = parse_manifest(manifest({name: "x"}), "m.json", tmp_path)
    assert [v.name for v in parsed.agents["a"].env] == [name]


def test_every_name_the_docker_client_is_given_is_refused_in_a_manifest() -> None:
    reserved = {
        "HOME",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "all_proxy",
    }  # fmt: skip  (refused as claude-bottle's own, with another message)
    for name in DOCKER_NAMES:
        assert name in reserved or refused_env_name(name), name
    for prefix in (*DOCKER_PREFIXES, OWN_PREFIX):
        assert refused_env_name(prefix + "ANYTHING"), prefix


# --- The allowlists --------------------------------------------------------------------

USER = {
    "PATH": "/usr/bin", "HOME": "/home/u", "DOCKER_HOST": "ssh://me@host", "DOCKER_CONTEXT": "c",
    "SSH_AUTH_SOCK": "/run/agent", "LANG": "C.UTF-8", "LC_ALL": "C", "GIT_DIR": "/elsewhere",
    "GIT_CONFIG_GLOBAL": "/x", "TAR_OPTIONS": "--to-command=sh", "LD_PRELOAD": "/tmp/x.so",
    "AWS_PROFILE": "p", "GITHUB_TOKEN": "t", "KUBECONFIG": "/k", "CLAUDE_BOTTLE_LABELS": "a=b",
    "PYTHONPATH": "/src", "XDG_CONFIG_HOME": "/home/u/.config", "TMPDIR": "/tmp",
}  # fmt: skip


def test_each_tool_gets_only_its_allowlist() -> None:
    assert docker_env(USER) == {k: USER[k] for k in ("PATH", "HOME", "DOCKER_HOST", "DOCKER_CONTEXT",
                                                     "SSH_AUTH_SOCK")}  # fmt: skip
    assert set(docker_env(USER, registry=True)) == {*docker_env(USER), "AWS_PROFILE"}
    assert set(git_env(USER)) == {"PATH", "HOME", "LANG", "LC_ALL", "XDG_CONFIG_HOME", "TMPDIR"}
    assert set(plain_env(USER)) == {"PATH", "HOME", "LANG", "LC_ALL"}  # no TAR_OPTIONS
    assert set(watchdog_env(USER)) == {"PATH", "HOME", "DOCKER_HOST", "DOCKER_CONTEXT", "SSH_AUTH_SOCK",
                                       "LANG", "LC_ALL", "KUBECONFIG", "CLAUDE_BOTTLE_LABELS", "PYTHONPATH",
                                       "TMPDIR"}  # fmt: skip


# --- The env file --------------------------------------------------------------------


TOO_LONG = "its value is longer than a line of the docker client's env file (65535 bytes)"
LINE_BREAK = "its value holds a line break, and the docker client reads its env file one variable a line"
CANNOT_CARRY = [
    ("newline", "a\nb", LINE_BREAK),
    ("carriage-return", "a\r", LINE_BREAK),
    ("not-utf8", "a\udcff", "its value is not UTF-8 text, which the docker client's env file refuses"),
    (
        "too-long",
        "x" * 70_000,
        "its value is longer than a line of the docker client's env file (65535 bytes)",
    ),
]


@pytest.mark.parametrize(("value", "problem"), [pytest.param(v, p, id=i) for i, v, p in CANNOT_CARRY])
def test_a_value_the_env_file_cannot_carry_is_refused_naming_the_variable(value: str, problem: str) -> None:
    with pytest.raises(UsageError) as refused:
        env_file_text({"OK": "fine", "KEY": value})
    assert str(refused.value) == (
        f"the agent's variable KEY cannot be handed to the Docker engine: {problem} "
        "(the Kubernetes engine takes any value)"
    )
    assert value not in str(refused.value)


AWKWARD = {"SPACES": "  lead and trail  ", "QUOTES": "'\"`", "SIGNS": "a=b$HOME\\n#x", "EMPTY": "",
           "WIDE": "é漢字🙂", "HASH": "#not a comment"}  # fmt: skip


def test_the_env_file_is_read_from_a_pipe_the_child_inherits() -> None:
    with env_file(AWKWARD) as (path, fds):
        assert path == f"/dev/fd/{fds[0]}"
        read = subprocess.run(["cat", path], pass_fds=fds, capture_output=True, check=True).stdout
    assert read == "".join(f"{k}={v}\n" for k, v in AWKWARD.items()).encode()
    with env_file({}) as (none, no_fds):
        assert (none, no_fds) == (None, ())


# --- The property: the docker client's environment never holds a manifest name ---------

NAME = st.builds(
    lambda prefix, rest: prefix + rest,
    st.sampled_from(["", "DOCKER_", "LD_", "GIT_", "SSH_", "CLAUDE_BOTTLE_", "NODE_", "BUILDKIT_", "PATH",
                     "HOME", "HTTPS_PROXY", "GIT_AUTHOR_", "K8S_", "LANG", "CLAUDE_CODE_"]),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_", max_size=10),
)  # fmt: skip
VALUE = st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=30)
ENV = st.dictionaries(NAME, st.one_of(VALUE, st.just({"from_env": "HOST_VALUE"})), min_size=1, max_size=6)


class Recorded:
    def __init__(self) -> None:
        self.calls: list[tuple[list[str], dict[str, str], bytes]] = []


@contextmanager
def recorded_docker() -> Iterator[Recorded]:
    """subprocess.run as the Docker engine calls it, recorded (argv, environment and
    the env file read from the descriptor the call would inherit), never run."""
    record = Recorded()
    real_run = subprocess.run

    def fake_run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        file = b""
        for fd in kwargs.get("pass_fds", ()):
            chunks = []
            while chunk := os.read(fd, 1 << 16):
                chunks.append(chunk)
            file = b"".join(chunks)
        record.calls.append((list(argv), dict(kwargs["env"]), file))
        return subprocess.CompletedProcess(argv, 0, b"overlay2\t[]\n", b"")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(subprocess, "run", fake_run)  # as engine/docker/runner.py calls it
        yield record
    assert subprocess.run is real_run


@PROPERTY
@given(env=ENV)
def test_the_docker_client_never_gets_a_manifest_name_or_value(env: Mapping[str, Any]) -> None:
    folder = Path("/nonexistent-manifest-folder")
    try:
        parsed = parse_manifest(manifest(dict(env)), "m.json", folder)
    except ManifestError:
        return  # refused in one line: nothing was planned
    # The user's environment holds every name too (and the docker client's own).
    environ = {**{name: "from-the-user" for name in env}, "HOST_VALUE": "secret-from-host", **USER}
    plan = build_plan(parsed, Options("a"), environ, "s1", frozenset())
    values = env_values(plan, environ)
    names = set(env)
    with pytest.MonkeyPatch.context() as mp, recorded_docker() as record:
        for key in list(os.environ):
            mp.delenv(key)
        for key, value in environ.items():
            mp.setenv(key, value)
        engine = DockerEngine(binary="docker", pins={"DOCKER_CONTEXT": "pinned"})
        if any(env_file_problem(k, v) for k, v in values.items()):
            with pytest.raises(UsageError, match=r"^the agent.s variable "):  # refused, naming it
                engine.run_container(agent_spec(plan, "agent", "net", {}, "proxy"), values)
            return
        engine.run_container(agent_spec(plan, "agent", "net", {}, "proxy"), values)
        config = "http_port 3128\nacl a dstdomain -n a.test"
        engine.run_container(sidecar_spec(plan, "side", "net", None, {}, config), {SQUID_CONF: config})
    assert record.calls
    for argv, client_env, file in record.calls:
        # Exactly the user's own variables the docker client needs, the engine's pin, and
        # for the sidecar the tool's own configuration: nothing of the manifest.
        own = {k: client_env[k] for k in set(client_env) & {SQUID_CONF}}
        assert client_env == {**docker_env(environ), "DOCKER_CONTEXT": "pinned", **own}
        assert names.isdisjoint(client_env), f"a manifest name in the docker client's environment: {argv}"
        given = {a.split("=", 1)[0] for flag, a in itertools.pairwise(argv) if flag == "--env"}
        assert names.isdisjoint(given), f"a manifest name in the docker client's argv: {argv}"
        if "--env-file" in argv:  # the agent's values: every one, and only there
            assert file == env_file_text(values)
        else:
            assert file == b""
    assert sum("--env-file" in argv for argv, _, _ in record.calls) == (1 if values else 0)


@PROPERTY
@given(name=NAME)
def test_the_schema_refuses_the_names_the_reader_refuses(name: str) -> None:
    assert bool(re.match(refused_names_pattern(), name)) == bool(refused_env_name(name))
