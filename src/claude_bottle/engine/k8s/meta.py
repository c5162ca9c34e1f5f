"""Names, labels and annotations of the Kubernetes objects a bottle is made of
(pure).

A bottle's labels are Docker labels: any key, values of any length (the egress
label holds up to 400 characters of hosts, the workspace label a path).
Kubernetes allows a label value of at most 63 characters from a small alphabet,
so every pair that cannot be a label as it is travels in one annotation
(`LABELS`, JSON), and a key that can be a label keeps an empty label beside it,
so that the API server can still select on its presence. What an object's
labels were is read back from both (`read_labels`), and `find` checks every
asked value against that, never against the API server's selection alone.

Names are Docker names too (`claude-bottle-my_agent`); an object's Kubernetes
name is the name itself when it is a valid DNS label, else a cleaned form with
a hash of the original (`object_name`), which is kept in the `NAME` annotation.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# The engine's own keys, under a prefix no bottle label uses (theirs are
# "dev.claude-bottle.NAME", without a slash).
PREFIX = "dev.claude-bottle/"
MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "claude-bottle"
LABELS = PREFIX + "labels"  # annotation: the pairs that are not labels as they are
NAME = PREFIX + "name"  # annotation: the object's name, when it is not its Kubernetes name
NETWORK = PREFIX + "network"  # annotation on a network's policy: the network's name
PORTS = PREFIX + "ports"  # annotation on a pod: the ports it serves to its networks' peers
REACHES = PREFIX + "reaches"  # annotation on a pod: hosts it may reach in the cluster's ranges
POD = PREFIX + "pod"  # label: the pod an object belongs to (its Secret, its policies)
OBJECT = PREFIX + "object"  # label: what a NetworkPolicy or Secret is for
OBJECT_NETWORK = "network"
OBJECT_SERVES = "serves"
OBJECT_SECRET = "secret"  # noqa: S105 (a kind of object, not a password)
MEMBER_PREFIX = "net.dev.claude-bottle/"  # label MEMBER_PREFIX + network key: a network's member
MEMBER = "member"

_NAME_PART = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_OWN_PREFIXES = (PREFIX, MEMBER_PREFIX)


def valid_label_key(key: str) -> bool:
    """A Kubernetes label (or annotation) key: [prefix/]name, the prefix a DNS
    subdomain of at most 253 characters, the name at most 63."""
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(_NAME_PART.match(name))


def valid_label_value(value: str) -> bool:
    return value == "" or (len(value) <= 63 and bool(_NAME_PART.match(value)))


def object_name(name: str) -> str:
    """The Kubernetes name (a DNS label) for a claude-bottle object's name."""
    if len(name) <= 63 and _DNS_LABEL.match(name):
        return name
    cleaned = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:54].rstrip("-") or "x"
    return f"{cleaned}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def member_label(network: str) -> str:
    """The label key that makes a pod a member of `network`."""
    return MEMBER_PREFIX + object_name(network)


def secret_name(pod: str) -> str:
    return f"{pod}-secrets"


def serves_policy_name(pod: str, network: str) -> str:
    # A dot: no network's policy (a DNS label) can be called the same.
    return f"{pod}.serves.{object_name(network)}"


def accepts_policy_name(pod: str, network: str) -> str:
    return f"{pod}.accepts.{object_name(network)}"


def reaches_policy_name(pod: str) -> str:
    return f"{pod}.reaches"


@dataclass(frozen=True)
class Metadata:
    labels: dict[str, str]
    annotations: dict[str, str]

    def to_json(
        self, name: str, annotations: Mapping[str, str] | None = None, *, exact: bool = False
    ) -> dict[str, object]:
        """The object's `metadata`, with `annotations` of the engine's own;
        `exact`: `name` is already the Kubernetes name (of a pod's Secret or policy)."""
        k8s_name = name if exact else object_name(name)
        out: dict[str, object] = {"name": k8s_name, "labels": dict(self.labels)}
        annotations = {**self.annotations, **(annotations or {})}
        if k8s_name != name:
            annotations[NAME] = name
        if annotations:
            out["annotations"] = annotations
        return out


def write_labels(labels: Mapping[str, str], own: Mapping[str, str] | None = None) -> Metadata:
    """A bottle's labels as Kubernetes labels and annotations, plus the engine's own labels."""
    k8s = {MANAGED_BY: MANAGED_BY_VALUE, **(own or {})}
    rest: dict[str, str] = {}
    for key, value in labels.items():
        if valid_label_key(key) and not key.startswith(_OWN_PREFIXES) and key != MANAGED_BY:
            k8s[key] = value if valid_label_value(value) else ""
            if not valid_label_value(value):
                rest[key] = value
        else:
            rest[key] = value
    annotations = {LABELS: json.dumps(rest, sort_keys=True, separators=(",", ":"))} if rest else {}
    return Metadata(k8s, annotations)


def read_labels(metadata: Mapping[str, object]) -> dict[str, str]:
    """The bottle's labels of an object, from its Kubernetes metadata."""
    labels = metadata.get("labels") or {}
    annotations = metadata.get("annotations") or {}
    assert isinstance(labels, Mapping)
    assert isinstance(annotations, Mapping)
    out = {
        str(k): str(v) for k, v in labels.items() if not str(k).startswith(_OWN_PREFIXES) and k != MANAGED_BY
    }
    try:
        rest = json.loads(str(annotations.get(LABELS) or "{}"))
    except ValueError:
        rest = {}
    if isinstance(rest, dict):
        out.update({str(k): str(v) for k, v in rest.items()})
    return out


def read_name(metadata: Mapping[str, object]) -> str:
    annotations = metadata.get("annotations") or {}
    assert isinstance(annotations, Mapping)
    return str(annotations.get(NAME) or metadata.get("name") or "")


@dataclass(frozen=True)
class Requirement:
    key: str
    value: str | None  # None: the key is present, whatever its value

    @classmethod
    def parse(cls, text: str) -> Requirement:
        key, sep, value = text.partition("=")
        return cls(key, value if sep else None)

    def holds(self, labels: Mapping[str, str]) -> bool:
        return self.key in labels and (self.value is None or labels[self.key] == self.value)


def selector(requirements: Sequence[Requirement]) -> str:
    """A label selector the API server can evaluate that every object meeting
    `requirements` meets (it may select more: `Requirement.holds` decides)."""
    parts = [f"{MANAGED_BY}={MANAGED_BY_VALUE}"]
    for req in requirements:
        if not valid_label_key(req.key) or req.key.startswith(_OWN_PREFIXES) or req.key == MANAGED_BY:
            continue
        if req.value is not None and valid_label_value(req.value) and req.value != "":
            parts.append(f"{req.key}={req.value}")
        else:
            parts.append(req.key)
    return ",".join(parts)
