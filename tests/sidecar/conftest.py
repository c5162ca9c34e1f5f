"""The sidecar suite: bottles with the real egress proxy, against a lab "internet"
of our own containers on an --internal network (nothing leaves the machine).

The proxy under test is Squid (the default, built by `claude-bottle build`)
unless CLAUDE_BOTTLE_TEST_PROXY=pipelock names the optional Pipelock backend,
whose image must then be in the engine (scripts/test.sh builds it with
scripts/setup/pipelock-image.sh where ../shared/pipelock is, and runs that variant
then). The lab:
- web: one server answering as every lab host name on 80/443 (and odd ports),
  plus a raw TCP and a UDP listener; every request it sees is logged;
- dns: a DNS server that logs every query (and answers NXDOMAIN);
- git: an ssh git server (and git.lab.test, on web, git over HTTPS for a token).
Every refused attack in the red team has a positive control beside it: the same
client reaching an allowed target by the same path, or a lab container showing
that the target answers when the wall is not in the way."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pexpect
import pytest

from claude_bottle.bottle.network import SharedEgressNetwork
from claude_bottle.engine.docker import DockerEngine
from claude_bottle.plan.subnets import SHARED_EGRESS
from claude_bottle.proxies import backend_for
from tests.conftest import trust_manifest, wait_for
from tests.engine.conftest import agent_image, engine, installed, nothing_left_behind
from tests.lab_ca import squid_trusting

__all__ = ["agent_image", "engine", "installed", "nothing_left_behind"]

LAB_DIR = Path(__file__).parent / "lab"
LAB_LABEL = "dev.claude-bottle-test.lab"
LAB_HASH_LABEL = "dev.claude-bottle-test.lab-hash"
WEB_IMAGE = "claude-bottle-lab/web:1"
GIT_IMAGE = "claude-bottle-lab/git:1"
ATTACKER_IMAGE = "claude-bottle-lab/attacker:1"
WEB_NAMES = (
    "allowed.test",
    "blocked.test",
    "api.lab.test",
    "evil.test",
    "evilallowed.test",
    "private.lab.test",
    "git.lab.test",
)
PROXY = os.environ.get("CLAUDE_BOTTLE_TEST_PROXY", "squid")
# Each backend's own cases (its binary alone, its stated limits) run in the pass
# for that backend only: the other pass would test a proxy it is not about.
collect_ignore = ["test_squid_rules.py"] if PROXY == "pipelock" else ["test_pipelock.py"]


@dataclass(frozen=True)
class Lab:
    engine: DockerEngine
    network: str
    web: str
    web_ip: str
    dns: str
    dns_ip: str
    git: str
    key: Path
    known_hosts: str
    ca_pem: str
    git_token: str  # what git.lab.test wants as the password of a basic sign-in

    def _log(self, container: str) -> list[dict[str, Any]]:
        out = self.engine.run("logs", container).stdout
        # Split on newlines alone: a logged body may hold other line breaks (U+0085).
        return [json.loads(line) for line in out.split("\n") if line.startswith("{")]

    def web_log(self) -> list[dict[str, Any]]:
        return self._log(self.web)

    def dns_queries(self) -> list[str]:
        return [str(e["query"]) for e in self._log(self.dns) if "query" in e]

    def web_saw(self, needle: str) -> bool:
        """Whether the web server's log holds `needle` now (for what must never
        arrive, checked after a control that did: the log has caught up)."""
        return needle in self.engine.run("logs", self.web).stdout

    def web_sees(self, needle: str, timeout: float = 30.0) -> bool:
        """Whether `needle` reaches the web server's log within `timeout` (a
        positive control: the engine's log may trail the response by a moment)."""
        try:
            wait_for(lambda: self.web_saw(needle), timeout, f"{needle} in the lab's web log", poll=0.2)
        except AssertionError:
            return False
        return True

    def control(self, script: str) -> str:
        """Run `script` in a throwaway lab container on the lab network, outside
        any bottle: the positive control that shows a target answers."""
        return self.engine.run(
            "run", "--rm", "--label", f"{LAB_LABEL}=1", "--network", self.network,
            "--user", "0", ATTACKER_IMAGE, "sh", "-c", script,
        ).stdout  # fmt: skip


