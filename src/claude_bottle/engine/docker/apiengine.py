"""The Docker engine over its API on the local unix socket (issue 25): the same
`DockerEngine`, its calls on the critical path of a launch, a `run` and a
teardown made as HTTP requests on the socket (about a millisecond each) instead
of docker client processes (20-30 ms each). Chosen once per session by
`api_socket`: the docker CLI's endpoint is this host's default socket (no
DOCKER_HOST, no DOCKER_CONTEXT or current context naming another, no
CLAUDE_BOTTLE_DOCKER naming a client), the socket answers `/_ping`, and
CLAUDE_BOTTLE_DOCKER_API is not `cli`. Everything else (remote engines, images,
build and push, a command on the terminal, streams of logs) stays the CLI's."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from claude_bottle.engine.api import ContainerSpec, Found, NetworkSpec
from claude_bottle.engine.docker.apicommands import APICommands
from claude_bottle.engine.docker.apispec import (
    container_body,
    label_filters,
    listed_field,
    network_body,
)
from claude_bottle.engine.docker.argv import files_tar, storage_limit_problem
from claude_bottle.engine.docker.endpoint import api_socket
from claude_bottle.engine.docker.engine import DockerEngine
from claude_bottle.engine.docker.envfile import OWN_PREFIX, env_file_text
from claude_bottle.engine.docker.socketapi import DockerSocket, demux, quoted
from claude_bottle.errors import EngineError, NotFound, UsageError
from claude_bottle.settings import Settings

# The API is spoken only where the CLI's context is the default one: the calls
# left to the CLI (a terminal's exec, a pull) are pinned there too.
DEFAULT_PIN = {"DOCKER_CONTEXT": "default"}


def on_socket(settings: Settings, binary: str) -> DockerEngine | None:
    """The engine of a session on the local socket's API, or None for the CLI."""
    api = api_socket(settings, os.environ)
    if api is None:
        return None
    return DockerAPIEngine(binary=binary, pins=DEFAULT_PIN, context="default",
                           endpoint=f"unix://{api.path}", api=api)  # fmt: skip


def from_socket(binary: str, endpoint: str) -> DockerEngine:
    """The engine a description names (`unix://PATH`), made again without asking."""
    api = DockerSocket(endpoint.removeprefix("unix://"))
    return DockerAPIEngine(binary=binary, pins=DEFAULT_PIN, context="default", endpoint=endpoint, api=api)


