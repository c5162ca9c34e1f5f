"""The warm pool on the test cluster, through the installed CLI (as
tests/engine/test_pool.py on Docker): `pool -n 2` keeps two bottles ready as
pods, with no value of the agent's or its sidecar's in any pod, Secret or
process before the claim; `run` claims one (and runs in that very pod, the
agent's values handed to its command on the exec's stdin, the sidecar's
credential into its tmpfs), the pool refills, a claimed pod never returns,
and `pool --stop` leaves nothing in the namespace."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import secrets
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest

import claude_bottle.tracking.labels as L
from claude_bottle.engine.k8s import meta
from claude_bottle.engine.kubernetes import KubernetesEngine
from claude_bottle.errors import ClaudeBottleError
from claude_bottle.paths import HostPaths
from tests.canaries import search
from tests.conftest import wait_for
from tests.k8s.test_cli import (  # noqa: F401 (shared_egress_network: a module fixture)
    Project,
    converse,
    objects,
    shared_egress_network,
)

READY_WITHIN = 180.0  # two bottles made one after the other on a busy 2-core host
GONE_WITHIN = 60.0
SIDECAR_SEARCH = (  # as tests/engine/test_pool.py: the sidecar's tmpfs and configuration, every process
    "p=/run/squid/.p; cat > $p; "
    "found=$( { grep -rlsF -f $p /run/squid /etc/squid --exclude=.p; "
    "for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do grep -qsaF -f $p $f && echo $f; done; } ); "
    'echo "found=[$found]"; echo seeded-$$ > /run/squid/.seeded; echo seeded-$$ >> $p; '
    "grep -rlsF -f $p /run/squid --exclude=.p | sed 's/^/control=/'; rm -f $p /run/squid/.seeded"
)


def pool_manifest() -> dict[str, Any]:
    return {
        "bottles": {"lab": {"egress": {"allow": ["allowed.test", "git.lab.test", "api.lab.test"]}}},
        "agents": {
            "pooled": {
                "bottle": "lab",
                "env": {
                    "CANARY": {"from_env": "POOL_CANARY"},  # the agent's: handed to its command
                    # The sidecar's: handed into its tmpfs at the claim.
                    "GITHUB_TOKEN": {"from_env": "LAB_GIT_TOKEN", "inject": "git.lab.test"},
                },
            },
            # Claude Code on a terminal: its subscription token held by the sidecar,
            # a value of its own handed to it under the terminal.
            "talker": {
                "bottle": "lab",
                "env": {"ANTHROPIC_BASE_URL": "https://api.lab.test", "CANARY": {"from_env": "POOL_CANARY"}},
            },
        },
    }


@pytest.fixture
def project(
    engine: KubernetesEngine, namespace: str, lab: dict[str, str], sidecar_image: str, tmp_path: Path
) -> Iterator[Project]:
    folder = tmp_path / "project"
    folder.mkdir()
    proj = Project(folder, namespace, "", sidecar_image)
    proj.write_manifest(pool_manifest())
    proj.env.update(
        POOL_CANARY=f"pool-canary-{secrets.token_hex(12)}",
        LAB_GIT_TOKEN=(Path(lab["CLAUDE_BOTTLE_K8S_DIR"]) / "lab" / "git-token").read_text().strip(),
        CLAUDE_BOTTLE_OAUTH_TOKEN="sk-ant-oat01-" + secrets.token_hex(20),
    )
    yield proj
    wait_for(lambda: objects(engine, proj) == [], GONE_WITHIN, "nothing of the test's left")


def ready_files(project: Project) -> list[Path]:
    state = HostPaths.from_environ(project.env).state
    return sorted((state / "pool").glob("*/ready/*"))


def pooled_ready(project: Project) -> list[str]:
    """The agent containers of the ready bottles (not yet claimed)."""
    names = []
    for path in ready_files(project):
        with contextlib.suppress(FileNotFoundError):  # claimed meanwhile
            names.append(json.loads(path.read_text())["container"])
    return names


def pooled(engine: KubernetesEngine, project: Project, role: str) -> list[str]:
    found = engine.find([project.label, L.POOL, f"{L.ROLE}={role}"], kinds=("container",))
    return sorted(f.name for f in found)


@pytest.fixture
def pool(engine: KubernetesEngine, project: Project) -> Iterator[Project]:
    started = project.cli("pool", "pooled", "-n", "2")
    assert started.returncode == 0, started.stderr
    try:
        wait_for(lambda: len(ready_files(project)) == 2, READY_WITHIN, "two ready bottles")
        yield project
    finally:
        stopped = project.cli("pool", "pooled", "--stop", timeout=180)
        assert stopped.returncode == 0, stopped.stderr
        assert "the warm pool of pooled is stopped" in stopped.stderr
        assert ready_files(project) == []
        wait_for(lambda: objects(engine, project) == [], GONE_WITHIN, "nothing labelled left")


def test_a_ready_pod_holds_no_value_until_its_claim_and_a_claimed_one_never_returns(
    engine: KubernetesEngine, pool: Project
) -> None:
    canary, token = pool.env["POOL_CANARY"], pool.env["LAB_GIT_TOKEN"]
    agents = pooled(engine, pool, L.ROLE_AGENT)
    sidecars = pooled(engine, pool, L.ROLE_SIDECAR)
    assert len(agents) == len(sidecars) == 2
    # Nothing the cluster holds of a pooled bottle has a value: its pods, its Secrets
    # (decoded), its policies. The agent's pod has no Secret at all.
    held = [json.dumps(engine.cluster.get("pods", meta.object_name(n))) for n in agents + sidecars]
    their = engine.find([pool.label, L.POOL], kinds=("other",))
    for found in their:
        kind, _, name = found.name.partition("/")
        item = engine.cluster.get(kind, name)
        held.append(json.dumps(item))
        held += [base64.b64decode(v).decode("utf-8", "replace") for v in (item.get("data") or {}).values()]
    assert [h for h in held if canary in h or token in h] == []
    secret_names = {f.name for f in their if f.name.startswith("secrets/")}
    assert secret_names  # the control: the sidecars' configuration is in Secrets, and was read
    for name in agents:
        assert f"secrets/{meta.secret_name(meta.object_name(name))}" not in secret_names
    for name in agents:  # nor anywhere inside (files, processes' environments), with a control
        lines = engine.exec(name, ["sh", "-c", search([canary, token])]).stdout.splitlines()
        assert "found=[]" in lines, (name, lines)
        assert "control=/tmp/seeded" in lines
    for name in sidecars:  # its root is read-only: the values come on stdin, into its tmpfs
        said = engine.exec(name, ["sh", "-c", SIDECAR_SEARCH], stdin=f"{canary}\n{token}\n".encode())
        assert said.stdout.splitlines() == ["found=[]", "control=/run/squid/.seeded"], (name, said.stdout)

    # The claimed session: its command sees the value; its sidecar adds the token
    # (git over HTTPS through it); the wall still stands (no way out but the proxy).
    command = (
        'hostname; echo "${#CANARY}"; '
        "git ls-remote -q https://git.lab.test/repo.git >/dev/null && echo git=ok; "
        "curl -s -m 5 --noproxy '*' -o /dev/null -w 'direct=%{http_code}\\n' http://allowed.test/; "
        "curl -s -m 5 -o /dev/null -w 'proxied=%{http_code}\\n' http://allowed.test/; "
        "while [ ! -e /tmp/checked ]; do sleep 0.1; done"
    )
    with pool.spawn("run", "pooled", "--", "sh", "-c", command) as run:
        try:
            claimed = wait_for(lambda: [n for n in agents if n not in pooled_ready(pool)], READY_WITHIN,
                               "a claim")[0]  # fmt: skip
            sidecar = claimed.removesuffix("-agent") + "-proxy"
            assert sidecar in sidecars
            count = ["sh", "-c", "grep -c request_header_add /run/squid/credentials.conf"]
            wait_for(
                lambda: engine.exec(sidecar, count).stdout.strip() == "1", 60, "the credential handed in"
            )
            # The value was handed to the command, not to the pod: a second exec has none of it.
            lines = engine.exec(claimed, ["sh", "-c", search([canary])]).stdout.splitlines()
            assert "found=[]" not in lines  # the control: the session's command holds it now
            assert engine.exec(claimed, ["sh", "-c", 'echo "[$CANARY]"']).stdout == "[]\n"
            engine.exec(claimed, ["touch", "/tmp/checked"])
        except BaseException:
            run.terminate()  # the session tears down in order
            raise
        out, err = run.communicate(timeout=180)
    assert run.returncode == 0, err
    lines = out.splitlines()
    assert lines[0] == meta.object_name(claimed), (lines, claimed)  # it ran in the pooled pod
    assert int(lines[1]) == len(canary)  # the value reached the command
    assert lines[2:] == ["git=ok", "direct=000", "proxied=200"], out
    assert f"from the warm pool: container {claimed}" in err
    assert canary not in out + err
    assert token not in out + err

    # The claimed bottle is gone after its session; the keeper refills the pool.
    def gone() -> bool:
        return claimed not in pooled(engine, pool, L.ROLE_AGENT)

    wait_for(gone, GONE_WITHIN, "the claimed bottle's end")
    wait_for(lambda: len(ready_files(pool)) == 2, READY_WITHIN, "the pool refilled")
    assert gone()  # a claimed bottle never returns to the pool
    assert claimed not in pooled_ready(pool)


def test_the_plan_says_where_its_bottle_comes_from(engine: KubernetesEngine, project: Project) -> None:
    def start() -> dict[str, str]:
        said = project.cli("start", "pooled", "--dry-run", "--json")
        assert said.returncode == 0, said.stderr
        return dict(json.loads(said.stdout)["start"])

    assert start() == {"from": "cold", "detail": "no warm pool of this configuration has a bottle ready"}
    started = project.cli("pool", "pooled", "-n", "1")
    assert started.returncode == 0, started.stderr
    try:
        wait_for(lambda: len(ready_files(project)) == 1, READY_WITHIN, "a ready bottle")
        assert start() == {"from": "from the warm pool", "detail": "1 ready"}
    finally:
        stopped = project.cli("pool", "pooled", "--stop", timeout=180)
        assert stopped.returncode == 0, stopped.stderr
    wait_for(lambda: objects(engine, project) == [], GONE_WITHIN, "nothing labelled left")
    assert start()["from"] == "cold"


def alive(pid: int) -> bool:
    """A process that runs (not a zombie its parent has yet to reap)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_cleanup_removes_what_a_killed_keeper_left(engine: KubernetesEngine, project: Project) -> None:
    started = project.cli("pool", "pooled", "-n", "1")
    assert started.returncode == 0, started.stderr
    wait_for(lambda: len(ready_files(project)) == 1, READY_WITHIN, "a ready bottle")
    record = next((HostPaths.from_environ(project.env).state / "pool").glob("*/keeper.json"))
    pid = int(json.loads(record.read_text())["owner"]["pid"])
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not alive(pid), 30, "the keeper's end")
    assert pooled(engine, project, L.ROLE_AGENT) != []  # the control: it left a ready bottle
    cleaned = project.cli("cleanup", "--label", project.label)
    assert cleaned.returncode == 0, cleaned.stderr
    assert "removed session" in cleaned.stderr, cleaned.stderr
    wait_for(lambda: objects(engine, project) == [], GONE_WITHIN, "nothing labelled left")
    stopped = project.cli("pool", "pooled", "--stop")
    assert stopped.returncode == 0, stopped.stderr
    assert ready_files(project) == []


