"""The sidecar's port guard, for proxies that do not enforce ports themselves
(Pipelock: it checks the host of every request but lets a CONNECT go to any
port of an allowed host; Squid refuses other ports itself and needs no guard).
This firewall in the sidecar's network namespace lets it open TCP connections
only to HTTPS (443), HTTP (80) and the ssh ports of the agent's ssh entries,
and never to the cloud metadata address, even for a name in `egress.internal`
(Pipelock's `trusted_domains` admit every private address to those names).
DNS (UDP 53) stays open for Pipelock's own lookups; CONNECT is TCP, so it
cannot use that port.

A refused connection is answered with an ICMP "protocol unreachable", which
the proxy's dial reports as "protocol not available" (ENOPROTOOPT, which a TCP
connect gets from nothing else): so its log says which connections the guard
refused, and the summary names them `port_not_allowed` or `metadata_address`.
The agent gets the proxy's answer to a failed dial (Pipelock: 502): the guard
sees packets, not requests, and cannot answer one with a refusal of its own.

Applied from the agent image (which carries iptables) in a short-lived
container that joins the sidecar's network namespace with NET_ADMIN alone: an
engine that cannot share a namespace (Capabilities.shared_namespaces) cannot
guard, and a bottle whose proxy needs the guard is refused there
(`refuse_unguardable`)."""

from __future__ import annotations

from claude_bottle.engine import labels as L
from claude_bottle.engine.api import Capabilities, ContainerSpec, Engine, Limits
from claude_bottle.errors import ClaudeBottleError, UsageError
from claude_bottle.plan.launch_plan import LaunchPlan
from claude_bottle.proxies.base import METADATA_ADDRESSES, ProxySpec

LIMITS = Limits(pids=64, memory="128m")


def allowed_tcp_ports(spec: ProxySpec) -> tuple[int, ...]:
    return tuple(sorted({80, *spec.connect_ports}))


# The reply to a refused connection (see the module's docstring).
REFUSE = "REJECT --reject-with icmp-proto-unreachable"


def guard_rules(spec: ProxySpec) -> str:
    """iptables-restore input for the sidecar's namespace (pure)."""
    ports = ",".join(str(p) for p in allowed_tcp_ports(spec))
    # First, before loopback: the metadata address is refused on every path.
    metadata = [f"-A OUTPUT -d {address}/32 -p tcp -j {REFUSE}" for address in METADATA_ADDRESSES]
    return "\n".join([
        "*filter",
        ":INPUT ACCEPT [0:0]",
        ":FORWARD DROP [0:0]",
        ":OUTPUT DROP [0:0]",
        *metadata,
        "-A OUTPUT -o lo -j ACCEPT",
        "-A OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
        "-A OUTPUT -p udp --dport 53 -j ACCEPT",
        f"-A OUTPUT -p tcp -m multiport --dports {ports} -j ACCEPT",
        f"-A OUTPUT -p tcp -j {REFUSE}",
        "-A OUTPUT -j REJECT",
        "COMMIT",
        "",
    ])  # fmt: skip


def guard_spec(image: str, sidecar: str, labels: dict[str, str]) -> ContainerSpec:
    """The guard's container (pure): root with NET_ADMIN alone, no other capability."""
    return ContainerSpec(
        name=f"{sidecar}-guard",
        image=image,
        network="",  # it joins the sidecar's namespace instead
        labels=labels,
        limits=LIMITS,
        command=("iptables-restore",),
        user="0",
        cap_add=("NET_ADMIN",),
    )


def refuse_unguardable(plan: LaunchPlan, capabilities: Capabilities) -> None:
    """A proxy that needs the guard cannot run where the guard cannot."""
    if plan.proxy.enforces_ports or capabilities.shared_namespaces:
        return
    raise UsageError(
        f"bottles.{plan.bottle.name}: the {plan.proxy.name} egress proxy lets a tunnel reach any port, "
        f"and the port guard that limits it cannot run on the {capabilities.name} engine (it joins the "
        'sidecar\'s network namespace); use egress.proxy "squid", which enforces ports itself'
    )


def apply_guard(engine: Engine, plan: LaunchPlan, sidecar: str, sidecar_labels: dict[str, str]) -> None:
    if plan.proxy.enforces_ports:
        return
    # A container that removes itself: the session's labels, but not MANAGED.
    labels = L.for_role(L.unmanaged(sidecar_labels), L.ROLE_PORT_GUARD)
    spec = guard_spec(plan.image, sidecar, labels)
    result = engine.run_to_end(spec, stdin=guard_rules(plan.proxy_spec()).encode(), join=sidecar)
    if result.returncode != 0:
        raise ClaudeBottleError(
            f"cannot install the sidecar's port guard (exit {result.returncode}): {result.stderr.strip()}"
        )
