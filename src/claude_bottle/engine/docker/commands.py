"""Files in and out of a Docker container (`docker cp` tar streams) and commands
run in one (`docker exec`), to their end, as streams, or on the terminal."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from typing import IO

from claude_bottle.engine.api import ExecStream
from claude_bottle.engine.docker.argv import exec_args
from claude_bottle.engine.docker.envfile import env_file
from claude_bottle.engine.docker.runner import DockerCLI, DockerExecStream, Drain


class DockerCommands(DockerCLI):
    """Files and commands in running containers."""

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
        stderr = Drain(proc.stderr)
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
    ) -> Iterator[ExecStream]:
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
        env: Mapping[str, str] | None = None,
    ) -> int:
        with env_file(dict(env or {})) as (path, fds):  # the values on a pipe, as for `run`
            args = exec_args(container, argv, interactive=True, tty=tty, user=user, workdir=workdir,
                             env_file=path)  # fmt: skip
            return self.foreground(*args, pass_fds=fds)
