"""A bottle's walls as NetworkPolicies (pure).

A network is a label (`meta.member_label`) and policies selecting it:
- its own policy (`network_policy`): members accept no connection; an internal
  network gives them no way out at all, the egress network lets them out to
  the world except the cluster's own ranges, on the egress ports and DNS;
- two per pod that serves ports on it (`serves_policies`): the network's
  members may connect to that pod on those ports, and nothing else on it;
- one per sidecar that reaches its bottle's `egress.internal` hosts
  (`reaches_policy`), to their addresses alone.
So an agent on its bottle's internal network reaches exactly its sidecar's
proxy port: no DNS, no other pod, no node, no API server.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from claude_bottle import addresses as ranges
from claude_bottle.engine.api import NetworkSpec
from claude_bottle.engine.k8s import meta
from claude_bottle.engine.k8s.manifests import Json

DNS_PORT = 53
KUBE_DNS = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}
EVERYWHERE = "0.0.0.0/0"
# Never reached by a sidecar, whatever the cluster (addresses.py, the list both
# engines and both proxies share): link-local with the cloud metadata services,
# the other metadata addresses, CGNAT, loopback and the reserved ranges.
NEVER_OPENED = ranges.v4(ranges.NEVER)
# Reached by a sidecar only as the address of one of its `egress.internal` hosts
# (reach_peers); its resolver may still be asked there (DNS only).
PRIVATE = ranges.v4(ranges.PRIVATE)


def _member(network: str) -> Json:
    return {"matchLabels": {meta.member_label(network): meta.MEMBER}}


@dataclass(frozen=True)
class EgressRules:
    """The egress network's way out: on `ports`, everywhere but `excluded` (the
    cluster's own ranges), the addresses no sidecar may reach and the private
    ranges; and DNS, to the cluster's DNS pods or any resolver outside the
    cluster's ranges and the never-reached ones."""

    excluded: tuple[ipaddress.IPv4Network, ...]
    ports: tuple[int, ...]

    def rules(self) -> list[Json]:
        def everywhere_but(*excluded: ipaddress.IPv4Network) -> Json:
            return {"ipBlock": {"cidr": EVERYWHERE, "except": [str(n) for n in collapse(excluded)]}}

        web = [{"protocol": "TCP", "port": p} for p in self.ports]
        dns = [{"protocol": "UDP", "port": DNS_PORT}, {"protocol": "TCP", "port": DNS_PORT}]
        return [
            {"to": [everywhere_but(*self.excluded, *NEVER_OPENED, *PRIVATE)], "ports": web},
            {"to": [everywhere_but(*self.excluded, *NEVER_OPENED), KUBE_DNS], "ports": dns},
        ]


def collapse(networks: Sequence[ipaddress.IPv4Network]) -> list[ipaddress.IPv4Network]:
    """The ranges, merged and without the everywhere range (an `except` must lie inside the block)."""
    return [n for n in ipaddress.collapse_addresses(networks) if n.prefixlen > 0]


def network_policy(spec: NetworkSpec, egress: EgressRules | None = None) -> Json:
    """The network's own policy: its members accept no connection and an
    internal network has no way out (its peers' ports are opened by
    `serves_policies`); the egress network's way out is `egress`."""
    if not spec.internal and egress is None:
        raise ValueError("an egress network needs its rules")
    member = _member(spec.name)
    metadata = meta.write_labels(spec.labels, {meta.OBJECT: meta.OBJECT_NETWORK})
    body = metadata.to_json(spec.name, {meta.NETWORK: spec.name})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": body,
        "spec": {
            "podSelector": member,
            "policyTypes": ["Ingress", "Egress"],
            # Nobody in: a member is reached only on the ports it serves
            # (serves_policies), from its own network's members.
            "ingress": [],
            "egress": [] if spec.internal else (egress.rules() if egress else []),
        },
    }


def serves_policies(pod: str, network: str, ports: Sequence[int], labels: Mapping[str, str]) -> list[Json]:
    """The network's members may connect to `pod` on `ports`: their way out
    (egress) and its way in (ingress), each on those ports only. Both sides
    say so, so a plugin that lets a connection through when either side's
    policy allows it (kube-router 2.1 marks a packet for both) still holds."""
    peer = {"matchLabels": {meta.member_label(network): meta.MEMBER, meta.POD: pod}}
    tcp = [{"protocol": "TCP", "port": p} for p in ports]
    metadata = meta.write_labels(labels, {meta.POD: pod, meta.OBJECT: meta.OBJECT_SERVES})
    policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy"}
    return [
        {
            **policy,
            "metadata": metadata.to_json(meta.serves_policy_name(pod, network), exact=True),
            "spec": {"podSelector": _member(network), "policyTypes": ["Egress"],
                     "egress": [{"to": [{"podSelector": peer}], "ports": tcp}]},
        },
        {
            **policy,
            "metadata": metadata.to_json(meta.accepts_policy_name(pod, network), exact=True),
            "spec": {"podSelector": peer, "policyTypes": ["Ingress"],
                     "ingress": [{"from": [{"podSelector": _member(network)}], "ports": tcp}]},
        },
    ]  # fmt: skip


