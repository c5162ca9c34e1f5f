"""The agent container and its networks, on the real engine (no sidecar needed)."""

from __future__ import annotations

import http.server
import ipaddress
import json
import os
import secrets
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from claude_bottle.bottle.agent import AgentContainer
from claude_bottle.bottle.home import HomeFiles
from claude_bottle.engine.docker import DockerEngine
from claude_bottle.plan.plan import LaunchPlan
from claude_bottle.tarball import tar_bytes
from claude_bottle.tracking import labels as L
from claude_bottle.workspace.source import copy_folder_in, scan_workspace
from tests.conftest import openssh_key, trust_manifest, wait_for
from tests.engine.conftest import agent_on_internal_network, in_agent, lab_plan, owned_containers
from tests.installed import cli_argv

CANARY = "canary-9c1e5d-never-in-argv"
MANIFEST = {
    "bottles": {
        "lab": {
            "egress": {"allow": ["allowed.test"], "internal": ["git.allowed.test"]},
            "limits": {"memory": "1g", "cpus": 1.5, "pids": 200},
        },
        "gvisor": {"runtime": "runsc", "egress": {"allow": ["allowed.test"]}},
    },
    "agents": {
        "worker": {
            "bottle": "lab",
            "prompt": "You are a careful worker.\nSecond line.",
            "env": {"TOKEN": {"from_env": "HOST_TOKEN"}, "MODE": "lab"},
            "skills": ["lint"],
            # a stand-in key, copied in (what "inject": false does; the held path: tests/sidecar)
            "ssh": [
                {"Host": "git.allowed.test", "User": "git", "IdentityFile": "~/.ssh/id_lab", "inject": False}
            ],
        },
        "sandboxed": {"bottle": "gvisor"},
    },
}


@pytest.fixture
def lab_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_lab").write_text(openssh_key("lab"))
    (home / ".ssh" / "id_lab").chmod(0o600)  # as ssh-keygen leaves it; others' readable keys are refused
    (home / ".ssh" / "known_hosts").write_text(
        "git.allowed.test ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIlabkey\n"
        "other.test ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIother\n"
    )
    skill = tmp_path / "skills" / "lint"
    (skill / "scripts").mkdir(parents=True)
    (skill / "SKILL.md").write_text("---\nname: lint\n---\nLint things.\n")
    (skill / "scripts" / "run.sh").write_text("#!/bin/sh\necho lint\n")
    (skill / "scripts" / "run.sh").chmod(0o755)
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture
def running_agent(
    engine: DockerEngine, agent_image: str, tmp_path: Path, lab_home: Path
) -> Iterator[tuple[LaunchPlan, AgentContainer]]:
    plan = lab_plan(tmp_path, MANIFEST, "worker", {"HOST_TOKEN": CANARY})
    with agent_on_internal_network(engine, plan, {"HOST_TOKEN": CANARY}) as agent:
        yield plan, agent


def sh(engine: DockerEngine, agent: AgentContainer, script: str, user: str = "node") -> str:
    return in_agent(engine, agent, script, user)


def test_hardening_is_visible_in_docker_inspect(
    engine: DockerEngine, running_agent: tuple[LaunchPlan, AgentContainer]
) -> None:
    plan, agent = running_agent
    info = engine.json("inspect", agent.name)[0]
    host = info["HostConfig"]
    assert host["CapDrop"] == ["ALL"]
    assert host["CapAdd"] is None
    assert "no-new-privileges" in host["SecurityOpt"]
    assert host["Privileged"] is False
    assert host["PidsLimit"] == 200
    assert host["Memory"] == 1024**3
    assert host["NanoCpus"] == 1_500_000_000
    assert host["Init"] is True
    assert info["Mounts"] == []
    assert host["Binds"] is None
    assert host["NetworkMode"] == plan.network_name("internal")
    assert host["PidMode"] == ""
    assert host["IpcMode"] in ("private", "shareable")
    assert info["Config"]["Labels"][L.SESSION] == plan.session_id
    assert info["Config"]["Labels"][L.ROLE] == L.ROLE_AGENT


def test_privileges_seen_from_inside(
    engine: DockerEngine, running_agent: tuple[LaunchPlan, AgentContainer]
) -> None:
    _, agent = running_agent
    status = sh(engine, agent, "grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status")
    fields = dict(line.split(":\t") for line in status.strip().splitlines())
    assert fields == {"CapEff": "0000000000000000", "NoNewPrivs": "1", "Seccomp": "2"}
    # root inside the container has no capabilities either
    root = sh(engine, agent, "grep CapEff /proc/self/status", user="0")
    assert root.split()[1] == "0000000000000000"


def test_internal_network_has_no_way_out_and_no_ipv6(
    engine: DockerEngine, running_agent: tuple[LaunchPlan, AgentContainer]
) -> None:
    plan, _ = running_agent
    net = engine.json("network", "inspect", plan.network_name("internal"))[0]
    assert net["Internal"] is True
    assert net["EnableIPv6"] is False
    assert net["Labels"][L.MANAGED] == "1"


