"""The Kubernetes engine's pure parts: names and labels, the hardened Pod, its
Secret, the NetworkPolicies, pod states and exec statuses (no cluster)."""

from __future__ import annotations

import base64
import ipaddress
import json
import socket
import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from claude_bottle.engine.api import ContainerSpec, FileSpec, Limits, NetworkSpec
from claude_bottle.engine.k8s import manifests, meta, policies, status
from claude_bottle.engine.k8s.cluster import exit_status
from claude_bottle.engine.k8s.config import KubernetesSettings
from claude_bottle.errors import Interrupted, UsageError
from claude_bottle.settings import Settings
from claude_bottle.tracking import labels as L

LIMITS = Limits(pids=1024, memory="8g", cpus=2)
SESSION_LABELS = {
    L.MANAGED: "1",
    L.SESSION: "0a1b2c3d",
    L.AGENT: "claude",
    L.ROLE: L.ROLE_AGENT,
    L.EGRESS: ",".join(f"host{i}.example.com" for i in range(20)),  # far over 63 characters
    L.WORKSPACE: "/home/node/workspace",  # slashes: not a label value
    "ci/job": "42",
}


def agent_spec(**over: Any) -> ContainerSpec:
    base: dict[str, Any] = {
        "name": "claude-bottle-claude",
        "image": "claude-bottle:latest",
        "network": "claude-bottle-claude-0a1b2c3d-internal",
        "labels": SESSION_LABELS,
        "limits": LIMITS,
        "command": ("sleep", "infinity"),
        "init": True,
        "workdir": "/home/node/workspace",
        "run_as": "1000:1000",  # as bottle/agent.py fills it in (plan.images.image_user)
    }
    return ContainerSpec(**{**base, **over})


# Names and labels


@pytest.mark.parametrize(
    ("key", "valid"),
    [
        pytest.param(L.SESSION, True, id="claude-bottle's keys have no slash and fit 63"),
        pytest.param("ci/job", True, id="a prefix"),
        pytest.param("example.com/x", True, id="a domain prefix"),
        pytest.param("a/b/c", False, id="two slashes"),
        pytest.param("x" * 64, False, id="a name over 63"),
        pytest.param("Bad_/x", False, id="a prefix that is not a DNS subdomain"),
        pytest.param("-x", False, id="a name that starts with a dash"),
    ],
)
def test_label_keys(key: str, valid: bool) -> None:
    assert meta.valid_label_key(key) is valid


def test_every_label_key_of_claude_bottle_is_a_valid_kubernetes_key() -> None:
    keys = [getattr(L, n) for n in dir(L) if n.isupper() and isinstance(getattr(L, n), str)]
    keys = [k for k in keys if k.startswith(L.NS + ".")]
    assert keys
    assert all(meta.valid_label_key(k) for k in keys)


def test_labels_that_cannot_be_labels_travel_in_an_annotation_and_read_back_the_same() -> None:
    md = meta.write_labels(SESSION_LABELS, {meta.POD: "p"})
    assert md.labels[L.SESSION] == "0a1b2c3d"
    assert md.labels[L.EGRESS] == ""  # kept as a key, so its presence can be selected on
    assert md.labels[L.WORKSPACE] == ""
    assert md.labels[meta.MANAGED_BY] == meta.MANAGED_BY_VALUE
    assert all(meta.valid_label_value(v) for v in md.labels.values())
    assert all(meta.valid_label_key(k) for k in [*md.labels, *md.annotations])
    stored = json.loads(md.annotations[meta.LABELS])
    assert stored == {L.EGRESS: SESSION_LABELS[L.EGRESS], L.WORKSPACE: "/home/node/workspace"}
    back = meta.read_labels({"labels": md.labels, "annotations": md.annotations})
    assert back == SESSION_LABELS  # the engine's own labels are not the bottle's


