"""The docker CLI as an `engine.api.Engine`: the only module that knows docker's
argv, its Go templates and its wording (tests/unit/test_engine_errors.py greps
for them elsewhere).

The specs of `engine/api.py` are translated here once, by pure functions
(`network_create_args`, `container_args`) that the unit tests read without an
engine. Commands are argv tuples, never shell strings. Values that must not be
seen never enter argv: the agent's variables travel in an env file the docker
client reads from a pipe it inherits (`--env-file /dev/fd/N`), read once and
never on a disk or in any process's environment; the sidecar's configuration
(the tool's own variable, not a secret, many lines long) in the client's own
environment, named with `--env NAME`. The client's environment is otherwise
built from an allowlist of the user's own variables (hostenv.docker_env), so no
manifest's name or value ever steers it. A failed call
raises EngineError carrying the command (for display), its exit status and
stderr, classified once into a typed kind (NotFound, NameConflict, NotRunning,
PathNotFound, AddressConflict; EngineUnavailable when the daemon cannot be
reached).

Nothing from the CLI's host is ever bind-mounted: files go in as tar streams
(`docker cp`), so a remote engine (DOCKER_HOST) runs a bottle the same way.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any, Literal

from claude_bottle.console import trace, trace_streamed
from claude_bottle.engine.api import (
    Capabilities,
    ContainerSpec,
    EngineCheck,
    EngineTarget,
    FileSpec,
    Found,
    ImageStore,
    NetworkSpec,
)
from claude_bottle.engine.dnsleak import dns_leak_verdict, engine_leaks_dns
from claude_bottle.errors import (
    AddressConflict,
    EngineError,
    EngineUnavailable,
    NameConflict,
    NotFound,
    NotRunning,
    PathNotFound,
    UsageError,
    display_command,
)
from claude_bottle.hostenv import docker_env
from claude_bottle.hostfiles import SYSTEM_FILE_MAX, HostFileProblem, read_capped_text
from claude_bottle.settings import Settings

# Docker pins addresses and aliases on user-defined networks, and a helper
# container can join another's network namespace (`--network container:NAME`).
CAPABILITIES = Capabilities("docker", fixed_addresses=True, peer_names=True, shared_namespaces=True)

# The internal bridge gets no host address: a bottle cannot reach services on
# the host through the gateway (containers on it still see each other).
INHIBIT_IPV4 = "com.docker.network.bridge.inhibit_ipv4"


def _trace(argv: Sequence[str], started: float, status: int) -> None:
    trace(display_command(argv), started, status)  # secrets redacted


_VERSION_RE = re.compile(r"^v?[0-9]+\.[0-9]+")
_UNREACHABLE = (
    "Cannot connect to the Docker daemon",
    "error during connect",
    "permission denied while trying to connect",
)
# How the docker CLI prefixes a failure of the daemon's (not of a command run in a container).
_DAEMON_SAID = "Error response from daemon"

# The docker CLI's words for each kind of failure (checked in this order). A new
# wording, or podman's docker shim, is taught here once, never at a call site.
_KINDS: tuple[tuple[type[EngineError], re.Pattern[str]], ...] = (
    (NameConflict, re.compile(r"is already in use|already exists")),
    (AddressConflict, re.compile(r"overlaps")),
    (NotRunning, re.compile(r"is not running")),
    (PathNotFound, re.compile(r"Could not find the file")),
    (NotFound, re.compile(r"No such (container|network|image|object)|not found")),
)
NO_VALUE = "<no value>"  # what a Go template prints for a missing map key


def error_kind(stderr: str) -> type[EngineError]:
    """The typed kind of a docker CLI failure, from its stderr."""
    return next((kind for kind, words in _KINDS if words.search(stderr)), EngineError)


# --- Translating the specs (pure) -------------------------------------------------


def label_args(labels: Mapping[str, str]) -> list[str]:
    return [arg for key, value in labels.items() for arg in ("--label", f"{key}={value}")]


def network_create_args(spec: NetworkSpec) -> tuple[str, ...]:
    """`docker network create` arguments for a spec: an internal network has no
    route out, a subnet of its own when one is named, and no host address."""
    return (
        "network", "create", "--driver", "bridge",
        *(("--internal",) if spec.internal else ()),
        *(("--subnet", str(spec.subnet)) if spec.subnet is not None else ()),
        *(("--opt", f"{INHIBIT_IPV4}=true") if spec.internal else ()),
        *label_args(spec.labels),
        spec.name,
    )  # fmt: skip


# The tool's own variables (no manifest may name one: hostenv.refused_env_name)
# are the only ones handed over in the docker client's environment: the sidecar's
# configuration, which is not secret and runs to many lines. Every other value a
# container is given goes through the env file.
OWN_PREFIX = "CLAUDE_BOTTLE_"
# The docker client reads its env file with Go's bufio.Scanner: a line of 64 KiB
# or more fails ("token too long"), a final carriage return is dropped, and text
# that is not UTF-8 is refused. One variable a line: a value cannot hold a line break.
ENV_FILE_LINE_MAX = 64 * 1024 - 1


def env_file_problem(name: str, value: str) -> str | None:
    """Why the docker client's env file cannot carry `value`, or None (pure)."""
    if "\n" in value or "\r" in value:
        return "its value holds a line break, and the docker client reads its env file one variable a line"
    try:
        line = f"{name}={value}".encode()
    except UnicodeEncodeError:
        return "its value is not UTF-8 text, which the docker client's env file refuses"
    if len(line) > ENV_FILE_LINE_MAX:
        return f"its value is longer than a line of the docker client's env file ({ENV_FILE_LINE_MAX} bytes)"
    return None


