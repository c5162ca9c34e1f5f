"""The one seam to the container engine: every Docker call goes through here, and
this is the only module that knows the docker CLI's Go templates and its wording
(tests/unit/test_engine_errors.py greps for them elsewhere).

Commands are argv tuples, never shell strings. Values that must not be seen
(env values) never enter argv: they travel in the docker CLI's own environment
and are named with `-e NAME`. A failed call raises EngineError carrying the
command (for display), its exit status and stderr, classified once into a typed
kind (NotFound, NameConflict, NotRunning, AddressConflict; EngineUnavailable when
the daemon cannot be reached).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Literal

from claude_bottle.console import trace, trace_streamed
from claude_bottle.errors import (
    AddressConflict,
    EngineError,
    EngineUnavailable,
    NameConflict,
    NotFound,
    NotRunning,
    PathNotFound,
    display_command,
)
from claude_bottle.settings import Settings


def _trace(argv: Sequence[str], started: float, status: int) -> None:
    trace(display_command(argv), started, status)  # secrets redacted


_VERSION_RE = re.compile(r"^v?[0-9]+\.[0-9]+")
_UNREACHABLE = (
    "Cannot connect to the Docker daemon",
    "error during connect",
    "permission denied while trying to connect",
)

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


def _template(kind: str, field: str) -> str:
    if field.startswith("label:"):
        return f'{{{{.Label "{field.removeprefix("label:")}"}}}}'
    if field == "name":
        return "{{.Names}}" if kind == "container" else "{{.Name}}"
    return {"id": "{{.ID}}", "age": "{{.RunningFor}}"}[field]


def error_kind(stderr: str) -> type[EngineError]:
    """The typed kind of a docker CLI failure, from its stderr."""
    return next((kind for kind, words in _KINDS if words.search(stderr)), EngineError)


@dataclass(frozen=True)
class Engine:
    """The docker CLI, resolved once."""

    binary: str
    base_env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    version: str = ""  # the server's version, once asked

    @classmethod
    def locate(cls) -> Engine:
        """The docker CLI, checked to answer like one: a program that exits 0 and
        says nothing (CLAUDE_BOTTLE_DOCKER=/bin/true) must not pass for an engine
        that made and removed everything."""
        binary = Settings.from_environ().docker or shutil.which("docker")
        if not binary or not os.access(binary, os.X_OK) or os.path.isdir(binary):
            raise EngineUnavailable(
                "docker not found on PATH: install Docker (https://docs.docker.com/engine/install/)"
            )
        probe = cls(binary=binary)
        return cls(binary=binary, base_env=probe.base_env, version=probe.server_version())

    def argv(self, args: Sequence[str]) -> list[str]:
        return [self.binary, *args]

    def _env(self, extra: Mapping[str, str] | None) -> dict[str, str] | None:
        if not extra:
            return None
        env = dict(self.base_env)
        env.update(extra)
        return env

    def run(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        stdin: bytes | IO[Any] | None = None,
        check: bool = True,
        what: str = "",
    ) -> subprocess.CompletedProcess[str]:
        """Run one docker command to completion, capturing its output as text."""
        argv = self.argv(args)
        started = time.monotonic()
        # Its own process group: a terminal's Ctrl-C goes to the whole foreground
        # group, and a docker client killed halfway through `run` or `network
        # create` leaves the daemon to finish making an object nobody recorded.
        # The CLI alone decides when an engine call is abandoned.
        if isinstance(stdin, bytes):
            proc = subprocess.run(argv, input=stdin, capture_output=True, env=self._env(env), check=False,
                                  process_group=0)  # fmt: skip
        else:
            proc = subprocess.run(argv, stdin=stdin, capture_output=True, env=self._env(env), check=False,
                                  process_group=0)  # fmt: skip
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

    # Questions a bottle asks of the engine, in its own terms.
    def find(
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

    def image_exists(self, ref: str) -> bool:
        return self.ok("image", "inspect", "--format", "{{.Id}}", ref)

    def network_exists(self, name: str) -> bool:
        return self.ok("network", "inspect", "--format", "{{.Name}}", name)

    def image_labels(self, ref: str, *keys: str) -> tuple[str, ...] | None:
        """The image's values of `keys` ("" where a key is absent), or None without the image."""
        fmt = "\t".join(f'{{{{index .Config.Labels "{key}"}}}}' for key in keys)
        result = self.run("image", "inspect", "--format", fmt, ref, check=False)
        if result.returncode != 0:
            return None
        values = result.stdout.rstrip("\n").split("\t")
        return tuple("" if v == NO_VALUE else v for v in values)

    def container_names(self) -> frozenset[str] | None:
        """Every container's name (running or not), or None when the engine would not say."""
        result = self.run("ps", "-a", "--format", "{{.Names}}", check=False)
        return frozenset(result.stdout.split()) if result.returncode == 0 else None

    def container_address(self, container: str, network: str) -> str:
        fmt = f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}'
        return self.run("inspect", "--format", fmt, container).stdout.strip()

    def runtimes_json(self) -> str:
        """The engine's registered runtimes as a JSON object (name: details)."""
        return self.run("info", "--format", "{{json .Runtimes}}").stdout.strip()

    def ok(self, *args: str) -> bool:
        return self.run(*args, check=False).returncode == 0

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args).stdout)

    def lines(self, *args: str) -> list[str]:
        return [line for line in self.run(*args).stdout.splitlines() if line.strip()]

    def attach(self, *args: str, env: Mapping[str, str] | None = None) -> int:
        """Run a docker command wired to this process's terminal/stdio; its exit status.

        It stays in the terminal's foreground process group: `docker exec -it`
        needs the terminal (and puts it in raw mode, so Ctrl-C reaches the agent
        as a key). It makes no engine object, so a signal cannot orphan one."""
        started = time.monotonic()
        status = subprocess.run(self.argv(args), env=self._env(env), check=False).returncode
        _trace(self.argv(args), started, status)
        return status

    def popen(self, *args: str, **kwargs: Any) -> subprocess.Popen[bytes]:
        kwargs.setdefault("process_group", 0)  # as in run(): the CLI decides, not the terminal
        trace_streamed(display_command(self.argv(args)))
        return subprocess.Popen(self.argv(args), **kwargs)

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
