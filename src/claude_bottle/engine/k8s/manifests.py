"""The bottle's specs as Kubernetes objects (pure): a hardened Pod and its
Secret for a `ContainerSpec`. The NetworkPolicies of a `NetworkSpec`, the
walls, are engine/k8s/policies.py.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from claude_bottle.engine.api import ContainerSpec, Limits
from claude_bottle.engine.k8s import meta
from claude_bottle.errors import UsageError

Json = dict[str, Any]
CONTAINER = "main"  # the one container of every pod
# Requests are an eighth of the limits: like Docker's limits, a bottle may use
# up to its limit, and a node is filled by what bottles use on average.
REQUEST_SHARE = 8
MIN_MEMORY_REQUEST = 32 * 2**20
DEFAULT_CPU_REQUEST = 0.05


def quantity(size: int) -> str:
    """Bytes as a Kubernetes quantity, in the largest binary unit that divides them."""
    for unit, factor in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if size and size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def cpu_quantity(cpus: float) -> str:
    return f"{max(1, round(cpus * 1000))}m"


_SIZE = re.compile(r"^([0-9]+)([bkmg]?)$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30}


def size_bytes(text: str) -> int | None:
    """Bytes meant by a Docker size ("8g", "512m", "4096"), or None."""
    m = _SIZE.match(text.strip())
    return int(m.group(1)) * _UNITS[m.group(2).lower()] if m else None


def resources(limits: Limits) -> Json:
    size = size_bytes(limits.memory)
    if size is None:
        raise UsageError(f"'{limits.memory}' is not a size like 8g or 512m")
    request = min(size, max(size // REQUEST_SHARE, MIN_MEMORY_REQUEST))
    out: Json = {"limits": {"memory": quantity(size)}, "requests": {"memory": quantity(request)}}
    if limits.cpus:
        out["limits"]["cpu"] = cpu_quantity(limits.cpus)
        out["requests"]["cpu"] = cpu_quantity(limits.cpus / REQUEST_SHARE)
    else:
        out["requests"]["cpu"] = cpu_quantity(DEFAULT_CPU_REQUEST)
    return out


def run_as(spec: ContainerSpec) -> tuple[int, int] | None:
    """The numeric user and group the pod runs as (the spec's: a pod that must not
    run as root needs a number, the kubelet cannot check a name against the
    image), or None to leave it to the image (which must then name a numeric,
    non-root user). Root is refused."""
    user = spec.user or spec.run_as
    if user is None:
        return None
    name, _, group = user.partition(":")
    uid = int(name) if name.isdigit() else None
    gid = int(group) if group.isdigit() else uid
    if uid is None or gid is None:
        raise UsageError(
            f"container {spec.name}: user '{user}' has no known number; on Kubernetes a bottle's "
            "containers run as a numeric non-root user (name it as UID or UID:GID)"
        )
    if uid == 0:
        raise UsageError(f"container {spec.name}: a bottle's pods never run as root")
    return uid, gid


def tmpfs_size(options: str) -> str | None:
    """The size of a Docker tmpfs (`size=4m` among its options) as a quantity."""
    for option in options.split(","):
        key, _, value = option.partition("=")
        size = size_bytes(value) if key.strip() == "size" else None
        if size:
            return quantity(size)
    return None


def secret_keys(spec: ContainerSpec) -> tuple[dict[str, str], dict[str, int]]:
    """Keys in the pod's Secret: env name → key, and file path → index."""
    env = {name: f"env.{name}" for name in spec.secret_env}
    files = {f.path: i for i, f in enumerate(spec.files)}
    return env, files


def secret_manifest(spec: ContainerSpec, values: Mapping[str, str]) -> Json | None:
    """The pod's Secret: its secret variables' values and its files, or None
    when it has neither. Labelled like the pod; removed with it."""
    if not spec.secret_env and not spec.files:
        return None
    missing = [name for name in spec.secret_env if name not in values]
    if missing:
        raise UsageError(f"container {spec.name}: no value for {', '.join(missing)}")
    env_keys, _ = secret_keys(spec)
    data = {env_keys[name]: _b64(values[name].encode()) for name in spec.secret_env}
    data.update({f"file.{i}": _b64(f.content) for i, f in enumerate(spec.files)})
    pod = meta.object_name(spec.name)
    metadata = meta.write_labels(spec.labels, {meta.POD: pod, meta.OBJECT: meta.OBJECT_SECRET})
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": metadata.to_json(meta.secret_name(pod), exact=True),
        "immutable": True,
        "data": data,
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True)
class PodOptions:
    """What the cluster decides about a pod, beyond its spec."""

    pull_policy: str = "IfNotPresent"
    runtime_class: str | None = None
    networks: tuple[str, ...] = ()  # networks beyond spec.network (none at creation)