def env_file_text(values: Mapping[str, str]) -> bytes:
    """The env file for `values`, one `NAME=value` a line (pure); a value the
    format cannot carry is refused, naming the variable, never showing the value."""
    for name, value in values.items():
        problem = env_file_problem(name, value)
        if problem:
            raise UsageError(
                f"the agent's variable {name} cannot be handed to the Docker engine: {problem} "
                "(the Kubernetes engine takes any value)"
            )
    return "".join(f"{name}={value}\n" for name, value in values.items()).encode()


@contextlib.contextmanager
def env_file(values: Mapping[str, str]) -> Iterator[tuple[str | None, tuple[int, ...]]]:
    """An env file the docker client reads from a pipe it inherits (its path
    `/dev/fd/N`, and the descriptors to pass): the values are on no disk and in
    no process's environment, and the pipe can be read once. (None, ()) without values."""
    if not values:
        yield None, ()
        return
    data = env_file_text(values)
    read_end, write_end = os.pipe()

    def feed() -> None:
        # A client that failed before reading ends the wait: its end closed, the write fails.
        with contextlib.suppress(OSError), os.fdopen(write_end, "wb") as out:
            out.write(data)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        yield f"/dev/fd/{read_end}", (read_end,)
    finally:
        os.close(read_end)
        writer.join()


def storage_limit_problem(driver_info: str) -> str | None:
    """Why containers of an engine whose `docker info` says `driver_info` (the
    driver, a tab, its status as JSON) cannot have a disk limit, or None (pure).
    overlay2 can limit only on xfs mounted with `pquota`, which the engine does
    not report: taken as cannot, rather than failing at the first container."""
    driver, _, status = driver_info.strip().partition("\t")
    try:
        pairs = {str(k): str(v) for k, v in json.loads(status or "[]")}
    except (ValueError, TypeError):
        pairs = {}
    if driver in ("btrfs", "zfs", "devicemapper", "windowsfilter"):
        return None
    backing = pairs.get("Backing Filesystem", "")
    on = f" on {backing}" if backing else ""
    hint = " (overlay2 can only on xfs mounted with pquota, which the engine does not report)" if (
        driver == "overlay2" and backing == "xfs") else ""  # fmt: skip
    return f"the engine's storage driver ({driver or 'unknown'}{on}) cannot limit a container's disk{hint}"


