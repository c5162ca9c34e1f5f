"""The sidecar's port guard, for proxies that do not enforce ports themselves
(Pipelock: it checks the host of every request but lets a CONNECT go to any
port of an allowed host; Squid refuses other ports itself and needs no guard).
This firewall in the sidecar's
network namespace lets it open TCP connections only to HTTPS (443), HTTP (80)
and the ssh ports of the agent's ssh entries. DNS (UDP 53) stays open for
Pipelock's own lookups; CONNECT is TCP, so it cannot use that port.

Applied from the agent image (which carries iptables) in a short-lived
container that joins the sidecar's network namespace with NET_ADMIN alone."""

from __future__ import annotations

from claude_bottle.engine.client import Engine
from claude_bottle.engine.labels import label_args
from claude_bottle.plan.launch_plan import LaunchPlan


def allowed_tcp_ports(plan: LaunchPlan) -> tuple[int, ...]:
    return tuple(sorted({80, *plan.proxy_spec().connect_ports}))


def guard_rules(plan: LaunchPlan) -> str:
    """iptables-restore input for the sidecar's namespace (pure)."""
    ports = ",".join(str(p) for p in allowed_tcp_ports(plan))
    return "\n".join([
        "*filter",
        ":INPUT ACCEPT [0:0]",
        ":FORWARD DROP [0:0]",
        ":OUTPUT DROP [0:0]",
        "-A OUTPUT -o lo -j ACCEPT",
        "-A OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
        "-A OUTPUT -p udp --dport 53 -j ACCEPT",
        f"-A OUTPUT -p tcp -m multiport --dports {ports} -j ACCEPT",
        "-A OUTPUT -p tcp -j REJECT --reject-with tcp-reset",
        "-A OUTPUT -j REJECT",
        "COMMIT",
        "",
    ])  # fmt: skip


def guard_args(plan: LaunchPlan, sidecar: str, labels: dict[str, str]) -> tuple[str, ...]:
    return (
        "run", "--rm", "-i", "--network", f"container:{sidecar}",
        *label_args(labels),
        "--user", "0", "--cap-drop", "ALL", "--cap-add", "NET_ADMIN",
        "--security-opt", "no-new-privileges",
        "--entrypoint", "iptables-restore",
        plan.image,
    )  # fmt: skip


def apply_guard(engine: Engine, plan: LaunchPlan, sidecar: str, labels: dict[str, str]) -> None:
    if plan.proxy.enforces_ports:
        return
    engine.run(*guard_args(plan, sidecar, labels), stdin=guard_rules(plan).encode(),
               what="cannot install the sidecar's port guard")  # fmt: skip
