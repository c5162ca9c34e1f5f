"""The Kubernetes engine: a bottle's networks and containers as NetworkPolicies,
Pods and Secrets in one namespace (engine.api.Engine).

- A network is a label and policies (engine/k8s/manifests.py): the agent's
  one way out is its sidecar's proxy port; the sidecars' way out is the world
  but the cluster's own ranges. Pods have no fixed addresses and no names
  their peers resolve (`capabilities`), so the sidecar starts first and the
  agent is given its address.
- A container is a Pod of one container, hardened as on Docker, its secret
  variables and files in a Secret of its own that goes with it.
- Files go in and out as tar streams over the exec API (engine/k8s/streams.py).
- Every object carries the bottle's labels (engine/k8s/meta.py), so `find`
  and `cleanup` work by label as on Docker.

Kubernetes runs a pod's commands as the pod's user (exec has no user of its
own), and a pod whose container ended cannot be started again.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import posixpath
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from typing import IO, Any

from claude_bottle.engine.api import (
    Capabilities,
    ContainerSpec,
    EngineCheck,
    EngineTarget,
    ExecStream,
    Found,
    ImageStore,
    NetworkSpec,
)
from claude_bottle.engine.k8s import manifests, meta, streams
from claude_bottle.engine.k8s import status as podstatus
from claude_bottle.engine.k8s.cluster import CANNOT_RUN, Cluster, Json, copy_failed, no_such, not_running
from claude_bottle.engine.k8s.config import KubernetesSettings
from claude_bottle.errors import ClaudeBottleError, EngineError, NameConflict, NotFound, UsageError

RUNTIME_CLASSES = "/apis/node.k8s.io/v1/runtimeclasses"
NODES = "/api/v1/nodes"
SERVICE_CIDRS = "/apis/networking.k8s.io/v1/servicecidrs"
API_SERVICE = "/api/v1/namespaces/default/services/kubernetes"
API_ENDPOINTS = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
SERVICES = "/api/v1/services"
NO_SUCH_PATH = 66  # what the copy commands exit with when the path is not there
GONE_TIMEOUT = 60.0
POLL = 0.2
EVENTS_AFTER = 3.0  # seconds Pending before the pod's warning events are read
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


def cluster_target(cluster: Cluster) -> EngineTarget:
    host = str(getattr(cluster.configuration, "host", "") or "")
    return EngineTarget("kubernetes", context=cluster.context, endpoint=host, namespace=cluster.namespace)


class KubernetesEngine:
    capabilities = Capabilities(name="kubernetes", fixed_addresses=False, peer_names=False,
                                shared_namespaces=False)  # fmt: skip

    def __init__(self, cluster: Cluster, settings: KubernetesSettings | None = None) -> None:
        self.cluster = cluster
        self.settings = settings or KubernetesSettings()
        self._runtime_classes: dict[str, str] | None = None

    # Making one

    @classmethod
    def locate(cls, settings: object = None) -> KubernetesEngine:
        """The cluster the kubeconfig (or CLAUDE_BOTTLE_K8S_CONTEXT / _NAMESPACE) names, checked to answer."""
        k8s = KubernetesSettings.from_environ()
        engine = cls(Cluster.connect(k8s.context, k8s.namespace), k8s)
        engine.cluster.get_cluster("/version")
        return engine

    @classmethod
    def from_description(cls, args: Sequence[str]) -> KubernetesEngine:
        context, namespace = args
        return cls(Cluster.connect(context or None, namespace), KubernetesSettings.from_environ())

    def describe(self) -> tuple[str, ...]:
        return ("kubernetes", self.cluster.context, self.cluster.namespace)

    def target(self) -> EngineTarget:
        return cluster_target(self.cluster)

    @classmethod
    def configured_target(cls) -> EngineTarget:
        """Where bottles would run, from the kubeconfig alone (no call to the cluster)."""
        k8s = KubernetesSettings.from_environ()
        return cluster_target(Cluster.connect(k8s.context, k8s.namespace))

    # Networks

    def create_network(self, spec: NetworkSpec) -> None:
        egress = (
            None if spec.internal else manifests.EgressRules(self._cluster_ranges(), self.settings.ports())
        )
        body = manifests.network_policy(spec, egress)
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
        found = manifests.cluster_ranges(nodes or [], service_ranges, extra)
        return tuple(ipaddress.IPv4Network(c) for c in found) + configured

    @staticmethod
    def _optional(read: Callable[[], Any]) -> Any:
        """A read the user may not be allowed (cluster-scoped objects): None then."""
        try:
            return read()
        except NotFound:
            return None
        except EngineError as exc:
            if exc.status in (401, 403):
                return None
            raise

    # Containers

    def _runtime_class(self, runtime: str | None) -> str | None:
        if runtime in (None, "runc"):
            return None
        classes = self._runtime_handlers()
        if runtime not in classes:
            have = ", ".join(sorted(classes)) or "none"
            raise UsageError(
                f"the cluster has no RuntimeClass whose handler is {runtime} (it has: {have}); "
                f"ask its administrators for one, or use runtime 'runc'"
            )
        return classes[runtime]

    def _runtime_handlers(self) -> dict[str, str]:
        """Handler → RuntimeClass name."""
        if self._runtime_classes is None:
            items = self._optional(lambda: self.cluster.get_cluster(RUNTIME_CLASSES).get("items") or []) or []
            self._runtime_classes = {}
            for item in sorted(items, key=lambda i: str(i["metadata"]["name"])):
                self._runtime_classes.setdefault(str(item.get("handler")), str(item["metadata"]["name"]))
        return self._runtime_classes

    def run_container(self, spec: ContainerSpec, secrets: Mapping[str, str] | None = None) -> None:
        pod_body = manifests.pod_manifest(spec, self._options(spec))
        secret_body = manifests.secret_manifest(spec, secrets or {})
        pod = meta.object_name(spec.name)
        what = f"cannot start the container {spec.name}"
        if secret_body is not None:
            self._create_secret(pod, secret_body, what)
        try:
            made = self.cluster.create("pods", pod_body, what=what)
        except NameConflict:
            if secret_body is not None:
                self._quietly(lambda: self.cluster.delete("secrets", meta.secret_name(pod)))
            raise
        try:
            if secret_body is not None:
                self._own(pod, made, meta.secret_name(pod))
            for network in (spec.network,):
                self._serve(pod, network, spec.ports, spec.labels)
            self._wait_running(pod, spec.name)
            if self._is_internal(spec.network):
                self._wait_walled(spec.name)
        except BaseException:
            self._remove_pods([pod], grace=0, wait=False)
            raise

    def _options(self, spec: ContainerSpec) -> manifests.PodOptions:
        return manifests.PodOptions(
            pull_policy=self.settings.image_pull_policy(), runtime_class=self._runtime_class(spec.runtime)
        )

    def _create_secret(self, pod: str, body: Json, what: str) -> None:
        try:
            self.cluster.create("secrets", body, what=what)
        except NameConflict:
            # A Secret of a pod that is gone (its owner died between the two): replaced.
            if self._exists("pods", pod):
                raise
            self.cluster.delete("secrets", meta.secret_name(pod))
            self.cluster.create("secrets", body, what=what)

    def _own(self, pod: str, made: Json, secret: str) -> None:
        """The pod owns its Secret: the cluster removes it with the pod, whoever removes the pod."""
        owner = {"apiVersion": "v1", "kind": "Pod", "name": pod, "uid": made["metadata"]["uid"]}
        self.cluster.merge_patch("secrets", secret, {"metadata": {"ownerReferences": [owner]}})

    def _serve(self, pod: str, network: str, ports: Sequence[int], labels: Mapping[str, str]) -> None:
        if not ports:
            return
        for body in manifests.serves_policies(pod, network, ports, labels):
            with contextlib.suppress(NameConflict):
                self.cluster.create("networkpolicies", body, what=f"cannot open {pod}'s ports on {network}")

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

    def _is_internal(self, network: str) -> bool:
        """Whether `network` is one this engine made with no way out."""
        try:
            body = self.cluster.get("networkpolicies", meta.object_name(network))
        except NotFound:
            return False
        spec = body.get("spec") or {}
        return "Egress" in (spec.get("policyTypes") or []) and not spec.get("egress")

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

    def _wait_running(self, pod: str, name: str) -> None:
        started = time.monotonic()
        deadline = started + self.settings.timeout()
        next_events = started + EVENTS_AFTER
        while True:
            state = podstatus.pod_state(self.cluster.get("pods", pod))
            if state.state == "running":
                return
            if state.state in ("failed", "ended"):
                raise ClaudeBottleError(f"the container {name} did not start: {state.message}")
            now = time.monotonic()
            if now >= next_events:
                next_events = now + EVENTS_AFTER
                problem = podstatus.fatal_event(
                    self.cluster.list("events", field_selector=f"involvedObject.name={pod}")
                )
                if problem:
                    raise ClaudeBottleError(f"the container {name} did not start: {problem}")
            if now >= deadline:
                raise ClaudeBottleError(
                    f"the container {name} was not running after {self.settings.timeout():g} s "
                    f"(CLAUDE_BOTTLE_K8S_START_TIMEOUT); see 'kubectl -n {self.cluster.namespace} "
                    f"describe pod {pod}'"
                )
            time.sleep(POLL)

    def run_to_end(
        self, spec: ContainerSpec, *, stdin: bytes | None = None, join: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """A pod run to its end (its output is the log: stdout and stderr together)."""
        if join is not None:
            raise UsageError("a pod cannot join another pod's network namespace on Kubernetes")
        body = manifests.pod_manifest(spec, self._options(spec))
        if stdin is not None:
            body["spec"]["containers"][0].update(stdin=True, stdinOnce=True)
        pod = meta.object_name(spec.name)
        self.cluster.create("pods", body, what=f"cannot run {spec.name}")
        try:
            if stdin is not None:
                self._wait_running(pod, spec.name)
                channels = streams.Channels(self.cluster.open_exec(
                    pod, manifests.CONTAINER, (), stdin=True, tty=False, sub="attach"))  # fmt: skip
                streams.feed(channels, stdin).join()
                channels.close()
            code = self._wait_ended(pod, spec.name)
            return subprocess.CompletedProcess(list(spec.command), code, self.logs(spec.name), "")
        finally:
            self._remove_pods([pod], grace=0, wait=False)

    def _wait_ended(self, pod: str, name: str) -> int:
        deadline = time.monotonic() + self.settings.timeout()
        while time.monotonic() < deadline:
            state = podstatus.pod_state(self.cluster.get("pods", pod))
            if state.state == "failed":
                raise ClaudeBottleError(f"{name} did not run: {state.message}")
            if state.state == "ended":
                code = podstatus.exit_code(self.cluster.get("pods", pod))
                return 1 if code is None else code
            time.sleep(POLL)
        raise ClaudeBottleError(f"{name} did not end within {self.settings.timeout():g} s")

    def connect(self, network: str, container: str) -> None:
        pod = meta.object_name(container)
        found = self.cluster.get("pods", pod)
        patch = {"metadata": {"labels": {meta.member_label(network): meta.MEMBER}}}
        self.cluster.merge_patch("pods", pod, patch, what=f"cannot connect {container} to {network}")
        labels = meta.read_labels(found["metadata"])
        self._serve(pod, network, manifests.served_ports(found["metadata"]), labels)
        hosts = manifests.reached_hosts(found["metadata"])
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
        services = [s for item in items for s in manifests.Service.from_json(item)]
        rules = manifests.reach_peers(addresses, services, self.settings.ports())
        if rules:
            body = manifests.reaches_policy(pod, rules, labels)
            self.cluster.create("networkpolicies", body, what=f"cannot open {container}'s internal hosts")

    def address_of(self, container: str, network: str) -> str:
        pod = self.cluster.get("pods", meta.object_name(container))
        address = (pod.get("status") or {}).get("podIP")
        if not address:
            raise not_running(
                ("address_of", container), "the pod has no address", f"{container} is not running"
            )
        return str(address)

    def remove_containers(self, *names: str, missing_ok: bool = True) -> None:
        """Remove the pods and wait until they are gone: their processes have
        ended and every connection they had is closed, as after `docker rm -f`."""
        pods = [meta.object_name(n) for n in names]
        missing = self._remove_pods(pods, grace=1, wait=True)
        if missing and not missing_ok:
            raise no_such(("delete", *missing), f"no such container: {', '.join(missing)}")

    def _remove_pods(self, pods: Sequence[str], *, grace: int, wait: bool) -> list[str]:
        missing = []
        for pod in pods:
            try:
                self.cluster.delete("pods", pod, grace=grace)
            except NotFound:
                missing.append(pod)
            for kind in ("secrets", "networkpolicies"):
                for item in self.cluster.list(kind, f"{meta.POD}={pod}"):
                    self._quietly(functools.partial(self.cluster.delete, kind, item["metadata"]["name"]))
        if wait:
            deadline = time.monotonic() + GONE_TIMEOUT
            for pod in pods:
                while self._exists("pods", pod) and time.monotonic() < deadline:
                    time.sleep(POLL)
        return missing

    def _exists(self, kind: str, name: str) -> bool:
        try:
            self.cluster.get(kind, name)
        except NotFound:
            return False
        return True

    @staticmethod
    def _quietly(call: Callable[[], object]) -> None:
        with contextlib.suppress(NotFound):
            call()

    def start(self, container: str) -> None:
        state = podstatus.pod_state(self.cluster.get("pods", meta.object_name(container)))
        if state.state != "running":
            raise not_running(("start", container), state.message or "pending",
                              f"the pod {container} has ended and a pod cannot be started again")  # fmt: skip

    def image_of(self, container: str) -> str:
        pod = self.cluster.get("pods", meta.object_name(container))
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        return str(statuses[0].get("imageID") or statuses[0].get("image") or "") if statuses else ""

    # What is checked before a session, and by doctor

    def images(self) -> ImageStore | None:
        return None  # the nodes pull the images from a registry (`build --push`)

    def refuse_environment(self, values: Mapping[str, str]) -> None:
        return None  # a Secret carries any value

    def known_fault(self) -> tuple[str, str] | None:
        return None

    def health(self) -> list[EngineCheck]:
        return [EngineCheck("engine", True, self.target().describe())]

    def logs(self, container: str) -> str:
        with self.cluster.log(meta.object_name(container), manifests.CONTAINER, follow=False) as stream:
            return stream.read().decode("utf-8", "replace")

    def follow_logs(self, container: str) -> AbstractContextManager[IO[bytes]]:
        return self.cluster.log(meta.object_name(container), manifests.CONTAINER, follow=True)

    # Files and commands

    def _channels(self, container: str, argv: Sequence[str], *, stdin: bool, tty: bool) -> streams.Channels:
        pod = meta.object_name(container)
        try:
            sock = self.cluster.open_exec(pod, manifests.CONTAINER, argv, stdin=stdin, tty=tty)
        except NotFound:
            raise
        except EngineError as exc:
            state = self._state(pod)
            if state is not None and state.state != "running":
                raise not_running(exc.command, exc.stderr, f"container {container} is not running") from None
            raise
        return streams.Channels(sock)

    def _state(self, pod: str) -> podstatus.PodState | None:
        try:
            return podstatus.pod_state(self.cluster.get("pods", pod))
        except NotFound:
            return None

    @staticmethod
    def _argv(argv: Sequence[str], user: str | None, workdir: str | None) -> list[str]:
        if user is not None and (user.partition(":")[0] in ("0", "root")):
            raise UsageError("commands in a bottle's pods never run as root")
        # Exec runs as the pod's user (a non-root pod cannot become another), in its working folder.
        if workdir:
            return ["sh", "-c", 'cd "$0" || exit 126; exec "$@"', workdir, *argv]
        return list(argv)

    def exec(
        self,
        container: str,
        argv: Sequence[str],
        *,
        user: str | None = None,
        workdir: str | None = None,
        stdin: bytes | None = None,
    ) -> subprocess.CompletedProcess[str]:
        command = self._argv(argv, user, workdir)
        channels = self._channels(container, command, stdin=stdin is not None, tty=False)
        if stdin is not None:
            streams.feed(channels, stdin)
        out, err = bytearray(), bytearray()
        code, message = streams.drain(channels, out.extend, err.extend)
        if code is None:
            code, message = CANNOT_RUN, "the command's stream ended without its exit status"
        stderr = err.decode("utf-8", "replace") + (message + "\n" if message else "")
        return subprocess.CompletedProcess(list(argv), code, out.decode("utf-8", "replace"), stderr)

    @contextmanager
    def exec_stream(
        self, container: str, argv: Sequence[str], *, user: str | None = None
    ) -> Iterator[ExecStream]:
        stream = streams.PodExecStream(
            self._channels(container, self._argv(argv, user, None), stdin=True, tty=False)
        )
        try:
            yield stream
        finally:
            stream.close()

    def attach(
        self,
        container: str,
        argv: Sequence[str],
        *,
        tty: bool,
        user: str | None = None,
        workdir: str | None = None,
    ) -> int:
        return streams.attach(
            self._channels(container, self._argv(argv, user, workdir), stdin=True, tty=tty), tty=tty
        )

    def copy_in(self, container: str, dest: str, tar: bytes | IO[bytes]) -> None:
        script = f'[ -d "$0" ] || exit {NO_SUCH_PATH}; exec tar -x -p -C "$0" -f -'
        channels = self._channels(container, ["sh", "-c", script, dest], stdin=True, tty=False)
        streams.feed(channels, tar)
        err = bytearray()
        code, message = streams.drain(channels, lambda _data: None, err.extend)
        self._copy_status(container, dest, code, err.decode("utf-8", "replace") + message, "into")

    @contextmanager
    def copy_out(self, container: str, path: str) -> Iterator[IO[bytes]]:
        folder, name = posixpath.split(path.rstrip("/") or "/")
        script = f'[ -e "$0" ] || exit {NO_SUCH_PATH}; cd "$1" && exec tar -c -f - "$2"'
        argv = ["sh", "-c", script, path, folder or "/", name or "."]
        stream = streams.PodExecStream(self._channels(container, argv, stdin=False, tty=False))
        try:
            if not stream.stdout.peek(1):  # type: ignore[attr-defined]
                # Nothing at all: the command ended (the path is not there?) before any tar.
                self._copy_status(container, path, stream.wait(), stream.stderr_text(), "out of")
            yield stream.stdout
            stream.stdout.close()
            code = stream.wait()
            self._copy_status(container, path, code, stream.stderr_text(), "out of")
        finally:
            stream.close()

    @staticmethod
    def _copy_status(container: str, path: str, code: int | None, stderr: str, way: str) -> None:
        if code == 0:
            return
        missing = code == NO_SUCH_PATH
        detail = f"no such path: {path}" if missing else stderr
        raise copy_failed(
            ("copy", container, path), code, detail, f"cannot copy {way} {container}:{path}", missing
        )

    # Finding what claude-bottle made

    def find(
        self,
        labels: Sequence[str],
        *,
        kinds: Sequence[str] = ("container", "network"),
        running: bool = False,
        carried: Sequence[str] = (),
    ) -> list[Found]:
        reqs = [meta.Requirement.parse(label) for label in labels]
        base = meta.selector(reqs)
        out: list[Found] = []
        if "container" in kinds:
            for pod in self.cluster.list("pods", base):
                if running and (pod["metadata"].get("deletionTimestamp") or
                                podstatus.pod_state(pod).state != "running"):  # fmt: skip
                    continue
                out += self._found("container", pod, reqs, meta.read_name(pod["metadata"]))
        if "network" in kinds:
            for policy in self.cluster.list("networkpolicies", f"{base},{meta.OBJECT}={meta.OBJECT_NETWORK}"):
                annotations = policy["metadata"].get("annotations") or {}
                name = str(annotations.get(meta.NETWORK) or policy["metadata"]["name"])
                out += self._found("network", policy, reqs, name)
        if "other" in kinds:
            serves = f"{base},{meta.OBJECT}={meta.OBJECT_SERVES}"
            for kind, selector in (("secrets", base), ("configmaps", base), ("networkpolicies", serves)):
                for item in self.cluster.list(kind, selector):
                    out += self._found("other", item, reqs, f"{kind}/{item['metadata']['name']}")
        return out

    @staticmethod
    def _found(kind: Any, item: Json, reqs: Sequence[meta.Requirement], name: str) -> list[Found]:
        labels = meta.read_labels(item["metadata"])
        if not all(r.holds(labels) for r in reqs):
            return []
        return [Found(kind, name, labels, podstatus.age(str(item["metadata"].get("creationTimestamp", ""))))]

    def remove_found(self, objects: Sequence[Found]) -> list[str]:
        errors: list[str] = []

        def attempt(call: Callable[[], object]) -> None:
            try:
                call()
            except NotFound:
                pass
            except ClaudeBottleError as exc:
                errors.append(str(exc))

        pods = [meta.object_name(o.name) for o in objects if o.kind == "container"]
        attempt(lambda: self._remove_pods(pods, grace=0, wait=False))
        for o in objects:
            if o.kind == "network":
                attempt(functools.partial(self.cluster.delete, "networkpolicies", meta.object_name(o.name)))
        for o in objects:
            if o.kind == "other":
                kind, _, name = o.name.partition("/")
                attempt(functools.partial(self.cluster.delete, kind, name))
        return errors

    # The engine itself

    def runtimes(self) -> frozenset[str]:
        return frozenset({"runc", *self._runtime_handlers()})

    def storage_limit_problem(self) -> str | None:
        # An ephemeral-storage limit exists, but the kubelet evicts a pod that passes
        # it: the agent's work would be lost with the pod, not refused a write.
        return "the kubelet evicts a pod over its ephemeral-storage limit, which would lose its work"