def container_args(
    spec: ContainerSpec, network: str | None = None, *, env_file: str | None = None, storage: bool = False
) -> tuple[str, ...]:
    """`docker create`/`docker run` arguments for a spec, from the name to the
    command (pure). Every container is hardened: no capabilities but those named,
    no privilege escalation, limits (the disk too, where `storage` says the
    engine can). Secret values are not in them: `env_file` (see `env_file`)
    holds them, but the tool's own, which `--env NAME` takes from the docker
    client's environment. `network` overrides the spec's (`container:NAME`, to
    join another container's network namespace)."""
    lim = spec.limits
    carried = [key for key in spec.secret_env if not key.startswith(OWN_PREFIX)]
    assert env_file or not carried, f"the values of {', '.join(carried)} need an env file"
    return (
        "--name", spec.name,
        "--network", network or spec.network,
        *(("--ip", spec.address) if spec.address else ()),
        *(arg for alias in spec.aliases for arg in ("--network-alias", alias)),
        *label_args(spec.labels),
        *(("--init",) if spec.init else ()),
        "--cap-drop", "ALL",
        *(arg for cap in spec.cap_add for arg in ("--cap-add", cap)),
        "--security-opt", "no-new-privileges",
        "--pids-limit", str(lim.pids),
        "--memory", lim.memory,
        *(("--cpus", f"{lim.cpus:g}") if lim.cpus is not None else ()),
        *(("--runtime", spec.runtime) if spec.runtime else ()),
        *(("--read-only",) if spec.read_only else ()),
        *(("--sysctl", "net.ipv4.ip_unprivileged_port_start=0") if spec.low_ports else ()),
        *(arg for path, options in spec.tmpfs for arg in ("--tmpfs", f"{path}:{options}")),
        *(("--user", spec.user) if spec.user else ()),
        *(("--workdir", spec.workdir) if spec.workdir else ()),
        *(("--storage-opt", f"size={lim.disk}") if storage and lim.disk else ()),
        *(("--env-file", env_file) if env_file else ()),
        *(arg for key, value in spec.env.items() for arg in ("--env", f"{key}={value}")),
        *(arg for key in spec.secret_env if key.startswith(OWN_PREFIX) for arg in ("--env", key)),
        spec.image,
        *spec.command,
    )  # fmt: skip


def files_tar(files: Sequence[FileSpec]) -> bytes:
    """The spec's files as one tar to unpack at the container's root, owned by
    root, with their folders (mode 755) made first."""
    buf = io.BytesIO()
    now = int(time.time())
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        folders: dict[str, None] = {}
        for spec in files:
            for parent in reversed(PurePosixPath(spec.path.lstrip("/")).parents[:-1]):
                folders[parent.as_posix()] = None
        for folder in folders:
            info = tarfile.TarInfo(folder)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, now
            tar.addfile(info)
        for spec in files:
            info = tarfile.TarInfo(spec.path.lstrip("/"))
            info.size, info.mode, info.mtime = len(spec.content), spec.mode, now
            tar.addfile(info, io.BytesIO(spec.content))
    return buf.getvalue()


def exec_args(
    container: str,
    argv: Sequence[str],
    *,
    interactive: bool = False,
    tty: bool = False,
    user: str | None = None,
    workdir: str | None = None,
) -> tuple[str, ...]:
    flags = ("-it",) if tty else (("-i",) if interactive else ())
    return (
        "exec", *flags,
        *(("--user", user) if user else ()),
        *(("--workdir", workdir) if workdir else ()),
        container, *argv,
    )  # fmt: skip


def _template(kind: str, field: str) -> str:
    if field.startswith("label:"):
        return f'{{{{.Label "{field.removeprefix("label:")}"}}}}'
    if field == "name":
        return "{{.Names}}" if kind == "container" else "{{.Name}}"
    return {"id": "{{.ID}}", "age": "{{.RunningFor}}"}[field]


class _Drain:
    """Read a stream to its end in a thread (a full stderr pipe would stall the
    command while its stdout is being read)."""

    def __init__(self, stream: IO[bytes] | None) -> None:
        self.data = b""
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream: IO[bytes] | None) -> None:
        if stream is not None:
            with stream:
                self.data = stream.read()

    def text(self) -> str:
        self.thread.join()
        return self.data.decode("utf-8", "replace")


class DockerExecStream:
    """A command running in a container through `docker exec -i`."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdin is not None
        assert proc.stdout is not None
        self.proc = proc
        self.stdin: IO[bytes] = proc.stdin
        self.stdout: IO[bytes] = proc.stdout
        self._stderr = _Drain(proc.stderr)

    def wait(self) -> int:
        return self.proc.wait()

    def stderr_text(self) -> str:
        return self._stderr.text()


def engine_endpoint(context_inspect: str, environ: Mapping[str, str]) -> str:
    """Where the docker CLI sends its calls (pure): the endpoint of its current
    context, from `docker context inspect`, which is DOCKER_HOST's when that is
    set; DOCKER_HOST or the default socket when the CLI would not say (one too
    old to know contexts)."""
    try:
        return str(json.loads(context_inspect)[0]["Endpoints"]["docker"]["Host"])
    except (ValueError, LookupError, TypeError):
        return environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def context_name(context_inspect: str) -> str:
    """The current context's name from `docker context inspect` (pure), or ""."""
    try:
        return str(json.loads(context_inspect)[0]["Name"])
    except (ValueError, LookupError, TypeError):
        return ""


