"""Files in and out of a pod (tar streams over the exec API), commands run in
one (to their end, as streams, or on the terminal) and its log. A pod's
commands run as the pod's user: exec has no user of its own."""

from __future__ import annotations

import posixpath
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import IO

from claude_bottle.engine.api import ExecStream
from claude_bottle.engine.k8s import envpipe, manifests, meta, streams, terminal
from claude_bottle.engine.k8s.cluster import CANNOT_RUN, copy_failed, not_running
from claude_bottle.engine.k8s.pods import KubernetesPods
from claude_bottle.errors import EngineError, NotFound, UsageError

NO_SUCH_PATH = 66  # what the copy commands exit with when the path is not there


class KubernetesCommands(KubernetesPods):
    """Logs, files and commands in running pods."""

    def logs(self, container: str) -> str:
        with self.cluster.log(meta.object_name(container), manifests.CONTAINER, follow=False) as stream:
            return stream.read().decode("utf-8", "replace")

    def follow_logs(self, container: str) -> AbstractContextManager[IO[bytes]]:
        return self.cluster.log(meta.object_name(container), manifests.CONTAINER, follow=True)

    def _channels(self, container: str, argv: Sequence[str], *, stdin: bool, tty: bool) -> streams.Channels:
        pod = meta.object_name(container)
        try:
            sock = self.cluster.open_exec(pod, manifests.CONTAINER, argv, stdin=stdin, tty=tty)
        except NotFound:
            raise
        except EngineError as exc:
            state = self._state(pod)
            if state is not None and state.state != "running":
                raise not_running(exc.command, exc.stderr, f"container {container} is not running") from None
            raise
        return streams.Channels(sock)

    @staticmethod
    def _argv(argv: Sequence[str], user: str | None, workdir: str | None) -> list[str]:
        if user is not None and (user.partition(":")[0] in ("0", "root")):
            raise UsageError("commands in a bottle's pods never run as root")
        # Exec runs as the pod's user (a non-root pod cannot become another), in its working folder.
        if workdir:
            return ["sh", "-c", 'cd "$0" || exit 126; exec "$@"', workdir, *argv]
        return list(argv)

    def exec(
        self,
        container: str,
        argv: Sequence[str],
        *,
        user: str | None = None,
        workdir: str | None = None,
        stdin: bytes | None = None,
    ) -> subprocess.CompletedProcess[str]:
        command = self._argv(argv, user, workdir)
        channels = self._channels(container, command, stdin=stdin is not None, tty=False)
        if stdin is not None:
            streams.feed(channels, stdin)
        out, err = bytearray(), bytearray()
        code, message = streams.drain(channels, out.extend, err.extend)
        if code is None:
            code, message = CANNOT_RUN, "the command's stream ended without its exit status"
        stderr = err.decode("utf-8", "replace") + (message + "\n" if message else "")
        return subprocess.CompletedProcess(list(argv), code, out.decode("utf-8", "replace"), stderr)

    @contextmanager
    def exec_stream(
        self, container: str, argv: Sequence[str], *, user: str | None = None
    ) -> Iterator[ExecStream]:
        stream = streams.PodExecStream(
            self._channels(container, self._argv(argv, user, None), stdin=True, tty=False)
        )
        try:
            yield stream
        finally:
            stream.close()

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
        command = self._argv(argv, user, workdir)
        if not env:
            return terminal.attach(self._channels(container, command, stdin=True, tty=tty), tty=tty)
        # A cold pod's values are its Secret's; a warm pool's pod has none, and its
        # claimer hands them to the session's command on the exec's stdin (envpipe).
        lines = envpipe.env_lines(env)
        channels = self._channels(container, envpipe.wrapped(command), stdin=True, tty=tty)
        try:
            ended = envpipe.hand_over(
                channels, lines, terminal.writer(sys.stdout), terminal.writer(sys.stderr)
            )
        except BaseException:
            channels.close()
            raise
        if ended is not None:
            code, message = ended
            if message:
                terminal.writer(sys.stderr)(message.encode() + b"\n")
            return CANNOT_RUN if code is None else code
        return terminal.attach(channels, tty=tty)

    def copy_in(self, container: str, dest: str, tar: bytes | IO[bytes]) -> None:
        script = f'[ -d "$0" ] || exit {NO_SUCH_PATH}; exec tar -x -p -C "$0" -f -'
        channels = self._channels(container, ["sh", "-c", script, dest], stdin=True, tty=False)
        streams.feed(channels, tar)
        err = bytearray()
        code, message = streams.drain(channels, lambda _data: None, err.extend)
        self._copy_status(container, dest, code, err.decode("utf-8", "replace") + message, "into")

    @contextmanager
    def copy_out(self, container: str, path: str) -> Iterator[IO[bytes]]:
        folder, name = posixpath.split(path.rstrip("/") or "/")
        script = f'[ -e "$0" ] || exit {NO_SUCH_PATH}; cd "$1" && exec tar -c -f - "$2"'
        argv = ["sh", "-c", script, path, folder or "/", name or "."]
        stream = streams.PodExecStream(self._channels(container, argv, stdin=False, tty=False))
        try:
            if not stream.stdout.peek(1):  # type: ignore[attr-defined]
                # Nothing at all: the command ended (the path is not there?) before any tar.
                self._copy_status(container, path, stream.wait(), stream.stderr_text(), "out of")
            yield stream.stdout
            stream.stdout.close()
            code = stream.wait()
            self._copy_status(container, path, code, stream.stderr_text(), "out of")
        finally:
            stream.close()

    @staticmethod
    def _copy_status(container: str, path: str, code: int | None, stderr: str, way: str) -> None:
        if code == 0:
            return
        missing = code == NO_SUCH_PATH
        detail = f"no such path: {path}" if missing else stderr
        raise copy_failed(
            ("copy", container, path), code, detail, f"cannot copy {way} {container}:{path}", missing
        )
