"""A bottle's walls on Kubernetes: a network is a label and NetworkPolicies
(built in engine/k8s/policies.py) that let only its members talk to each
other; the agent's one way out is its sidecar's proxy port, the sidecars' way
out is the world but the cluster's own ranges. A pod's policies are probed to
be in force before anything runs in it."""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from claude_bottle.engine.api import NetworkSpec
from claude_bottle.engine.k8s import meta, policies
from claude_bottle.engine.k8s.commands import KubernetesCommands
from claude_bottle.errors import ClaudeBottleError, NameConflict, NotFound, UsageError

NODES = "/api/v1/nodes"
SERVICE_CIDRS = "/apis/networking.k8s.io/v1/servicecidrs"
API_SERVICE = "/api/v1/namespaces/default/services/kubernetes"
API_ENDPOINTS = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
SERVICES = "/api/v1/services"
# A pod's policies are in the API before it starts, but the network plugin puts
# them in force when it sees the pod's address, a moment after the pod runs
# (seen once on the test cluster under load). Until a probe from inside the pod
# is refused, nothing else runs in it; a plugin that never enforces is refused.
WALL_TIMEOUT = 15
WALL_PROBE = (
    "command -v bash >/dev/null && command -v timeout >/dev/null || exit 0; "
    "end=$(($(date +%s) + $2)); "
    'while timeout 1 bash -c \'exec 3<>/dev/tcp/$0/$1\' "$0" "$1" 2>/dev/null; do '
    '[ "$(date +%s)" -ge "$end" ] && exit 1; sleep 0.1; done; exit 0'
)
# Names to addresses from inside a pod (its resolver is the cluster's), one
# "name address" line each; retried while the pod's way to DNS comes into force.
RESOLVE_TIMEOUT = 5
RESOLVE = (
    'end=$(($(date +%s) + $0)); for h in "$@"; do '
    'until out=$(getent ahostsv4 "$h"); do [ "$(date +%s)" -ge "$end" ] && break; sleep 0.2; done; '
    'printf "%s\\n" "$out" | cut -d" " -f1 | sed "s/^/$h /"; done'
)


