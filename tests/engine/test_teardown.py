"""Teardown on every path, on the real engine. These paths fail before or while
waiting for the sidecar, so they need no Pipelock: a sidecar that never becomes
healthy is a lab image whose entrypoint just sleeps."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from claude_bottle.bottle.reaper import Reaper
from claude_bottle.engine.docker import DockerEngine
from claude_bottle.tracking import labels as L
from tests.conftest import trust_manifest, wait_for
from tests.engine.conftest import case_label, cli, ended_cleanly, labelled_objects, owned_containers
from tests.installed import cli_argv

HANGING_SIDECAR = "claude-bottle-lab/hanging-sidecar:1"
MANIFEST = {
    "bottles": {"lab": {"egress": {"allow": ["allowed.test"]}}},
    "agents": {"worker": {"bottle": "lab", "prompt": "hi"}},
}


@pytest.fixture(scope="session")
def hanging_sidecar(engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory) -> str:
    ctx = tmp_path_factory.mktemp("hanging")
    (ctx / "Dockerfile").write_text(
        "FROM debian:bookworm-slim\n"
        'ENTRYPOINT ["sh", "-c", "echo lab sidecar will never be healthy; exec sleep infinity"]\n'
    )
    engine.run("build", "-q", "-t", HANGING_SIDECAR, str(ctx))
    return HANGING_SIDECAR


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    (tmp_path / "claude-bottle.json").write_text(json.dumps(MANIFEST))
    trust_manifest(tmp_path / "claude-bottle.json")
    return tmp_path


def spawn_run(lab: Path, sidecar: str, timeout: str = "60") -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "CLAUDE_BOTTLE_SIDECAR_IMAGE": sidecar,
        "CLAUDE_BOTTLE_SIDECAR_TIMEOUT": timeout,
    }
    return subprocess.Popen(
        cli_argv("run", "worker", "--", "true"),
        cwd=lab,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def waiting_session(engine: DockerEngine, lab: Path, hanging_sidecar: str) -> Iterator[subprocess.Popen[str]]:
    """A `run` stuck waiting for its sidecar: agent, sidecar and networks all exist,
    and the floor's short-lived container (run beside the readiness probe, once
    both are up) has come and gone: the engine's events say it was removed."""
    since = str(int(time.time()) - 1)
    proc = spawn_run(lab, hanging_sidecar)

    def settled() -> bool:
        running = {role: owned_containers(engine, proc.pid, role) for role in (L.ROLE_AGENT, L.ROLE_SIDECAR)}
        filters = ("type=container", "event=destroy", f"label={case_label()}",
                   f"label={L.OWNER_PID}={proc.pid}", f"label={L.ROLE}={L.ROLE_PORT_GUARD}")  # fmt: skip
        removed = engine.lines("events", "--since", since, "--until", str(int(time.time()) + 1),
                               *(a for f in filters for a in ("--filter", f)),
                               "--format", "{{.Actor.Attributes.name}}")  # fmt: skip
        return all(len(names) == 1 for names in running.values()) and removed != []

    try:
        wait_for(settled, 30, "its agent and sidecar containers, its floor's run ended")
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_a_step_failing_halfway_removes_what_was_made(
    engine: DockerEngine, agent_image: str, lab: Path
) -> None:
    # An image that is not Pipelock: created and connected fine, then fails to start.
    result = cli(
        "run",
        "worker",
        "--",
        "true",
        cwd=lab,
        env={"CLAUDE_BOTTLE_SIDECAR_IMAGE": "debian:bookworm-slim"},
    )
    assert result.returncode == 1
    assert "claude-bottle: the egress sidecar did not start" in result.stderr
    assert "Traceback" not in result.stderr
    assert labelled_objects(engine) == []


def test_a_sidecar_that_never_becomes_healthy_shows_its_log(
    engine: DockerEngine, agent_image: str, lab: Path, hanging_sidecar: str
) -> None:
    result = cli(
        "run",
        "worker",
        "--",
        "true",
        cwd=lab,
        env={
            "CLAUDE_BOTTLE_SIDECAR_IMAGE": hanging_sidecar,
            "CLAUDE_BOTTLE_SIDECAR_TIMEOUT": "1.5",
        },
    )
    assert result.returncode == 1
    assert "the egress sidecar did not become healthy within 1.5s; its log ends:" in result.stderr
    assert "lab sidecar will never be healthy" in result.stderr
    assert labelled_objects(engine) == []