@dataclass
class DockerEngine:
    """The docker CLI, resolved once."""

    binary: str
    # Variables set for every docker call, over the environment's: the context
    # the session started on (`locate`), so that a switch meanwhile moves nothing.
    pins: Mapping[str, str] = field(default_factory=dict)
    version: str = ""  # the server's version, once asked
    capabilities: Capabilities = CAPABILITIES
    _storage: tuple[str | None] | None = field(default=None, repr=False)  # storage_limit_problem, once asked
    # The current context and its endpoint, once asked (`docker context inspect`).
    context: str = ""
    endpoint: str = ""

    @classmethod
    def locate(cls, settings: Settings | None = None) -> DockerEngine:
        """The docker CLI, checked to answer like one: a program that exits 0 and
        says nothing (CLAUDE_BOTTLE_DOCKER=/bin/true) must not pass for an engine
        that made and removed everything."""
        binary = (settings or Settings.from_environ()).docker or shutil.which("docker")
        if not binary or not os.access(binary, os.X_OK) or os.path.isdir(binary):
            raise EngineUnavailable(
                "docker not found on PATH: install Docker (https://docs.docker.com/engine/install/)"
            )
        probe = cls(binary=binary)
        with ThreadPoolExecutor(max_workers=1) as pool:
            where = pool.submit(probe.current_endpoint)
            version = probe.server_version()
        context, endpoint = where.result()
        if os.environ.get("DOCKER_HOST") or os.environ.get("DOCKER_CONTEXT"):
            # Fixed by the environment (DOCKER_HOST wins over any context).
            shown = os.environ.get("DOCKER_CONTEXT", "") if not os.environ.get("DOCKER_HOST") else ""
            return cls(binary=binary, version=version, context=shown, endpoint=endpoint)
        # The engine is pinned for the whole session: `docker context use` in
        # another terminal meanwhile must not send the teardown (or the
        # watchdog's sweep) to another engine, leaving this one's objects behind.
        pins = {"DOCKER_CONTEXT": context} if context else {}
        return cls(binary=binary, pins=pins, version=version, context=context, endpoint=endpoint)

    @classmethod
    def described(cls, binary: str, context: str = "") -> DockerEngine:
        """The engine `describe()` named: the same CLI and the same context."""
        return cls(binary=binary, pins={"DOCKER_CONTEXT": context} if context else {})

    def describe(self) -> tuple[str, ...]:
        return ("docker", self.binary, self.pins.get("DOCKER_CONTEXT", ""))

    def current_endpoint(self) -> tuple[str, str]:
        """The docker CLI's current context ("" where it cannot say: too old) and
        the endpoint it sends its calls to, in one call."""
        try:
            answer = self.run("context", "inspect", check=False).stdout
        except OSError:
            answer = ""
        return context_name(answer), engine_endpoint(answer, {**os.environ, **self.pins})

    def on_this_host(self) -> bool:
        """True when the CLI reaches its engine over a unix socket: not when
        DOCKER_HOST or the current docker context names an engine elsewhere."""
        return (self.endpoint or self.current_endpoint()[1]).startswith("unix://")

    def target(self) -> EngineTarget:
        return EngineTarget("docker", context=self.pins.get("DOCKER_CONTEXT") or self.context,
                            endpoint=self.endpoint)  # fmt: skip

    # --- Networks -----------------------------------------------------------------

    def create_network(self, spec: NetworkSpec) -> None:
        self.run(*network_create_args(spec), what=f"cannot create network {spec.name}")

    def remove_network(self, name: str) -> None:
        self.run("network", "rm", name, what=f"cannot remove network {name}")

    def network_exists(self, name: str) -> bool:
        return self.ok("network", "inspect", "--format", "{{.Name}}", name)

    # --- Containers ---------------------------------------------------------------

    def run_container(self, spec: ContainerSpec, secrets: Mapping[str, str] | None = None) -> None:
        """`docker run --detach`; with files, `docker create`, `docker cp` of a tar
        stream and `docker start` (no bind mount: remote engines work). What was
        made is removed again when a later step fails; a name another container
        holds (NameConflict) is left to its owner. The secrets' values go through
        an env file on a pipe, but the tool's own (OWN_PREFIX), in the client's environment."""
        values = dict(secrets or {})
        missing = [name for name in spec.secret_env if name not in values]
        if missing:
            raise UsageError(f"container {spec.name}: no value for {', '.join(missing)}")
        own = {k: values[k] for k in spec.secret_env if k.startswith(OWN_PREFIX)}
        carried = {k: values[k] for k in spec.secret_env if not k.startswith(OWN_PREFIX)}
        what = f"cannot start the container {spec.name}"
        storage = spec.limits.disk is not None and self.storage_limit_problem() is None
        with env_file(carried) as (path, fds):
            args = container_args(spec, env_file=path, storage=storage)
            if not spec.files:
                try:
                    self.run("run", "--detach", *args, env=own, pass_fds=fds, what=what)
                except NameConflict:
                    raise
                except BaseException:
                    self._remove_quietly(spec.name)  # `docker run` can fail after creating it
                    raise
                return
            self.run("create", *args, env=own, pass_fds=fds, what=what)
        try:
            self.run("cp", "-", f"{spec.name}:/", stdin=files_tar(spec.files),
                     what=f"cannot copy files into {spec.name}")  # fmt: skip
            self.run("start", spec.name, what=what)
        except BaseException:
            self._remove_quietly(spec.name)
            raise

    def run_to_end(
        self, spec: ContainerSpec, *, stdin: bytes | None = None, join: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`docker run --rm -i`; `join` shares that container's network namespace."""
        assert not spec.secret_env, "a container run to its end is given no secrets"
        args = ("run", "--rm", "-i", *container_args(spec, f"container:{join}" if join else None))
        result = self.run(*args, stdin=stdin if stdin is not None else b"", check=False)
        if result.returncode == 125:  # docker's own failure, not the command's
            raise self.error_of(result)
        return result

    def _remove_quietly(self, name: str) -> None:
        self.run("rm", "-f", name, check=False)

    def connect(self, network: str, container: str) -> None:
        self.run("network", "connect", network, container, what=f"cannot connect {container} to {network}")

    def address_of(self, container: str, network: str) -> str:
        fmt = f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}'
        return self.run("inspect", "--format", fmt, container).stdout.strip()

    def remove_containers(self, *names: str, missing_ok: bool = True) -> None:
        if not names:
            return
        what = f"cannot remove {', '.join(names)}"
        result = self.run("rm", "-f", *names, check=False)
        if result.returncode != 0 and not (missing_ok and self.failed_for(result, NotFound)):
            raise self.error_of(result, what)

    def start(self, container: str) -> None:
        self.run("start", container, what=f"cannot start {container} again")

    def image_of(self, container: str) -> str:
        return self.run("inspect", "--format", "{{.Image}}", container,
                        what=f"cannot read the image of {container}").stdout.strip()  # fmt: skip

    def logs(self, container: str) -> str:
        result = self.run("logs", container, what=f"cannot read the log of {container}")
        return result.stdout + result.stderr

    @contextlib.contextmanager
    def follow_logs(self, container: str) -> Iterator[IO[bytes]]:
        proc = self.popen("logs", "--follow", container, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert proc.stdout is not None
        try:
            yield proc.stdout
        finally:
            proc.terminate()
            proc.wait()
            proc.stdout.close()

    # --- Files and commands -------------------------------------------------------

    def copy_in(self, container: str, dest: str, tar: bytes | IO[bytes]) -> None:
        """`docker cp -`. A stream given is handed to docker cp and closed here."""
        args = ("cp", "-", f"{container}:{dest}")
        what = f"cannot copy files into {container}:{dest}"
        if isinstance(tar, bytes):
            self.run(*args, stdin=tar, what=what)
            return
        proc = self.popen(*args, stdin=tar, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        tar.close()  # docker cp holds it now: if it ends early, the writer sees a broken pipe
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise self.error(args, proc.returncode, err.decode("utf-8", "replace"), what)

    @contextlib.contextmanager
    def copy_out(self, container: str, path: str) -> Iterator[IO[bytes]]:
        """`docker cp container:path -`; its failure (PathNotFound for a missing
        path) is raised when the block ends."""
        args = ("cp", f"{container}:{path}", "-")
        proc = self.popen(*args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None
        stderr = _Drain(proc.stderr)
        finished = False
        try:
            yield proc.stdout
            finished = True
        finally:
            if not finished:
                proc.kill()
            proc.stdout.close()
            status = proc.wait()
            err = stderr.text()
        if status != 0:
            raise self.error(args, status, err)

    def exec(
        self,
        container: str,
        argv: Sequence[str],
        *,
        user: str | None = None,
        workdir: str | None = None,
        stdin: bytes | None = None,
    ) -> subprocess.CompletedProcess[str]:
        args = exec_args(container, argv, interactive=stdin is not None, user=user, workdir=workdir)
        result = self.run(*args, stdin=stdin, check=False)
        if result.returncode != 0 and self._daemon_failed(result.stderr):
            raise self.error_of(result)  # the container could not run it (NotRunning, NotFound)
        return result

    @contextlib.contextmanager
    def exec_stream(
        self, container: str, argv: Sequence[str], *, user: str | None = None
    ) -> Iterator[DockerExecStream]:
        args = exec_args(container, argv, interactive=True, user=user)
        proc = self.popen(*args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        stream = DockerExecStream(proc)
        try:
            yield stream
        finally:
            if proc.poll() is None:
                proc.kill()
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()
            proc.wait()

    def attach(
        self,
        container: str,
        argv: Sequence[str],
        *,
        tty: bool,
        user: str | None = None,
        workdir: str | None = None,
    ) -> int:
        return self.foreground(
            *exec_args(container, argv, interactive=True, tty=tty, user=user, workdir=workdir)
        )

    # --- Finding what claude-bottle made ------------------------------------------

    def find(
        self,
        labels: Sequence[str],
        *,
        kinds: Sequence[str] = ("container", "network"),
        running: bool = False,
        carried: Sequence[str] = (),
    ) -> list[Found]:
        found: list[Found] = []
        for kind in ("container", "network"):
            if kind not in kinds:
                continue
            # A network has no age to tell (`docker network ls` knows only when it was made).
            fields = ("name", "age" if kind == "container" else "name", *(f"label:{key}" for key in carried))
            for row in self.rows(kind, labels, fields, stopped=not running):
                name, age, *values = row
                values_of = {key: value for key, value in zip(carried, values, strict=True) if value}
                found.append(Found(kind, name, values_of, age if kind == "container" else ""))
        return found

    def remove_found(self, objects: Sequence[Found]) -> list[str]:
        """Containers first (a network cannot go while attached), then networks."""
        errors = []
        for kind, args in (("container", ("rm", "-f")), ("network", ("network", "rm"))):
            names = [o.name for o in objects if o.kind == kind]
            if names:
                result = self.run(*args, *names, check=False)
                if result.returncode != 0 and not self.failed_for(result, NotFound):
                    errors.append(result.stderr.strip())
        return errors

    def rows(
        self,
        kind: Literal["container", "network"],
        labels: Sequence[str],
        fields: Sequence[str],
        *,
        stopped: bool = True,
    ) -> list[tuple[str, ...]]:
        """The containers (running ones only unless `stopped`) or networks carrying every
        label of `labels` ("KEY" or "KEY=VALUE"), each as the values of `fields`:
        "id", "name", "age" or "label:KEY" ("" where absent)."""
        filters = [arg for label in labels for arg in ("--filter", f"label={label}")]
        fmt = "\t".join(_template(kind, f) for f in fields)
        if kind == "container":
            args: tuple[str, ...] = ("ps", *(("-a",) if stopped else ()), *filters, "--format", fmt)
        else:
            args = ("network", "ls", *filters, "--format", fmt)
        return [tuple((row.split("\t") + [""] * len(fields))[: len(fields)]) for row in self.lines(*args)]

    # --- The engine itself --------------------------------------------------------

    def storage_limit_problem(self) -> str | None:
        """Why this engine's containers cannot have a disk limit, or None (asked once)."""
        if self._storage is None:
            fmt = "{{.Driver}}\t{{json .DriverStatus}}"
            result = self.run("info", "--format", fmt, check=False)
            self._storage = (storage_limit_problem(result.stdout) if result.returncode == 0
                             else "the engine did not say which storage driver it uses",)  # fmt: skip
        return self._storage[0]

    def runtimes(self) -> frozenset[str]:
        registered = json.loads(self.run("info", "--format", "{{json .Runtimes}}").stdout.strip() or "{}")
        return frozenset(registered or {})

    def server_version(self) -> str:
        if self.version:
            return self.version
        args = ("version", "--format", "{{.Server.Version}}")
        try:
            answer = self.run(*args).stdout.strip()
        except OSError as exc:  # not executable after all, or not a program
            raise EngineUnavailable(f"cannot run {self.binary}: {exc.strerror or exc}") from None
        if not _VERSION_RE.match(answer):
            shown = repr(answer.splitlines()[0][:80]) if answer else "nothing"
            raise EngineUnavailable(
                f"{self.binary} does not answer like the docker CLI ('version' printed {shown} "
                "where the engine's version belongs); set CLAUDE_BOTTLE_DOCKER to the docker CLI"
            )
        return answer

    # --- What is checked before a session, and by doctor --------------------------

    def images(self) -> ImageStore:
        return self  # built and kept by this engine, on its host

    def refuse_environment(self, values: Mapping[str, str]) -> None:
        env_file_text(values)  # a value the docker client's env file cannot carry is refused

    def known_fault(self) -> tuple[str, str] | None:
        version = self.server_version()
        if not engine_leaks_dns(version):
            return None  # a fixed engine: no need to ask where it runs
        return dns_leak_verdict(version, self._host_resolv_conf())

    def _host_resolv_conf(self) -> str | None:
        """The engine host's resolver config, when the engine runs on this host."""
        if not self.on_this_host():
            return None
        try:
            return read_capped_text(Path("/etc/resolv.conf"), SYSTEM_FILE_MAX)
        except HostFileProblem:
            return None

    def health(self) -> list[EngineCheck]:
        version = self.server_version()
        checks = [EngineCheck("engine", True, f"Docker {version}")]
        verdict = dns_leak_verdict(version, None)
        if verdict is not None:
            checks.append(EngineCheck("engine DNS (CVE-2024-29018)", verdict[0] != "refuse", verdict[1]))
        return checks

    # --- Images (the engine.api.ImageStore) ------------------------------------------

    def image_exists(self, ref: str) -> bool:
        return self.ok("image", "inspect", "--format", "{{.Id}}", ref)

    def image_labels(self, ref: str, *keys: str) -> tuple[str, ...] | None:
        """The image's values of `keys` ("" where a key is absent), or None without the image."""
        fmt = "\t".join(f'{{{{index .Config.Labels "{key}"}}}}' for key in keys)
        result = self.run("image", "inspect", "--format", fmt, ref, check=False)
        if result.returncode != 0:
            return None
        values = result.stdout.rstrip("\n").split("\t")
        return tuple("" if v == NO_VALUE else v for v in values)

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
        """`docker build`: its status and its output. `on_step(n, total, what)` is
        told each step as docker reaches it (the classic builder's `Step n/total`,
        BuildKit's `[n/total]`); without it, on a terminal, docker's own output."""
        args = build_argv(context, tag, build_args, labels or {}, quiet=not on_terminal and on_step is None)
        if on_step is not None:
            return self._build_steps(args, on_step)
        if on_terminal:
            return self.foreground(*args, registry=True), ""  # docker's own progress: the step and its output
        result = self.run(*args, check=False, registry=True)
        return result.returncode, result.stdout + result.stderr

    def _build_steps(self, args: Sequence[str], on_step: Callable[[int, int, str], None]) -> tuple[int, str]:
        proc = self.popen(*args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert proc.stdout is not None
        log: list[str] = []
        started = time.monotonic()
        with proc.stdout:
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace")
                log.append(line)
                step = build_step(line)
                if step is not None:
                    on_step(*step)
        status = proc.wait()
        _trace(self.argv(args), started, status)
        return status, "".join(log)

    def pull(self, ref: str) -> bool:
        return self.foreground("pull", ref, registry=True) == 0

    def tag_image(self, source: str, target: str) -> None:
        self.run("image", "tag", source, target, what=f"tagging {source} as {target}")

    def untag_image(self, ref: str) -> None:
        """Remove the name `ref`, never an image another name still holds, nor
        its untagged parents (`--no-prune`); a name already gone is no error."""
        result = self.run("image", "rm", "--no-prune", ref, check=False)
        if result.returncode != 0 and not self.failed_for(result, NotFound):
            raise self.error_of(result, f"removing the name {ref}")

    def push_image(self, ref: str, *, on_terminal: bool = False) -> tuple[int, str]:
        """`docker push`: its status, and its output when not shown on a terminal."""
        if on_terminal:
            # Docker's progress on the terminal, through stderr: stdout is for the names pushed.
            argv, started = self.argv(("image", "push", ref)), time.monotonic()
            status = subprocess.run(
                argv, stdout=sys.stderr, env=self._env(registry=True), check=False
            ).returncode
            _trace(argv, started, status)
            return status, ""
        result = self.run("image", "push", "--quiet", ref, check=False, registry=True)
        return result.returncode, result.stdout + result.stderr

    # --- Running the docker CLI ---------------------------------------------------

    def argv(self, args: Sequence[str]) -> list[str]:
        return [self.binary, *args]

    def _env(self, extra: Mapping[str, str] | None = None, *, registry: bool = False) -> dict[str, str]:
        """The environment of a docker call: the user's own variables the docker
        client needs (hostenv.docker_env, never this process's whole environment),
        the engine's pins, and `extra` (a bottle's container: the tool's own
        variables alone, OWN_PREFIX; never a value of the agent's)."""
        return {**docker_env(os.environ, registry=registry), **self.pins, **(extra or {})}

    def run(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        stdin: bytes | IO[Any] | None = None,
        check: bool = True,
        what: str = "",
        pass_fds: Sequence[int] = (),
        registry: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """Run one docker command to completion, capturing its output as text.
        `pass_fds`: descriptors it inherits (an env file's pipe)."""
        argv = self.argv(args)
        started = time.monotonic()
        environment = self._env(env, registry=registry)
        # Its own process group: a terminal's Ctrl-C goes to the whole foreground
        # group, and a docker client killed halfway through `run` or `network
        # create` leaves the daemon to finish making an object nobody recorded.
        # The CLI alone decides when an engine call is abandoned.
        if isinstance(stdin, bytes):
            proc = subprocess.run(argv, input=stdin, capture_output=True, env=environment, check=False,
                                  process_group=0, pass_fds=tuple(pass_fds))  # fmt: skip
        else:
            proc = subprocess.run(argv, stdin=stdin, capture_output=True, env=environment, check=False,
                                  process_group=0, pass_fds=tuple(pass_fds))  # fmt: skip
        _trace(argv, started, proc.returncode)
        result = subprocess.CompletedProcess(
            argv,
            proc.returncode,
            proc.stdout.decode("utf-8", "replace"),
            proc.stderr.decode("utf-8", "replace"),
        )
        if check and result.returncode != 0:
            raise self.error(args, result.returncode, result.stderr, what)
        return result

    def error(self, args: Sequence[str], status: int, stderr: str, what: str = "") -> Exception:
        if any(marker in stderr for marker in _UNREACHABLE):
            return EngineUnavailable(
                f"cannot reach the Docker engine ({stderr.strip().splitlines()[0]}); "
                f"is dockerd running and may you use it?"
            )
        return error_kind(stderr)(["docker", *args], status, stderr, what)

    def error_of(self, result: subprocess.CompletedProcess[str], what: str = "") -> Exception:
        """The classified error of a failed run(check=False)."""
        return self.error(result.args[1:], result.returncode, result.stderr, what)

    def failed_for(self, result: subprocess.CompletedProcess[str], kind: type[Exception]) -> bool:
        """True when a run(check=False) failed, for the reason `kind`."""
        return result.returncode != 0 and isinstance(self.error_of(result), kind)

    def _daemon_failed(self, stderr: str) -> bool:
        return stderr.startswith(_DAEMON_SAID) or any(marker in stderr for marker in _UNREACHABLE)

    def ok(self, *args: str) -> bool:
        return self.run(*args, check=False).returncode == 0

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args).stdout)

    def lines(self, *args: str) -> list[str]:
        return [line for line in self.run(*args).stdout.splitlines() if line.strip()]

    def foreground(self, *args: str, env: Mapping[str, str] | None = None, registry: bool = False) -> int:
        """Run a docker command wired to this process's terminal/stdio; its exit status.

        It stays in the terminal's foreground process group: `docker exec -it`
        needs the terminal (and puts it in raw mode, so Ctrl-C reaches the agent
        as a key). It makes no engine object, so a signal cannot orphan one."""
        started = time.monotonic()
        status = subprocess.run(
            self.argv(args), env=self._env(env, registry=registry), check=False
        ).returncode
        _trace(self.argv(args), started, status)
        return status

    def popen(self, *args: str, **kwargs: Any) -> subprocess.Popen[bytes]:
        kwargs.setdefault("process_group", 0)  # as in run(): the CLI decides, not the terminal
        kwargs.setdefault("env", self._env())
        trace_streamed(display_command(self.argv(args)))
        return subprocess.Popen(self.argv(args), **kwargs)


_CLASSIC_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_BUILDKIT_STEP = re.compile(r"^#\d+ \[(?:[\w.-]+ )?(\d+)/(\d+)\] (.*)$")


def build_step(line: str) -> tuple[int, int, str] | None:
    """The step a line of `docker build`'s output starts (n, total, what), or None (pure)."""
    found = _CLASSIC_STEP.match(line.rstrip("\n")) or _BUILDKIT_STEP.match(line.rstrip("\n"))
    if found is None:
        return None
    return int(found.group(1)), int(found.group(2)), found.group(3).strip()[:60]


def build_argv(
    context: Path, tag: str, build_args: Sequence[tuple[str, str]], labels: Mapping[str, str], *, quiet: bool
) -> tuple[str, ...]:
    return (
        "build", *(("-q",) if quiet else ()), "--force-rm",
        "-t", tag,
        *(arg for key, value in build_args for arg in ("--build-arg", f"{key}={value}")),
        *label_args(labels),
        str(context),
    )  # fmt: skip