def test_a_selector_is_wider_than_the_requirements_and_holds_decides() -> None:
    reqs = [meta.Requirement.parse(f"{L.SESSION}=0a1b2c3d"), meta.Requirement.parse(f"{L.WORKSPACE}=/x")]
    sel = meta.selector(reqs)
    assert sel == f"{meta.MANAGED_BY}=claude-bottle,{L.SESSION}=0a1b2c3d,{L.WORKSPACE}"
    assert not all(r.holds(SESSION_LABELS) for r in reqs)
    reqs[1] = meta.Requirement.parse(f"{L.WORKSPACE}=/home/node/workspace")
    assert all(r.holds(SESSION_LABELS) for r in reqs)
    assert meta.selector([meta.Requirement.parse("a/b/c=1")]) == f"{meta.MANAGED_BY}=claude-bottle"


@pytest.mark.parametrize(
    "name",
    ["claude-bottle-claude", "claude-bottle-my_agent", "Claude.Bottle", "x" * 80, "claude-bottle-egress"],
)
def test_object_names_are_dns_labels_and_distinct(name: str) -> None:
    k8s = meta.object_name(name)
    assert len(k8s) <= 63
    assert meta._DNS_LABEL.match(k8s)
    assert (k8s == name) is (name in ("claude-bottle-claude", "claude-bottle-egress"))
    assert meta.object_name(name.upper() + "_") != k8s


def test_a_mapped_name_is_kept_for_find() -> None:
    md = meta.write_labels({})
    body = md.to_json("claude-bottle-my_agent")
    assert body["name"] != "claude-bottle-my_agent"
    assert meta.read_name(body) == "claude-bottle-my_agent"
    assert meta.read_name(md.to_json("plain")) == "plain"


# The Pod


def test_the_pod_is_hardened() -> None:
    pod = manifests.pod_manifest(agent_spec(), manifests.PodOptions(runtime_class="gvisor"))
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never"
    assert spec["automountServiceAccountToken"] is False
    assert spec["enableServiceLinks"] is False
    assert (spec["hostNetwork"], spec["hostPID"], spec["hostIPC"]) == (False, False, False)
    assert spec["shareProcessNamespace"] is True  # init: the pause container reaps zombies
    assert spec["runtimeClassName"] == "gvisor"
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
        "runAsUser": 1000,
        "runAsGroup": 1000,
        "fsGroup": 1000,
    }
    (container,) = spec["containers"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["args"] == ["sleep", "infinity"]
    assert "command" not in container  # the image's entrypoint stays, as with `docker run IMAGE CMD`
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["resources"] == {
        "limits": {"memory": "8Gi", "cpu": "2000m"},
        "requests": {"memory": "1Gi", "cpu": "250m"},
    }
    assert not any("hostPath" in v for v in spec["volumes"])
    assert pod["metadata"]["labels"][meta.member_label(agent_spec().network)] == meta.MEMBER


def test_the_sidecar_pod_runs_read_only_as_proxy_with_its_tmpfs_in_memory() -> None:
    spec = agent_spec(
        name="claude-bottle-claude-0a1b2c3d-sidecar",
        image="claude-bottle-squid:latest",
        command=(),
        init=False,
        workdir=None,
        read_only=True,
        limits=Limits(pids=512, memory="1g"),
        ports=(3128,),
        tmpfs=(("/run/squid", "rw,noexec,nosuid,nodev,size=4m,mode=0700,uid=13,gid=13"),),
        cap_add=("cap_net_bind_service",),
        run_as="13:13",
    )
    pod = manifests.pod_manifest(spec)
    (container,) = pod["spec"]["containers"]
    assert pod["spec"]["securityContext"]["runAsUser"] == 13
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}
    assert "args" not in container
    assert pod["spec"]["volumes"] == [
        {"name": "tmpfs-0", "emptyDir": {"medium": "Memory", "sizeLimit": "4Mi"}}
    ]
    assert container["volumeMounts"] == [{"name": "tmpfs-0", "mountPath": "/run/squid"}]
    assert container["resources"]["requests"] == {"memory": "128Mi", "cpu": "50m"}
    assert "cpu" not in container["resources"]["limits"]
    assert pod["metadata"]["annotations"][meta.PORTS] == "3128"


