"""Squid's rules on the real binary, where a bottle cannot arrange the case:
the generated configurations are accepted whole, a name in `egress.internal`
that resolves to the metadata address stays refused, and a refused name is
never looked up. A standalone sidecar (the product's image and renderer) on the
lab network, with the lab's DNS server as its resolver and names pinned in its
hosts file; the clients are lab containers."""

from __future__ import annotations

import ipaddress
import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from claude_bottle import addresses
from claude_bottle.bottle.sidecar import LIMITS
from claude_bottle.engine.api import ContainerSpec
from claude_bottle.engine.docker import DockerEngine
from claude_bottle.engine.docker.argv import container_args
from claude_bottle.proxies.base import ProxySpec
from claude_bottle.proxies.squid import (
    CONFIG_ENV,
    CREDENTIAL_HEADERS,
    IMAGE,
    SquidBackend,
    render_squid_config,
)
from claude_bottle.secret_shapes import SECRET_PATTERNS
from tests.conftest import wait_for
from tests.sidecar.conftest import LAB_LABEL, Lab

# Every case here runs against the remote engine too (scripts/test.sh).
pytestmark = pytest.mark.remote_engine

GOLDEN = Path(__file__).parents[1] / "unit" / "proxies" / "golden"


def squid_shape_args() -> tuple[str, ...]:
    """Squid's own needs of its container (a read-only root, its tmpfs), as the
    Docker engine translates them for the sidecar."""
    shape = SquidBackend().shape()
    spec = ContainerSpec("squid", IMAGE, "lab", {}, LIMITS, read_only=shape.read_only, tmpfs=shape.tmpfs)
    args = container_args(spec)
    return args[args.index("--read-only") : args.index(IMAGE)]


def test_every_generated_configuration_is_accepted_whole(engine: DockerEngine, lab: Lab) -> None:
    goldens = sorted(GOLDEN.glob("squid-*.conf"))
    assert len(goldens) >= 4
    for golden in goldens:
        out = engine.run(
            "run", "--rm", "--env", "CONF", "--entrypoint", "sh", IMAGE, "-c",
            'printf "%s\\n" "$CONF" > /tmp/c && squid -k parse -f /tmp/c 2>&1; echo "status=$?"',
            env={"CONF": golden.read_text()},
        ).stdout  # fmt: skip
        assert "status=0" in out, golden.name
        last = [line for line in golden.read_text().splitlines() if line.startswith("http_access")][-1]
        assert f"Processing: {last}" in out, golden.name  # parsed to the end
        problems = [
            line for line in out.splitlines() if any(w in line for w in ("ERROR", "FATAL", "Bungled"))
        ]
        assert problems == [], golden.name


def test_the_entrypoint_refuses_a_configuration_squid_would_half_accept(
    engine: DockerEngine, lab: Lab
) -> None:
    broken = render_squid_config(ProxySpec(allow=("a.test",))) + "acl bad dstdomain -n b.test .b.test\n"
    result = engine.run("run", "--rm", "--env", CONFIG_ENV, *squid_shape_args(), IMAGE,
                        env={CONFIG_ENV: broken}, check=False)  # fmt: skip
    assert result.returncode == 65
    assert "refusing to start" in result.stderr


@pytest.fixture
def squid(engine: DockerEngine, lab: Lab) -> Iterator[tuple[str, DockerEngine]]:
    spec = ProxySpec(allow=("*.resolve.test",), internal=("internal-ok.test", "internal-meta.test"))
    config = render_squid_config(spec) + f"dns_nameservers {lab.dns_ip}\n"
    name = f"lab-squid-{secrets.token_hex(3)}"
    engine.run(
        "run", "-d", "--name", name, "--label", f"{LAB_LABEL}=1", "--network", lab.network,
        "--add-host", f"internal-ok.test:{lab.web_ip}", "--add-host", "internal-meta.test:169.254.169.254",
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges", *squid_shape_args(),
        "--env", CONFIG_ENV, IMAGE,
        env={CONFIG_ENV: config},
    )  # fmt: skip
    try:
        wait_for(lambda: "Accepting" in engine.run("logs", name).stderr, 20, "the standalone squid")
        yield name, engine
    finally:
        engine.run("rm", "-f", name, check=False)


def squid_log(engine: DockerEngine, name: str) -> list[dict[str, str]]:
    out = engine.run("logs", name).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_an_internal_name_never_reaches_the_metadata_address(
    lab: Lab, squid: tuple[str, DockerEngine]
) -> None:
    name, engine = squid
    c = secrets.token_hex(4)
    curl = f"curl -s -o /dev/null -x http://{name}:3128"
    out = lab.control(
        f"{curl} -w 'ok=%{{http_code}}\\n' http://internal-ok.test/ok-{c}; "
        f"{curl} -w 'meta=%{{http_code}}\\n' http://internal-meta.test/{c}"
    )
    assert "ok=200" in out  # the control: an internal name to a private address passes
    assert "meta=403" in out
    assert lab.web_sees(f"/ok-{c}")
    reasons = {(e["host"], e["reason"]) for e in squid_log(engine, name)}
    assert ("internal-meta.test", "metadata_address") in reasons


