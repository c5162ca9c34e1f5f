"""The floor under the proxy: the sidecar's own way out, filtered below it.

The agent talks to its proxy directly, and a proxy is a large program (Squid
has a long CVE history): whatever an exploit of it gets should still find a
wall. So the sidecar's network namespace gets a firewall the sidecar itself
cannot change (it has no capabilities), for every proxy:

- out: TCP only to the egress ports (80, 443 and the agent's ssh ports), never
  to an address in addresses.NEVER (metadata services, link-local, loopback
  through the bridge, CGNAT, ...), and to a private address (addresses.PRIVATE:
  the engine's own networks, the host through their gateways, other sidecars,
  other bottles) only where it is an `egress.internal` host's, as resolved in
  the sidecar's namespace when the bottle starts, by the resolver the proxy
  uses; DNS only to that resolver (the engine's, on loopback); nothing else;
- in: only the agent's connections to the proxy's port, from the bottle's
  internal network (another sidecar on the shared egress network cannot use
  this one), and replies;
- IPv6: nothing but loopback.

An internal host's address that changes during the session stays closed (the
proxy still decides by name, and the floor refuses what it was not told of:
this also closes DNS rebinding below the proxy). A wildcard internal entry
names no address, so the floor opens none for it; the plan says so.

It is applied from the agent image (which carries iptables) by a short-lived
container that joins the sidecar's network namespace with NET_ADMIN alone, on
engines that can share a namespace (Capabilities.shared_namespaces: Docker).
Kubernetes sidecars get the same floor from NetworkPolicies
(engine/k8s/policies.py). A proxy that cannot limit ports itself (Pipelock)
is refused where the floor cannot run (`refuse_unguardable`)."""

from __future__ import annotations

import ipaddress

from claude_bottle import addresses
from claude_bottle.engine.api import Capabilities, ContainerSpec, Engine, Limits
from claude_bottle.errors import ClaudeBottleError, UsageError
from claude_bottle.plan.plan import LaunchPlan
from claude_bottle.proxies.base import ProxyBackend, ProxySpec
from claude_bottle.tracking import labels as L

LIMITS = Limits(pids=64, memory="128m", cpus=0.5)
# A refused TCP connection out is answered with an ICMP "protocol unreachable":
# the proxy's connect fails at once with an error nothing else gives it
# (ENOPROTOOPT, proxies/base.py FLOOR_REFUSED), so its log tells the floor's
# refusals apart. (Only on a TCP rule: without `-p tcp` a connect to an address
# of the namespace's own waits out its timeout instead.) Anything else out is
# refused with the kernel's usual "port unreachable".
REFUSE = "REJECT --reject-with icmp-proto-unreachable"
# Printed by the floor's script once both tables are in place: what it opened.
APPLIED = "claude-bottle-floor: applied; opened:"


def egress_ports(spec: ProxySpec) -> tuple[int, ...]:
    """The sidecar's TCP ports out: HTTP, HTTPS and the ssh ports."""
    return tuple(sorted({80, *spec.connect_ports}))


def internal_names(spec: ProxySpec) -> tuple[str, ...]:
    """The `egress.internal` hosts the floor can open: those named exactly."""
    return tuple(h.lower().rstrip(".") for h in spec.internal if not h.startswith("*."))


def _ranges(which: tuple[str, ...]) -> list[str]:
    return [str(n) for n in addresses.v4(which)]


