"""The docker CLI as an `engine.api.Engine`: `DockerEngine` composes the
process runner, the endpoint, resources, files and commands, and images, and
answers for the engine itself (its version, runtimes and known faults).
`locate` hands a session on the local socket to apiengine.DockerAPIEngine."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from claude_bottle.engine.api import Capabilities, EngineCheck, ImageStore
from claude_bottle.engine.docker.commands import DockerCommands
from claude_bottle.engine.docker.dnsleak import dns_leak_verdict, engine_leaks_dns
from claude_bottle.engine.docker.endpoint import DockerEndpoint
from claude_bottle.engine.docker.envfile import env_file_text
from claude_bottle.engine.docker.images import DockerImages
from claude_bottle.engine.docker.resources import DockerResources
from claude_bottle.errors import EngineUnavailable
from claude_bottle.safe_read import SYSTEM_FILE_MAX, HostFileProblem, read_capped_text
from claude_bottle.settings import Settings

# Docker pins addresses and aliases on user-defined networks, and a helper
# container can join another's network namespace (`--network container:NAME`).
CAPABILITIES = Capabilities("docker", fixed_addresses=True, peer_names=True, shared_namespaces=True)


_VERSION_RE = re.compile(r"^v?[0-9]+\.[0-9]+")


@dataclass
class DockerEngine(DockerEndpoint, DockerResources, DockerCommands, DockerImages):
    """The docker CLI as an engine, resolved once."""

    version: str = ""  # the server's version, once asked
    capabilities: Capabilities = CAPABILITIES
    _storage: tuple[str | None] | None = field(default=None, repr=False)  # storage_limit_problem, once asked
    # The current context and its endpoint, once asked (`docker context inspect`).
    context: str = ""
    endpoint: str = ""
    # The same engine on the local socket's API (apiengine.py extends this class,
    # so it cannot be imported here): set when the package is imported. The
    # first answers for a session (None: the CLI), the second for a description.
    on_socket: ClassVar[Callable[[Settings, str], DockerEngine | None] | None] = None
    from_socket: ClassVar[Callable[[str, str], DockerEngine] | None] = None

    @classmethod
    def locate(cls, settings: Settings) -> DockerEngine:
        """The docker CLI, checked to answer like one: a program that exits 0 and
        says nothing (CLAUDE_BOTTLE_DOCKER=/bin/true) must not pass for an engine
        that made and removed everything."""
        binary = settings.docker or shutil.which("docker")
        if not binary or not os.access(binary, os.X_OK) or os.path.isdir(binary):
            raise EngineUnavailable(
                "docker not found on PATH: install Docker (https://docs.docker.com/engine/install/)"
            )
        on_socket = DockerEngine.on_socket if cls is DockerEngine else None
        engine = on_socket(settings, binary) if on_socket is not None else None
        if engine is not None:  # the local socket answers: its API, not a docker client process a call
            return engine
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
    def described(cls, binary: str, context: str = "", api: str = "") -> DockerEngine:
        """The engine `describe()` named: the same CLI and the same context, or
        the same local socket (the dialect chosen once, for the whole session)."""
        if api and DockerEngine.from_socket is not None:
            return DockerEngine.from_socket(binary, api)
        return cls(binary=binary, pins={"DOCKER_CONTEXT": context} if context else {})

    def describe(self) -> tuple[str, ...]:
        return ("docker", self.binary, self.pins.get("DOCKER_CONTEXT", ""))

    # --- The engine itself --------------------------------------------------------

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
