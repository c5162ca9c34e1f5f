"""The seam between a bottle and its egress proxy.

A backend knows its image, renders its configuration from a `ProxySpec` (pure),
says how the agent probes it for readiness, and turns its audit log into the
shared `EgressEvent` model. The sidecar resource, the networks, the agent and
the summary know nothing else of which proxy runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Literal

from claude_bottle.proxies.events import EgressEvent

# What a readiness probe asks for through the proxy: a name that is never in an
# allowlist and never resolved (a refused name is refused before any lookup).
READY_HOST = "claude-bottle-ready.invalid"

# How a connection the port guard (bottle/port_guard.py) refused reads in a
# proxy's dial error: the guard answers with an ICMP "protocol unreachable",
# which a TCP connect reports as ENOPROTOOPT and gets from nothing else. So a
# proxy's log tells the guard's refusals from a far end that is down.
GUARD_REFUSED = "protocol not available"
# The cloud metadata addresses: the guard refuses them even to a name in
# `egress.internal`, whatever the proxy let through.
METADATA_ADDRESSES = ("169.254.169.254",)


@dataclass(frozen=True)
class ProxySpec:
    """Everything a proxy's configuration is made from (pure, no secrets)."""

    allow: tuple[str, ...]
    internal: tuple[str, ...] = ()
    ssh_ports: tuple[int, ...] = ()
    dlp: Literal["block", "warn", "off"] = "block"
    sni: bool = False
    # Hosts that must receive credentials in headers (the model endpoint named
    # by ANTHROPIC_BASE_URL): header DLP is not applied to requests to them.
    credential_hosts: tuple[str, ...] = ()
    # Those of credential_hosts named by an http:// URL: their requests, the
    # credentials in them included, cross the proxy in the clear.
    plain_credential_hosts: tuple[str, ...] = ()

    @property
    def connect_ports(self) -> tuple[int, ...]:
        """Where a CONNECT tunnel may go: HTTPS and the agent's ssh ports."""
        return tuple(sorted({443, *self.ssh_ports}))


@dataclass(frozen=True)
class Readiness:
    """How the agent knows the proxy answers: an HTTP status for a URL, asked
    either through the proxy (`via_proxy`) or of the proxy itself."""

    url: str
    status: int
    via_proxy: bool


@dataclass(frozen=True)
class ConfigDelivery:
    """How the configuration reaches the container, never through the CLI's
    host disk (remote engines work): as an environment variable read by the
    image's entrypoint, or as a file the engine places in the container before
    its command starts."""

    env_var: str | None = None
    file_path: str | None = None


@dataclass(frozen=True)
class SidecarShape:
    """What a backend asks of its container beyond the sidecar's hardening."""

    read_only: bool = False
    tmpfs: tuple[tuple[str, str], ...] = ()  # (path, mount options)
    env: tuple[tuple[str, str], ...] = ()  # plain values, nothing secret


class ProxyBackend(ABC):
    name: ClassVar[str]
    port: ClassVar[int]
    # True when the proxy itself refuses every port but 80, 443 and the ssh
    # ports; False means the port guard (bottle/port_guard.py) must enforce them.
    enforces_ports: ClassVar[bool]
    delivery: ClassVar[ConfigDelivery]

    @abstractmethod
    def default_image(self) -> str: ...

    @abstractmethod
    def render_config(self, spec: ProxySpec) -> str: ...

    @abstractmethod
    def shape(self) -> SidecarShape:
        """The backend's own needs of its container."""

    @abstractmethod
    def command(self) -> tuple[str, ...]:
        """The container's command (empty: the image's own)."""

    @abstractmethod
    def readiness(self, address: str) -> Readiness: ...

    @abstractmethod
    def read_events(self, log: str) -> list[EgressEvent]: ...

    def refusal(self, spec: ProxySpec) -> str | None:
        """Why this proxy cannot carry a bottle of this spec (pure), or None."""
        return None

    def proxy_url(self, address: str) -> str:
        return f"http://{address}:{self.port}"
