"""Where a sidecar may never connect, and where only `egress.internal` hosts may:
one list, read by both proxies' configurations, the Docker floor under the
proxy (bottle/floor.py) and the Kubernetes sidecars' NetworkPolicies.

NEVER: no name reaches these, `egress.internal` included. Link-local (the
cloud metadata services live there: 169.254.169.254, ECS task credentials at
169.254.170.2, Oracle and OpenStack's), the other metadata addresses outside it
(Alibaba's 100.100.100.200 is in CGNAT, Azure's WireServer 168.63.129.16, AWS's
and GCP's IPv6 ones), CGNAT as a whole, loopback, "this network", multicast and
reserved, the benchmarking range (198.18.0.0/15, where bottles' own internal
networks are carved from), the IETF protocol block, and the IPv6 forms that
embed an IPv4 address (NAT64, Teredo, 6to4), which would carry any of the
above past a v4-only rule.

The documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24,
2001:db8::/32) are left as public on purpose: nothing real is ever there, so a
test lab can stand in for the internet on them.

PRIVATE: refused to ordinary names, opened only for `egress.internal` hosts
(internal git servers, model gateways on a private network).

Never ::ffff:0:0/96 in a Squid `dst` list: Squid stores IPv4 addresses
v4-mapped, so that entry would mean "every IPv4 address"; a mapped address is
an IPv4 address to every check here."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# The metadata services, named for the summary's reason (all of them are in NEVER).
METADATA = (
    "169.254.0.0/16",  # link-local: AWS, GCP, Azure IMDS at .169.254, ECS at .170.2, ...
    "fe80::/10",
    "100.100.100.200/32",  # Alibaba Cloud
    "168.63.129.16/32",  # Azure WireServer
    "fd00:ec2::254/128",  # AWS (IPv6)
    "fd20:ce::254/128",  # GCP (IPv6)
)
NEVER = (
    *METADATA,
    "0.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "192.0.0.0/24", "198.18.0.0/15", "224.0.0.0/3",
    "::/128", "::1/128", "64:ff9b::/96", "64:ff9b:1::/48", "2001::/32", "2002::/16", "ff00::/8",
)  # fmt: skip
PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")


def networks(ranges: Iterable[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(r) for r in ranges)


def v4(ranges: Iterable[str]) -> tuple[ipaddress.IPv4Network, ...]:
    return tuple(n for n in networks(ranges) if isinstance(n, ipaddress.IPv4Network))


def v6(ranges: Iterable[str]) -> tuple[ipaddress.IPv6Network, ...]:
    return tuple(n for n in networks(ranges) if isinstance(n, ipaddress.IPv6Network))


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def classify(text: str) -> str | None:
    """Which list an address is on: "metadata", "never", "private" or "public"
    (None for text that is not an address)."""
    address = _address(text)
    if address is None:
        return None
    for kind, ranges in (("metadata", METADATA), ("never", NEVER), ("private", PRIVATE)):
        if any(address in n for n in networks(ranges) if n.version == address.version):
            return kind
    return "public"


def never_reachable(text: str) -> bool:
    """True for an address in NEVER (and for anything that is not an address)."""
    address = _address(text)
    return address is None or any(address in n for n in networks(NEVER) if n.version == address.version)


def openable_for_internal(text: str) -> bool:
    """True for an address an `egress.internal` host may have: not in NEVER."""
    return not never_reachable(text)
