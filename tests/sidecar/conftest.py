"""The Pipelock suite: bottles with the real sidecar, against a lab "internet" of
our own containers on an --internal network (nothing leaves the machine).

Needs a Pipelock image in the engine (the default sidecar image, or the one
named by CLAUDE_BOTTLE_SIDECAR_IMAGE). scripts/test.sh runs this suite when
one is present; see the README for why CI cannot build one here."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from claude_bottle.engine import Engine
from claude_bottle.sidecar_image import DEFAULT_SIDECAR_IMAGE
from tests.engine.conftest import agent_image, engine, nothing_left_behind, wait_for

__all__ = ["agent_image", "engine", "nothing_left_behind"]

LAB_DIR = Path(__file__).parent / "lab"
LAB_LABEL = "dev.claude-bottle-test.lab=1"
WEB_IMAGE = "claude-bottle-lab/web:1"
GIT_IMAGE = "claude-bottle-lab/git:1"
ATTACKER_IMAGE = "claude-bottle-lab/attacker:1"
WEB_NAMES = ("allowed.test", "blocked.test", "api.lab.test", "evil.test", "evilallowed.test")


@dataclass(frozen=True)
class Lab:
    engine: Engine
    network: str
    web: str
    web_ip: str
    git: str
    key: Path
    known_hosts: str
    ca_pem: str

    def web_log(self) -> list[dict[str, Any]]:
        out = self.engine.run("logs", self.web).stdout
        return [json.loads(line) for line in out.splitlines() if line.startswith("{")]

    def web_saw(self, needle: str) -> bool:
        return needle in self.engine.run("logs", self.web).stdout


@pytest.fixture(scope="session")
def sidecar_image(engine: Engine) -> str:
    image = os.environ.get("CLAUDE_BOTTLE_SIDECAR_IMAGE") or DEFAULT_SIDECAR_IMAGE
    if not engine.ok("image", "inspect", image):
        pytest.fail(f"no Pipelock image {image} in the engine; this suite needs one")
    return image


@pytest.fixture(scope="session")
def lab(engine: Engine, agent_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    engine.run("build", "-q", "-t", WEB_IMAGE, "-f", str(LAB_DIR / "web.Dockerfile"), str(LAB_DIR))
    engine.run("build", "-q", "-t", GIT_IMAGE, "-f", str(LAB_DIR / "git.Dockerfile"), str(LAB_DIR))
    engine.run("build", "-q", "-t", ATTACKER_IMAGE, "-f", str(LAB_DIR / "attacker.Dockerfile"), str(LAB_DIR))
    tag = secrets.token_hex(3)
    network, web, git = f"lab-{tag}", f"lab-web-{tag}", f"lab-git-{tag}"
    keydir = tmp_path_factory.mktemp("labkey")
    key = keydir / "id_lab"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    # A lab left by an interrupted run is removed first (by its label).
    stale = engine.lines("ps", "-aq", "--filter", f"label={LAB_LABEL.split('=')[0]}")
    if stale:
        engine.run("rm", "-f", *stale)
    for old in engine.lines("network", "ls", "-q", "--filter", f"label={LAB_LABEL.split('=')[0]}"):
        engine.run("network", "rm", old, check=False)
    engine.run("network", "create", "--internal", "--label", LAB_LABEL, network)
    try:
        aliases = [a for name in WEB_NAMES for a in ("--network-alias", name)]
        engine.run(
            "run",
            "-d",
            "--name",
            web,
            "--label",
            LAB_LABEL,
            "--network",
            network,
            *aliases,
            WEB_IMAGE,
        )
        engine.run(
            "run",
            "-d",
            "--name",
            git,
            "--label",
            LAB_LABEL,
            "--network",
            network,
            "--network-alias",
            "git.allowed.test",
            "--network-alias",
            "ssh.blocked.test",
            "--env",
            f"AUTHORIZED_KEY={(keydir / 'id_lab.pub').read_text().strip()}",
            GIT_IMAGE,
        )
        wait_for(lambda: '"ready"' in engine.run("logs", web).stdout, 30, "the lab web server")
        host_key = engine.run("exec", git, "cat", "/etc/ssh/ssh_host_ed25519_key.pub").stdout.split()
        fmt = f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}'
        web_ip = engine.run("inspect", "--format", fmt, web).stdout.strip()
        yield Lab(
            engine=engine, network=network, web=web, web_ip=web_ip, git=git, key=key,
            known_hosts=f"git.allowed.test {host_key[0]} {host_key[1]}\n",
            ca_pem=engine.run("exec", web, "cat", "/lab/cert.pem").stdout,
        )  # fmt: skip
    finally:
        engine.run("rm", "-f", web, git, check=False)
        engine.run("network", "rm", network, check=False)


@pytest.fixture
def lab_project(lab: Lab, sidecar_image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose bottle's way out is the lab network, with the lab's ssh trust."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "known_hosts").write_text(lab.known_hosts)
    egress = {
        "allow": [],
        "internal": ["allowed.test", "api.lab.test", "git.allowed.test"],
        "network": lab.network,
    }
    limits = {"memory": "512m", "pids": 128}
    manifest = {
        "bottles": {
            "lab": {"egress": egress},
            "redteam": {"egress": egress, "limits": limits},
            "redteam-gvisor": {"egress": egress, "limits": limits, "runtime": "runsc"},
        },
        "agents": {
            "worker": {
                "bottle": "lab",
                "prompt": "You work in the lab.",
                "env": {
                    "CANARY": {"from_env": "LAB_CANARY", "optional": True},
                    "LAB_CA": lab.ca_pem,
                },
            },
            "coder": {
                "bottle": "lab",
                "env": {
                    "ANTHROPIC_BASE_URL": "https://api.lab.test",
                    "ANTHROPIC_AUTH_TOKEN": "lab-token",
                    "LAB_CA": lab.ca_pem,
                    "NODE_EXTRA_CA_CERTS": "/home/node/lab-ca.pem",
                },
            },
            "attacker": {
                "bottle": "redteam",
                "env": {"CANARY": {"from_env": "LAB_CANARY", "optional": True}},
            },
            "attacker-gvisor": {
                "bottle": "redteam-gvisor",
                "env": {"CANARY": {"from_env": "LAB_CANARY", "optional": True}},
            },
            "gitter": {
                "bottle": "lab",
                "ssh": [{"Host": "git.allowed.test", "User": "git", "IdentityFile": str(lab.key)}],
            },
        },
    }
    (tmp_path / "claude-bottle.json").write_text(json.dumps(manifest))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CLAUDE_BOTTLE_SIDECAR_IMAGE", sidecar_image)
    return tmp_path
