"""What a bottle needs from any container engine, in the bottle's own terms.

The bottle layer describes networks and containers as specs and asks an
`Engine` to make, use and remove them; it never spells an engine's command
line. Each engine translates the specs once: `engine/docker/` into the
docker CLI's argv (the only package that knows docker's flags, Go templates and
wording), `engine/k8s/` into Pods and NetworkPolicies. Failures come
back as the typed kinds of `claude_bottle.errors` (NotFound, NameConflict,
NotRunning, PathNotFound, AddressConflict, EngineUnavailable), never as an
engine's text to be matched by a caller.

The model is Docker's, kept small enough to map onto Kubernetes:
- a *network* is a set of peers: `internal` ones have no way out at all;
  the shared egress network is the sidecars' way out. On Kubernetes a network
  is a label and NetworkPolicies that let only its members talk to each other.
- a *container* runs a `ContainerSpec` on one network and may be connected to
  more; `address` pins its address where the engine can (`Capabilities`).
- files go in and out as tar streams, commands run with or without a terminal.
"""

from __future__ import annotations

import ipaddress
import subprocess
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal, Protocol


@dataclass(frozen=True)
class NetworkSpec:
    name: str
    labels: Mapping[str, str]
    # No way out: members reach each other only. False for the egress network.
    internal: bool = True
    subnet: ipaddress.IPv4Network | None = None


@dataclass(frozen=True)
class Limits:
    pids: int
    memory: str  # as the manifest writes it ("4g")
    cpus: float | None = None
    disk: str | None = None  # the container's writable layer, where the engine can limit it


@dataclass(frozen=True)
class FileSpec:
    """A file placed in the container before its command starts."""

    path: str
    content: bytes
    mode: int = 0o444


@dataclass(frozen=True)
class ContainerSpec:
    """One container, hardened by default: no capabilities, no privilege
    escalation. `secret_env` names variables whose values are handed over when
    the container is made (`Engine.run_container`'s `secrets`), never shown in
    a command line or written to a file on the CLI's host."""

    name: str
    image: str
    network: str
    labels: Mapping[str, str]
    limits: Limits
    command: tuple[str, ...] = ()  # empty: the image's own
    address: str | None = None  # a fixed address on `network` (Capabilities.fixed_addresses)
    aliases: tuple[str, ...] = ()  # names peers use for it (Capabilities.peer_names)
    ports: tuple[int, ...] = ()  # what it serves to its network's peers
    env: Mapping[str, str] = field(default_factory=dict)
    secret_env: tuple[str, ...] = ()
    files: tuple[FileSpec, ...] = ()
    runtime: str | None = None  # None: the engine's default; "runsc": gVisor
    init: bool = False  # a reaper of zombies as PID 1
    workdir: str | None = None
    user: str | None = None
    # The numeric user (UID[:GID]) the image runs as, for an engine that must
    # name one (Kubernetes: a non-root pod whose image names its user); None: the
    # image's own. `user`, where given, is run as instead.
    run_as: str | None = None
    read_only: bool = False
    tmpfs: tuple[tuple[str, str], ...] = ()  # (path, options)
    cap_add: tuple[str, ...] = ()
    # Hosts (names or addresses) it may reach on an egress network although they
    # lie in the engine's own ranges: the bottle's `egress.internal`. An engine
    # that walls its own ranges off (Kubernetes) opens their addresses to this
    # container alone; Docker walls nothing off there (the proxy decides).
    reaches: tuple[str, ...] = ()
    # It listens on a port below 1024 as its own (non-root) user: the kernel's
    # net.ipv4.ip_unprivileged_port_start is 0 in its network namespace.
    low_ports: bool = False


@dataclass(frozen=True)
class Capabilities:
    """What an engine can promise, so the bottle can plan around what it cannot."""

    name: str  # "docker", "kubernetes"
    fixed_addresses: bool  # ContainerSpec.address is honoured
    peer_names: bool  # ContainerSpec.aliases resolve for peers
    shared_namespaces: bool  # a helper container can join another's network namespace


@dataclass(frozen=True)
class EngineTarget:
    """Where bottles run, for the plan and the session's record: Docker's endpoint
    and context, or a Kubernetes cluster's context and namespace (and its API
    server). Empty fields are what could not be known without asking the engine."""

    engine: str  # "docker" or "kubernetes"
    context: str = ""  # the docker context, or the kubeconfig context ("" in a pod: its service account)
    endpoint: str = ""  # the docker CLI's endpoint, or the API server's URL
    namespace: str = ""  # Kubernetes only

    def describe(self) -> str:
        if self.engine == "kubernetes":
            context = self.context or "in-cluster (the pod's service account)"
            namespace = self.namespace or "(the context's)"
            where = f"Kubernetes, context {context}, namespace {namespace}"
            return where + (f" (API server {self.endpoint})" if self.endpoint else "")
        endpoint = self.endpoint or "the docker CLI's current endpoint"
        return f"Docker, endpoint {endpoint}" + (f" (context {self.context})" if self.context else "")

    def to_json(self) -> dict[str, str]:
        out = {"name": self.engine, "context": self.context, "endpoint": self.endpoint}
        if self.engine == "kubernetes":
            out["namespace"] = self.namespace
        return out


@dataclass(frozen=True)
class Found:
    """An object found by label: its kind, name and the values of asked labels."""

    kind: Literal["container", "network", "other"]
    name: str
    labels: Mapping[str, str]
    age: str = ""


