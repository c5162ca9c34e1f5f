"""The seam between a bottle and its egress proxy.

A backend knows its image, renders its configuration from a `ProxySpec` (pure),
says how the agent probes it for readiness, and turns its audit log into the
shared `EgressEvent` model. The sidecar resource, the networks, the agent and
the summary know nothing else of which proxy runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, ClassVar, Literal, cast

from claude_bottle.proxies.credentials import SSH_AGENT_PORT, Injection
from claude_bottle.proxies.events import EgressEvent

# What a readiness probe asks for through the proxy: a name that is never in an
# allowlist and never resolved (a refused name is refused before any lookup).
READY_HOST = "claude-bottle-ready.invalid"

# How a connection the floor under the proxy (bottle/floor.py) refused reads in a
# proxy's dial error: the floor answers with an ICMP "protocol unreachable",
# which a TCP connect reports as ENOPROTOOPT and gets from nothing else. So a
# proxy's log tells the floor's refusals from a far end that is down.
FLOOR_REFUSED = "protocol not available"


@dataclass(frozen=True)
class ProxySpec:
    """Everything a proxy's configuration is made from (pure, no secrets)."""

    allow: tuple[str, ...]
    internal: tuple[str, ...] = ()
    # (host, port) of each ssh entry: a tunnel to an ssh port goes to its own hosts only.
    ssh_routes: tuple[tuple[str, int], ...] = ()
    dlp: Literal["block", "warn", "off"] = "block"
    sni: bool = True
    # Hosts that must receive credentials in headers (the model endpoint named
    # by ANTHROPIC_BASE_URL): header DLP is not applied to requests to them.
    credential_hosts: tuple[str, ...] = ()
    # Those of credential_hosts named by an http:// URL: their requests, the
    # credentials in them included, cross the proxy in the clear.
    plain_credential_hosts: tuple[str, ...] = ()
    # Hosts the sidecar adds a credential for (proxies/credentials.py), each on a
    # port of its own; their values are never here (they arrive at launch).
    injections: tuple[Injection, ...] = ()
    # The sidecar holds ssh keys in an ssh-agent offered on SSH_AGENT_PORT.
    ssh_agent: bool = False

    @property
    def ssh_ports(self) -> tuple[int, ...]:
        return tuple(sorted({port for _, port in self.ssh_routes}))

    def ssh_hosts(self, port: int) -> tuple[str, ...]:
        """The ssh hosts named with `port` (a tunnel to it goes to them alone)."""
        return tuple(dict.fromkeys(host for host, p in self.ssh_routes if p == port))

    @property
    def connect_ports(self) -> tuple[int, ...]:
        """Where a CONNECT tunnel may go: HTTPS and the agent's ssh ports."""
        return tuple(sorted({443, *self.ssh_ports}))

    def approving(self, hosts: tuple[str, ...]) -> ProxySpec:
        """The same spec with hosts approved while the bottle runs: ordinary
        allowed hosts, rendered by the same rules as `allow` (so a name that
        resolves to a private or never-reached address is still refused)."""
        return replace(self, allow=tuple(dict.fromkeys(self.allow + hosts)))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProxySpec:
        def strings(key: str) -> tuple[str, ...]:
            return tuple(str(v) for v in data.get(key) or ())

        routes = tuple((str(host), int(port)) for host, port in data.get("ssh_routes") or ())
        dlp = str(data.get("dlp", "block"))
        return cls(
            allow=strings("allow"), internal=strings("internal"), ssh_routes=routes,
            dlp=cast(Literal["block", "warn", "off"], dlp if dlp in ("block", "warn", "off") else "block"),
            sni=bool(data.get("sni", True)), credential_hosts=strings("credential_hosts"),
            plain_credential_hosts=strings("plain_credential_hosts"),
        )  # fmt: skip


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
class LiveReload:
    """How a running proxy takes a new configuration without dropping the
    connections it holds (pure; bottle/approval.py applies it from the engine's
    side, never from the bottle). Either a script run in the sidecar as its
    user, fed the configuration on its stdin, whose last line is `done` once the
    proxy runs it; or a file put over the one the proxy watches, after which a
    line of its log holds `logged` (or one of `refused`)."""

    script: tuple[str, ...] = ()
    done: str = ""
    file_path: str = ""
    logged: str = ""
    refused: tuple[str, ...] = ()


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
    # ports; False means the floor (bottle/floor.py) must enforce them.
    enforces_ports: ClassVar[bool]
    delivery: ClassVar[ConfigDelivery]

    @abstractmethod
    def default_image(self) -> str: ...

    # Whether the proxy can add a credential at the sidecar (Injection).
    injects: ClassVar[bool] = False

    @abstractmethod
    def render_config(self, spec: ProxySpec) -> str:
        """The configuration (no secret in it: it may travel in the clear)."""

    def secret_env(
        self, spec: ProxySpec, credentials: Mapping[int, str], ssh_keys: Sequence[bytes] = ()
    ) -> dict[str, str]:
        """The sidecar's secret variables: the header values (`credentials`, by an
        injection's port) the proxy adds, and the private keys its ssh-agent
        holds. Handed over like the agent's secrets (a proxy that `injects`
        must take them: no other does)."""
        return {}

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

    def live_reload(self) -> LiveReload | None:
        """How it takes a new configuration while it runs, or None if it cannot."""
        return None

    def hand_in(
        self, spec: ProxySpec, credentials: Mapping[int, str]
    ) -> tuple[tuple[str, ...], bytes] | None:
        """How a running sidecar (a warm pool's, started with none) is given the
        header values it adds: a script run in it as its user and its stdin,
        after which `live_reload` makes the proxy read them; None if it cannot."""
        return None

    def proxy_url(self, address: str) -> str:
        return f"http://{address}:{self.port}"

    def ssh_port(self, spec: ProxySpec) -> int:
        """Where the agent's ssh tunnels (its ssh config's ProxyCommand) go."""
        return self.port

    def ports(self, spec: ProxySpec) -> tuple[int, ...]:
        """Every port the agent reaches the proxy on."""
        agent = (SSH_AGENT_PORT,) if spec.ssh_agent else ()
        return tuple(sorted({self.port, self.ssh_port(spec), *agent, *(i.port for i in spec.injections)}))
