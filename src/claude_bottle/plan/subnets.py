"""The bottles' networks: their address space and the shared egress network's name (pure)."""

from __future__ import annotations

import ipaddress
import random

from claude_bottle.errors import ClaudeBottleError, UsageError
from claude_bottle.settings import Settings

# Bottles' internal networks take small subnets from a range of their own, so
# that many bottles fit on one engine and none takes address space from
# Docker's default pools, which every other user of the engine needs. The
# default is the benchmarking range (RFC 2544), rarely routed anywhere.
DEFAULT_SUBNETS = "198.18.0.0/15"
SUBNET_PREFIX = 28  # 16 addresses: the agent, its sidecar, and room
# The sidecars' way out, shared by every bottle (no agent joins it).
SHARED_EGRESS = "claude-bottle-egress"


class SubnetPoolExhausted(ClaudeBottleError):
    pass


def subnet_pool(settings: Settings) -> ipaddress.IPv4Network:
    raw = settings.subnets or DEFAULT_SUBNETS
    try:
        pool = ipaddress.IPv4Network(raw, strict=True)
    except ValueError:
        pool = None
    if pool is None or pool.prefixlen > SUBNET_PREFIX:
        raise UsageError(
            f"CLAUDE_BOTTLE_SUBNETS must be an IPv4 range of /{SUBNET_PREFIX} or larger, like "
            f"{DEFAULT_SUBNETS}; got '{raw}'"
        )
    return pool


def pick_subnets(pool: ipaddress.IPv4Network, count: int, rng: random.Random) -> list[ipaddress.IPv4Network]:
    """Up to `count` distinct /28 subnets of `pool`, in random order (pure given rng)."""
    total = 2 ** (SUBNET_PREFIX - pool.prefixlen)
    picks = rng.sample(range(total), min(count, total))
    size = 2 ** (32 - SUBNET_PREFIX)
    return [ipaddress.IPv4Network((int(pool.network_address) + i * size, SUBNET_PREFIX)) for i in picks]
