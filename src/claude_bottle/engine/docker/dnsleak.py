"""CVE-2024-29018: before Docker 23.0.11, 25.0.5 and 26.0.0, a container on an
`--internal` network could still resolve names through the engine's embedded
DNS, which forwarded queries from the host's namespace: a way to leak data in
DNS names past the egress proxy. When the host's resolver is on a loopback
address the forwarded queries reach it directly, which is the leaking case the
advisory describes; a bottle refuses to start then, and warns otherwise (pure)."""

from __future__ import annotations

import ipaddress
import re

FIXED_IN = "23.0.11, 25.0.5 or 26.0.0"


def parse_version(version: str) -> tuple[int, int, int] | None:
    m = re.match(r"^v?(\d+)\.(\d+)(?:\.(\d+))?", version.strip())
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def engine_leaks_dns(version: str) -> bool:
    v = parse_version(version)
    if v is None:
        return False  # unknown (e.g. a development build): do not guess
    major = v[0]
    if major >= 26:
        return False
    if major == 25:
        return v < (25, 0, 5)
    if major == 23:
        return v < (23, 0, 11)
    return True  # 24.x never got the fix; 22 and older neither


def loopback_resolvers(resolv_conf: str) -> list[str]:
    out = []
    for line in resolv_conf.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            try:
                if ipaddress.ip_address(fields[1].split("%")[0]).is_loopback:
                    out.append(fields[1])
            except ValueError:
                continue
    return out


def dns_leak_verdict(version: str, resolv_conf: str | None) -> tuple[str, str] | None:
    """("refuse" | "warn", message), or None when the engine is not affected.

    `resolv_conf` is the engine host's /etc/resolv.conf, or None when the engine
    is not on this host (then it cannot be read, and only a warning is given).
    """
    if not engine_leaks_dns(version):
        return None
    advice = f"upgrade the Docker engine to {FIXED_IN} or later"
    loopback = loopback_resolvers(resolv_conf) if resolv_conf is not None else []
    if loopback:
        return (
            "refuse",
            f"this Docker engine ({version}) leaks DNS from internal networks (CVE-2024-29018) and this "
            f"host's resolver is on a loopback address ({', '.join(loopback)}), so an agent could send "
            f"data out in DNS names past the egress proxy; {advice}",
        )
    where = (
        "its host's resolver cannot be checked from here (the engine is not on this host)"
        if resolv_conf is None
        else "the host's resolver is not on loopback, the case that leaks"
    )
    return (
        "warn",
        f"warning: this Docker engine ({version}) predates the fix for CVE-2024-29018 (DNS from internal "
        f"networks); {where}, but {advice}",
    )