def test_env_values_reach_the_agent_but_never_argv(
    engine: DockerEngine, running_agent: tuple[LaunchPlan, AgentContainer]
) -> None:
    _, agent = running_agent
    env = sh(engine, agent, "env")
    assert f"TOKEN={CANARY}" in env
    assert "MODE=lab" in env
    assert "HTTPS_PROXY=http://egress-proxy:3128" in env  # Squid, the default proxy
    assert "NO_PROXY=localhost,127.0.0.1" in env
    cmdlines = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert CANARY not in cmdlines
    host_env_files = [p for p in Path("/tmp").glob("claude-bottle*") if p.is_file()]
    assert not any(CANARY in p.read_text(errors="replace") for p in host_env_files)


@pytest.mark.remote_engine
def test_prompt_skills_and_ssh_files_inside(
    engine: DockerEngine, running_agent: tuple[LaunchPlan, AgentContainer], lab_home: Path
) -> None:
    plan, agent = running_agent
    files = HomeFiles.collect(plan, lab_home)
    agent.copy_in(tar_bytes(files.entries(plan, "egress-proxy", 8888)), plan.container_home)
    listing = sh(
        engine,
        agent,
        "cd ~ && stat -c '%U %a %n' .claude-bottle-prompt.txt .claude/skills .claude/skills/lint "
        ".claude/skills/lint/SKILL.md .claude/skills/lint/scripts/run.sh .ssh .ssh/config "
        ".ssh/id_bottle_0_id_lab .ssh/known_hosts .claude .claude.json",
    )
    assert listing.splitlines() == [
        "node 600 .claude-bottle-prompt.txt",
        "node 755 .claude/skills",  # the agent can add skills
        "node 755 .claude/skills/lint",
        "node 644 .claude/skills/lint/SKILL.md",
        "node 755 .claude/skills/lint/scripts/run.sh",
        "node 700 .ssh",
        "node 600 .ssh/config",
        "node 600 .ssh/id_bottle_0_id_lab",
        "node 644 .ssh/known_hosts",
        "node 755 .claude",  # the image's own files are untouched
        "node 644 .claude.json",
    ]
    assert sh(engine, agent, "cat ~/.claude-bottle-prompt.txt") == "You are a careful worker.\nSecond line."
    assert sh(engine, agent, "~/.claude/skills/lint/scripts/run.sh") == "lint\n"
    known = sh(engine, agent, "cat ~/.ssh/known_hosts")
    assert "git.allowed.test" in known
    assert "other.test" not in known
    resolved = sh(engine, agent, "ssh -G git.allowed.test")
    assert "proxycommand nc -X connect -x egress-proxy:8888 %h %p" in resolved
    assert "user git" in resolved
    assert "identityfile ~/.ssh/id_bottle_0_id_lab" in resolved
    assert "clearallforwardings yes" in resolved


@pytest.mark.remote_engine
def test_workspace_copy_is_owned_by_node_and_keeps_git(
    engine: DockerEngine, running_agent: tuple[LaunchPlan, AgentContainer], tmp_path: Path
) -> None:
    plan, agent = running_agent
    src = tmp_path / "project"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "a.py").write_text("print('a')\n")
    subprocess.run(["git", "init", "-q", str(src)], check=True)
    os.chmod(src / "pkg" / "a.py", 0o640)
    copy_folder_in(engine, agent.name, scan_workspace(src), plan.workspace)
    out = sh(engine, agent, "cd ~/workspace && stat -c '%U %a %n' pkg/a.py .git && git status --short")
    lines = out.splitlines()
    assert lines[:2] == ["node 640 pkg/a.py", "node 755 .git"]
    assert "?? pkg/" in lines


def test_runsc_bottle_runs_under_gvisor(
    engine: DockerEngine, agent_image: str, tmp_path: Path, lab_home: Path
) -> None:
    plan = lab_plan(tmp_path, MANIFEST, "sandboxed")
    with agent_on_internal_network(engine, plan, {}, proxy_host="10.0.0.1") as agent:
        assert engine.json("inspect", agent.name)[0]["HostConfig"]["Runtime"] == "runsc"
        kernel_log = sh(engine, agent, "dmesg 2>&1 || true")
        assert "gVisor" in kernel_log or "Starting gVisor" in kernel_log


def test_engine_reports_runsc_registered(engine: DockerEngine) -> None:
    runtimes = json.loads(engine.run("info", "--format", "{{json .Runtimes}}").stdout)
    assert "runsc" in runtimes


