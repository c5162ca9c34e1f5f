"""The local engine's API on the critical path (issue 25): a `run` of the installed
CLI on the local socket starts no docker client process, from its first call to
its watchdog's last; with CLAUDE_BOTTLE_DOCKER_API=cli the same `run` goes
through the docker CLI, call by call, as before."""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path

import pytest

from claude_bottle.engine.docker import DockerEngine
from tests.engine.conftest import cli, ended_cleanly

pytestmark = pytest.mark.engine


def recording_docker(folder: Path) -> tuple[dict[str, str], Path]:
    """A `docker` first on PATH that writes a line per call to a log, then runs
    the real one: the environment to run the CLI with, and the log."""
    real = shutil.which("docker")
    assert real is not None, "no docker CLI on PATH"
    shims, log = folder / "shims", folder / "docker-calls.log"
    shims.mkdir()
    shim = shims / "docker"
    # The log's path is written into the shim: the CLI gives docker only an allowlisted environment.
    shim.write_text(
        f'#!/bin/sh\nprintf "call %s\\n" "$1" >> {shlex.quote(str(log))}\nexec {shlex.quote(real)} "$@"\n'
    )
    shim.chmod(0o755)
    return {"PATH": f"{shims}{os.pathsep}{os.environ['PATH']}"}, log


def calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_a_run_on_the_local_socket_starts_no_docker_process(
    engine: DockerEngine, agent_image: str, tmp_path: Path
) -> None:
    folder = tmp_path / "work"
    folder.mkdir()
    env, log = recording_docker(tmp_path)
    ran = cli("run", "claude", "--", "sh", "-c", "echo ok; echo said >&2", cwd=folder, env=env, timeout=180)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "ok\n"
    assert "said\n" in ran.stderr
    ended_cleanly(engine)  # the watchdog's sweep is over too
    assert calls(log) == []


def test_the_switch_sends_every_call_through_the_docker_cli(
    engine: DockerEngine, agent_image: str, tmp_path: Path
) -> None:
    folder = tmp_path / "work"
    folder.mkdir()
    env, log = recording_docker(tmp_path)
    env["CLAUDE_BOTTLE_DOCKER_API"] = "cli"
    ran = cli("run", "claude", "--", "sh", "-c", "echo ok", cwd=folder, env=env, timeout=180)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "ok\n"
    ended_cleanly(engine)
    made = calls(log)
    for step in ("call network", "call run", "call exec", "call rm"):
        assert step in made, made


def test_a_failing_command_keeps_its_status_and_output(
    engine: DockerEngine, agent_image: str, tmp_path: Path
) -> None:
    """The exit status, stdout, stderr and stdin of a `run` without a terminal, on the API."""
    folder = tmp_path / "work"
    folder.mkdir()
    script = "cat; echo to-err >&2; exit 7"
    ran = cli("run", "claude", "--", "sh", "-c", script, cwd=folder, stdin="fed\n", timeout=180)
    assert ran.returncode == 7, ran.stderr
    assert ran.stdout == "fed\n"
    assert "to-err\n" in ran.stderr
    ended_cleanly(engine)
