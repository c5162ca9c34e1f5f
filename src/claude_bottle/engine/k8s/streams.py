"""Commands in a pod over the exec API's websocket, byte for byte.

The `kubernetes` package's `WSClient` keeps each channel in memory until it is
read (and, unless asked for bytes, decodes it as UTF-8); a tar stream of a
workspace must instead flow through with back-pressure. So the package does
the handshake (its URL, auth and TLS handling: `Cluster.open_exec`) and the
framing is done here: each websocket message is one channel byte (0 stdin,
1 stdout, 2 stderr, 3 the exit status, 4 terminal size) and raw bytes; under
the v5.channel.k8s.io protocol (API server 1.30+) a message `255, 0` closes
stdin, so a command reading to the end of its input (`tar -x`, `cat`) ends.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import threading
from collections.abc import Callable, Iterator
from typing import IO, Any

from claude_bottle.engine.k8s.cluster import CANNOT_RUN, exit_status

STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
CLOSE = 255
V5 = "v5.channel.k8s.io"
CHUNK = 64 * 1024


class Channels:
    """One exec's websocket: channel messages out, (channel, bytes) in."""

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.v5 = _subprotocol(sock) == V5
        self._lock = threading.Lock()

    def send(self, channel: int, data: bytes) -> None:
        for start in range(0, len(data), CHUNK):
            with self._lock:
                self.sock.send_binary(bytes([channel]) + data[start : start + CHUNK])

    def close_stdin(self) -> None:
        if self.v5:
            with self._lock:
                self.sock.send_binary(bytes([CLOSE, STDIN]))

    def resize(self, columns: int, lines: int) -> None:
        self.send(RESIZE, json.dumps({"Width": columns, "Height": lines}).encode())

    def frames(self) -> Iterator[tuple[int, bytes]]:
        from websocket import ABNF, WebSocketException

        while True:
            try:
                opcode, frame = self.sock.recv_data_frame(True)
            except (WebSocketException, OSError):
                return
            if opcode == ABNF.OPCODE_CLOSE:
                return
            data = frame.data if isinstance(frame.data, bytes) else str(frame.data).encode()
            if opcode in (ABNF.OPCODE_BINARY, ABNF.OPCODE_TEXT) and data and data[0] != CLOSE:
                yield data[0], data[1:]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.sock.close()

    def abort(self) -> None:
        """End the stream at once, from any thread: a reader blocked in `frames`
        wakes and sees its end (closing a socket does not wake a blocked read;
        shutting it down does)."""
        with contextlib.suppress(Exception):
            self.sock.sock.shutdown(socket.SHUT_RDWR)


def _subprotocol(sock: Any) -> str:
    """The protocol the API server chose. websocket-client records it only when
    it made the offer itself; the client offers in a header, so the answer is
    read from the handshake's response headers."""
    get = getattr(sock, "getsubprotocol", None)
    chosen = get() if callable(get) else getattr(sock, "subprotocol", None)
    if chosen:
        return str(chosen)
    headers = sock.getheaders() if callable(getattr(sock, "getheaders", None)) else None
    for key, value in (headers or {}).items():
        if str(key).lower() == "sec-websocket-protocol":
            return str(value)
    return ""


def feed(channels: Channels, source: bytes | IO[bytes] | None) -> threading.Thread:
    """Send `source` as the command's stdin, then close it, in a thread of its own
    (the command's output is read meanwhile: no deadlock on a full pipe)."""

    def pump() -> None:
        with contextlib.suppress(Exception):  # the command ended first: nothing to send to
            if isinstance(source, bytes):
                channels.send(STDIN, source)
            elif source is not None:
                while chunk := source.read(CHUNK):
                    channels.send(STDIN, chunk)
            channels.close_stdin()

    thread = threading.Thread(target=pump, name="exec-stdin", daemon=True)
    thread.start()
    return thread


def drain(
    channels: Channels, on_stdout: Callable[[bytes], None], on_stderr: Callable[[bytes], None]
) -> tuple[int | None, str]:
    """Read every message to the end of the stream; the exit status."""
    error = b""
    for channel, data in channels.frames():
        if channel == STDOUT:
            on_stdout(data)
        elif channel == STDERR:
            on_stderr(data)
        elif channel == ERROR:
            error += data
    channels.close()
    return exit_status(error)


class _StdinRaw(io.RawIOBase):
    def __init__(self, channels: Channels) -> None:
        self.channels = channels

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.channels.send(STDIN, chunk)
        return len(chunk)

    def close(self) -> None:
        if not self.closed:
            with contextlib.suppress(Exception):
                self.channels.close_stdin()
        super().close()


class PodExecStream:
    """A command running in a pod (engine.api.ExecStream): its stdin and stdout
    as byte streams, stdout through a pipe so a slow reader slows the command."""

    def __init__(self, channels: Channels) -> None:
        self.channels = channels
        read_end, write_end = os.pipe()
        self.stdout: IO[bytes] = os.fdopen(read_end, "rb")
        self._out = os.fdopen(write_end, "wb", buffering=0)
        self.stdin: IO[bytes] = io.BufferedWriter(_StdinRaw(channels))
        self._stderr = bytearray()
        self._status: tuple[int | None, str] = (None, "")
        self._thread = threading.Thread(target=self._read, name="exec-stdout", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        def out(data: bytes) -> None:
            with contextlib.suppress(BrokenPipeError):
                self._out.write(data)

        try:
            self._status = drain(self.channels, out, self._stderr.extend)
        finally:
            self._out.close()

    def wait(self) -> int:
        self._thread.join()
        code, message = self._status
        if message:
            self._stderr.extend(message.encode())
        return CANNOT_RUN if code is None else code

    def stderr_text(self) -> str:
        return self._stderr.decode("utf-8", "replace")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stdin.close()
        self.channels.close()
        self._thread.join(timeout=5)
        self.stdout.close()
