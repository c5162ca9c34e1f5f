from __future__ import annotations

import pytest

from claude_bottle.session.dnsleak import dns_leak_verdict, engine_leaks_dns, loopback_resolvers


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