# The proxy's image as the product builds it (or as CLAUDE_BOTTLE_SIDECAR_IMAGE names it).
PRODUCT_SIDECAR_IMAGE = os.environ.get("CLAUDE_BOTTLE_SIDECAR_IMAGE") or backend_for(PROXY).default_image()


@pytest.fixture(scope="session")
def sidecar_image(engine: DockerEngine, lab: Lab) -> str:
    """The proxy's image; Squid's trusting the lab's CA as well, as `claude-bottle
    build --extra-ca` makes it for a user's own CA: Squid opens TLS itself to the
    hosts whose credential it adds (the lab's model API and git.lab.test)."""
    image = PRODUCT_SIDECAR_IMAGE
    if not engine.ok("image", "inspect", image):
        pytest.fail(f"no {PROXY} image {image} in the engine (scripts/test.sh builds Squid's)")
    if PROXY != "squid":
        return image
    return squid_trusting(image, lab.ca_pem, "claude-bottle-lab/squid")


def _ip(engine: DockerEngine, container: str, network: str) -> str:
    fmt = f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}'
    return engine.run("inspect", "--format", fmt, container).stdout.strip()


def lab_image_hash(engine: DockerEngine, dockerfile: Path) -> str:
    """What a lab image is made of: the lab folder's files and its base image's id."""
    (base,) = (line.split()[1] for line in dockerfile.read_text().splitlines() if line.startswith("FROM "))
    h = hashlib.sha256(engine.run("image", "inspect", "--format", "{{.Id}}", base).stdout.encode())
    for file in sorted(f for f in LAB_DIR.iterdir() if f.is_file()):
        h.update(file.name.encode() + b"\0" + file.read_bytes())
    return h.hexdigest()[:16]


def build_lab_image(engine: DockerEngine, image: str, dockerfile: Path) -> None:
    """Build a lab image unless one made of the same files is there. Cached layers
    are not enough: an engine the images were loaded into (a remote one, see
    scripts/setup/remote-engine.sh) has no build cache and may reach no mirror."""
    digest = lab_image_hash(engine, dockerfile)
    if engine.image_labels(image, LAB_HASH_LABEL) == (digest,):
        return
    engine.run("build", "-q", "-t", image, "--label", f"{LAB_HASH_LABEL}={digest}",
               "-f", str(dockerfile), str(LAB_DIR))  # fmt: skip