def test_secret_values_and_files_go_in_a_secret_never_in_the_pod() -> None:
    spec = agent_spec(
        env={"MODE": "review"},
        secret_env=("ANTHROPIC_API_KEY",),
        files=(FileSpec("/etc/pipelock/pipelock.yaml", b"\x00\xffbinary", 0o440),),
    )
    pod = manifests.pod_manifest(spec)
    secret = manifests.secret_manifest(spec, {"ANTHROPIC_API_KEY": "sk-very-secret"})
    assert secret is not None
    assert "sk-very-secret" not in json.dumps(pod)
    (container,) = pod["spec"]["containers"]
    assert container["env"] == [
        {"name": "MODE", "value": "review"},
        {
            "name": "ANTHROPIC_API_KEY",
            "valueFrom": {
                "secretKeyRef": {"name": "claude-bottle-claude-secrets", "key": "env.ANTHROPIC_API_KEY"}
            },
        },
    ]
    assert base64.b64decode(secret["data"]["env.ANTHROPIC_API_KEY"]) == b"sk-very-secret"
    assert base64.b64decode(secret["data"]["file.0"]) == b"\x00\xffbinary"
    assert secret["metadata"]["name"] == "claude-bottle-claude-secrets"
    assert secret["metadata"]["labels"][meta.POD] == "claude-bottle-claude"
    assert secret["metadata"]["labels"][L.SESSION] == "0a1b2c3d"
    files = next(v for v in pod["spec"]["volumes"] if v["name"] == "files")
    assert files["secret"]["items"] == [{"key": "file.0", "path": "file.0", "mode": 0o440}]
    assert {
        "name": "files",
        "mountPath": "/etc/pipelock/pipelock.yaml",
        "subPath": "file.0",
        "readOnly": True,
    } in (container["volumeMounts"])


def test_a_secret_without_its_value_is_refused() -> None:
    with pytest.raises(UsageError, match="no value for TOKEN"):
        manifests.secret_manifest(agent_spec(secret_env=("TOKEN",)), {})
    assert manifests.secret_manifest(agent_spec(), {}) is None


@pytest.mark.parametrize(
    ("user", "run_as", "expected"),
    [
        pytest.param(None, "1000:1000", (1000, 1000), id="the spec's numeric user"),
        pytest.param(None, "13", (13, 13), id="a user alone: its group the same number"),
        pytest.param(None, None, None, id="none: the image's own numeric user"),
        pytest.param("2000:3000", "1000:1000", (2000, 3000), id="the spec's user first"),
    ],
)
def test_pods_run_as_a_numeric_user(
    user: str | None, run_as: str | None, expected: tuple[int, int] | None
) -> None:
    assert manifests.run_as(agent_spec(user=user, run_as=run_as)) == expected


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        pytest.param("claude-bottle:latest", "1000:1000", id="the agent image's node"),
        pytest.param("localhost:5000/team/claude-bottle-squid:v2", "13:13", id="the squid image's proxy"),
        pytest.param("something/else:1", None, id="an unknown image: its own numeric user"),
    ],
)
def test_the_plan_knows_which_user_its_images_run_as(image: str, expected: str | None) -> None:
    from claude_bottle.plan.images import image_user

    assert image_user(image) == expected


@pytest.mark.parametrize("text", ["8g", "512m", "6M", "4096", "1b", "0"])
def test_sizes_read_as_the_manifest_reads_them(text: str) -> None:
    from claude_bottle.manifest.parse import memory_bytes

    assert manifests.size_bytes(text) == memory_bytes(text)


@pytest.mark.parametrize("user", ["root", "0", "0:0", "someone", "node"])
def test_root_and_names_are_refused(user: str) -> None:
    with pytest.raises(UsageError):
        manifests.run_as(agent_spec(user=user))