@dataclass(frozen=True)
class EngineCheck:
    """One line of what `doctor` reports of the engine itself."""

    name: str
    ok: bool
    detail: str


class ImageStore(Protocol):
    """An engine's own images, where claude-bottle builds its images and from
    where `build --push` copies them to a registry (bottle/image.py)."""

    def image_exists(self, ref: str) -> bool: ...
    def image_labels(self, ref: str, *keys: str) -> tuple[str, ...] | None:
        """The image's values of `keys` ("" where a key is absent), or None without the image."""

    def build_image(
        self,
        context: Path,
        tag: str,
        *,
        build_args: Sequence[tuple[str, str]] = (),
        labels: Mapping[str, str] | None = None,
        on_terminal: bool = False,
        on_step: Callable[[int, int, str], None] | None = None,
    ) -> tuple[int, str]:
        """Build the image: its status and its output. `on_step(n, total, what)` is
        told each step as the build reaches it."""

    def pull(self, ref: str) -> bool: ...
    def tag_image(self, source: str, target: str) -> None: ...
    def untag_image(self, ref: str) -> None:
        """Remove the name `ref` (a name already gone is no error)."""

    def push_image(self, ref: str, *, on_terminal: bool = False) -> tuple[int, str]:
        """Push: its status, and its output when not shown on a terminal."""


class Engine(Protocol):
    capabilities: Capabilities

    # Networks
    def create_network(self, spec: NetworkSpec) -> None: ...
    def remove_network(self, name: str) -> None: ...
    def network_exists(self, name: str) -> bool: ...

    # Containers
    def run_container(self, spec: ContainerSpec, secrets: Mapping[str, str] | None = None) -> None:
        """Make and start the container (detached), its files in place first."""

    def run_to_end(
        self, spec: ContainerSpec, *, stdin: bytes | None = None, join: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a short-lived container to its end, fed `stdin`, and remove it; its
        status and output (never raises on the command's status). `join`: share
        that container's network namespace instead of joining `spec.network`
        (only where Capabilities.shared_namespaces)."""

    def connect(self, network: str, container: str) -> None: ...
    def address_of(self, container: str, network: str) -> str: ...
    def remove_containers(self, *names: str, missing_ok: bool = True) -> None: ...
    def start(self, container: str) -> None:
        """Start a stopped container again (to take work out of it)."""

    def logs(self, container: str) -> str: ...
    def follow_logs(self, container: str) -> AbstractContextManager[IO[bytes]]: ...

    # Files and commands
    def copy_in(self, container: str, dest: str, tar: bytes | IO[bytes]) -> None: ...
    def copy_out(self, container: str, path: str) -> AbstractContextManager[IO[bytes]]:
        """A tar stream of `path` (PathNotFound when it does not exist)."""

    def exec(
        self,
        container: str,
        argv: Sequence[str],
        *,
        user: str | None = None,
        workdir: str | None = None,
        stdin: bytes | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command to its end; its status and output (never raises on the
        command's status; NotRunning or NotFound when the container cannot run it)."""

    def exec_stream(self, container: str, argv: Sequence[str], *, user: str | None = None
                    ) -> AbstractContextManager[ExecStream]: ...  # fmt: skip
    def attach(
        self,
        container: str,
        argv: Sequence[str],
        *,
        tty: bool,
        user: str | None = None,
        workdir: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> int:
        """Run a command wired to this terminal; its status (`env`: handed over as secrets are)."""

    # Finding what claude-bottle made
    def find(
        self,
        labels: Sequence[str],
        *,
        kinds: Sequence[str] = ("container", "network"),
        running: bool = False,
        carried: Sequence[str] = (),
    ) -> list[Found]:
        """Objects carrying every label of `labels` ("KEY" or "KEY=VALUE"; none: every
        object of those kinds), each with the values it carries of the labels named in
        `carried` (claude-bottle's own, `tracking.labels.ALL`; an engine that reads
        every label back, as Kubernetes does, returns them all)."""

    def remove_found(self, objects: Sequence[Found]) -> list[str]:
        """Remove them (containers before networks); the errors, not raised."""

    # The engine itself
    def runtimes(self) -> frozenset[str]: ...
    def storage_limit_problem(self) -> str | None:
        """Why `Limits.disk` cannot be applied on this engine (it is then left out), or None."""

    def describe(self) -> tuple[str, ...]:
        """Arguments from which `engine.select.from_description` makes this engine
        again (the watchdog runs in another process)."""

    def target(self) -> EngineTarget:
        """Where this engine runs bottles (for the plan and the record)."""

    def image_of(self, container: str) -> str:
        """The id of the image a running container runs (a digest), for the record."""

    # What is checked before a session, and by doctor
    def images(self) -> ImageStore | None:
        """The engine's own image store, where a session's images are built or
        pulled before it starts; None for an engine that takes them from a registry."""

    def refuse_environment(self, values: Mapping[str, str]) -> None:
        """Refuse (UsageError), before anything is made, a variable's value this
        engine cannot hand to a container."""

    def known_fault(self) -> tuple[str, str] | None:
        """A fault of this engine that would let a bottle past its wall, as
        ("refuse" | "warn", message), or None (Docker's DNS leak, CVE-2024-29018)."""

    def health(self) -> list[EngineCheck]:
        """What doctor reports of the engine itself: what it is, and its known faults."""


class ExecStream(Protocol):
    """A command running in a container, its stdin and stdout as byte streams."""

    stdin: IO[bytes]
    stdout: IO[bytes]

    def wait(self) -> int: ...
    def stderr_text(self) -> str: ...