def floor_script(spec: ProxySpec, proxy: ProxyBackend, internal_subnet: ipaddress.IPv4Network) -> str:
    """The floor's shell script (pure) for a sidecar running `proxy` with `spec`:
    resolve the internal hosts in the sidecar's namespace, then install both
    tables at once (iptables-restore is atomic: no moment with half the rules).
    The metadata services are refused first, before loopback: a host whose
    metadata address is local (some clouds' agents answer there) is no way out."""
    ports = ",".join(str(p) for p in egress_ports(spec))
    names = " ".join(internal_names(spec))  # checked host names: [a-z0-9.-] only
    listening = ",".join(str(p) for p in proxy.ports(spec))
    metadata = "\n".join(f"-A OUTPUT -d {r} -p tcp -j {REFUSE}" for r in _ranges(addresses.METADATA))
    never = "\n".join(f"-A OUTPUT -d {r} -p tcp -j {REFUSE}" for r in _ranges(addresses.NEVER))
    private = "\n".join(f"-A OUTPUT -d {r} -p tcp -j {REFUSE}" for r in _ranges(addresses.PRIVATE))
    return f"""set -eu
opened=""
for name in {names}; do
  for a in $(getent ahostsv4 "$name" | awk '{{print $1}}' | sort -u); do opened="$opened $a"; done
done
{{
cat <<'EOF'
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT DROP [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A INPUT -s {internal_subnet} -p tcp -m multiport --dports {listening} -j ACCEPT
-A INPUT -p tcp -j REJECT --reject-with tcp-reset
-A INPUT -j REJECT
{metadata}
-A OUTPUT -o lo -j ACCEPT
-A OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
{never}
EOF
for a in $opened; do echo "-A OUTPUT -d $a/32 -p tcp -m multiport --dports {ports} -j ACCEPT"; done
cat <<'EOF'
{private}
-A OUTPUT -p tcp -m multiport --dports {ports} -j ACCEPT
-A OUTPUT -p tcp -j {REFUSE}
-A OUTPUT -j REJECT
COMMIT
EOF
}} | iptables-restore
if [ -e /proc/net/if_inet6 ]; then
  ip6tables-restore <<'EOF'
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT DROP [0:0]
-A INPUT -i lo -j ACCEPT
-A OUTPUT -o lo -j ACCEPT
COMMIT
EOF
fi
echo "{APPLIED}${{opened:- nothing}}"
"""


def floor_spec(image: str, sidecar: str, labels: dict[str, str], script: str) -> ContainerSpec:
    """The floor's container (pure), from `image` (the agent image: it carries
    iptables): root with NET_ADMIN alone, no other capability."""
    return ContainerSpec(
        name=f"{sidecar}-floor",
        image=image,
        network="",  # it joins the sidecar's namespace instead
        labels=labels,
        limits=LIMITS,
        command=("sh", "-c", script),
        user="0",
        cap_add=("NET_ADMIN",),
    )


def refuse_unguardable(plan: LaunchPlan, capabilities: Capabilities) -> None:
    """A proxy that cannot limit ports itself cannot run where the floor cannot."""
    if plan.proxy.enforces_ports or capabilities.shared_namespaces:
        return
    raise UsageError(
        f"bottles.{plan.bottle.name}: the {plan.proxy.name} egress proxy lets a tunnel reach any port, "
        f"and the floor that limits it cannot run on the {capabilities.name} engine (it joins the "
        'sidecar\'s network namespace); use egress.proxy "squid", which enforces ports itself'
    )


def apply_floor(
    engine: Engine,
    plan: LaunchPlan,
    sidecar: str,
    sidecar_labels: dict[str, str],
    internal_subnet: ipaddress.IPv4Network | None,
) -> str | None:
    """Install the floor where the engine lets a container join the sidecar's
    namespace (elsewhere the engine's own walls are the floor). What it opened, or None."""
    if not engine.capabilities.shared_namespaces or internal_subnet is None:
        return None
    # It removes itself, but it is ours (MANAGED): should a run be cut short
    # (its owner and watchdog killed together), `cleanup` finds it as any orphan.
    labels = L.for_role(sidecar_labels, L.ROLE_PORT_GUARD)
    spec = floor_spec(
        plan.image, sidecar, labels, floor_script(plan.proxy_spec(), plan.proxy, internal_subnet)
    )
    result = engine.run_to_end(spec, join=sidecar)
    applied = [line for line in result.stdout.splitlines() if line.startswith(APPLIED)]
    if result.returncode != 0 or not applied:
        raise ClaudeBottleError(
            f"cannot install the floor under the egress proxy (exit {result.returncode}): "
            f"{result.stderr.strip() or result.stdout.strip()}"
        )
    return applied[0][len(APPLIED) :].strip()