@dataclass
class DockerAPIEngine(APICommands, DockerEngine):
    """`DockerEngine`, its calls on the critical path made on the API."""

    api: DockerSocket = field(default_factory=DockerSocket)

    def describe(self) -> tuple[str, ...]:
        return ("docker", self.binary, "default", f"unix://{self.api.path}")

    # --- The engine itself --------------------------------------------------------

    def server_version(self) -> str:
        if not self.version:
            self.version = str(self.api.json("GET", "/version")["Version"])
        return self.version

    def runtimes(self) -> frozenset[str]:
        return frozenset(self.api.json("GET", "/info").get("Runtimes") or {})

    def storage_limit_problem(self) -> str | None:
        if self._storage is None:
            try:
                info = self.api.json("GET", "/info")
                driver = f"{info.get('Driver', '')}\t{json.dumps(info.get('DriverStatus') or [])}"
                self._storage = (storage_limit_problem(driver),)
            except EngineError:
                self._storage = ("the engine did not say which storage driver it uses",)
        return self._storage[0]

    def image_exists(self, ref: str) -> bool:
        return self._image(ref) is not None

    def _image(self, ref: str) -> dict[str, object] | None:
        try:
            found: dict[str, object] = self.api.json("GET", f"/images/{quoted(ref)}/json")
        except NotFound:
            return None
        return found

    def image_labels(self, ref: str, *keys: str) -> tuple[str, ...] | None:
        image = self._image(ref)
        if image is None:
            return None
        config = image.get("Config") or {}
        labels = (config.get("Labels") if isinstance(config, dict) else None) or {}
        return tuple(str(labels.get(key, "")) for key in keys)

    # --- Networks -----------------------------------------------------------------

    def create_network(self, spec: NetworkSpec) -> None:
        self.api.call(
            "POST", "/networks/create", body=network_body(spec), what=f"cannot create network {spec.name}"
        )

    def remove_network(self, name: str) -> None:
        self.api.call("DELETE", f"/networks/{quoted(name)}", what=f"cannot remove network {name}")

    def network_exists(self, name: str) -> bool:
        try:
            self.api.call("GET", f"/networks/{quoted(name)}")
        except NotFound:
            return False
        return True

    def connect(self, network: str, container: str) -> None:
        self.api.call("POST", f"/networks/{quoted(network)}/connect", body={"Container": container},
                      what=f"cannot connect {container} to {network}")  # fmt: skip

    # --- Containers ---------------------------------------------------------------

    def _create(self, body: dict[str, object], name: str, what: str) -> None:
        path = "/containers/create"
        try:
            self.api.call("POST", path, {"name": name}, body=body, what=what)
        except NotFound as exc:
            if "No such image" not in exc.stderr:
                raise
            # `docker run` pulls an image it does not have: so does this path, with the CLI's credentials.
            self.run("pull", str(body["Image"]), registry=True, what=what)
            self.api.call("POST", path, {"name": name}, body=body, what=what)

    def run_container(self, spec: ContainerSpec, secrets: Mapping[str, str] | None = None) -> None:
        """Create, put the files in, start (as the CLI path: what was made is removed
        again when a later step fails; a name another holds is left to its owner).
        The values go in the request's body, on the socket: in no argv and no file."""
        values = dict(secrets or {})
        missing = [name for name in spec.secret_env if name not in values]
        if missing:
            raise UsageError(f"container {spec.name}: no value for {', '.join(missing)}")
        env_file_text(
            {k: values[k] for k in spec.secret_env if not k.startswith(OWN_PREFIX)}
        )  # same refusals
        what = f"cannot start the container {spec.name}"
        storage = spec.limits.disk is not None and self.storage_limit_problem() is None
        body = container_body(spec, {k: values[k] for k in spec.secret_env}, storage=storage)
        self._create(body, spec.name, what)  # NameConflict: left to its owner
        try:
            if spec.files:
                self.copy_in(spec.name, "/", files_tar(spec.files))
            self.api.call("POST", f"/containers/{quoted(spec.name)}/start", what=what)
        except BaseException:
            self._remove_quietly(spec.name)
            raise

    def run_to_end(
        self, spec: ContainerSpec, *, stdin: bytes | None = None, join: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Create with a stdin to be fed once, attach, start, feed, read to the end,
        wait and remove (`docker run --rm -i`)."""
        assert not spec.secret_env, "a container run to its end is given no secrets"
        body = container_body(spec, {}, f"container:{join}" if join else None, stdin_once=True)
        self._create(body, spec.name, f"cannot run {spec.name}")
        name = quoted(spec.name)
        try:
            stream = self.api.hijack(f"/containers/{name}/attach?stream=1&stdin=1&stdout=1&stderr=1", {})
            try:
                self.api.call("POST", f"/containers/{name}/start", what=f"cannot run {spec.name}")
                with contextlib.suppress(OSError):
                    stream.send(stdin or b"")
                stream.close_write()
                data = bytearray()
                while chunk := stream.read(65536):
                    data.extend(chunk)
            finally:
                stream.close()
            status = int(self.api.json("POST", f"/containers/{name}/wait").get("StatusCode", 1))
        finally:
            self._remove_quietly(spec.name)
        out, err = demux(bytes(data))
        argv = ["docker", "run", "--rm", "-i", spec.name]
        return subprocess.CompletedProcess(
            argv, status, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
        )

    def _remove_quietly(self, name: str) -> None:
        with contextlib.suppress(EngineError):
            self._remove(name)

    def _remove(self, name: str, what: str = "") -> None:
        self.api.call("DELETE", f"/containers/{quoted(name)}", {"force": True}, what=what)

    def remove_containers(self, *names: str, missing_ok: bool = True) -> None:
        failed: EngineError | None = None
        for name in names:
            try:
                self._remove(name, f"cannot remove {', '.join(names)}")
            except NotFound as exc:
                if not missing_ok:
                    failed = failed or exc
            except EngineError as exc:
                failed = failed or exc
        if failed is not None:
            raise failed

    def start(self, container: str) -> None:
        self.api.call(
            "POST", f"/containers/{quoted(container)}/start", what=f"cannot start {container} again"
        )

    def _inspect(self, container: str, what: str = "") -> dict[str, object]:
        found: dict[str, object] = self.api.json("GET", f"/containers/{quoted(container)}/json", what=what)
        return found

    def image_of(self, container: str) -> str:
        return str(self._inspect(container, f"cannot read the image of {container}").get("Image", ""))

    def address_of(self, container: str, network: str) -> str:
        settings = self._inspect(container).get("NetworkSettings") or {}
        networks = (settings.get("Networks") if isinstance(settings, dict) else None) or {}
        return str((networks.get(network) or {}).get("IPAddress", ""))

    def logs(self, container: str) -> str:
        data = self.api.call("GET", f"/containers/{quoted(container)}/logs", {"stdout": True, "stderr": True},
                             what=f"cannot read the log of {container}")  # fmt: skip
        out, err = demux(data)
        return (out + err).decode("utf-8", "replace")

    # --- Finding what claude-bottle made ------------------------------------------

    def rows(
        self,
        kind: Literal["container", "network"],
        labels: Sequence[str],
        fields: Sequence[str],
        *,
        stopped: bool = True,
    ) -> list[tuple[str, ...]]:
        query = {"filters": label_filters(labels)}
        if kind == "container":
            listed = self.api.json("GET", "/containers/json", {**query, "all": stopped}) or []
        else:
            listed = self.api.json("GET", "/networks", query) or []
        now = time.time()
        return [tuple(listed_field(item, f, now) for f in fields) for item in listed]

    def remove_found(self, objects: Sequence[Found]) -> list[str]:
        """Containers first (a network cannot go while attached), then networks."""
        errors = []
        for kind, path in (("container", "/containers/{}?force=1"), ("network", "/networks/{}")):
            for found in (o for o in objects if o.kind == kind):
                try:
                    self.api.call("DELETE", path.format(quoted(found.name)))
                except NotFound:
                    pass
                except EngineError as exc:
                    errors.append(exc.stderr)
        return errors


DockerEngine.on_socket = on_socket
DockerEngine.from_socket = from_socket