def reached_hosts(metadata: Mapping[str, Any]) -> tuple[str, ...]:
    raw = str((metadata.get("annotations") or {}).get(meta.REACHES) or "")
    return tuple(h for h in raw.split(",") if h)


@dataclass(frozen=True)
class Service:
    """A Service's address and what stands behind it: traffic to the address is
    rewritten to a backing pod before any policy sees it, so a policy names
    the pods (by the Service's selector) and their target ports."""

    address: str
    namespace: str
    selector: Mapping[str, str]
    ports: Mapping[int, int | str]  # the Service's port -> the pods' target port

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> list[Service]:
        spec, metadata = item.get("spec") or {}, item.get("metadata") or {}
        selector = spec.get("selector") or {}
        if not selector:
            return []  # no pods to name: its endpoints are managed by hand
        ports = {
            int(p["port"]): p.get("targetPort", p["port"]) for p in spec.get("ports") or [] if "port" in p
        }
        return [
            cls(str(ip), str(metadata.get("namespace", "")), dict(selector), ports)
            for ip in spec.get("clusterIPs") or [spec.get("clusterIP")]
            if ip and ip != "None"
        ]


def reach_peers(addresses: Sequence[str], services: Sequence[Service], ports: Sequence[int]) -> list[Json]:
    """Egress rules that open `addresses` on `ports` (pure): a Service's address
    as the pods behind it on their target ports, any other address as itself.
    Addresses no sidecar may reach (addresses.NEVER: the metadata services, loopback, ...) are
    never opened."""
    by_address = {s.address: s for s in services}
    rules: list[Json] = []
    blocks: list[str] = []
    for raw in dict.fromkeys(addresses):
        try:
            address = ipaddress.IPv4Address(raw)
        except ValueError:
            continue
        if ranges.never_reachable(str(address)):
            continue
        service = by_address.get(str(address))
        if service is None:
            blocks.append(f"{address}/32")
            continue
        targets = [service.ports[p] for p in ports if p in service.ports]
        if targets:
            peer = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": service.namespace}},
                    "podSelector": {"matchLabels": dict(service.selector)}}  # fmt: skip
            rules.append(
                {"to": [peer], "ports": [{"protocol": "TCP", "port": t} for t in dict.fromkeys(targets)]}
            )
    if blocks:
        rules.insert(0, {"to": [{"ipBlock": {"cidr": b}} for b in blocks],
                         "ports": [{"protocol": "TCP", "port": p} for p in ports]})  # fmt: skip
    return rules


def reaches_policy(pod: str, rules: Sequence[Json], labels: Mapping[str, str]) -> Json:
    """`pod` may open connections by `rules` (reach_peers), whatever else walls it in."""
    metadata = meta.write_labels(labels, {meta.POD: pod, meta.OBJECT: meta.OBJECT_SERVES})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata.to_json(meta.reaches_policy_name(pod), exact=True),
        "spec": {"podSelector": {"matchLabels": {meta.POD: pod}}, "policyTypes": ["Egress"],
                 "egress": list(rules)},
    }  # fmt: skip


def served_ports(metadata: Mapping[str, Any]) -> tuple[int, ...]:
    raw = str((metadata.get("annotations") or {}).get(meta.PORTS) or "")
    return tuple(int(p) for p in raw.split(",") if p.isdigit())


def cluster_ranges(nodes: Sequence[Json], service_cidrs: Sequence[str], extra: Sequence[str]) -> list[str]:
    """The cluster's own IPv4 ranges, from its nodes (pod ranges, addresses),
    its service ranges and addresses found elsewhere (the API server's)."""
    found: list[str] = [*service_cidrs, *extra]
    for node in nodes:
        spec = node.get("spec") or {}
        found += list(spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else []))
        found += [a.get("address", "") for a in (node.get("status") or {}).get("addresses") or []]
    out = []
    for item in found:
        try:
            net = ipaddress.ip_network(item, strict=False)
        except ValueError:
            continue  # a host name among the addresses
        if isinstance(net, ipaddress.IPv4Network):
            out.append(str(net))
    return sorted(set(out))