def test_the_host_is_not_reachable_through_the_internal_gateway(
    engine: DockerEngine, running_agent: tuple[LaunchPlan, AgentContainer]
) -> None:
    plan, agent = running_agent
    canary = f"gateway-canary-{os.getpid()}"
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("0.0.0.0", 0), Handler)  # every host address, the bridge's too
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        net = engine.json("network", "inspect", plan.network_name("internal"))[0]
        config = net["IPAM"]["Config"][0]
        # With a subnet of its own the engine records no gateway: it is the first address.
        gateway = config.get("Gateway") or str(ipaddress.ip_network(config["Subnet"]).network_address + 1)
        out = sh(
            engine,
            agent,
            f"curl -s -m 3 --noproxy '*' http://{gateway}:{server.server_port}/{canary}; echo status=$?",
        )
        assert "status=0" not in out
        assert seen == []
    finally:
        server.shutdown()


def _status_fields(text: str) -> dict[str, str]:
    return dict(line.split(":\t") for line in text.strip().splitlines())


def test_a_running_bottle_has_every_promised_flag_on_both_containers(
    engine: DockerEngine, agent_image: str, tmp_path: Path, lab_home: Path
) -> None:
    """The README's Hardening section, read back from a real `run` (agent and
    Squid sidecar both), not from the argument builders."""
    (tmp_path / "claude-bottle.json").write_text(json.dumps(MANIFEST))
    trust_manifest(tmp_path / "claude-bottle.json")
    release = f"/tmp/release-{secrets.token_hex(4)}"
    proc = subprocess.Popen(
        cli_argv("run", "worker", "--", "sh", "-c",
         f"until [ -f {release} ]; do sleep 0.1; done"),
        cwd=tmp_path, env={**os.environ, "HOST_TOKEN": CANARY},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        (agent,) = wait_for(lambda: owned_containers(engine, proc.pid, L.ROLE_AGENT), 60, "its agent")
        # The session is under way once the command runs (the sidecar was healthy).
        wait_for(lambda: "until [ -f" in engine.run("top", agent).stdout, 60, "the command to run")
        (sidecar,) = owned_containers(engine, proc.pid, L.ROLE_SIDECAR)
        a, s = engine.json("inspect", agent, sidecar)
        internal = a["HostConfig"]["NetworkMode"]
        for info in (a, s):
            host = info["HostConfig"]
            assert host["CapDrop"] == ["ALL"], info["Name"]
            assert host["CapAdd"] is None, info["Name"]
            assert "no-new-privileges" in host["SecurityOpt"], info["Name"]
            assert host["Privileged"] is False, info["Name"]
            assert host["Binds"] is None, info["Name"]
            assert host["PortBindings"] in ({}, None), info["Name"]
            assert host["PublishAllPorts"] is False, info["Name"]
            assert host["PidMode"] == "", info["Name"]
            assert host["Runtime"] == "runc", info["Name"]
        ah, sh_ = a["HostConfig"], s["HostConfig"]
        assert (ah["PidsLimit"], ah["Memory"], ah["NanoCpus"], ah["Init"]) == (
            200,
            1024**3,
            1_500_000_000,
            True,
        )
        assert a["Mounts"] == []
        assert list(a["NetworkSettings"]["Networks"]) == [internal]
        assert a["Config"]["User"] == "node"
        assert (sh_["PidsLimit"], sh_["Memory"], sh_["NanoCpus"], sh_["ReadonlyRootfs"]) == (
            512, 1024**3, 10**9, True,
        )  # fmt: skip
        assert s["Config"]["User"] == "proxy"
        assert [m["Type"] for m in s["Mounts"]] == []  # its run folder is a tmpfs, nothing from the host
        assert list(sh_["Tmpfs"]) == ["/run/squid"]
        egress = next(n for n in s["NetworkSettings"]["Networks"] if n != internal)
        assert sorted(s["NetworkSettings"]["Networks"]) == sorted([internal, egress])
        assert engine.json("network", "inspect", internal)[0]["Internal"] is True
        # From inside: no capability even in the bounding set, for root in the agent too.
        for container, user in ((agent, "node"), (agent, "0"), (sidecar, "proxy")):
            fields = "^(CapEff|CapPrm|CapBnd|NoNewPrivs):"
            status = engine.run(
                "exec", "--user", user, container, "grep", "-E", fields, "/proc/self/status"
            ).stdout
            assert _status_fields(status) == {
                "CapEff": "0000000000000000", "CapPrm": "0000000000000000",
                "CapBnd": "0000000000000000", "NoNewPrivs": "1",
            }, (container, user)  # fmt: skip
        # The agent's root file system is not read-only (CIS 5.13; the README says why),
        # but the agent writes nowhere on it but its home and the sticky scratch folders.
        writable = engine.run(
            "exec", "--user", "node", agent, "sh", "-c",
            "find / -xdev -writable \\( -type d -o -type f \\) 2>/dev/null | grep -v '^/home/node/' | sort",
        ).stdout.split()  # fmt: skip
        assert writable == ["/home/node", "/run/lock", "/tmp", "/var/tmp"]
        engine.run("exec", agent, "touch", release)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.terminate()  # an orderly teardown, as on SIGTERM
        proc.communicate(timeout=60)