def test_a_refused_name_is_never_looked_up(lab: Lab, squid: tuple[str, DockerEngine]) -> None:
    name, _ = squid
    c = secrets.token_hex(6)
    curl = f"curl -s -o /dev/null -x http://{name}:3128"
    out = lab.control(
        f"{curl} -w 'refused=%{{http_connect}}' https://{c}.exfil.test/; echo /$?; "
        f"{curl} -w 'plain=%{{http_code}}\\n' http://{c}.exfil.test/; "
        f"{curl} -w 'control=%{{http_code}}\\n' http://ctl-{c}.resolve.test/"
    )
    # The SNI check is on: Squid answers a refused tunnel with its own TLS and a 403 page.
    assert "refused=200/60" in out  # a certificate nobody trusts, not a timeout
    assert "plain=403" in out
    # The control: an allowed name is looked up, at the lab's DNS server.
    wait_for(lambda: f"ctl-{c}.resolve.test" in lab.dns_queries(), 10, "the control's lookup")
    assert not any(q.startswith(c) for q in lab.dns_queries())


# --- Every range, secret pattern and credential header, refused by the real Squid ----------


def representative(network: str) -> str:
    """One address in a range: the range's own if it is one address, else its second."""
    net = ipaddress.ip_network(network)
    return str(net.network_address if net.num_addresses == 1 else net.network_address + 1)


# Every range of the shared list, and, written out here so that a range dropped from
# that list fails this test, the addresses the wall must refuse by name.
REQUIRED = {
    "169.254.169.254": "metadata", "169.254.170.2": "metadata", "100.100.100.200": "metadata",
    "168.63.129.16": "metadata", "fd00:ec2::254": "metadata", "fd20:ce::254": "metadata",
    "fe80::1": "metadata", "100.64.0.1": "never", "127.0.0.1": "never", "::1": "never", "0.0.0.0": "never",
    "10.1.2.3": "private", "172.16.0.1": "private", "192.168.1.1": "private", "fc00::1": "private",
}  # fmt: skip
RANGES = [(f"r{i}", r) for i, r in enumerate((*addresses.NEVER, *addresses.PRIVATE))] + [
    (f"q{i}", f"{a}/{32 if '.' in a else 128}") for i, a in enumerate(REQUIRED)
]
# A value of each secret shape the configuration refuses (checked against its pattern below).
SECRET_SAMPLES = {
    "sk-ant-[A-Za-z0-9_-]{20,}": "sk-ant-api03-" + "Q" * 24,
    "AKIA[0-9A-Z]{16}": "AKIA" + "Q" * 16,
    "gh[pousr]_[A-Za-z0-9]{36}": "ghs_" + "q" * 36,
    "github_pat_[A-Za-z0-9_]{22,}": "github_pat_" + "q" * 22,
    "glpat-[A-Za-z0-9_-]{20,}": "glpat-" + "q" * 20,
    "xox[abposr]-[A-Za-z0-9-]{10,}": "xoxb-" + "1" * 12,
    "AIza[0-9A-Za-z_-]{35}": "AIza" + "q" * 35,
    "sk_live_[0-9A-Za-z]{24,}": "sk_live_" + "q" * 24,
}


@pytest.fixture(scope="module")
def range_squid(engine: DockerEngine, lab: Lab) -> Iterator[str]:
    """A standalone sidecar whose allowed names (*.range.test) and internal names
    (*.irange.test) resolve, by its hosts file, to one address of every range in
    addresses.py; ok.irange.test is the lab web server (the control). It is on an
    IPv6 network of its own too: a Squid without IPv6 drops IPv6 answers before
    any rule sees them (and then connects nowhere), which would test nothing."""
    spec = ProxySpec(allow=("*.range.test",), internal=("*.irange.test",))
    hosts = [a for name, r in RANGES for h in (f"{name}.range.test", f"{name}.irange.test")
             for a in ("--add-host", f"{h}:{representative(r)}")]  # fmt: skip
    name = f"lab-squid-ranges-{secrets.token_hex(3)}"
    v6 = f"{name}-v6"
    engine.run("network", "create", "--internal", "--ipv6", "--subnet", f"fd42:{secrets.token_hex(2)}::/64",
               "--label", f"{LAB_LABEL}=1", v6)  # fmt: skip
    try:
        engine.run(
            "create", "--name", name, "--label", f"{LAB_LABEL}=1", "--network", v6, *hosts,
            "--add-host", f"ok.irange.test:{lab.web_ip}",
            "--cap-drop", "ALL", "--security-opt", "no-new-privileges", *squid_shape_args(),
            "--env", CONFIG_ENV, IMAGE,
            # Its resolver is the lab's (every other name NXDOMAIN at once): nothing is asked upstream.
            env={CONFIG_ENV: render_squid_config(spec) + f"dns_nameservers {lab.dns_ip}\n"},
        )  # fmt: skip
        engine.run("network", "connect", lab.network, name)
        engine.run("start", name)
        wait_for(lambda: "Accepting" in engine.run("logs", name).stderr, 20, "the standalone squid")
        assert "non-functional IPv6" not in engine.run("logs", name).stderr
        yield name
    finally:
        engine.run("rm", "-f", name, check=False)
        engine.run("network", "rm", v6, check=False)


