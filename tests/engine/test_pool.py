"""The warm pool on a real engine, through the installed CLI: `pool -n 2` keeps
two bottles ready with no value of the agent's in them, `run` claims one (and
runs in that very container, with the agent's values handed to its command),
and `pool --stop` leaves nothing labelled behind."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from claude_bottle.engine.docker import DockerEngine
from claude_bottle.paths import HostPaths
from claude_bottle.tracking import labels
from tests.canaries import search
from tests.conftest import wait_for
from tests.engine.conftest import REMOVED_WITHIN, case_label, cli, labelled_objects

pytestmark = pytest.mark.engine

READY_WITHIN = 120.0  # two bottles made one after the other on a busy 2-core host


@pytest.fixture
def project(tmp_path: Path) -> Path:
    manifest = {
        "bottles": {"b": {"egress": {"allow": ["example.test"]}}},
        "agents": {"a": {"bottle": "b", "env": {"CANARY": {"from_env": "POOL_CANARY"}}}},
    }
    (tmp_path / "claude-bottle.json").write_text(json.dumps(manifest))
    return tmp_path


def ready_files() -> list[Path]:
    state = HostPaths.from_environ(os.environ).state
    return sorted((state / "pool").glob("*/ready/*"))


def pooled(engine: DockerEngine, role: str) -> list[str]:
    flt = [f"label={case_label()}", f"label={labels.POOL}", f"label={labels.ROLE}={role}"]
    return engine.lines("ps", *(a for f in flt for a in ("--filter", f)), "--format", "{{.Names}}")


@pytest.fixture
def pool(engine: DockerEngine, project: Path) -> Iterator[dict[str, str]]:
    env = {"POOL_CANARY": f"pool-canary-{secrets.token_hex(12)}"}
    started = cli("pool", "a", "-n", "2", cwd=project, env=env)
    assert started.returncode == 0, started.stderr
    try:
        wait_for(lambda: len(ready_files()) == 2, READY_WITHIN, "two ready bottles")
        yield env
    finally:
        stopped = cli("pool", "a", "--stop", cwd=project, timeout=180)
        assert stopped.returncode == 0, stopped.stderr
        assert "the warm pool of a is stopped" in stopped.stderr
        assert ready_files() == []
        wait_for(lambda: labelled_objects(engine) == [], REMOVED_WITHIN, "nothing labelled left")


def test_run_claims_a_ready_bottle_that_holds_no_secret_until_then(
    engine: DockerEngine, project: Path, pool: dict[str, str]
) -> None:
    canary = pool["POOL_CANARY"]
    agents, sidecars = pooled(engine, labels.ROLE_AGENT), pooled(engine, labels.ROLE_SIDECAR)
    assert len(agents) == len(sidecars) == 2
    for name in agents + sidecars:  # nothing of the agent's in what the engine holds
        assert canary not in engine.run("inspect", name).stdout
    for name in agents:  # nor anywhere inside (files, processes' environments), with a control
        lines = engine.run("exec", name, "sh", "-c", search([canary])).stdout.splitlines()
        assert "found=[]" in lines
        assert "control=/tmp/seeded" in lines
    ids = {engine.run("inspect", "-f", "{{.Id}}", name).stdout.strip(): name for name in agents}

    result = cli("run", "a", "--", "sh", "-c", 'hostname; echo "${#CANARY}"', cwd=project, env=pool)
    assert result.returncode == 0, result.stderr
    hostname, length = result.stdout.split()
    used = [name for cid, name in ids.items() if cid.startswith(hostname)]
    assert len(used) == 1, (hostname, ids)  # it ran in a pooled container
    assert f"from the warm pool: container {used[0]}" in result.stderr
    assert int(length) == len(canary)  # the value reached the command

    # The claimed bottle is gone after its session; the keeper refills the pool.
    def gone() -> bool:
        return used[0] not in pooled(engine, labels.ROLE_AGENT)

    wait_for(gone, REMOVED_WITHIN, "the claimed bottle's end")
    wait_for(lambda: len(ready_files()) == 2, READY_WITHIN, "the pool refilled")
    assert gone()  # a claimed bottle never returns to the pool