@pytest.mark.parametrize(
    ("options", "size"),
    [
        ("rw,size=4m,mode=0700", "4Mi"),
        ("size=65536k", "64Mi"),
        ("size=1g", "1Gi"),
        ("size=100", "100"),
        ("rw", None),
    ],
)
def test_tmpfs_sizes(options: str, size: str | None) -> None:
    assert manifests.tmpfs_size(options) == size


# NetworkPolicies

NET = "claude-bottle-claude-0a1b2c3d-internal"


def test_an_internal_network_lets_nobody_in_and_nowhere_out() -> None:
    policy = policies.network_policy(NetworkSpec(NET, {L.SESSION: "0a1b2c3d"}))
    member = {"matchLabels": {meta.member_label(NET): meta.MEMBER}}
    assert policy["spec"] == {
        "podSelector": member,
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [],
        "egress": [],
    }
    assert policy["metadata"]["labels"][meta.OBJECT] == meta.OBJECT_NETWORK
    assert policy["metadata"]["annotations"][meta.NETWORK] == NET


def test_a_serving_pod_opens_only_its_ports_to_its_network_on_both_sides() -> None:
    out, into = policies.serves_policies("sidecar-pod", NET, (3128,), {L.SESSION: "0a1b2c3d"})
    member = {"matchLabels": {meta.member_label(NET): meta.MEMBER}}
    peer = {"matchLabels": {meta.member_label(NET): meta.MEMBER, meta.POD: "sidecar-pod"}}
    tcp = [{"protocol": "TCP", "port": 3128}]
    assert out["metadata"]["name"] == f"sidecar-pod.serves.{meta.object_name(NET)}"
    assert out["spec"] == {
        "podSelector": member,
        "policyTypes": ["Egress"],
        "egress": [{"to": [{"podSelector": peer}], "ports": tcp}],
    }
    assert into["metadata"]["name"] == f"sidecar-pod.accepts.{meta.object_name(NET)}"
    assert into["spec"] == {
        "podSelector": peer,
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"podSelector": member}], "ports": tcp}],
    }


def test_the_egress_network_goes_out_but_not_to_the_cluster_and_lets_nobody_in() -> None:
    excluded = tuple(ipaddress.IPv4Network(n) for n in ("10.244.0.0/24", "10.244.0.0/16", "10.96.0.0/12"))
    rules = policies.EgressRules(excluded, (22, 80, 443))
    policy = policies.network_policy(NetworkSpec("claude-bottle-egress", {}, internal=False), rules)
    spec = policy["spec"]
    assert spec["ingress"] == []
    web, dns = spec["egress"]
    never = ["0.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "168.63.129.16/32", "169.254.0.0/16",
             "192.0.0.0/24", "198.18.0.0/15", "224.0.0.0/3"]  # fmt: skip
    # On the web ports: not the cluster, never the never-list, and no private address
    # (an internal host's is opened by a policy of its sidecar's own: reach_peers).
    (web_to,) = web["to"]
    assert sorted(web_to["ipBlock"]["except"]) == sorted(
        [*never, "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
    )
    assert [p["port"] for p in web["ports"]] == [22, 80, 443]
    assert {p["protocol"] for p in web["ports"]} == {"TCP"}
    # DNS: to a resolver outside the cluster's ranges and the never-list, or the cluster's DNS pods.
    assert sorted(dns["to"][0]["ipBlock"]["except"]) == sorted([*never, "10.244.0.0/16", "10.96.0.0/12"])
    assert dns["to"][1] == policies.KUBE_DNS
    assert dns["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    with pytest.raises(ValueError, match="needs its rules"):
        policies.network_policy(NetworkSpec("x", {}, internal=False))


def test_the_cluster_ranges_come_from_nodes_services_and_the_api_server() -> None:
    nodes: list[dict[str, Any]] = [
        {
            "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24", "fd00::/64"]},
            "status": {"addresses": [{"type": "InternalIP", "address": "10.200.0.1"}, {"address": "node-1"}]},
        },
        {"spec": {"podCIDR": "10.244.1.0/24"}, "status": {}},
    ]
    assert policies.cluster_ranges(nodes, ["10.96.0.0/12"], ["10.96.0.1", "10.200.0.1"]) == [
        "10.200.0.1/32",
        "10.244.0.0/24",
        "10.244.1.0/24",
        "10.96.0.0/12",
        "10.96.0.1/32",
    ]