def _kind(network: str) -> str:
    """What the wall must say of a range: metadata, never (reached), or private."""
    address = representative(network)
    if address in REQUIRED:
        return REQUIRED[address]
    return (
        "metadata" if network in addresses.METADATA else "never" if network in addresses.NEVER else "private"
    )


def _statuses(lab: Lab, squid: str, requests: dict[str, str]) -> dict[str, str]:
    """HTTP status of each named request (`curl` arguments), through the squid."""
    script = "; ".join(
        f"echo {key}=$(curl -s -m 8 -o /dev/null -w '%{{http_code}}' -x http://{squid}:3128 {args})"
        for key, args in requests.items()
    )
    return dict(line.split("=", 1) for line in lab.control(script).splitlines() if "=" in line)


def _reasons(engine: DockerEngine, squid: str) -> dict[str, str]:
    return {e["host"]: e["reason"] for e in squid_log(engine, squid)}


def test_every_range_is_refused_to_allowed_names_and_the_never_list_to_internal_ones(
    engine: DockerEngine, lab: Lab, range_squid: str
) -> None:
    never = [(name, r) for name, r in RANGES if _kind(r) != "private"]
    requests = {f"{name}_allowed": f"http://{name}.range.test/" for name, _ in RANGES}
    requests |= {f"{name}_internal": f"http://{name}.irange.test/" for name, _ in never}
    requests["control"] = "http://ok.irange.test/"
    got = _statuses(lab, range_squid, requests)
    assert got.pop("control") == "200"  # an internal name at a private address passes
    assert len(got) == len(requests) - 1
    assert got == dict.fromkeys(got, "403"), got
    # Squid writes its log as it goes, in blocks: wait for every request's line.
    wanted = {f"{name}.range.test" for name, _ in RANGES} | {f"{name}.irange.test" for name, _ in never}

    def logged() -> dict[str, str] | None:
        found = _reasons(engine, range_squid)
        return found if wanted <= set(found) else None

    reasons = wait_for(logged, 20, "every request in the log")
    for name, r in RANGES:
        expected = "metadata_address" if _kind(r) == "metadata" else "private_address"
        assert reasons[f"{name}.range.test"] == expected, r
        if _kind(r) != "private":
            assert reasons[f"{name}.irange.test"] == expected, r


def test_every_secret_shape_in_a_url_or_a_credential_header_is_refused(
    engine: DockerEngine, lab: Lab, range_squid: str
) -> None:
    for pattern, sample in SECRET_SAMPLES.items():
        assert re.fullmatch(pattern, sample), pattern
    assert set(SECRET_SAMPLES) == set(SECRET_PATTERNS)
    requests = {}
    for i, sample in enumerate(SECRET_SAMPLES.values()):
        requests[f"url{i}"] = f"'http://ok.irange.test/?t={sample}'"
        for j, header in enumerate(CREDENTIAL_HEADERS):
            requests[f"h{i}_{j}"] = f"-H '{header}: {sample}' http://ok.irange.test/"
    # The controls: the same requests with values of no secret's shape pass.
    requests["url_control"] = "'http://ok.irange.test/?t=not-a-secret'"
    for j, header in enumerate(CREDENTIAL_HEADERS):
        requests[f"h_control_{j}"] = f"-H '{header}: not-a-secret' http://ok.irange.test/"
    got = _statuses(lab, range_squid, requests)
    controls = {k: got.pop(k) for k in list(got) if "control" in k}
    assert len(controls) == 1 + len(CREDENTIAL_HEADERS)
    assert controls == dict.fromkeys(controls, "200"), controls
    assert len(got) == len(SECRET_SAMPLES) * (1 + len(CREDENTIAL_HEADERS))
    assert got == dict.fromkeys(got, "403"), got
    assert not any(lab.web_saw(sample) for sample in SECRET_SAMPLES.values())
