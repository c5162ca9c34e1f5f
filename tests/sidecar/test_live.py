"""A running bottle seen from outside while it runs: `egress --follow` shows a
refusal as it happens, `shell` runs as the agent's user, and both refuse
clearly when no such bottle runs."""

from __future__ import annotations

import json
import os
import queue
import secrets
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from claude_bottle.proxies import backend_for
from tests.conftest import trust_manifest
from tests.engine.conftest import cli
from tests.installed import cli_argv
from tests.sidecar.conftest import PROXY, Lab

# Every case here runs against the remote engine too (scripts/test.sh).
pytestmark = pytest.mark.remote_engine


def cli_proc(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cli_argv(*args), cwd=cwd, env=dict(os.environ),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.fixture
def agent(lab_project: Path) -> str:
    """An agent name of this test's own: other runs on the engine start `worker`s too."""
    name = f"watched-{secrets.token_hex(3)}"
    manifest = json.loads((lab_project / "claude-bottle.json").read_text())
    manifest["agents"][name] = {"bottle": "lab"}
    (lab_project / "claude-bottle.json").write_text(json.dumps(manifest))
    trust_manifest(lab_project / "claude-bottle.json")  # the test changed it: trust it again
    return name


@pytest.fixture
def running(lab_project: Path, lab: Lab, agent: str) -> Iterator[str]:
    """A bottle of `agent` that runs until the test ends; its container."""
    session = cli_proc("run", agent, "--", "sh", "-c", "echo ready; sleep 300", cwd=lab_project)
    try:
        assert session.stdout is not None
        assert session.stdout.readline() == "ready\n"  # the sidecar answered; the command runs
        mine = [b for b in json.loads(cli("ps", "--json", cwd=lab_project).stdout) if b["agent"] == agent]
        assert len(mine) == 1, mine
        yield mine[0]["container"]
    finally:
        session.terminate()  # SIGTERM: an orderly teardown, as on Ctrl-C
        session.communicate(timeout=60)


def test_shell_runs_as_the_agents_user_in_the_workspace(lab_project: Path, agent: str, running: str) -> None:
    result = cli("shell", agent, cwd=lab_project, stdin="id -un; pwd; echo $HTTPS_PROXY\n")
    assert result.returncode == 0, result.stderr
    port = backend_for(PROXY).port  # Squid's 3128, Pipelock's 8888
    assert result.stdout == f"node\n/home/node/workspace\nhttp://egress-proxy:{port}\n"
    by_container = cli("shell", running, "--", "id", "-u", cwd=lab_project)
    assert by_container.stdout == "1000\n"


def test_egress_follow_shows_a_refusal_within_a_second(
    lab_project: Path, lab: Lab, agent: str, running: str
) -> None:
    follow = cli_proc("egress", agent, "--follow", "--json", cwd=lab_project)
    lines: queue.Queue[tuple[float, str]] = queue.Queue()

    def read() -> None:
        assert follow.stdout is not None
        for line in follow.stdout:
            lines.put((time.monotonic(), line))

    threading.Thread(target=read, daemon=True).start()
    try:
        mark = secrets.token_hex(4)
        refused = cli("shell", agent, "--", "curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}",
                      f"https://blocked-{mark}.test/", cwd=lab_project)  # fmt: skip
        done = time.monotonic()
        # The tunnel was refused: Squid (checking SNI) answers it with its own TLS and a 403
        # page (-k takes its certificate); Pipelock with a 403 to the CONNECT.
        assert refused.stdout == ("403" if PROXY == "squid" else "000")
        while True:
            at, line = lines.get(timeout=5)
            event = json.loads(line)
            if event["host"] == f"blocked-{mark}.test":
                break
        assert event["allowed"] is False
        assert event["reason"] == "host_not_allowed"
        assert at - done < 1.0, f"shown {at - done:.2f}s after the request ended"
    finally:
        follow.terminate()
        follow.communicate(timeout=10)
    # Without --follow: the history so far, as text.
    history = cli("egress", running, cwd=lab_project)
    assert f"  refused  CONNECT blocked-{mark}.test  host_not_allowed (host not in the allowlist)\n" in (
        history.stdout
    )


def test_egress_follow_ends_when_the_bottle_ends(lab_project: Path, lab: Lab, agent: str) -> None:
    session = cli_proc("run", agent, "--", "sh", "-c", "echo ready; sleep 3", cwd=lab_project)
    assert session.stdout is not None
    assert session.stdout.readline() == "ready\n"
    follow = cli("egress", agent, "--follow", cwd=lab_project, timeout=60)
    assert follow.returncode == 0, follow.stderr
    session.communicate(timeout=60)
    assert session.returncode == 0


@pytest.mark.parametrize("command", [["egress", "nobody"], ["shell", "nobody"], ["egress", "nobody", "-f"]])
def test_no_such_bottle_is_refused_clearly(lab_project: Path, command: list[str]) -> None:
    result = cli(*command, cwd=lab_project)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("claude-bottle: no running bottle matches 'nobody' (")