def test_a_sidecars_internal_hosts_travel_on_its_pod() -> None:
    pod = manifests.pod_manifest(agent_spec(reaches=("git.corp.example", "10.244.3.7")))
    assert policies.reached_hosts(pod["metadata"]) == ("git.corp.example", "10.244.3.7")
    assert policies.reached_hosts(manifests.pod_manifest(agent_spec())["metadata"]) == ()


SERVICE: dict[str, Any] = {
    "metadata": {"name": "git", "namespace": "dev"},
    "spec": {"clusterIP": "10.96.4.4", "clusterIPs": ["10.96.4.4"], "selector": {"app": "git"},
             "ports": [{"port": 443, "targetPort": 8443}, {"port": 80, "targetPort": "http"},
                       {"port": 9000, "targetPort": 9000}]},
}  # fmt: skip


def test_internal_hosts_open_their_addresses_and_a_services_pods_on_the_egress_ports() -> None:
    services = policies.Service.from_json(SERVICE)
    rules = policies.reach_peers(
        ["10.244.3.7", "10.96.4.4", "10.244.3.7", "169.254.169.254", "127.0.0.1", "not-an-address"],
        services,
        (22, 80, 443),
    )
    assert rules == [
        {"to": [{"ipBlock": {"cidr": "10.244.3.7/32"}}],
         "ports": [{"protocol": "TCP", "port": p} for p in (22, 80, 443)]},
        # The Service's address is rewritten to a pod before a policy sees it:
        # its pods by selector, on the target ports of its egress ports only.
        {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "dev"}},
                 "podSelector": {"matchLabels": {"app": "git"}}}],
         "ports": [{"protocol": "TCP", "port": "http"}, {"protocol": "TCP", "port": 8443}]},
    ]  # fmt: skip


@pytest.mark.parametrize(
    "address",
    ["169.254.169.254", "169.254.170.2", "100.100.100.200", "168.63.129.16", "127.0.0.1", "0.0.0.0"],
)
def test_no_metadata_or_never_reached_address_is_ever_opened(address: str) -> None:
    assert policies.reach_peers([address], [], (80,)) == []


def test_a_service_without_a_selector_or_address_names_no_pods() -> None:
    assert policies.Service.from_json({"metadata": {}, "spec": {"clusterIP": "10.96.0.9"}}) == []
    headless = {**SERVICE, "spec": {**SERVICE["spec"], "clusterIP": "None", "clusterIPs": ["None"]}}
    assert policies.Service.from_json(headless) == []


def test_the_reaches_policy_selects_its_pod_alone_and_goes_with_it() -> None:
    rules = policies.reach_peers(["10.244.3.7"], [], (443,))
    body = policies.reaches_policy("claude-bottle-claude-0a1b2c3d-proxy", rules, SESSION_LABELS)
    assert body["spec"]["podSelector"] == {"matchLabels": {meta.POD: "claude-bottle-claude-0a1b2c3d-proxy"}}
    assert body["spec"]["policyTypes"] == ["Egress"]
    assert body["spec"]["egress"] == rules
    labels = body["metadata"]["labels"]
    assert labels[meta.POD] == "claude-bottle-claude-0a1b2c3d-proxy"  # removed with its pod
    assert labels[meta.OBJECT] == meta.OBJECT_SERVES  # found by cleanup as the pod's other policies


# Pod states, exec statuses, settings


SYNC_TIMEOUT = "failed to sync secret cache: timed out waiting for the condition"


def pod(phase: str, **state: Any) -> dict[str, Any]:
    return {"status": {"phase": phase, "containerStatuses": [{"state": state}] if state else []}}


