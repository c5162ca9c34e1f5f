"""The warm pool on a real engine, through the installed CLI: `pool -n 2` keeps
two bottles ready with no value of the agent's in them, `run` claims one (and
runs in that very container, with the agent's values handed to its command),
and `pool --stop` leaves nothing labelled behind."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from claude_bottle.engine.docker import DockerEngine
from claude_bottle.paths import HostPaths
from claude_bottle.tracking import labels
from tests.canaries import search
from tests.conftest import wait_for
from tests.engine.conftest import REMOVED_WITHIN, case_label, cli, labelled_objects
from tests.installed import cli_argv

pytestmark = pytest.mark.engine

READY_WITHIN = 120.0  # two bottles made one after the other on a busy 2-core host


@pytest.fixture
def project(tmp_path: Path) -> Path:
    manifest = {
        "bottles": {"b": {"egress": {"allow": ["example.test"]}}},
        "agents": {
            "a": {
                "bottle": "b",
                "env": {
                    "CANARY": {"from_env": "POOL_CANARY"},  # the agent's: handed to its command
                    "TOKEN": {"from_env": "POOL_TOKEN", "inject": "example.test"},  # the sidecar's
                },
            }
        },
    }
    (tmp_path / "claude-bottle.json").write_text(json.dumps(manifest))
    return tmp_path


def ready_files() -> list[Path]:
    state = HostPaths.from_environ(os.environ).state
    return sorted((state / "pool").glob("*/ready/*"))


# Every file of the sidecar's tmpfs and configuration, every process's environment
# and command line; then a control the same search must find.
SIDECAR_SEARCH = (
    "p=/run/squid/.p; cat > $p; "
    "found=$( { grep -rlsF -f $p /run/squid /etc/squid --exclude=.p; "
    "for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do grep -qsaF -f $p $f && echo $f; done; } ); "
    'echo "found=[$found]"; echo seeded-$$ > /run/squid/.seeded; echo seeded-$$ >> $p; '
    "grep -rlsF -f $p /run/squid --exclude=.p | sed 's/^/control=/'; rm -f $p /run/squid/.seeded"
)


def pooled_ready() -> list[str]:
    """The agent containers of the ready bottles (not yet claimed)."""
    names = []
    for path in ready_files():
        with contextlib.suppress(FileNotFoundError):  # claimed meanwhile
            names.append(json.loads(path.read_text())["container"])
    return names


def pooled(engine: DockerEngine, role: str) -> list[str]:
    flt = [f"label={case_label()}", f"label={labels.POOL}", f"label={labels.ROLE}={role}"]
    return engine.lines("ps", *(a for f in flt for a in ("--filter", f)), "--format", "{{.Names}}")


@pytest.fixture
def pool(engine: DockerEngine, project: Path) -> Iterator[dict[str, str]]:
    env = {"POOL_CANARY": f"pool-canary-{secrets.token_hex(12)}", "POOL_TOKEN": f"tok{secrets.token_hex(16)}"}
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
    canary, token = pool["POOL_CANARY"], pool["POOL_TOKEN"]
    agents, sidecars = pooled(engine, labels.ROLE_AGENT), pooled(engine, labels.ROLE_SIDECAR)
    assert len(agents) == len(sidecars) == 2
    for name in agents + sidecars:  # no value in what the engine holds of a pooled bottle
        inspected = engine.run("inspect", name).stdout
        assert canary not in inspected
        assert token not in inspected
    for name in agents:  # nor anywhere inside (files, processes' environments), with a control
        lines = engine.run("exec", name, "sh", "-c", search([canary, token])).stdout.splitlines()
        assert "found=[]" in lines, (name, lines)
        assert "control=/tmp/seeded" in lines
    for name in sidecars:  # its root is read-only: the values come on stdin, into its tmpfs
        said = engine.run(
            "exec", "-i", name, "sh", "-c", SIDECAR_SEARCH, stdin=f"{canary}\n{token}\n".encode()
        )
        assert said.stdout.splitlines() == ["found=[]", "control=/run/squid/.seeded"], (name, said.stdout)
    ids = {engine.run("inspect", "-f", "{{.Id}}", name).stdout.strip(): name for name in agents}

    # While the claimed session runs, its sidecar holds the token (handed in at the claim).
    command = 'hostname; echo "${#CANARY}"; while [ ! -e /tmp/checked ]; do sleep 0.1; done'
    argv, env = cli_argv("run", "a", "--", "sh", "-c", command), {**os.environ, **pool}
    with subprocess.Popen(argv, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as run:  # fmt: skip
        try:
            claimed = wait_for(
                lambda: [n for n in agents if n not in pooled_ready()], READY_WITHIN, "a claim"
            )[0]
            sidecar = claimed.removesuffix("-agent") + "-proxy"
            # The header line it adds (its value is the token in the header's form).
            count = ("sh", "-c", "grep -c request_header_add /run/squid/credentials.conf")
            wait_for(lambda: engine.run("exec", sidecar, *count, check=False).stdout.strip() == "1", 30,
                     "the credential handed in")  # fmt: skip
            engine.run("exec", claimed, "touch", "/tmp/checked")
        except BaseException:
            run.terminate()  # the session tears down in order
            raise
        out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    result = subprocess.CompletedProcess(run.args, run.returncode, out, err)
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


def test_ps_counts_ready_bottles_apart_and_a_broken_one_is_never_claimed(
    engine: DockerEngine, project: Path, pool: dict[str, str]
) -> None:
    ready = pooled_ready()
    assert len(ready) == 2
    listed = cli("ps", cwd=project)
    assert listed.returncode == 0, listed.stderr
    assert "and 2 ready in a warm pool" in listed.stdout
    assert not any(name in listed.stdout for name in ready)  # no one's session yet
    as_json = cli("ps", "--json", cwd=project)
    assert not {b["container"] for b in json.loads(as_json.stdout)} & set(ready)

    # Both ready bottles lose their sidecar (the keeper is not told): `run` must
    # not hand either out, and must remove what is left of them.
    for agent in ready:
        engine.run("rm", "-f", agent.removesuffix("-agent") + "-proxy")
    ran = cli("run", "a", "--", "echo", "ran", cwd=project, env=pool, timeout=180)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "ran\n"
    assert not any(f"from the warm pool: container {name}" in ran.stderr for name in ready)
    wait_for(
        lambda: not set(ready) & set(pooled(engine, labels.ROLE_AGENT)),
        REMOVED_WITHIN,
        "the broken ones removed",
    )