@pytest.fixture(scope="session")
def lab(engine: DockerEngine, agent_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    for image, dockerfile in ((WEB_IMAGE, "web"), (GIT_IMAGE, "git"), (ATTACKER_IMAGE, "attacker")):
        build_lab_image(engine, image, LAB_DIR / f"{dockerfile}.Dockerfile")
    tag = secrets.token_hex(3)
    network, web, git, dns = f"lab-{tag}", f"lab-web-{tag}", f"lab-git-{tag}", f"lab-dns-{tag}"
    keydir = tmp_path_factory.mktemp("labkey")
    key = keydir / "id_lab"
    git_token = "lab-git-" + secrets.token_hex(12)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    engine.run("network", "create", "--internal", "--label", f"{LAB_LABEL}={tag}", network)
    try:
        common = ("--label", f"{LAB_LABEL}={tag}", "--network", network)
        aliases = [a for name in WEB_NAMES for a in ("--network-alias", name)]
        engine.run(
            "run", "-d", "--name", web, *common, *aliases, "--env", f"LAB_GIT_TOKEN={git_token}", WEB_IMAGE
        )
        engine.run("run", "-d", "--name", dns, *common, "--network-alias", "dns.lab.test", "--user", "0",
                   ATTACKER_IMAGE, "python3", "-u", "/lab/dns.py")  # fmt: skip
        engine.run(
            "run", "-d", "--name", git, *common,
            "--network-alias", "git.allowed.test", "--network-alias", "ssh.blocked.test",
            "--env", f"AUTHORIZED_KEY={(keydir / 'id_lab.pub').read_text().strip()}",
            GIT_IMAGE,
        )  # fmt: skip
        wait_for(lambda: '"ready"' in engine.run("logs", web).stdout, 30, "the lab web server")
        wait_for(lambda: '"ready"' in engine.run("logs", dns).stdout, 30, "the lab DNS server")
        host_key = engine.run("exec", git, "cat", "/etc/ssh/ssh_host_ed25519_key.pub").stdout.split()
        yield Lab(
            engine=engine, network=network, web=web, web_ip=_ip(engine, web, network),
            dns=dns, dns_ip=_ip(engine, dns, network), git=git, key=key,
            known_hosts=f"git.allowed.test {host_key[0]} {host_key[1]}\n",
            ca_pem=engine.run("exec", web, "cat", "/lab/cert.pem").stdout, git_token=git_token,
        )  # fmt: skip
    finally:
        engine.run("rm", "-f", web, git, dns, check=False)
        engine.run("network", "rm", network, check=False)


# An HTTP listener that prints its port, then every path it is asked for.
LISTENER = """
import http.server

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        print("path=" + self.path, flush=True)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("0.0.0.0", 0), Handler)
print("port=%d" % server.server_port, flush=True)
server.serve_forever()
"""


@pytest.fixture
def host_listener(engine: DockerEngine, lab: Lab) -> Iterator[tuple[int, Callable[[], list[str]]]]:
    """An HTTP listener on every address of the engine's host (the bridges' too):
    its port, and the paths it was asked for so far. It runs in a container in
    that host's network namespace (`--network host`), so that it is on the host
    of the engine under test, this one or a remote one, not on the test's
    (the `lab` fixture builds the image it runs)."""
    name = f"lab-host-listener-{secrets.token_hex(3)}"
    engine.run("run", "-d", "--name", name, "--label", f"{LAB_LABEL}=1", "--network", "host",
               "--user", "0", ATTACKER_IMAGE, "python3", "-u", "-c", LISTENER)  # fmt: skip

    def printed(key: str) -> list[str]:
        prefix = f"{key}="
        return [line[len(prefix) :] for line in engine.lines("logs", name) if line.startswith(prefix)]

    try:
        wait_for(lambda: printed("port") != [], 30, "the host listener's port")
        yield int(printed("port")[0]), lambda: printed("path")
    finally:
        engine.run("rm", "-f", name, check=False)


@dataclass(frozen=True)
class Site:
    """Where a bottle's sidecar goes out, as a test sees it: the lab network named
    by `egress.network` ("lab"), or the shared egress network every user's bottle
    leaves through ("default", the lab's servers joined to it under the same
    names). The addresses are the lab servers' on that network."""

    lab: Lab
    topology: str
    network: str
    web_ip: str
    dns_ip: str

    def control(self, script: str) -> str:
        """A throwaway container on this site's network, outside any bottle: the
        positive control that shows a target answers there."""
        return self.lab.engine.run(
            "run", "--rm", "--label", f"{LAB_LABEL}=1", "--network", self.network,
            "--user", "0", ATTACKER_IMAGE, "sh", "-c", script,
        ).stdout  # fmt: skip


TOPOLOGIES = ("lab", "default")
# The lab's servers and their names, as they join the shared egress network.
SERVER_NAMES = {"web": WEB_NAMES, "dns": ("dns.lab.test",), "git": ("git.allowed.test", "ssh.blocked.test")}


@pytest.fixture(scope="session")
def lab_site(lab: Lab) -> Site:
    return Site(lab, "lab", lab.network, lab.web_ip, lab.dns_ip)


@pytest.fixture(scope="session")
def default_site(lab: Lab) -> Iterator[Site]:
    """The default topology: the lab's servers joined to the shared egress network
    (made as a session of the product makes it, if no bottle has yet), so that
    bottles without `egress.network` reach them there, as users' bottles reach
    the internet. Two runs of these cases at once on one engine would share
    these names on that network (a limit of the suite, not of the product)."""
    engine = lab.engine
    with SharedEgressNetwork(engine):
        pass
    servers = {"web": lab.web, "dns": lab.dns, "git": lab.git}
    joined = []
    try:
        for role, container in servers.items():
            aliases = [a for name in SERVER_NAMES[role] for a in ("--alias", name)]
            engine.run("network", "connect", *aliases, SHARED_EGRESS, container)
            joined.append(container)
        yield Site(lab, "default", SHARED_EGRESS, _ip(engine, lab.web, SHARED_EGRESS),
                   _ip(engine, lab.dns, SHARED_EGRESS))  # fmt: skip
    finally:
        for container in joined:
            engine.run("network", "disconnect", "--force", SHARED_EGRESS, container, check=False)


@dataclass(frozen=True)
class PublicLab:
    """The lab's web server again, on a network of a documentation range
    (addresses.py leaves those public), so that its names are ordinary allowed
    hosts as on the internet, not `egress.internal` ones: a host approved while a
    bottle runs is one of them."""

    engine: DockerEngine
    network: str
    web: str
    web_ip: str

    def web_saw(self, needle: str) -> bool:
        return needle in self.engine.run("logs", self.web).stdout


PUBLIC_NAMES = ("allowed.test", "later.test", "other.test", "third.test")


@pytest.fixture(scope="session")
def public_lab(lab: Lab) -> Iterator[PublicLab]:
    engine = lab.engine
    tag = secrets.token_hex(3)
    network, web = f"lab-public-{tag}", f"lab-public-web-{tag}"
    # A /27 of 198.51.100.0/24 that no other run on the engine holds.
    for block in random.sample(range(8), 8):
        made = engine.run("network", "create", "--internal", "--subnet", f"198.51.100.{block * 32}/27",
                          "--label", f"{LAB_LABEL}={tag}", network, check=False)  # fmt: skip
        if made.returncode == 0:
            break
        if "overlap" not in made.stderr:
            pytest.fail(f"cannot make the public lab network: {made.stderr}")
    else:
        pytest.fail("no /27 of 198.51.100.0/24 is free on this engine")
    try:
        aliases = [a for name in PUBLIC_NAMES for a in ("--network-alias", name)]
        engine.run("run", "-d", "--name", web, "--label", f"{LAB_LABEL}={tag}", "--network", network,
                   *aliases, WEB_IMAGE)  # fmt: skip
        wait_for(lambda: '"ready"' in engine.run("logs", web).stdout, 30, "the public lab web server")
        yield PublicLab(engine, network, web, _ip(engine, web, network))
    finally:
        engine.run("rm", "-f", web, check=False)
        engine.run("network", "rm", network, check=False)


def public_project(
    public_lab: PublicLab, sidecar_image: str, folder: Path, monkeypatch: pytest.MonkeyPatch, agent: str
) -> Path:
    """A project whose bottle `pub` goes out to the public lab, allowing allowed.test
    alone, with `agent` in it (a name of the test's own: other runs start bottles too)."""
    manifest = {
        "bottles": {
            "pub": {"egress": {"allow": ["allowed.test"], "network": public_lab.network, "proxy": PROXY}}
        },
        "agents": {agent: {"bottle": "pub"}},
    }
    (folder / "claude-bottle.json").write_text(json.dumps(manifest, indent=2) + "\n")
    trust_manifest(folder / "claude-bottle.json")
    monkeypatch.setenv("HOME", str(folder / "home"))
    monkeypatch.setenv("CLAUDE_BOTTLE_SIDECAR_IMAGE", sidecar_image)
    return folder


def lab_manifest(lab: Lab, default_topology: bool = False) -> dict[str, Any]:
    """The lab's bottles and agents, leaving through the lab network (named by
    `egress.network`), or with `default_topology` through the shared egress
    network, as a user's bottle does."""
    # The lab's hosts have private addresses, so they are `internal` hosts;
    # private.lab.test is an ordinary allowed name that resolves to one.
    egress: dict[str, Any] = {
        "allow": ["private.lab.test"],
        "internal": ["allowed.test", "api.lab.test", "git.allowed.test", "git.lab.test"],
        "proxy": PROXY,
    }
    if not default_topology:
        egress["network"] = lab.network
    limits = {"memory": "512m", "pids": 128}
    canary = {"CANARY": {"from_env": "LAB_CANARY", "optional": True}}
    # The lab's CA as a skill (site_project writes it), where Claude Code reads it
    # from its first moment: with Pipelock it speaks TLS to the lab itself.
    lab_ca = {"NODE_EXTRA_CA_CERTS": "/home/node/.claude/skills/lab-ca/ca.pem"}
    # The lab's CA, one line: the Docker engine's env file carries no line break
    # (a PEM in a variable is refused there); the agent decodes it into a file.
    ca = base64.b64encode(lab.ca_pem.encode()).decode()
    holder = {
        "bottle": "lab",
        "skills": ["lab-ca"],
        "env": {
            **lab_ca,
            "ANTHROPIC_BASE_URL": "https://api.lab.test",
            "ANTHROPIC_API_KEY": {"from_env": "LAB_API_KEY"},
            "GITHUB_TOKEN": {"from_env": "LAB_GIT_TOKEN", "inject": "git.lab.test"},
        },
        "ssh": [{"Host": "git.allowed.test", "User": "git", "IdentityFile": "~/.ssh/id_lab"}],
    }
    return {
        "bottles": {
            "lab": {"egress": egress},
            "redteam": {"egress": egress, "limits": limits},
            "redteam-gvisor": {"egress": egress, "limits": limits, "runtime": "runsc"},
            "sni": {"egress": {**egress, "sni": True}},
            "lab-gvisor": {"egress": egress, "runtime": "runsc"},
        },
        "agents": {
            "worker": {
                "bottle": "lab",
                "prompt": "You work in the lab.",
                "env": {**canary, "LAB_CA": ca},
            },
            "coder": {
                "bottle": "lab",
                "env": {
                    "ANTHROPIC_BASE_URL": "https://api.lab.test",
                    "ANTHROPIC_AUTH_TOKEN": "lab-token",
                    "LAB_CA": ca,
                    "NODE_EXTRA_CA_CERTS": "/home/node/lab-ca.pem",
                },
            },
            # The model endpoint over plain HTTP (an internal model gateway), with a
            # credential of a real key's shape: header DLP must not refuse it.
            "plain-coder": {
                "bottle": "lab",
                "env": {
                    "ANTHROPIC_BASE_URL": "http://api.lab.test",
                    "ANTHROPIC_API_KEY": "sk-ant-api03-" + "L" * 40,
                },
            },
            "attacker": {"bottle": "redteam", "env": canary},
            "attacker-gvisor": {"bottle": "redteam-gvisor", "env": canary},
            "sni-attacker": {"bottle": "sni", "env": canary},
            "gitter": {
                "bottle": "lab",
                "ssh": [{"Host": "git.allowed.test", "User": "git", "IdentityFile": "~/.ssh/id_lab"}],
            },
            # Every credential the sidecar can hold (tests/sidecar/test_credentials.py),
            # from the host's variables: the lab's model API, its git over HTTPS, ssh;
            # a subscription token comes from $CLAUDE_BOTTLE_OAUTH_TOKEN, as a user's does.
            "holder": holder,
            "holder-gvisor": {**holder, "bottle": "lab-gvisor"},
            "keyed": {
                "bottle": "lab",
                "skills": ["lab-ca"],
                "env": {
                    **lab_ca,
                    "ANTHROPIC_BASE_URL": "https://api.lab.test",
                    "ANTHROPIC_API_KEY": {"from_env": "LAB_API_KEY"},
                },
            },
            "subscriber": {
                "bottle": "lab",
                "skills": ["lab-ca"],
                "env": {
                    **lab_ca,
                    "ANTHROPIC_BASE_URL": "https://api.lab.test",
                },
            },
        },
    }


def site_project(site: Site, sidecar_image: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose bottles leave through `site`, with the lab's ssh trust."""
    home = folder / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "known_hosts").write_text(site.lab.known_hosts)
    shutil.copy(site.lab.key, home / ".ssh" / "id_lab")  # keys enter only from the home folder (issue 10)
    (folder / "claude-bottle.json").write_text(json.dumps(lab_manifest(site.lab, site.topology == "default")))
    skill = folder / "skills" / "lab-ca"
    skill.mkdir(parents=True)
    (skill / "SKILL.md").write_text("---\nname: lab-ca\ndescription: the lab's CA\n---\nNothing to do.\n")
    (skill / "ca.pem").write_text(site.lab.ca_pem)
    trust_manifest(folder / "claude-bottle.json")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CLAUDE_BOTTLE_SIDECAR_IMAGE", sidecar_image)
    return folder


@pytest.fixture
def lab_project(lab_site: Site, sidecar_image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose bottle's way out is the lab network, with the lab's ssh trust."""
    return site_project(lab_site, sidecar_image, tmp_path, monkeypatch)


def leave_interactive_session(child: pexpect.spawn, at_prompt: bool = False) -> str:
    """From Claude Code's running session (bypass mode on; `at_prompt`: already
    seen) out through `/exit` to the CLI's end-of-session line and its exit;
    the summary after that line."""
    if not at_prompt:
        child.expect("bypass permissions on")
    child.send("/exit")
    child.expect("exit")
    child.send("\r")
    child.expect(r"ended after \d+s; everything it made was removed", timeout=60)
    child.expect(pexpect.EOF)
    return str(child.before)