@pytest.mark.parametrize(
    ("body", "state", "words"),
    [
        pytest.param(pod("Running", running={}), "running", "", id="running"),
        pytest.param(pod("Pending", waiting={"reason": "ContainerCreating"}), "pending", "", id="creating"),
        pytest.param(
            pod("Pending", waiting={"reason": "ErrImageNeverPull", "message": "image not present"}),
            "failed",
            "ErrImageNeverPull: image not present (the image is not on the node",
            id="image never pulled",
        ),
        pytest.param(
            pod("Pending", waiting={"reason": "CreateContainerConfigError", "message": "non-numeric user"}),
            "failed",
            "CreateContainerConfigError: non-numeric user",
            id="config error",
        ),
        pytest.param(
            pod("Pending", waiting={"reason": "CreateContainerConfigError", "message": SYNC_TIMEOUT}),
            "pending",
            "",
            id="secret cache not synced yet",
        ),
        pytest.param(
            pod("Failed", terminated={"reason": "Error", "exitCode": 3}),
            "ended",
            "its container ended (Error, exit 3)",
            id="ended",
        ),
        pytest.param(
            {
                "status": {
                    "phase": "Pending",
                    "conditions": [
                        {
                            "type": "PodScheduled",
                            "status": "False",
                            "reason": "Unschedulable",
                            "message": "0/1 nodes",
                        }
                    ],
                }
            },
            "failed",
            "Unschedulable: 0/1 nodes",
            id="unschedulable",
        ),
    ],
)
def test_pod_states(body: dict[str, Any], state: str, words: str) -> None:
    got = status.pod_state(body)
    assert got.state == state
    assert got.message.startswith(words)


def test_a_sandbox_that_cannot_be_made_is_said_at_once() -> None:
    events = [
        {"type": "Normal", "reason": "Scheduled", "message": "ok"},
        {"type": "Warning", "reason": "FailedCreatePodSandBox", "message": "no runtime for runsc "},
    ]
    assert status.fatal_event(events) == "FailedCreatePodSandBox: no runtime for runsc"
    assert status.fatal_event(events[:1]) is None


def test_ages_read_like_dockers() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert status.age("2026-01-01T11:59:50Z", now) == "10 seconds ago"
    assert status.age("2026-01-01T11:45:00Z", now) == "15 minutes ago"
    assert status.age("2026-01-01T09:00:00Z", now) == "3 hours ago"
    assert status.age("garbage", now) == ""


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        pytest.param(b'{"metadata":{},"status":"Success"}', (0, ""), id="success"),
        pytest.param(
            b'{"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"42"}]}}',
            (42, ""),
            id="exit code",
        ),
        pytest.param(
            b'{"status":"Failure","message":"exec: \\"nope\\": executable file not found in $PATH"}',
            (127, 'exec: "nope": executable file not found in $PATH'),
            id="no such command",
        ),
        pytest.param(b"", (None, ""), id="no status"),
    ],
)
def test_exit_statuses(error: bytes, expected: tuple[int | None, str]) -> None:
    assert exit_status(error) == expected


def test_settings() -> None:
    s = KubernetesSettings.from_settings(
        Settings.from_environ(
            {
                "CLAUDE_BOTTLE_K8S_EXCLUDE_CIDRS": "10.0.0.0/8, 192.168.1.1",
                "CLAUDE_BOTTLE_K8S_EGRESS_PORTS": "443,80",
            }
        )
    )
    assert s.excluded_networks() == (
        ipaddress.IPv4Network("10.0.0.0/8"),
        ipaddress.IPv4Network("192.168.1.1/32"),
    )
    assert s.ports() == (80, 443)
    assert KubernetesSettings().ports() == (22, 80, 443)
    with pytest.raises(UsageError, match="CLAUDE_BOTTLE_K8S_EXCLUDE_CIDRS: 'nope'"):
        KubernetesSettings(exclude_cidrs="nope").excluded_networks()
    with pytest.raises(UsageError, match="CLAUDE_BOTTLE_K8S_PULL_POLICY"):
        KubernetesSettings(pull_policy="Sometimes").image_pull_policy()


