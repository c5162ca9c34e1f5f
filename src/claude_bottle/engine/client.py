"""The one seam to the container engine: every Docker call goes through here.

Commands are argv tuples, never shell strings. Values that must not be seen
(env values) never enter argv: they travel in the docker CLI's own environment
and are named with `-e NAME`. A failed call raises EngineError carrying the
command (for display), its exit status and stderr.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from claude_bottle.errors import EngineError, EngineUnavailable, display_command

# CLAUDE_BOTTLE_VERBOSE=1: every engine command is echoed (secrets redacted)
# with its duration and status, so a user can see and reproduce what the tool does.
VERBOSE = os.environ.get("CLAUDE_BOTTLE_VERBOSE") == "1"


def _trace(argv: Sequence[str], started: float, status: int) -> None:
    if VERBOSE:
        elapsed = time.monotonic() - started
        print(f"claude-bottle: + {display_command(argv)}  [{elapsed:.3f}s, exit {status}]", file=sys.stderr)


_VERSION_RE = re.compile(r"^v?[0-9]+\.[0-9]+")
_UNREACHABLE = (
    "Cannot connect to the Docker daemon",
    "error during connect",
    "permission denied while trying to connect",
)


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
        binary = os.environ.get("CLAUDE_BOTTLE_DOCKER") or shutil.which("docker")
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
        return EngineError(["docker", *args], status, stderr, what)

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
