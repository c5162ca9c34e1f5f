"""The Kubernetes engine's settings, each with its environment name beside it
(read by claude_bottle.settings, the one settings object, and checked here)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, fields

from claude_bottle.errors import UsageError
from claude_bottle.settings import ENVIRONMENT as SETTINGS_ENVIRONMENT
from claude_bottle.settings import Settings

# The sidecars' way out: web ports and ssh, as Squid's own port rules allow.
DEFAULT_EGRESS_PORTS = (22, 80, 443)
DEFAULT_START_TIMEOUT = 180.0


@dataclass(frozen=True)
class KubernetesSettings:
    # Both default to the kubeconfig's current context and that context's namespace.
    context: str | None = None
    namespace: str | None = None
    # Ranges the sidecars must not reach, beyond the ones found in the cluster
    # (pod ranges of the nodes, service ranges, node and API server addresses).
    exclude_cidrs: str | None = None
    egress_ports: str | None = None
    pull_policy: str | None = None
    start_timeout: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> KubernetesSettings:
        """The `k8s_` fields of the one settings object (claude_bottle.settings)."""
        return cls(**{f.name: getattr(settings, f"k8s_{f.name}") for f in fields(cls)})

    def excluded_networks(self) -> tuple[ipaddress.IPv4Network, ...]:
        out = []
        for item in filter(None, (p.strip() for p in (self.exclude_cidrs or "").split(","))):
            try:
                out.append(ipaddress.IPv4Network(item, strict=False))
            except ValueError:
                raise UsageError(
                    f"{ENVIRONMENT['exclude_cidrs']}: '{item}' is not an IPv4 range (like 10.0.0.0/8)"
                ) from None
        return tuple(out)

    def ports(self) -> tuple[int, ...]:
        raw = self.egress_ports
        if not raw:
            return DEFAULT_EGRESS_PORTS
        try:
            ports = tuple(sorted({int(p) for p in raw.split(",") if p.strip()}))
        except ValueError:
            ports = ()
        if not ports or not all(0 < p < 65536 for p in ports):
            raise UsageError(
                f"{ENVIRONMENT['egress_ports']}: '{raw}' is not a list of ports (like 22,80,443)"
            )
        return ports

    def image_pull_policy(self) -> str:
        policy = self.pull_policy or "IfNotPresent"
        if policy not in ("IfNotPresent", "Never", "Always"):
            raise UsageError(f"{ENVIRONMENT['pull_policy']}: '{policy}' is not IfNotPresent, Never or Always")
        return policy

    def timeout(self) -> float:
        if not self.start_timeout:
            return DEFAULT_START_TIMEOUT
        try:
            value = float(self.start_timeout)
        except ValueError:
            value = -1.0
        if value <= 0:
            raise UsageError(
                f"{ENVIRONMENT['start_timeout']}: '{self.start_timeout}' is not a number of seconds"
            )
        return value


ENVIRONMENT: dict[str, str] = {
    f.name: SETTINGS_ENVIRONMENT[f"k8s_{f.name}"] for f in fields(KubernetesSettings)
}