@pytest.mark.remote_engine
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_signal_during_start_tears_everything_down(
    engine: DockerEngine, waiting_session: subprocess.Popen[str], sig: signal.Signals
) -> None:
    waiting_session.send_signal(sig)
    _, err = waiting_session.communicate(timeout=30)
    assert waiting_session.returncode == 130, err
    assert f"claude-bottle: interrupted ({sig.name}); everything this session made was removed" in err
    assert labelled_objects(engine) == []


@pytest.mark.remote_engine
def test_kill_9_is_cleaned_up_by_the_session_watchdog(
    engine: DockerEngine, waiting_session: subprocess.Popen[str]
) -> None:
    waiting_session.kill()
    waiting_session.wait()
    wait_for(lambda: labelled_objects(engine) == [], 30, "the watchdog to remove the session")


@pytest.mark.remote_engine
def test_kill_9_of_cli_and_watchdog_then_cleanup(
    engine: DockerEngine, waiting_session: subprocess.Popen[str], lab: Path
) -> None:
    (agent,) = owned_containers(engine, waiting_session.pid, L.ROLE_AGENT)
    session = engine.run("inspect", "--format", f'{{{{index .Config.Labels "{L.SESSION}"}}}}', agent).stdout
    session = session.strip()
    watchdog = subprocess.run(
        ["pgrep", "-f", f"claude_bottle.bottle.reaper {session}"], capture_output=True, text=True
    ).stdout.split()
    assert len(watchdog) == 1
    os.kill(int(watchdog[0]), signal.SIGKILL)
    waiting_session.kill()
    waiting_session.wait()
    assert labelled_objects(engine) != []
    result = cli("cleanup", "--label", case_label(), cwd=lab)
    assert result.returncode == 0, result.stderr
    assert f"removed session {session}" in result.stderr
    assert labelled_objects(engine) == []


def test_cleanup_leaves_live_sessions_and_foreign_objects_alone(
    engine: DockerEngine, waiting_session: subprocess.Popen[str], lab: Path, agent_image: str
) -> None:
    # Not made by claude-bottle (no managed label), though in the cleanup's scope.
    foreign = engine.run(
        "create", "--label", "dev.claude-bottle.session=forged", "--label", case_label(), agent_image
    ).stdout.strip()
    try:
        before = labelled_objects(engine)
        assert len(before) == 3  # the live session: agent, sidecar, its internal network
        result = cli("cleanup", "--label", case_label(), cwd=lab)
        assert result.returncode == 0, result.stderr
        assert "nothing to clean up" in result.stderr
        assert labelled_objects(engine) == before
        assert engine.ok("inspect", foreign)
    finally:
        engine.run("rm", "-f", foreign)
        waiting_session.send_signal(signal.SIGTERM)
        waiting_session.communicate(timeout=30)


@pytest.mark.remote_engine
def test_ps_and_stop(engine: DockerEngine, waiting_session: subprocess.Popen[str], lab: Path) -> None:
    (container,) = owned_containers(engine, waiting_session.pid, L.ROLE_AGENT)
    listed = cli("ps", "--json", cwd=lab)
    assert listed.returncode == 0, listed.stderr
    bottles = [b for b in json.loads(listed.stdout) if b["container"] == container]
    assert [(b["agent"], b["bottle"], b["runtime"], b["egress"]) for b in bottles] == [
        ("worker", "lab", "runc", "allowed.test")
    ]
    # By container name: `stop worker` would also stop other runs' workers on this engine.
    stopped = cli("stop", container, cwd=lab)
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped 1 session(s)" in stopped.stderr
    waiting_session.communicate(timeout=30)
    assert waiting_session.returncode == 130
    assert labelled_objects(engine) == []


def test_no_terminal_and_no_yes_starts_nothing(engine: DockerEngine, lab: Path) -> None:
    result = subprocess.run(
        cli_argv("start", "worker"),
        cwd=lab,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        check=False,
    )
    assert result.returncode == 1
    assert "no terminal to ask on; pass --yes to launch without confirmation" in result.stderr
    assert labelled_objects(engine) == []


def test_stop_never_signals_a_session_owned_on_another_machine(
    engine: DockerEngine, agent_image: str, lab: Path
) -> None:
    # A session whose owner runs on another host sharing this engine; its pid
    # (ours, here) must not be signalled, and its objects must not be removed.
    tag = secrets.token_hex(4)
    labels = {L.MANAGED: "1", L.SESSION: f"elsewhere-{tag}", L.AGENT: f"remote-{tag}", L.BOTTLE: "lab",
              L.ROLE: L.ROLE_AGENT, L.OWNER_PID: str(os.getpid()), L.OWNER_START: "1",
              L.OWNER_HOST: "another-machine.invalid"}  # fmt: skip
    args = [a for k, v in labels.items() for a in ("--label", f"{k}={v}")]
    container = engine.run("run", "-d", *args, "--label", case_label(), agent_image, "sleep", "60").stdout
    container = container.strip()
    try:
        result = cli("stop", f"remote-{tag}", cwd=lab)
        assert result.returncode == 1
        assert (
            f"session elsewhere-{tag} belongs to a process on another-machine.invalid; stop it there"
            in result.stderr
        )
        assert engine.ok("inspect", container)
        scoped = cli("cleanup", "--label", case_label(), cwd=lab)
        assert scoped.stderr.strip().endswith("nothing to clean up")
        assert engine.ok("inspect", container)
    finally:
        engine.run("rm", "-f", container)


