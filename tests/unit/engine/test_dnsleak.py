from __future__ import annotations

import json

import pytest

from claude_bottle.engine.docker.dnsleak import dns_leak_verdict, engine_leaks_dns, loopback_resolvers
from claude_bottle.engine.docker.endpoint import engine_endpoint


@pytest.mark.parametrize(
    ("version", "leaks"),
    [
        ("20.10.24+dfsg1", True),
        ("23.0.10", True),
        ("23.0.11", False),
        ("24.0.9", True),
        ("25.0.4", True),
        ("25.0.5", False),
        ("26.0.0", False),
        ("28.2.2", False),
        ("dev", False),
    ],
)
def test_engine_versions(version: str, leaks: bool) -> None:
    assert engine_leaks_dns(version) is leaks


def test_loopback_resolvers() -> None:
    conf = "# comment\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver ::1\noptions edns0\n"
    assert loopback_resolvers(conf) == ["127.0.0.53", "::1"]


def test_refuses_a_leaking_engine_with_a_loopback_resolver() -> None:
    verdict = dns_leak_verdict("20.10.24", "nameserver 127.0.0.53\n")
    assert verdict is not None
    assert verdict[0] == "refuse"
    assert "CVE-2024-29018" in verdict[1]
    assert "upgrade the Docker engine to 23.0.11, 25.0.5 or 26.0.0 or later" in verdict[1]


def test_warns_otherwise_and_is_silent_when_fixed() -> None:
    assert dns_leak_verdict("20.10.24", "nameserver 10.255.255.53\n")[0] == "warn"  # type: ignore[index]
    assert dns_leak_verdict("20.10.24", None)[0] == "warn"  # type: ignore[index]
    assert dns_leak_verdict("26.1.0", "nameserver 127.0.0.53\n") is None


SOCKET = "unix:///var/run/docker.sock"
TCP = "tcp://10.0.0.2:2375"


def _inspect(host: str) -> str:
    return json.dumps([{"Name": "x", "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": False}}}])


@pytest.mark.parametrize(
    ("context_inspect", "environ", "endpoint"),
    [
        pytest.param(_inspect(SOCKET), {}, SOCKET, id="default"),
        # A docker context (or DOCKER_HOST) naming an engine elsewhere: this
        # host's /etc/resolv.conf says nothing about that engine's host.
        pytest.param(_inspect("ssh://ci@build.example"), {}, "ssh://ci@build.example", id="context"),
        pytest.param(_inspect(TCP), {"DOCKER_HOST": TCP}, TCP, id="docker-host"),
        pytest.param("", {"DOCKER_HOST": TCP}, TCP, id="cli-without-contexts"),
        pytest.param("[]", {}, SOCKET, id="cli-without-contexts-nor-docker-host"),
    ],
)
def test_the_engine_endpoint_comes_from_the_cli_s_current_context(
    context_inspect: str, environ: dict[str, str], endpoint: str
) -> None:
    assert engine_endpoint(context_inspect, environ) == endpoint


def test_an_engine_elsewhere_is_warned_about_without_a_verdict_on_its_resolver() -> None:
    verdict = dns_leak_verdict("20.10.24", None)
    assert verdict is not None
    assert verdict[0] == "warn"
    assert "its host's resolver cannot be checked from here (the engine is not on this host)" in verdict[1]
    assert "not on loopback" not in verdict[1]