class KubernetesWalls(KubernetesCommands):
    """Networks as NetworkPolicies, and the walls around each pod: put in force
    before anything runs in it, opened only to what its bottle names."""

    def create_network(self, spec: NetworkSpec) -> None:
        egress = (
            None if spec.internal else policies.EgressRules(self._cluster_ranges(), self.settings.ports())
        )
        body = policies.network_policy(spec, egress)
        self.cluster.create("networkpolicies", body, what=f"cannot create network {spec.name}")

    def remove_network(self, name: str) -> None:
        self.cluster.delete("networkpolicies", meta.object_name(name))

    def network_exists(self, name: str) -> bool:
        try:
            self.cluster.get("networkpolicies", meta.object_name(name))
        except NotFound:
            return False
        return True

    def _cluster_ranges(self) -> tuple[Any, ...]:
        """The cluster's own ranges, which no sidecar may reach."""
        configured = self.settings.excluded_networks()
        nodes = self._optional(lambda: self.cluster.get_cluster(NODES).get("items") or [])
        if nodes is None and not configured:
            raise UsageError(
                "cannot read the cluster's nodes to find its own address ranges (which the egress proxy "
                "must not reach); name them in CLAUDE_BOTTLE_K8S_EXCLUDE_CIDRS (pod, service and node ranges)"
            )
        cidrs = self._optional(lambda: self.cluster.get_cluster(SERVICE_CIDRS).get("items") or []) or []
        service_ranges = [c for item in cidrs for c in (item.get("spec") or {}).get("cidrs") or []]
        extra: list[str] = []
        service = self._optional(lambda: self.cluster.get_cluster(API_SERVICE))
        if service:
            extra += list((service.get("spec") or {}).get("clusterIPs") or [])
        slices = self._optional(
            lambda: (
                self.cluster.request(
                    "GET", API_ENDPOINTS, query=[("labelSelector", "kubernetes.io/service-name=kubernetes")]
                ).get("items")
                or []
            )
        )
        for item in slices or []:
            for endpoint in item.get("endpoints") or []:
                extra += list(endpoint.get("addresses") or [])
        found = policies.cluster_ranges(nodes or [], service_ranges, extra)
        return tuple(ipaddress.IPv4Network(c) for c in found) + configured

    def _serve(self, pod: str, network: str, ports: Sequence[int], labels: Mapping[str, str]) -> None:
        if not ports:
            return
        for body in policies.serves_policies(pod, network, ports, labels):
            with contextlib.suppress(NameConflict):
                self.cluster.create("networkpolicies", body, what=f"cannot open {pod}'s ports on {network}")

    def _is_internal(self, network: str) -> bool:
        """Whether `network` is one this engine made with no way out."""
        try:
            body = self.cluster.get("networkpolicies", meta.object_name(network))
        except NotFound:
            return False
        spec = body.get("spec") or {}
        return "Egress" in (spec.get("policyTypes") or []) and not spec.get("egress")

    def _api_endpoint(self) -> tuple[str, int] | None:
        """An address and port of the API server as pods reach it without a policy."""
        slices = self._optional(
            lambda: self.cluster.request(
                "GET", API_ENDPOINTS, query=[("labelSelector", "kubernetes.io/service-name=kubernetes")]
            ).get("items")
        )
        for item in slices or []:
            ports = [p.get("port") for p in item.get("ports") or [] if p.get("port")]
            for endpoint in item.get("endpoints") or []:
                for address in endpoint.get("addresses") or []:
                    if ports:
                        return str(address), int(ports[0])
        return None

    def _wait_walled(self, name: str) -> None:
        """Return once the pod's policies are in force: a connection from inside it
        to the API server, which any pod reaches without a policy, is refused."""
        target = self._api_endpoint()
        if target is None:
            return  # not allowed to read where the API server is: nothing to probe with
        host, port = target
        probe = self.exec(name, ["sh", "-c", WALL_PROBE, host, str(port), str(WALL_TIMEOUT)])
        if probe.returncode != 0:
            raise ClaudeBottleError(
                f"the network policies of {name} were not in force after {WALL_TIMEOUT} s (it could "
                f"still reach the API server at {host}:{port}): does this cluster's network plugin "
                "enforce NetworkPolicy?"
            )

    def connect(self, network: str, container: str) -> None:
        pod = meta.object_name(container)
        found = self.cluster.get("pods", pod)
        patch = {"metadata": {"labels": {meta.member_label(network): meta.MEMBER}}}
        self.cluster.merge_patch("pods", pod, patch, what=f"cannot connect {container} to {network}")
        labels = meta.read_labels(found["metadata"])
        self._serve(pod, network, policies.served_ports(found["metadata"]), labels)
        hosts = policies.reached_hosts(found["metadata"])
        if hosts and not self._is_internal(network):
            self._open_reaches(pod, container, hosts, labels)

    def _open_reaches(
        self, pod: str, container: str, hosts: Sequence[str], labels: Mapping[str, str]
    ) -> None:
        """Open to `pod` alone the addresses its hosts (the bottle's `egress.internal`)
        have now, wherever they lie: the egress network's policy keeps the cluster's
        own ranges closed. Names are resolved inside the pod, by the resolver its
        proxy will use; a wildcard names no address, and an address that changes
        later is closed again (the proxy still decides by name)."""
        addresses: list[str] = []
        names: list[str] = []
        for host in hosts:
            try:
                addresses.append(str(ipaddress.IPv4Address(host)))
            except ValueError:
                if not host.startswith("*."):
                    names.append(host)
        # The cluster's Services are listed while the names are looked up in the pod.
        with ThreadPoolExecutor(max_workers=1) as pool:
            listed = pool.submit(
                self._optional, lambda: self.cluster.get_cluster(SERVICES).get("items") or []
            )
            if names:
                got = self.exec(container, ["sh", "-c", RESOLVE, str(RESOLVE_TIMEOUT), *names])
                addresses += [line.split()[1] for line in got.stdout.splitlines() if len(line.split()) == 2]
            items = listed.result() or []
        services = [s for item in items for s in policies.Service.from_json(item)]
        rules = policies.reach_peers(addresses, services, self.settings.ports())
        if rules:
            body = policies.reaches_policy(pod, rules, labels)
            self.cluster.create("networkpolicies", body, what=f"cannot open {container}'s internal hosts")
