"""Host-name patterns for egress allowlists: validation and matching (pure)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from claude_bottle.public_suffix import suffix_under

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST_RE = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")


def host_pattern_problem(entry: str) -> str | None:
    """Why `entry` is not a valid allowlist entry, or None when it is.

    An entry is a host name (`example.com`) or a wildcard (`*.example.com`, which
    covers example.com itself and every subdomain), never a wildcard on a public
    suffix or over one (`*.com`, `*.co.uk`, `*.github.io`, `*.amazonaws.com`).
    The entry is compared in
    lower case; schemes, ports, paths and bare `*` are refused so that what the
    user reads in the manifest is exactly what the proxy enforces.
    """
    if not entry.strip():
        return "an empty host name"
    if entry != entry.strip():
        return "surrounding spaces"
    if "://" in entry:
        return "a URL scheme (write only the host name)"
    if "/" in entry:
        return "a path (write only the host name)"
    if ":" in entry:
        return "a port (ports are not part of an entry: 443 for HTTPS; ssh ports from ssh entries)"
    if entry == "*":
        return "a bare '*' (that would allow every host)"
    name = entry[2:] if entry.startswith("*.") else entry
    if "*" in name:
        return "a '*' other than a leading '*.'"
    if len(name) > 253 or not _HOST_RE.match(name.lower()):
        return "characters or labels that cannot form a host name"
    suffix = suffix_under(name) if entry.startswith("*.") else None
    if suffix is not None:
        at = "on" if suffix == name.lower() else "over"
        return (
            f"a wildcard {at} the public suffix '{suffix}' (anyone can register names under it; "
            "list the exact hosts instead)"
        )
    return None


def normalize_host(name: str) -> str:
    return name.lower().rstrip(".")


def host_matches(host: str, pattern: str) -> bool:
    """True when `host` is allowed by `pattern` (same semantics as host_pattern_problem)."""
    host = normalize_host(host)
    pattern = pattern.lower()
    if pattern.startswith("*."):
        apex = pattern[2:]
        return host == apex or host.endswith("." + apex)
    return host == pattern


def any_host_matches(host: str, patterns: tuple[str, ...]) -> bool:
    return any(host_matches(host, p) for p in patterns)


def host_of_url(url: str) -> str | None:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.lower().rstrip(".") if host else None
