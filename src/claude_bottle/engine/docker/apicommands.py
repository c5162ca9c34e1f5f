"""Files in and out of a container (the archive endpoints) and commands run in one
(exec create, start on a hijacked connection, inspect), over the engine's API: no
docker client process. A command on the terminal (`attach` with a terminal) stays
the docker CLI's, which owns the terminal's raw mode and its resizing."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any

from claude_bottle.engine.docker.apispec import exec_body
from claude_bottle.engine.docker.commands import DockerCommands
from claude_bottle.engine.docker.socketapi import STDERR, DockerSocket, Hijacked, frames, quoted
from claude_bottle.errors import EngineError


def pump(source: Callable[[], bytes], stream: Hijacked) -> threading.Thread:
    """Feed what `source` returns to the stream until it returns b"", then end its stdin."""

    def feed() -> None:
        try:
            while chunk := source():
                stream.send(chunk)
        except OSError:
            pass  # the command ended first, or this end's input failed: its stdin ends
        finally:
            stream.close_write()

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    return thread


class APICommands(DockerCommands):
    """Files and commands in running containers, on the API."""

    api: DockerSocket

    def copy_in(self, container: str, dest: str, tar: bytes | IO[bytes]) -> None:
        what = f"cannot copy files into {container}:{dest}"
        try:
            data = tar if isinstance(tar, bytes) else tar.read()
        finally:
            if not isinstance(tar, bytes):
                tar.close()
        self.api.call("PUT", f"/containers/{quoted(container)}/archive", {"path": dest}, raw=data, what=what)

    @contextlib.contextmanager
    def copy_out(self, container: str, path: str) -> Iterator[IO[bytes]]:
        """A tar of `path`; as on the CLI, its failure (PathNotFound for a missing
        path) is raised when the block ends, the block having read nothing."""
        failure: EngineError | None = None
        try:
            data = self.api.call("GET", f"/containers/{quoted(container)}/archive", {"path": path})
        except EngineError as exc:
            data, failure = b"", exc
        yield io.BytesIO(data)
        if failure is not None:
            raise failure

    def _exec(
        self,
        container: str,
        argv: Sequence[str],
        *,
        stdin: bool,
        user: str | None,
        workdir: str | None,
        what: str = "",
    ) -> tuple[str, Hijacked]:
        body = exec_body(argv, stdin=stdin, user=user, workdir=workdir)
        created = self.api.json("POST", f"/containers/{quoted(container)}/exec", body=body, what=what)
        exec_id = str(created["Id"])
        stream = self.api.hijack(f"/exec/{exec_id}/start", {"Detach": False, "Tty": False}, what=what)
        if not stdin:
            stream.close_write()
        return exec_id, stream

    def _exit_code(self, exec_id: str) -> int:
        code = self.api.json("GET", f"/exec/{exec_id}/json").get("ExitCode")
        return int(code) if code is not None else 1

    def exec(
        self,
        container: str,
        argv: Sequence[str],
        *,
        user: str | None = None,
        workdir: str | None = None,
        stdin: bytes | None = None,
    ) -> subprocess.CompletedProcess[str]:
        exec_id, stream = self._exec(container, argv, stdin=stdin is not None, user=user, workdir=workdir)
        out, err = bytearray(), bytearray()
        try:
            if stdin is not None:
                pump(iter((stdin, b"")).__next__, stream)
            for kind, payload in frames(stream.read):
                (err if kind == STDERR else out).extend(payload)
        finally:
            stream.close()
        return subprocess.CompletedProcess(
            ["docker", "exec", container, *argv],
            self._exit_code(exec_id),
            out.decode("utf-8", "replace"),
            err.decode("utf-8", "replace"),
        )

    def attach(
        self,
        container: str,
        argv: Sequence[str],
        *,
        tty: bool,
        user: str | None = None,
        workdir: str | None = None,
    ) -> int:
        """Without a terminal, on the API: this process's stdin fed to the command,
        its stdout and stderr written to this process's. With one, the docker CLI
        (`docker exec -it`), which puts the terminal in raw mode and follows its size."""
        if tty:
            return super().attach(container, argv, tty=tty, user=user, workdir=workdir)
        for out in (sys.stdout, sys.stderr):
            out.flush()
        exec_id, stream = self._exec(container, argv, stdin=True, user=user, workdir=workdir)
        try:
            pump(_stdin_reader(), stream)
            for kind, payload in frames(stream.read):
                _write_all(2 if kind == STDERR else 1, payload)
        finally:
            stream.close()
        return self._exit_code(exec_id)


def _stdin_reader() -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            return os.read(0, 65536)
        except OSError:
            return b""

    return read


def _write_all(fd: int, data: Any) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BrokenPipeError:
            return  # the reader went away: the command's output has nowhere to go
        view = view[written:]
