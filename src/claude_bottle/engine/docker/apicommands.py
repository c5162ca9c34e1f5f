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
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import IO, Any

from claude_bottle.engine.api import ExecStream
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
        """The archive endpoint; a stream given is sent as it is read (never held
        whole) and closed here, so its writer sees a broken pipe if the engine stops early."""
        what = f"cannot copy files into {container}:{dest}"
        try:
            self.api.call(
                "PUT", f"/containers/{quoted(container)}/archive", {"path": dest}, raw=tar, what=what
            )
        finally:
            if not isinstance(tar, bytes):
                tar.close()

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
        env: Mapping[str, str] | None = None,
    ) -> tuple[str, Hijacked]:
        body = exec_body(argv, stdin=stdin, user=user, workdir=workdir, env=env)
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

    @contextlib.contextmanager
    def exec_stream(
        self, container: str, argv: Sequence[str], *, user: str | None = None
    ) -> Iterator[ExecStream]:
        exec_id, stream = self._exec(container, argv, stdin=True, user=user, workdir=None)
        running = APIExecStream(self.api, exec_id, stream)
        try:
            yield running
        finally:
            for end in (running.stdin, running.stdout):
                with contextlib.suppress(OSError):
                    end.close()
            stream.close()  # the demultiplexer's read ends
            running.thread.join()

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
        """Without a terminal, on the API: this process's stdin fed to the command,
        its stdout and stderr written to this process's. With one, the docker CLI
        (`docker exec -it`), which puts the terminal in raw mode and follows its size."""
        if tty:
            return super().attach(container, argv, tty=tty, user=user, workdir=workdir, env=env)
        for out in (sys.stdout, sys.stderr):
            out.flush()
        exec_id, stream = self._exec(container, argv, stdin=True, user=user, workdir=workdir, env=env)
        try:
            pump(_stdin_reader(), stream)
            for kind, payload in frames(stream.read):
                _write_all(2 if kind == STDERR else 1, payload)
        finally:
            stream.close()
        return self._exit_code(exec_id)


class _StdinOf(io.RawIOBase):
    """A command's stdin on its hijacked stream: closing it ends the stdin alone."""

    def __init__(self, stream: Hijacked) -> None:
        self._stream = stream

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._stream.send(bytes(data))
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._stream.close_write()
        super().close()


class APIExecStream:
    """A command running in a container on the API (engine.api.ExecStream): its
    stdin written to the stream, its stdout demultiplexed into a pipe by a thread,
    its stderr kept."""

    def __init__(self, api: DockerSocket, exec_id: str, stream: Hijacked) -> None:
        self._api, self._exec_id, self._stream = api, exec_id, stream
        self.stdin: IO[bytes] = io.BufferedWriter(_StdinOf(stream))
        read_end, self._write_end = os.pipe()
        self.stdout: IO[bytes] = os.fdopen(read_end, "rb")
        self._stderr = bytearray()
        self.thread = threading.Thread(target=self._demux, daemon=True)
        self.thread.start()

    def _demux(self) -> None:
        try:
            for kind, payload in frames(self._stream.read):
                if kind == STDERR:
                    self._stderr.extend(payload)
                else:
                    _write_all(self._write_end, payload)
        finally:
            os.close(self._write_end)

    def wait(self) -> int:
        self.thread.join()
        code = self._api.json("GET", f"/exec/{self._exec_id}/json").get("ExitCode")
        return int(code) if code is not None else 1

    def stderr_text(self) -> str:
        self.thread.join()
        return self._stderr.decode("utf-8", "replace")


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
