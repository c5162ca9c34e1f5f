"""The bottle's networks, one context manager each."""

from __future__ import annotations

import contextlib
import ipaddress
import random
from contextlib import AbstractContextManager
from typing import Any, Protocol

from claude_bottle.engine.api import Engine, NetworkSpec
from claude_bottle.errors import AddressConflict, NameConflict, UsageError
from claude_bottle.plan.subnets import (
    DEFAULT_SUBNETS,
    SHARED_EGRESS,
    SUBNET_PREFIX,
    SubnetPoolExhausted,
    pick_subnets,
)
from claude_bottle.tracking import labels as L

SUBNET_TRIES = 12


class Successor(Protocol):
    """Who removes a session's objects after the CLI's end (the watchdog)."""

    def will_remove(self) -> bool: ...


def leaves_it(successor: Successor | None) -> bool:
    """Whether a resource leaves its removal to `successor` (which says so only
    at an orderly end: after a failure or a signal everything is removed before
    the CLI returns, as the interrupted session's last line says)."""
    return successor is not None and successor.will_remove()


class BottleNetwork(AbstractContextManager["BottleNetwork"]):
    """The session's internal network (no route out), made for one session and
    removed with it (by `leave_to` when it will, once the session is over).
    It holds only the agent and its sidecar, has no IPv6, and takes a small
    subnet from the bottle tool's own range."""

    def __init__(
        self,
        engine: Engine,
        name: str,
        labels: dict[str, str],
        pool: ipaddress.IPv4Network | None = None,
        leave_to: Successor | None = None,
        adopted: ipaddress.IPv4Network | None = None,
    ) -> None:
        """`adopted`: the subnet of a network made already (a warm pool's), which
        this one takes over: made by another, removed as this one's own."""
        self.engine = engine
        self.name = name
        self.labels = labels
        self.pool = pool or ipaddress.IPv4Network(DEFAULT_SUBNETS)
        self.subnet: ipaddress.IPv4Network | None = adopted
        self.leave_to = leave_to

    def spec(self, subnet: ipaddress.IPv4Network) -> NetworkSpec:
        return NetworkSpec(self.name, self.labels, internal=True, subnet=subnet)

    def __enter__(self) -> BottleNetwork:
        if self.subnet is not None:
            return self
        # A subnet another network took is refused by the engine: try another.
        for subnet in pick_subnets(self.pool, SUBNET_TRIES, random.SystemRandom()):
            try:
                self.engine.create_network(self.spec(subnet))
            except AddressConflict:
                continue
            self.subnet = subnet
            return self
        raise SubnetPoolExhausted(
            f"no free /{SUBNET_PREFIX} subnet found in {self.pool} after {SUBNET_TRIES} tries: too many "
            "bottles (or other networks) use that range; end some, or name a larger range with "
            "CLAUDE_BOTTLE_SUBNETS"
        )

    def __exit__(self, *exc: Any) -> None:
        if not leaves_it(self.leave_to):
            self.engine.remove_network(self.name)


class SharedEgressNetwork(AbstractContextManager["SharedEgressNetwork"]):
    """The sidecars' way out: one long-lived network shared by every bottle's
    sidecar (no agent ever joins it), created on first use and never removed by
    a session. Sidecars on it can reach each other, but no agent can ask its
    sidecar to: a sidecar forwards only to allowlisted names, and another
    sidecar's name or address is never one of them."""

    name = SHARED_EGRESS

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __enter__(self) -> SharedEgressNetwork:
        if self.engine.network_exists(self.name):
            return self
        labels = L.for_role({}, L.ROLE_SHARED_EGRESS_NET)
        with contextlib.suppress(NameConflict):  # another session made it meanwhile
            self.engine.create_network(NetworkSpec(self.name, labels, internal=False))
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


class ExistingNetwork(AbstractContextManager["ExistingNetwork"]):
    """A network the user named for the egress side: checked, used, never removed."""

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.name = name

    def __enter__(self) -> ExistingNetwork:
        if not self.engine.network_exists(self.name):
            raise UsageError(
                f"egress network '{self.name}' does not exist "
                "(named by egress.network or CLAUDE_BOTTLE_EGRESS_NETWORK)"
            )
        return self

    def __exit__(self, *exc: Any) -> None:
        return None
