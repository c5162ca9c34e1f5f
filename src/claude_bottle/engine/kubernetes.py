"""The Kubernetes engine: a bottle's networks and containers as NetworkPolicies,
Pods and Secrets in one namespace (engine.api.Engine).

- A network is a label and policies (engine/k8s/walls.py): the agent's
  one way out is its sidecar's proxy port; the sidecars' way out is the world
  but the cluster's own ranges. Pods have no fixed addresses and no names
  their peers resolve (`capabilities`), so the sidecar starts first and the
  agent is given its address.
- A container is a Pod of one container, hardened as on Docker, its secret
  variables and files in a Secret of its own that goes with it.
- Files go in and out as tar streams over the exec API (engine/k8s/commands.py,
  engine/k8s/streams.py); pods are waited for and removed in engine/k8s/pods.py.
- Every object carries the bottle's labels (engine/k8s/meta.py), so `find`
  and `cleanup` work by label as on Docker.

Kubernetes runs a pod's commands as the pod's user (exec has no user of its
own), and a pod whose container ended cannot be started again.
"""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from claude_bottle.engine.api import Capabilities, ContainerSpec, EngineCheck, EngineTarget, Found, ImageStore
from claude_bottle.engine.k8s import manifests, meta, streams
from claude_bottle.engine.k8s import status as podstatus
from claude_bottle.engine.k8s.cluster import Cluster, Json, no_such, not_running
from claude_bottle.engine.k8s.config import KubernetesSettings
from claude_bottle.engine.k8s.walls import KubernetesWalls
from claude_bottle.errors import ClaudeBottleError, NameConflict, NotFound, UsageError
from claude_bottle.settings import Settings

RUNTIME_CLASSES = "/apis/node.k8s.io/v1/runtimeclasses"


def cluster_target(cluster: Cluster) -> EngineTarget:
    host = str(getattr(cluster.configuration, "host", "") or "")
    return EngineTarget("kubernetes", context=cluster.context, endpoint=host, namespace=cluster.namespace)


class KubernetesEngine(KubernetesWalls):
    capabilities = Capabilities(name="kubernetes", fixed_addresses=False, peer_names=False,
                                shared_namespaces=False)  # fmt: skip

    # Making one

    @classmethod
    def locate(cls, settings: Settings) -> KubernetesEngine:
        """The cluster the kubeconfig (or CLAUDE_BOTTLE_K8S_CONTEXT / _NAMESPACE) names, checked to answer."""
        k8s = KubernetesSettings.from_settings(settings)
        engine = cls(Cluster.connect(k8s.context, k8s.namespace), k8s)
        engine.cluster.get_cluster("/version")
        return engine

    @classmethod
    def from_description(cls, args: Sequence[str], settings: Settings) -> KubernetesEngine:
        context, namespace = args
        return cls(Cluster.connect(context or None, namespace), KubernetesSettings.from_settings(settings))

    def describe(self) -> tuple[str, ...]:
        return ("kubernetes", self.cluster.context, self.cluster.namespace)

    def target(self) -> EngineTarget:
        return cluster_target(self.cluster)

    @classmethod
    def configured_target(cls, settings: Settings) -> EngineTarget:
        """Where bottles would run, from the kubeconfig alone (no call to the cluster)."""
        k8s = KubernetesSettings.from_settings(settings)
        return cluster_target(Cluster.connect(k8s.context, k8s.namespace))

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
