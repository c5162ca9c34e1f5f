"""The Kubernetes engine on the test cluster, through engine.api only: a bottle's
networks hold (the agent reaches its sidecar's port and nothing else, the
sidecar reaches the lab and not the cluster), files go in and out byte for
byte, commands report their status, and find/remove leave nothing."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import secrets
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

import claude_bottle.tracking.labels as L
from claude_bottle.engine.api import ContainerSpec, FileSpec, Limits, NetworkSpec
from claude_bottle.engine.k8s import meta
from claude_bottle.engine.k8s.config import KubernetesSettings
from claude_bottle.engine.kubernetes import KubernetesEngine
from claude_bottle.errors import ClaudeBottleError, NameConflict, NotFound, PathNotFound, UsageError
from claude_bottle.plan.images import image_user
from claude_bottle.settings import Settings
from tests.conftest import wait_for
from tests.k8s.conftest import wait_empty

IMAGE = "claude-bottle:latest"
PORT, UNDECLARED = 3128, 8081
# A web server on the proxy's port and on one it does not declare.
SERVE = (
    "const h=require('http');"
    f"for (const p of [{PORT},{UNDECLARED}]) h.createServer((q,r)=>r.end('sidecar '+p)).listen(p);"
)
LIMITS = Limits(pids=256, memory="256m", cpus=0.5)


def probe(engine: KubernetesEngine, pod: str, host: str, port: int, udp: bool = False) -> bool:
    """Whether `pod` can open a connection to host:port (a UDP probe: whether DNS answers)."""
    if udp:
        argv = ["sh", "-c", "getent hosts allowed.test || exit 1"]  # the pod's resolver is the lab's DNS
    else:
        argv = ["nc", "-z", "-w", "2", host, str(port)]
    return engine.exec(pod, argv).returncode == 0


@dataclass
class Bottle:
    session: str
    internal: str
    egress: str
    sidecar: str
    agent: str
    bystander: str
    free: str
    labels: dict[str, str]

    def ip(self, engine: KubernetesEngine, pod: str) -> str:
        return engine.address_of(pod, self.internal)


def spec(name: str, network: str, labels: dict[str, str], **over: object) -> ContainerSpec:
    base: dict[str, object] = {"name": name, "image": IMAGE, "network": network, "labels": labels,
                               "limits": LIMITS, "init": True}  # fmt: skip
    merged = {**base, **over}
    # As the bottle fills it in: the numeric user claude-bottle's images run as.
    merged.setdefault("run_as", image_user(str(merged["image"])))
    return ContainerSpec(**merged)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def bottle(engine: KubernetesEngine) -> Iterator[Bottle]:
    session = secrets.token_hex(4)
    labels = {
        L.MANAGED: "1",
        L.SESSION: session,
        L.AGENT: "probe",
        L.EGRESS: ",".join(f"h{i}.allowed.test" for i in range(12)),
        L.WORKSPACE: "/home/node/workspace",
    }
    b = Bottle(
        session=session,
        internal=f"claude-bottle-probe-{session}-internal",
        egress=f"claude-bottle-egress-test-{session}",
        sidecar=f"claude-bottle-probe-{session}-sidecar",
        agent="claude-bottle-probe",
        bystander=f"claude-bottle-bystander-{session}",
        free=f"claude-bottle-free-{session}",
        labels=labels,
    )
    try:
        engine.create_network(NetworkSpec(b.internal, {**labels, L.ROLE: L.ROLE_INTERNAL_NET}))
        engine.create_network(NetworkSpec(b.egress, {L.ROLE: L.ROLE_SHARED_EGRESS_NET}, internal=False))
        engine.run_container(spec(b.sidecar, b.internal, {**labels, L.ROLE: L.ROLE_SIDECAR},
                                  command=("node", "-e", SERVE), ports=(PORT,)))  # fmt: skip
        engine.connect(b.egress, b.sidecar)
        engine.run_container(spec(b.agent, b.internal, {**labels, L.ROLE: L.ROLE_AGENT},
                                  command=("sleep", "infinity")))  # fmt: skip
        # A pod of another bottle's kind: on a network of its own, serving a port.
        other = f"{b.internal}-other"
        engine.create_network(NetworkSpec(other, {**labels, L.ROLE: L.ROLE_INTERNAL_NET}))
        engine.run_container(spec(b.bystander, other, {**labels, L.ROLE: L.ROLE_SIDECAR},
                                  command=("node", "-e", SERVE), ports=(PORT,)))  # fmt: skip
        # A pod no policy selects (its network was never made): it may go anywhere.
        engine.run_container(spec(b.free, f"{b.internal}-none", labels, command=("sleep", "infinity")))
        yield b
    finally:
        engine.remove_containers(b.agent, b.sidecar, b.bystander, b.free)
        for network in (b.internal, f"{b.internal}-other", b.egress):
            if engine.network_exists(network):
                engine.remove_network(network)
        assert wait_empty(engine) == []


# The wall


def test_the_agent_reaches_its_sidecars_port(engine: KubernetesEngine, bottle: Bottle) -> None:
    ip = bottle.ip(engine, bottle.sidecar)
    got = engine.exec(bottle.agent, ["curl", "-sS", "-m", "5", f"http://{ip}:{PORT}/"])
    assert (got.returncode, got.stdout) == (0, f"sidecar {PORT}")


def test_the_agent_reaches_nothing_else(
    engine: KubernetesEngine, bottle: Bottle, lab: dict[str, str]
) -> None:
    sidecar = bottle.ip(engine, bottle.sidecar)
    bystander = bottle.ip(engine, bottle.bystander)
    api_host, _, api_port = lab["CLAUDE_BOTTLE_K8S_API_IN_CLUSTER"].partition(":")
    service_host, _, service_port = lab["CLAUDE_BOTTLE_K8S_API_SERVICE"].partition(":")
    targets = {
        "its sidecar's undeclared port": (sidecar, UNDECLARED),
        "another bottle's pod": (bystander, PORT),
        "the lab web server": (lab["CLAUDE_BOTTLE_K8S_LAB_WEB_IP"], 80),
        "the lab over TLS": (lab["CLAUDE_BOTTLE_K8S_LAB_WEB_IP"], 443),
        "the metadata address": (lab["CLAUDE_BOTTLE_K8S_METADATA_IP"], 80),
        "the API server": (api_host, int(api_port)),
        "the API server's service": (service_host, int(service_port)),
        "the node's kubelet": (lab["CLAUDE_BOTTLE_K8S_NODE_IP"], 10250),
        "the pod network's gateway": (lab["CLAUDE_BOTTLE_K8S_POD_GATEWAY"], 10250),
        "DNS over TCP": (lab["CLAUDE_BOTTLE_K8S_LAB_DNS_IP"], 53),
    }
    reached = [what for what, (host, port) in targets.items() if probe(engine, bottle.agent, host, port)]
    assert reached == []
    assert not probe(engine, bottle.agent, "", 0, udp=True), "the agent resolved a name"


def test_the_sidecar_reaches_the_lab_and_not_the_cluster(
    engine: KubernetesEngine, bottle: Bottle, lab: dict[str, str]
) -> None:
    web = lab["CLAUDE_BOTTLE_K8S_LAB_WEB_IP"]
    assert probe(engine, bottle.sidecar, web, 80)
    assert probe(engine, bottle.sidecar, web, 443)
    assert probe(engine, bottle.sidecar, "", 0, udp=True), "the sidecar cannot resolve lab names"
    got = engine.exec(bottle.sidecar, ["curl", "-sS", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}",
                                       "http://allowed.test/"])  # fmt: skip
    assert got.returncode == 0, got.stderr
    api_host, _, api_port = lab["CLAUDE_BOTTLE_K8S_API_IN_CLUSTER"].partition(":")
    service_host, _, service_port = lab["CLAUDE_BOTTLE_K8S_API_SERVICE"].partition(":")
    forbidden = {
        "the metadata address": (lab["CLAUDE_BOTTLE_K8S_METADATA_IP"], 80),
        "the API server": (api_host, int(api_port)),
        "the API server's service": (service_host, int(service_port)),
        "another bottle's pod": (bottle.ip(engine, bottle.bystander), PORT),
        "the lab on a port that is not for egress": (web, 9000),
    }
    reached = [what for what, (host, port) in forbidden.items() if probe(engine, bottle.sidecar, host, port)]
    assert reached == []


def test_private_addresses_only_for_internal_hosts_and_metadata_never(
    engine: KubernetesEngine, bottle: Bottle, lab: dict[str, str]
) -> None:
    """The floor on Kubernetes: a sidecar reaches a private address outside the
    cluster only as one of its internal hosts' (the control), and a metadata
    address never, even when its internal hosts name one."""
    private = lab["CLAUDE_BOTTLE_K8S_LAB_PRIVATE_IP"]
    metadata = lab["CLAUDE_BOTTLE_K8S_METADATA_IPS"].split()
    egress = f"{bottle.egress}-floor"
    named, plain = (f"claude-bottle-{role}-{bottle.session}" for role in ("named", "plain"))
    labels = {**bottle.labels, L.ROLE: L.ROLE_SIDECAR}
    try:
        engine.create_network(NetworkSpec(egress, {L.ROLE: L.ROLE_SHARED_EGRESS_NET}, internal=False))
        reaches = (private, *metadata, "metadata.lab.test", "ecs.lab.test", "alibaba.lab.test")
        for name, what in ((named, reaches), (plain, ())):
            engine.run_container(
                spec(name, bottle.internal, labels, command=("sleep", "infinity"), reaches=what)
            )
            engine.connect(egress, name)
        wait_for(lambda: probe(engine, named, private, 80), 15, "the internal host's address to open", 0.5)
        assert probe(engine, plain, lab["CLAUDE_BOTTLE_K8S_LAB_WEB_IP"], 80), (
            "the way out (the lab's internet)"
        )
        assert not probe(engine, plain, private, 80), "a private address no internal host has"
        reached = [address for address in metadata if probe(engine, named, address, 80)]
        assert reached == []
    finally:
        engine.remove_containers(named, plain)
        if engine.network_exists(egress):
            engine.remove_network(egress)


def test_internal_hosts_inside_the_cluster_are_opened_to_their_sidecar_alone(
    engine: KubernetesEngine, bottle: Bottle, lab: dict[str, str]
) -> None:
    # Egress on the lab's web port and the server's: only the cluster's ranges stand between.
    wide = KubernetesEngine(engine.cluster, KubernetesSettings(egress_ports=f"80,{PORT}"))
    egress = f"{bottle.egress}-wide"
    roles = ("server", "opened", "closed", "by-service")
    server, opened, closed, by_service = (f"claude-bottle-{role}-{bottle.session}" for role in roles)
    service = f"claude-bottle-server-{bottle.session}"
    services = f"/api/v1/namespaces/{engine.cluster.namespace}/services"
    labels = {**bottle.labels, L.ROLE: L.ROLE_SIDECAR}
    try:
        wide.create_network(NetworkSpec(egress, {L.ROLE: L.ROLE_SHARED_EGRESS_NET}, internal=False))
        # An in-cluster server no policy selects (its network was never made), and a Service for it.
        engine.run_container(
            spec(server, f"{bottle.internal}-none", bottle.labels, command=("node", "-e", SERVE))
        )
        address = bottle.ip(engine, server)
        ports = [{"port": PORT, "targetPort": PORT}]
        made = engine.cluster.request("POST", services, body={
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": service},
            "spec": {"selector": {meta.POD: meta.object_name(server)}, "ports": ports},
        })  # fmt: skip
        service_ip = made["spec"]["clusterIP"]
        for name, reaches in ((opened, (address, "allowed.test")), (closed, ()), (by_service, (service_ip,))):
            wide.run_container(
                spec(name, bottle.internal, labels, command=("sleep", "infinity"), reaches=reaches)
            )
            wide.connect(egress, name)
        # The control: a sidecar without internal hosts goes out, but not into the cluster.
        # A new policy comes into force a moment after it is made.
        wait_for(
            lambda: probe(engine, closed, lab["CLAUDE_BOTTLE_K8S_LAB_WEB_IP"], 80), 15, "the way out", 0.5
        )
        wait_for(lambda: probe(engine, opened, address, PORT), 15, "the opened address to open", 0.5)
        wait_for(lambda: probe(engine, by_service, service_ip, PORT), 15, "the Service to open", 0.5)
        assert not probe(engine, closed, address, PORT)
        assert not probe(engine, closed, service_ip, PORT)
        assert not probe(engine, opened, address, UNDECLARED), "a port that is not for egress"
        assert not probe(engine, opened, bottle.ip(engine, bottle.bystander), PORT), "an address not named"
        assert not probe(engine, bottle.agent, address, PORT), "the agent itself"
        # A name is resolved inside the pod, by the resolver its proxy uses (here the lab's).
        policy = engine.cluster.get("networkpolicies", meta.reaches_policy_name(meta.object_name(opened)))
        blocks = [peer["ipBlock"]["cidr"] for rule in policy["spec"]["egress"] for peer in rule["to"]]
        assert blocks == [f"{address}/32", f"{lab['CLAUDE_BOTTLE_K8S_LAB_WEB_IP']}/32"]
    finally:
        engine.remove_containers(server, opened, closed, by_service)
        with contextlib.suppress(NotFound):
            engine.cluster.request("DELETE", f"{services}/{service}")
        if engine.network_exists(egress):
            engine.remove_network(egress)


def test_nothing_but_its_agent_reaches_the_sidecar(
    engine: KubernetesEngine, bottle: Bottle, lab: dict[str, str]
) -> None:
    # The free pod goes anywhere (the control), but not into a bottle.
    assert probe(engine, bottle.free, lab["CLAUDE_BOTTLE_K8S_LAB_WEB_IP"], 80)
    for pod in (bottle.sidecar, bottle.bystander):
        for port in (PORT, UNDECLARED):
            assert not probe(engine, bottle.free, bottle.ip(engine, pod), port), f"reached {pod}:{port}"


# Files and commands


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o640
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_tar_streams_round_trip_binary_bytes(engine: KubernetesEngine, bottle: Bottle) -> None:
    blob = bytes(range(256)) * 64 + os.urandom(3 * 2**20)  # every byte value, and 3 MiB of noise
    engine.exec(bottle.agent, ["mkdir", "-p", "/tmp/in"])
    engine.copy_in(bottle.agent, "/tmp/in", _tar({"blob.bin": blob, "sub/crlf.txt": b"a\r\nb\x00\n"}))
    got = engine.exec(bottle.agent, ["sha256sum", "/tmp/in/blob.bin"])
    assert got.stdout.split()[0] == hashlib.sha256(blob).hexdigest()
    assert engine.exec(bottle.agent, ["stat", "-c", "%a", "/tmp/in/blob.bin"]).stdout.strip() == "640"
    with engine.copy_out(bottle.agent, "/tmp/in") as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
        back = {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]
    assert back == {"in/blob.bin": blob, "in/sub/crlf.txt": b"a\r\nb\x00\n"}


def test_a_missing_path_is_said(engine: KubernetesEngine, bottle: Bottle) -> None:
    with pytest.raises(PathNotFound), engine.copy_out(bottle.agent, "/no/such/path"):
        pass
    with pytest.raises(PathNotFound):
        engine.copy_in(bottle.agent, "/no/such/dir", _tar({"x": b"x"}))


def test_exec_reports_status_output_and_takes_stdin(engine: KubernetesEngine, bottle: Bottle) -> None:
    got = engine.exec(bottle.agent, ["sh", "-c", "echo out; echo err >&2; exit 42"])
    assert (got.returncode, got.stdout, got.stderr) == (42, "out\n", "err\n")
    assert engine.exec(bottle.agent, ["no-such-command"]).returncode == 127
    assert engine.exec(bottle.agent, ["pwd"], workdir="/tmp").stdout == "/tmp\n"
    data = os.urandom(200_000)
    got = engine.exec(bottle.agent, ["sha256sum"], stdin=data)
    assert got.stdout.split()[0] == hashlib.sha256(data).hexdigest()
    assert engine.exec(bottle.agent, ["id", "-u"]).stdout == "1000\n"
    with pytest.raises(UsageError):
        engine.exec(bottle.agent, ["id"], user="root")
    with pytest.raises(NotFound):
        engine.exec("claude-bottle-no-such-pod", ["true"])


def test_exec_stream_is_a_pipe_both_ways(engine: KubernetesEngine, bottle: Bottle) -> None:
    with engine.exec_stream(bottle.agent, ["sh", "-c", "cat; echo done >&2; exit 3"]) as proc:
        proc.stdin.write(b"one\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == b"one\n"
        proc.stdin.close()
        assert proc.stdout.read() == b""
        assert proc.wait() == 3
        assert proc.stderr_text() == "done\n"


def test_logs(engine: KubernetesEngine, bottle: Bottle) -> None:
    engine.exec(
        bottle.agent, ["curl", "-s", "-m", "3", f"http://{bottle.ip(engine, bottle.sidecar)}:{PORT}/"]
    )
    assert engine.logs(bottle.sidecar) == ""  # the server logs nothing; the call works
    with engine.follow_logs(bottle.sidecar) as stream:
        assert stream.readable()
    # The followed stream's connection is not reused half-read: the next request
    # answers at once (it waited for its 30 s timeout; a log read there never ended).
    started = time.monotonic()
    assert engine.network_exists(bottle.internal)
    assert time.monotonic() - started < 10


# Finding and removing


def test_find_reads_back_every_label(engine: KubernetesEngine, bottle: Bottle) -> None:
    found = engine.find([f"{L.SESSION}={bottle.session}", f"{L.WORKSPACE}=/home/node/workspace"])
    names = {(f.kind, f.name) for f in found}
    assert ("container", bottle.agent) in names
    assert ("container", bottle.sidecar) in names
    assert ("network", bottle.internal) in names
    agent = next(f for f in found if f.name == bottle.agent)
    assert agent.labels[L.EGRESS] == bottle.labels[L.EGRESS]
    assert agent.age.endswith("ago")
    assert engine.find([f"{L.SESSION}={bottle.session}", f"{L.WORKSPACE}=/elsewhere"]) == []
    running = engine.find([f"{L.ROLE}={L.ROLE_AGENT}", f"{L.SESSION}={bottle.session}"], kinds=("container",),
                          running=True)  # fmt: skip
    assert [f.name for f in running] == [bottle.agent]


def test_remove_found_leaves_nothing(engine: KubernetesEngine, clean: None) -> None:
    session = secrets.token_hex(4)
    labels = {L.MANAGED: "1", L.SESSION: session, L.WORKSPACE: "/a/path"}
    net = f"claude-bottle-x-{session}-internal"
    engine.create_network(NetworkSpec(net, labels))
    engine.run_container(
        spec("claude-bottle-Odd_Name", net, labels, command=("sleep", "infinity"), ports=(8080,),
             secret_env=("TOKEN",), env={"PLAIN": "yes"},
             files=(FileSpec("/home/node/given.txt", b"\x00given\xff", 0o444),)),
        secrets={"TOKEN": "t0k3n"},
    )  # fmt: skip
    assert engine.exec("claude-bottle-Odd_Name", ["printenv", "TOKEN", "PLAIN"]).stdout == "t0k3n\nyes\n"
    got = engine.exec("claude-bottle-Odd_Name", ["sh", "-c", "cat /home/node/given.txt | od -c | head -1"])
    assert "\\0   g   i   v   e   n 377" in got.stdout
    with pytest.raises(NameConflict):
        engine.run_container(spec("claude-bottle-Odd_Name", net, labels, command=("true",)))
    found = engine.find([f"{L.SESSION}={session}"], kinds=("container", "network", "other"))
    kinds = sorted(f.kind for f in found)
    assert kinds == ["container", "network", "other", "other", "other"]  # its Secret, its port's two policies
    assert {f.name for f in found if f.kind == "container"} == {"claude-bottle-Odd_Name"}
    assert engine.remove_found(found) == []
    assert engine.remove_found(found) == []  # again: nothing to do, no error
    assert engine.find([f"{L.SESSION}={session}"], kinds=("container", "network", "other")) == []


# Failures said at once


def test_an_image_the_node_does_not_have_is_said_quickly(engine: KubernetesEngine, clean: None) -> None:
    os.environ["CLAUDE_BOTTLE_K8S_PULL_POLICY"] = "Never"
    try:
        never = KubernetesEngine.locate(Settings.from_environ())
    finally:
        del os.environ["CLAUDE_BOTTLE_K8S_PULL_POLICY"]
    started = time.monotonic()
    with pytest.raises(ClaudeBottleError, match="ErrImageNeverPull"):
        never.run_container(spec("claude-bottle-noimage", "claude-bottle-none", {L.MANAGED: "1"},
                                 image="claude-bottle-no-such-image:1"))  # fmt: skip
    assert time.monotonic() - started < 20


def test_a_runtime_the_cluster_lacks_is_refused(engine: KubernetesEngine, clean: None) -> None:
    assert "runc" in engine.runtimes()
    with pytest.raises(UsageError, match="no RuntimeClass whose handler is kata"):
        engine.run_container(
            spec("claude-bottle-kata", "claude-bottle-none", {L.MANAGED: "1"}, runtime="kata")
        )


def test_the_wall_stands_when_run_container_returns(
    engine: KubernetesEngine, lab: dict[str, str], clean: None
) -> None:
    # The policies exist before the pod; the plugin must have them in force by
    # the time the pod runs, or the agent's first command could get out.
    session = secrets.token_hex(4)
    labels = {L.MANAGED: "1", L.SESSION: session}
    net, pod = f"claude-bottle-w-{session}-internal", f"claude-bottle-w-{session}"
    engine.create_network(NetworkSpec(net, labels))
    try:
        engine.run_container(spec(pod, net, labels, command=("sleep", "infinity")))
        assert not probe(engine, pod, lab["CLAUDE_BOTTLE_K8S_LAB_WEB_IP"], 80)
    finally:
        engine.remove_containers(pod)
        engine.remove_network(net)