def test_a_long_pods_secret_is_the_one_its_pod_names() -> None:
    spec = agent_spec(name="claude-bottle-" + "a" * 60, secret_env=("T",))
    pod = manifests.pod_manifest(spec)
    secret = manifests.secret_manifest(spec, {"T": "v"})
    assert secret is not None
    ref = pod["spec"]["containers"][0]["env"][0]["valueFrom"]["secretKeyRef"]["name"]
    assert ref == secret["metadata"]["name"] == meta.secret_name(pod["metadata"]["name"])


# The exec websocket's framing, against a stand-in socket


class FakeSocket:
    """Sends what it is given to `sent`; answers with `script` frames, then a close."""

    def __init__(self, script: list[bytes], subprotocol: str = "v5.channel.k8s.io") -> None:
        self.sent: list[bytes] = []
        self.script = list(script)
        self.subprotocol = subprotocol

    def getsubprotocol(self) -> str:
        return self.subprotocol

    def send_binary(self, data: bytes) -> None:
        self.sent.append(data)

    def recv_data_frame(self, _control: bool) -> tuple[int, Any]:
        from websocket import ABNF

        if not self.script:
            return ABNF.OPCODE_CLOSE, None
        return ABNF.OPCODE_BINARY, type("Frame", (), {"data": self.script.pop(0)})()

    def close(self) -> None:
        pass


def test_channels_frame_bytes_both_ways() -> None:
    from claude_bottle.engine.k8s import streams

    every_byte = bytes(range(256))
    sock = FakeSocket([b"\x01" + every_byte, b"\x02oops", b"\xff\x01", b'\x03{"status":"Success"}'])
    channels = streams.Channels(sock)
    streams.feed(channels, every_byte * 1000).join()
    out, err = bytearray(), bytearray()
    assert streams.drain(channels, out.extend, err.extend) == (0, "")
    assert (bytes(out), bytes(err)) == (every_byte, b"oops")
    assert all(m[0] == streams.STDIN for m in sock.sent[:-1])
    assert b"".join(m[1:] for m in sock.sent[:-1]) == every_byte * 1000
    assert max(len(m) for m in sock.sent) <= streams.CHUNK + 1
    assert sock.sent[-1] == bytes([streams.CLOSE, streams.STDIN])  # stdin closed: `tar -x` sees its end


class SilentSocket(FakeSocket):
    """A websocket over a real socket that never answers: a read blocks until
    the socket is shut down, as an attached session's does while it waits."""

    def __init__(self) -> None:
        super().__init__([])
        self.sock, self._peer = socket.socketpair()

    def recv_data_frame(self, _control: bool) -> tuple[int, Any]:
        if not self.sock.recv(1):
            raise OSError("the stream ended")
        raise AssertionError("nothing is ever sent on this socket")

    def close(self) -> None:
        self.sock.close()
        self._peer.close()


def test_an_interrupted_attach_ends_its_reader_before_closing_its_pipe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Ctrl-C or `stop` raise Interrupted in the loop that waits on the session;
    # the reader thread must end with it, not write to a pipe closed under it.
    from claude_bottle.engine.k8s import streams, terminal

    def interrupted(*_args: object) -> None:
        raise Interrupted("SIGINT")

    failures: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", failures.append)
    monkeypatch.setattr(terminal, "_pump_stdin", interrupted)
    sock = SilentSocket()
    with pytest.raises(Interrupted):
        terminal.attach(streams.Channels(sock), tty=False)
    assert [t for t in threading.enumerate() if t.name == "exec-output"] == []
    assert failures == []


def test_stdin_cannot_be_closed_before_v5() -> None:
    from claude_bottle.engine.k8s import streams

    sock = FakeSocket([], subprotocol="v4.channel.k8s.io")
    streams.Channels(sock).close_stdin()
    assert sock.sent == []
