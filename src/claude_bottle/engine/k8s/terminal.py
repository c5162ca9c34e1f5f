"""A command in a pod wired to this process's terminal (`attach`): stdin,
stdout and stderr through the exec API's channels (engine/k8s/streams.py), a
terminal in raw mode with its size sent now and on every SIGWINCH, and an
interrupt that ends the output reader before its wake-up pipe closes."""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import sys
import termios
import threading
import tty as ttymod
from collections.abc import Callable
from typing import IO, Any

from claude_bottle.engine.k8s.cluster import CANNOT_RUN
from claude_bottle.engine.k8s.streams import CHUNK, STDIN, Channels, drain

# How long an interrupted attach waits for its output reader to see the stream's end.
READER_GRACE = 5.0


def attach(channels: Channels, *, tty: bool) -> int:
    """Wire the command to this process's stdin, stdout and stderr (a terminal
    in raw mode, its size sent now and on every SIGWINCH); its exit status."""
    stdin_fd = _fd(sys.stdin)
    out, err = _binary(sys.stdout), _binary(sys.stderr)
    wake_r, wake_w = os.pipe()
    result: list[tuple[int | None, str]] = []

    def read_all() -> None:
        try:
            result.append(drain(channels, _write(out), _write(err)))
        finally:
            os.write(wake_w, b"x")

    reader = threading.Thread(target=read_all, name="exec-output", daemon=True)
    with contextlib.ExitStack() as restore:
        # Last out, on every path: an interrupt (Ctrl-C, `stop`) leaves the loop
        # below while the reader still runs; it must end before the wake-up pipe
        # closes, or its last write fails (a traceback) or lands in whatever file
        # took the closed descriptor's number.
        restore.callback(_end_reader, channels, reader, (wake_r, wake_w))
        if tty and stdin_fd is not None and os.isatty(stdin_fd):
            saved = termios.tcgetattr(stdin_fd)
            ttymod.setraw(stdin_fd)
            restore.callback(termios.tcsetattr, stdin_fd, termios.TCSADRAIN, saved)
            resized = _on_resize(restore)
            _send_size(channels)
        else:
            resized = None
        reader.start()
        _pump_stdin(channels, stdin_fd, wake_r, resized)
        reader.join()
    code, message = result[0] if result else (None, "")
    if message:
        err.write(message.encode() + b"\n")
        err.flush()
    return CANNOT_RUN if code is None else code


def writer(stream: Any) -> Callable[[bytes], None]:
    """Bytes to this process's `stream` (sys.stdout, sys.stderr), each write flushed."""
    return _write(_binary(stream))


def _write(stream: IO[bytes]) -> Callable[[bytes], None]:
    def to(data: bytes) -> None:
        stream.write(data)
        stream.flush()

    return to


def _end_reader(channels: Channels, reader: threading.Thread, fds: tuple[int, ...]) -> None:
    if reader.is_alive():
        channels.abort()
        reader.join(timeout=READER_GRACE)
    if reader.is_alive():
        return  # the pipe stays open (two descriptors) rather than be written after closing
    for fd in fds:
        os.close(fd)


def _pump_stdin(channels: Channels, stdin_fd: int | None, wake_r: int, resized: int | None) -> None:
    watched = [wake_r] + ([resized] if resized is not None else [])
    if stdin_fd is None:
        channels.close_stdin()
    else:
        watched.append(stdin_fd)
    while True:
        ready, _, _ = select.select(watched, [], [])
        if wake_r in ready:
            return  # the command ended
        if resized is not None and resized in ready:
            os.read(resized, 512)
            _send_size(channels)
        if stdin_fd is not None and stdin_fd in ready:
            data = os.read(stdin_fd, CHUNK)
            if data:
                with contextlib.suppress(Exception):
                    channels.send(STDIN, data)
            else:
                with contextlib.suppress(Exception):
                    channels.close_stdin()
                watched.remove(stdin_fd)


def _on_resize(restore: contextlib.ExitStack) -> int | None:
    """A pipe that gets a byte on every SIGWINCH (the handler only writes: the
    websocket is written from the loop, never from a signal handler)."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    restore.callback(os.close, read_end)
    restore.callback(os.close, write_end)

    def handler(_sig: int, _frame: object) -> None:
        with contextlib.suppress(OSError):
            os.write(write_end, b"w")

    try:
        previous = signal.signal(signal.SIGWINCH, handler)
    except ValueError:  # not the main thread: no resizing
        return None
    restore.callback(signal.signal, signal.SIGWINCH, previous)
    return read_end


def _send_size(channels: Channels) -> None:
    size = shutil.get_terminal_size()
    with contextlib.suppress(Exception):
        channels.resize(size.columns, size.lines)


def _fd(stream: Any) -> int | None:
    try:
        return int(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return None


def _binary(stream: Any) -> IO[bytes]:
    buffer = getattr(stream, "buffer", None)
    return buffer if buffer is not None else stream  # type: ignore[no-any-return]
