"""The bottle's networks, one context manager each."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from claude_bottle import labels as L
from claude_bottle.engine import Engine
from claude_bottle.errors import UsageError

INHIBIT_IPV4 = "com.docker.network.bridge.inhibit_ipv4"


class BottleNetwork(AbstractContextManager["BottleNetwork"]):
    """A network made for one session and removed with it.

    The internal one (`--internal`: no route out) holds only the agent and its
    sidecar; the egress one gives the sidecar its way out. Neither has IPv6.
    """

    def __init__(self, engine: Engine, name: str, labels: dict[str, str], *, internal: bool) -> None:
        self.engine = engine
        self.name = name
        self.labels = labels
        self.internal = internal

    def create_args(self) -> tuple[str, ...]:
        return (
            "network", "create", "--driver", "bridge",
            # The internal bridge gets no host address: the agent cannot reach
            # services on the host through the gateway (containers still see each other).
            *(("--internal", "--opt", f"{INHIBIT_IPV4}=true") if self.internal else ()),
            *L.label_args(self.labels),
            self.name,
        )  # fmt: skip

    def __enter__(self) -> BottleNetwork:
        self.engine.run(*self.create_args(), what=f"cannot create network {self.name}")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.engine.run("network", "rm", self.name, what=f"cannot remove network {self.name}")


class ExistingNetwork(AbstractContextManager["ExistingNetwork"]):
    """A network the user named for the egress side: checked, used, never removed."""

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.name = name

    def __enter__(self) -> ExistingNetwork:
        if not self.engine.ok("network", "inspect", "--format", "{{.Name}}", self.name):
            raise UsageError(
                f"egress network '{self.name}' does not exist "
                "(named by egress.network or CLAUDE_BOTTLE_EGRESS_NETWORK)"
            )
        return self

    def __exit__(self, *exc: Any) -> None:
        return None
