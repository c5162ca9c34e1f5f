"""The Kubernetes engine's settings, each with its environment name beside it
(as in claude_bottle.settings, into which they move when the engines meet)."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from claude_bottle.errors import UsageError


def _env(name: str, default: object = None) -> Any:
    return field(default=default, metadata={"env": name})


# The sidecars' way out: web ports and ssh, as Squid's own port rules allow.
DEFAULT_EGRESS_PORTS = (22, 80, 443)
DEFAULT_START_TIMEOUT = 180.0


@dataclass(frozen=True)
class KubernetesSettings:
    # Both default to the kubeconfig's current context and that context's namespace.
    context: str | None = _env("CLAUDE_BOTTLE_K8S_CONTEXT")
    namespace: str | None = _env("CLAUDE_BOTTLE_K8S_NAMESPACE")
    # Ranges the sidecars must not reach, beyond the ones found in the cluster
    # (pod ranges of the nodes, service ranges, node and API server addresses).
    exclude_cidrs: str | None = _env("CLAUDE_BOTTLE_K8S_EXCLUDE_CIDRS")
    egress_ports: str | None = _env("CLAUDE_BOTTLE_K8S_EGRESS_PORTS")
    pull_policy: str | None = _env("CLAUDE_BOTTLE_K8S_PULL_POLICY")
    start_timeout: str | None = _env("CLAUDE_BOTTLE_K8S_START_TIMEOUT")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> KubernetesSettings:
        env = os.environ if environ is None else environ
        return cls(**{f.name: env.get(f.metadata["env"]) or None for f in fields(cls)})

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


ENVIRONMENT: dict[str, str] = {f.name: f.metadata["env"] for f in fields(KubernetesSettings)}
