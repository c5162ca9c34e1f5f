"""Running the docker CLI: one process runner (`DockerCLI`) through which every
docker command passes, and the docker CLI's words for each kind of failure,
classified once into the typed kinds of claude_bottle.errors (never matched by
a caller)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

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
from claude_bottle.hostenv import docker_env


def end_process(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """Ask a child to end (SIGTERM) and make it (SIGKILL) if it has not within
    `grace` seconds: a follow that the user interrupted ends, whatever the child."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def trace_call(argv: Sequence[str], started: float, status: int) -> None:
    trace(display_command(argv), started, status)  # secrets redacted


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


class Drain:
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
        self._stderr = Drain(proc.stderr)

    def wait(self) -> int:
        return self.proc.wait()

    def stderr_text(self) -> str:
        return self._stderr.text()


@dataclass
class DockerCLI:
    """The docker CLI, resolved once: every call to it passes here, traced, in its
    own process group, with an environment built from an allowlist, and a failure
    raised as a typed kind (`error_kind`)."""

    binary: str
    # Variables set for every docker call, over the environment's: the context
    # the session started on (`locate`), so that a switch meanwhile moves nothing.
    pins: Mapping[str, str] = field(default_factory=dict)

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
        trace_call(argv, started, proc.returncode)
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

    def foreground(
        self, *args: str, env: Mapping[str, str] | None = None, registry: bool = False,
        pass_fds: Sequence[int] = (),
    ) -> int:  # fmt: skip
        """Run a docker command wired to this process's terminal/stdio; its exit status.

        It stays in the terminal's foreground process group: `docker exec -it`
        needs the terminal (and puts it in raw mode, so Ctrl-C reaches the agent
        as a key). It makes no engine object, so a signal cannot orphan one."""
        started = time.monotonic()
        status = subprocess.run(
            self.argv(args), env=self._env(env, registry=registry), check=False, pass_fds=tuple(pass_fds)
        ).returncode
        trace_call(self.argv(args), started, status)
        return status

    def popen(self, *args: str, **kwargs: Any) -> subprocess.Popen[bytes]:
        kwargs.setdefault("process_group", 0)  # as in run(): the CLI decides, not the terminal
        kwargs.setdefault("env", self._env())
        trace_streamed(display_command(self.argv(args)))
        return subprocess.Popen(self.argv(args), **kwargs)
