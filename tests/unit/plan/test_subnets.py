"""The bottles' address space (pure)."""

from __future__ import annotations

import ipaddress
import random

import pytest

from claude_bottle.errors import UsageError
from claude_bottle.plan.subnets import DEFAULT_SUBNETS, pick_subnets, subnet_pool
from claude_bottle.settings import Settings


def test_the_default_pool_holds_thousands_of_bottles() -> None:
    pool = subnet_pool(Settings())
    assert pool == ipaddress.IPv4Network(DEFAULT_SUBNETS)
    assert 2 ** (28 - pool.prefixlen) == 8192


def test_picks_are_distinct_aligned_subnets_inside_the_pool() -> None:
    pool = ipaddress.IPv4Network("10.200.0.0/24")
    picks = pick_subnets(pool, 20, random.Random(1))
    assert len(picks) == 16  # all there are
    assert len(set(picks)) == 16
    assert all(p.prefixlen == 28 and p.subnet_of(pool) for p in picks)


@pytest.mark.parametrize("raw", ["10.0.0.0/29", "not-a-range", "10.0.0.1/16", "fd00::/64"])
def test_a_pool_that_cannot_hold_a_bottle_is_refused(raw: str) -> None:
    with pytest.raises(UsageError, match="CLAUDE_BOTTLE_SUBNETS must be an IPv4 range of /28 or larger"):
        subnet_pool(Settings(subnets=raw))