def pod_manifest(spec: ContainerSpec, options: PodOptions = PodOptions()) -> Json:
    """A Pod for `spec`, as locked down as the Docker engine's containers."""
    pod = meta.object_name(spec.name)
    own = {meta.POD: pod}
    for network in (spec.network, *options.networks):
        own[meta.member_label(network)] = meta.MEMBER
    metadata = meta.write_labels(spec.labels, own)
    annotations = {meta.PORTS: ",".join(str(p) for p in spec.ports)} if spec.ports else {}
    if spec.reaches:
        annotations[meta.REACHES] = ",".join(spec.reaches)
    container: Json = {
        "name": CONTAINER,
        "image": spec.image,
        "imagePullPolicy": options.pull_policy,
        "env": _env(spec, pod),
        "resources": resources(spec.limits),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "readOnlyRootFilesystem": spec.read_only,
            "capabilities": {"drop": ["ALL"], **({"add": _caps(spec.cap_add)} if spec.cap_add else {})},
        },
        "volumeMounts": _mounts(spec),
    }
    if spec.command:
        container["args"] = list(spec.command)  # like `docker run IMAGE COMMAND`: the entrypoint stays
    if spec.workdir:
        container["workingDir"] = spec.workdir
    if spec.ports:
        container["ports"] = [{"containerPort": p, "protocol": "TCP"} for p in spec.ports]
    security: Json = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    if spec.low_ports:  # a "safe" sysctl: the kubelet allows it without configuration
        security["sysctls"] = [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]
    user = run_as(spec)
    if user is not None:
        security.update(runAsUser=user[0], runAsGroup=user[1], fsGroup=user[1])
    pod_spec: Json = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "hostNetwork": False,
        "hostPID": False,
        "hostIPC": False,
        # The pause container is PID 1 and reaps zombies, as Docker's --init does.
        "shareProcessNamespace": spec.init,
        "terminationGracePeriodSeconds": 1,
        "securityContext": security,
        "containers": [container],
        "volumes": _volumes(spec, pod),
    }
    if options.runtime_class:
        pod_spec["runtimeClassName"] = options.runtime_class
    body = metadata.to_json(spec.name, annotations)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": body, "spec": pod_spec}


def _caps(caps: Sequence[str]) -> list[str]:
    return [c.upper().removeprefix("CAP_") for c in caps]


def _env(spec: ContainerSpec, pod: str) -> list[Json]:
    env: list[Json] = [{"name": k, "value": v} for k, v in spec.env.items()]
    keys, _ = secret_keys(spec)
    for name in spec.secret_env:
        ref = {"name": meta.secret_name(pod), "key": keys[name]}
        env.append({"name": name, "valueFrom": {"secretKeyRef": ref}})
    return env


def _volumes(spec: ContainerSpec, pod: str) -> list[Json]:
    volumes: list[Json] = []
    for i, (_path, options) in enumerate(spec.tmpfs):
        empty: Json = {"medium": "Memory"}
        size = tmpfs_size(options)
        if size:
            empty["sizeLimit"] = size
        volumes.append({"name": f"tmpfs-{i}", "emptyDir": empty})
    if spec.files:
        items = [{"key": f"file.{i}", "path": f"file.{i}", "mode": f.mode} for i, f in enumerate(spec.files)]
        volumes.append({"name": "files", "secret": {"secretName": meta.secret_name(pod), "items": items}})
    return volumes


def _mounts(spec: ContainerSpec) -> list[Json]:
    mounts: list[Json] = [{"name": f"tmpfs-{i}", "mountPath": path} for i, (path, _) in enumerate(spec.tmpfs)]
    for i, f in enumerate(spec.files):
        mounts.append({"name": "files", "mountPath": f.path, "subPath": f"file.{i}", "readOnly": True})
    return mounts