def test_an_orderly_end_leaves_the_sidecar_and_network_to_the_watchdog(
    engine: DockerEngine, agent_image: str, lab: Path
) -> None:
    """The CLI returns once the agent is gone and the proxy's log is read; the
    session's watchdog removes the sidecar and the network, then ends."""
    result = cli(
        "run", "worker", "--", "sh", "-c", "curl -s -o /dev/null https://blocked.test || true", cwd=lab
    )
    assert result.returncode == 0, result.stderr
    assert "its agent was removed; its sidecar and network follow in the background" in result.stderr
    assert "refused : blocked.test" in result.stderr  # the log was read before the exit
    ended_cleanly(engine)
    session = re.search(r"session (\w+) of worker ended", result.stderr)
    assert session is not None
    pattern = f"claude_bottle.bottle.reaper {session[1]}"
    wait_for(
        lambda: subprocess.run(["pgrep", "-f", pattern], check=False).returncode == 1,
        30,
        "the watchdog's end",
    )


@pytest.mark.parametrize("teardown_failed", [True, False], ids=["failed", "clean"])
def test_the_watchdog_sweeps_after_a_failed_teardown_only(
    engine: DockerEngine, agent_image: str, teardown_failed: bool
) -> None:
    # A session's object, and its watchdog; the block ends as a launch's does
    # when a removal failed (an error reaches the watchdog's exit) or cleanly.
    session = f"wd-{secrets.token_hex(4)}"
    labels = [a for kv in (f"{L.MANAGED}=1", f"{L.SESSION}={session}", case_label()) for a in ("--label", kv)]
    leftover = engine.run("create", *labels, agent_image).stdout.strip()
    try:
        with contextlib.suppress(RuntimeError), Reaper(engine, session) as reaper:
            if teardown_failed:
                raise RuntimeError("cannot remove the sidecar")
        assert reaper.proc is not None
        if teardown_failed:
            wait_for(lambda: not engine.ok("inspect", leftover), 30, "the watchdog to sweep the session")
            assert reaper.proc.wait(timeout=30) == 0
        else:
            assert reaper.proc.returncode == 0  # told "clean": it has gone, sweeping nothing
            assert engine.ok("inspect", leftover)
    finally:
        engine.run("rm", "-f", leftover, check=False)


def test_a_docker_context_switched_mid_session_does_not_move_its_teardown(
    engine: DockerEngine, lab: Path, tmp_path: Path
) -> None:
    """The session keeps the engine it started on: after `docker context use`
    in another terminal, its teardown (and its watchdog) still remove
    everything from that engine, not from the context now current."""
    config = tmp_path / "docker-config"  # the CLI's own contexts, not the user's
    config.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKER_CONTEXT")}
    env["DOCKER_CONFIG"] = str(config)
    nowhere = "tcp://127.0.0.1:9"  # the discard port: nothing answers there
    created = subprocess.run(
        [engine.binary, "context", "create", "elsewhere", "--docker", f"host={nowhere}"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    wait = "touch /tmp/started; while [ ! -e /tmp/go ]; do sleep 0.1; done"
    proc = subprocess.Popen(
        cli_argv("run", "worker", "--", "sh", "-c", wait),
        cwd=lab, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        (agent,) = wait_for(lambda: owned_containers(engine, proc.pid, L.ROLE_AGENT), 60, "the agent")
        wait_for(lambda: engine.ok("exec", agent, "test", "-e", "/tmp/started"), 60, "the command to run")
        switched = subprocess.run([engine.binary, "context", "use", "elsewhere"], env=env,
                                  capture_output=True, text=True, check=False)  # fmt: skip
        assert switched.returncode == 0, switched.stderr
        # The control: the switch took, a docker call now goes nowhere.
        assert (
            subprocess.run([engine.binary, "ps"], env=env, capture_output=True, check=False).returncode != 0
        )
        engine.run("exec", agent, "touch", "/tmp/go")
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "its agent was removed; its sidecar and network follow in the background" in err
        ended_cleanly(engine)  # by the watchdog, on the session's engine
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
