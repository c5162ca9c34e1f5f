"""DockerEngine tests: a real Docker engine (started by scripts/setup/engine.sh) and the
real agent image. A missing engine is a failure here, never a skip."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from claude_bottle.bottle.agent import AgentContainer
from claude_bottle.bottle.network import BottleNetwork
from claude_bottle.engine.docker import DockerEngine
from claude_bottle.errors import ManifestError
from claude_bottle.manifest.locate import find_manifest
from claude_bottle.paths import HostPaths
from claude_bottle.plan.names import new_session_id
from claude_bottle.plan.plan import DEFAULT_IMAGE, LaunchPlan, Options, build_plan
from claude_bottle.session.launch import session_labels
from claude_bottle.settings import Settings
from claude_bottle.tracking import labels
from tests.conftest import trust_manifest, wait_for
from tests.host import load_here
from tests.installed import cli_argv

# Every session this test run makes carries this label (the CLI's children
# inherit it), and every session a test makes also carries a label of that
# test's own: a test waits for, counts and cleans up only its own objects, so
# it passes beside an unrelated live bottle, a leftover, or a second run on
# the same engine.
RUN_LABEL = "dev.claude-bottle-test.run"
# Given by a harness that cleans up after the run (scripts/mutants.py: a mutant
# may leave objects behind), else this run's own.
RUN_ID = os.environ.get("CLAUDE_BOTTLE_TEST_RUN") or secrets.token_hex(4)
CASE_LABEL = "dev.claude-bottle-test.case"
# How long after a session's end its watchdog may take to remove the rest (the
# bench measures the time; this only bounds it, generously, under test load).
REMOVED_WITHIN = 30.0
os.environ["CLAUDE_BOTTLE_LABELS"] = f"{RUN_LABEL}={RUN_ID}"


@pytest.fixture(scope="session", autouse=True)
def installed(as_installed: Path) -> Path:
    """Every CLI process these suites start is the installed wheel's (tests/installed.py)."""
    return as_installed


@pytest.fixture(scope="session")
def engine() -> DockerEngine:
    eng = DockerEngine.locate(Settings.from_environ())
    result = eng.run("info", "--format", "{{.ServerVersion}}", check=False)
    if result.returncode != 0:
        pytest.fail(f"no Docker engine (run scripts/setup/engine.sh): {result.stderr.strip()}")
    return eng


@pytest.fixture(scope="session")
def agent_image(engine: DockerEngine) -> str:
    if not engine.ok("image", "inspect", DEFAULT_IMAGE):
        pytest.fail(f"{DEFAULT_IMAGE} is missing: run 'claude-bottle build' (scripts/test.sh does)")
    return DEFAULT_IMAGE


def case_label() -> str:
    """KEY=VALUE of the running test's own label (set by `nothing_left_behind`)."""
    return os.environ["CLAUDE_BOTTLE_LABELS"].split(",")[-1]


def labelled_objects(engine: DockerEngine) -> list[str]:
    """What the running test's sessions left in the engine (claude-bottle's objects only)."""
    flt = ("--filter", f"label={labels.MANAGED}=1", "--filter", f"label={case_label()}")
    containers = engine.lines("ps", "-a", *flt, "--format", "container {{.Names}}")
    networks = engine.lines("network", "ls", *flt, "--format", "network {{.Name}}")
    return containers + networks


def ended_cleanly(engine: DockerEngine) -> None:
    """What an orderly end promises: the agent's container is gone when the CLI
    returns (the CLI removed it), its sidecar and network once the session's
    watchdog has removed them, just after."""
    flt = ("--filter", f"label={case_label()}", "--filter", f"label={labels.ROLE}={labels.ROLE_AGENT}")
    agents = engine.lines("ps", "-a", *flt, "--format", "{{.Names}}")
    assert agents == []
    wait_for(lambda: labelled_objects(engine) == [], REMOVED_WITHIN, "the watchdog to remove the rest")


def owned_containers(engine: DockerEngine, owner_pid: int, role: str | None = None) -> list[str]:
    """Running containers of the sessions the CLI process `owner_pid` made in this test."""
    flt = [f"label={case_label()}", f"label={labels.OWNER_PID}={owner_pid}"]
    flt += [f"label={labels.ROLE}={role}"] if role else []
    return engine.lines("ps", *(a for f in flt for a in ("--filter", f)), "--format", "{{.Names}}")


@pytest.fixture(autouse=True)
def nothing_left_behind(engine: DockerEngine, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every engine test must leave no claude-bottle object behind. Its sessions
    carry a label of its own, so it looks at nothing but what it made."""
    run = f"{RUN_LABEL}={RUN_ID}"
    monkeypatch.setenv("CLAUDE_BOTTLE_LABELS", f"{run},{CASE_LABEL}={secrets.token_hex(4)}")
    yield
    # A session's sidecar and network are removed by its watchdog just after the CLI's end.
    with contextlib.suppress(AssertionError):
        wait_for(lambda: labelled_objects(engine) == [], REMOVED_WITHIN, "the watchdogs to finish")
    after = labelled_objects(engine)
    assert after == [], f"left behind {REMOVED_WITHIN}s after the end: {after}"


def cli(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 120,
    trust: bool = True,
) -> subprocess.CompletedProcess[str]:
    """The CLI as a real process (not in-process), as users run it. The manifest
    that applies in `cwd` is trusted first (a test wrote it), unless trust=False."""
    full_env = {**os.environ, **(env or {})}
    paths = HostPaths.from_environ(full_env)
    manifest = find_manifest(cwd, None, full_env.get("CLAUDE_BOTTLE_MANIFEST"), paths)
    if trust and manifest is not None:
        with contextlib.suppress(ManifestError):  # an invalid one is the CLI's to report
            trust_manifest(manifest)
    return subprocess.run(
        cli_argv(*args),
        cwd=cwd,
        env=full_env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def lab_plan(
    folder: Path,
    manifest: dict[str, Any],
    agent: str,
    environ: dict[str, str] | None = None,
    **options: Any,
) -> LaunchPlan:
    """A launch plan for a manifest written into `folder` (skills resolve from there)."""
    (folder / "claude-bottle.json").write_text(json.dumps(manifest))
    host = {"CLAUDE_BOTTLE_LABELS": os.environ["CLAUDE_BOTTLE_LABELS"], **(environ or {})}
    return build_plan(
        load_here(folder),
        Options(agent, **options),
        host,
        new_session_id(),
        frozenset(),
        settings=Settings.from_environ(host),  # the CLI's edge, for a test below it
    )


@contextmanager
def agent_on_internal_network(
    engine: DockerEngine, plan: LaunchPlan, environ: dict[str, str], proxy_host: str = "egress-proxy"
) -> Iterator[AgentContainer]:
    """The agent container of a plan on its internal network, without a sidecar."""
    labels = session_labels(plan)
    with ExitStack() as stack:
        net = stack.enter_context(BottleNetwork(engine, plan.network_name("internal"), labels))
        yield stack.enter_context(AgentContainer(engine, plan, labels, net.name, proxy_host, environ))


def in_agent(engine: DockerEngine, agent: AgentContainer, script: str, user: str = "node") -> str:
    return engine.run("exec", "--user", user, agent.name, "sh", "-c", script).stdout