def test_start_under_a_terminal_claims_a_pod_and_never_shows_the_values(
    engine: KubernetesEngine, project: Project, lab: dict[str, str]
) -> None:
    """The hand-over under a terminal: the wrapper turns the echo off before the
    values come, so the screen never shows one, and gives the terminal back, so
    Claude Code draws its prompt and answers through the sidecar."""
    canary = project.env["POOL_CANARY"]
    started = project.cli("pool", "talker", "-n", "1")
    assert started.returncode == 0, started.stderr
    transcript = io.StringIO()
    try:
        wait_for(lambda: len(ready_files(project)) == 1, READY_WITHIN, "a ready bottle")
        (ready,) = pooled_ready(project)
        child = project.spawn_under_terminal("start", "talker")
        child.logfile_read = transcript
        child.timeout = 120
        try:
            converse(child, f"attaching interactive claude session .*container {ready} will be removed")
            child.expect(r"ended after \d+s; its agent was removed", timeout=60)
            child.expect(pexpect.EOF)
        finally:
            child.close(force=True)
    finally:
        stopped = project.cli("pool", "talker", "--stop", timeout=180)
        assert stopped.returncode == 0, stopped.stderr
    assert child.exitstatus == 0, transcript.getvalue()[-2000:]
    assert "from the warm pool" in transcript.getvalue()
    assert canary not in transcript.getvalue()
    assert canary[: len(canary) // 2] not in transcript.getvalue()
    wait_for(lambda: objects(engine, project) == [], GONE_WITHIN, "nothing labelled left")


def policies_of(engine: KubernetesEngine, session_id: str) -> dict[str, Any]:
    """A bottle's NetworkPolicies (its network's and its pods'), names and specs,
    its session id written SID: what its walls are, whoever made them."""
    out: dict[str, Any] = {}
    for found in engine.find([f"{L.SESSION}={session_id}"], kinds=("network", "other")):
        if found.kind == "other":  # KIND/NAME, the name as it is
            kind, _, name = found.name.partition("/")
            if kind != "networkpolicies":
                continue
        else:  # a network: its policy is named from it
            name = meta.object_name(found.name)
        spec = json.dumps(engine.cluster.get("networkpolicies", name)["spec"], sort_keys=True)
        out[name.replace(session_id, "SID")] = json.loads(spec.replace(session_id, "SID"))
    return out


def test_a_pooled_bottle_has_the_walls_of_a_cold_one(engine: KubernetesEngine, project: Project) -> None:
    command = "touch /tmp/started; while [ ! -e /tmp/checked ]; do sleep 0.1; done"
    with project.spawn("run", "pooled", "--", "sh", "-c", command) as run:
        try:
            (found,) = wait_for(
                lambda: engine.find([project.label, f"{L.ROLE}={L.ROLE_AGENT}"], kinds=("container",)),
                READY_WITHIN,
                "the cold bottle's agent",
            )
            cold, cold_id = found.name, found.labels[L.SESSION]

            def running() -> bool:
                try:
                    return engine.exec(cold, ["test", "-e", "/tmp/started"]).returncode == 0
                except ClaudeBottleError:  # not running yet
                    return False

            wait_for(running, READY_WITHIN, "the cold session's command")
            cold_walls = policies_of(engine, cold_id)
            engine.exec(cold, ["touch", "/tmp/checked"])
        except BaseException:
            run.terminate()
            raise
        _, err = run.communicate(timeout=180)
    assert run.returncode == 0, err
    assert "from the warm pool" not in err
    started = project.cli("pool", "pooled", "-n", "1")
    assert started.returncode == 0, started.stderr
    try:
        wait_for(lambda: len(ready_files(project)) == 1, READY_WITHIN, "a ready bottle")
        pooled_id = json.loads(ready_files(project)[0].read_text())["session_id"]
        assert pooled_id != cold_id
        pooled_walls = policies_of(engine, pooled_id)
    finally:
        stopped = project.cli("pool", "pooled", "--stop", timeout=180)
        assert stopped.returncode == 0, stopped.stderr
    # The control: each has its network's policy and its pods' (the sidecar serves the agent).
    assert len(cold_walls) >= 3, cold_walls
    assert pooled_walls == cold_walls
    wait_for(lambda: objects(engine, project) == [], GONE_WITHIN, "nothing labelled left")


def test_a_keeper_with_no_claim_ends_and_removes_its_pods(engine: KubernetesEngine, project: Project) -> None:
    project.env["CLAUDE_BOTTLE_POOL_IDLE"] = "40"
    started = project.cli("pool", "pooled", "-n", "1")
    assert started.returncode == 0, started.stderr
    folder = next((HostPaths.from_environ(project.env).state / "pool").glob("*/"))
    try:
        wait_for(lambda: len(ready_files(project)) == 1, 40, "a ready bottle")
        assert pooled(engine, project, L.ROLE_AGENT) != []  # the control: the pool held one
        wait_for(lambda: not (folder / "keeper.json").exists(), 120, "the keeper's idle end")
    finally:
        project.cli("pool", "pooled", "--stop", timeout=180)
    assert "no claim for 40s: the warm pool ends" in (folder / "keeper.log").read_text()
    assert ready_files(project) == []
    wait_for(lambda: objects(engine, project) == [], GONE_WITHIN, "nothing labelled left")
