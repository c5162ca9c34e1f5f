"""A small client of the Docker Engine API over the local unix socket, with the
standard library alone (`http.client` on an AF_UNIX socket): a request and its
JSON answer, a hijacked stream (exec, attach) and the multiplexed frames the
engine sends on it. A failure is raised as the same typed kinds the docker CLI's
are (runner.error_kind reads the daemon's own words, which the CLI only prefixes),
so no caller can tell which dialect answered (issue 25)."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import struct
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

from claude_bottle.console import trace
from claude_bottle.engine.docker.runner import error_kind
from claude_bottle.errors import EngineError, EngineUnavailable

DEFAULT_SOCKET = "/var/run/docker.sock"
# The oldest API version that has every call made here (Docker 1.13); the engine
# answers a request of an older version than its own as that version.
API_VERSION = "v1.25"
# How the docker CLI prefixes the daemon's message: kept, so a message reads the same on both paths.
DAEMON_SAID = "Error response from daemon: "
PING_TIMEOUT = 2.0
STDOUT, STDERR = 1, 2


class UnixHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to a unix socket."""

    def __init__(self, path: str, timeout: float | None = None) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def api_error(call: tuple[str, ...], status: int, body: bytes, what: str = "") -> EngineError:
    """The typed error of a failed API call (pure): the daemon's message, classified
    by the same words as the CLI's stderr (NotFound, NameConflict, NotRunning, ...)."""
    try:
        message = str(json.loads(body)["message"])
    except (ValueError, LookupError, TypeError):
        message = body.decode("utf-8", "replace").strip() or http.client.responses.get(status, "")
    kind = error_kind(message)
    if kind is EngineError and status == 404:
        kind = error_kind(f"No such object: {message}")  # an answer without the engine's words
    return kind(call, status, DAEMON_SAID + message, what)


def frames(read: Any) -> Iterator[tuple[int, bytes]]:
    """The (stream, payload) frames of a multiplexed stream (pure but for `read`,
    which returns up to n bytes, b"" at the end): each frame is an 8-byte header,
    the stream (0 stdin, 1 stdout, 2 stderr), three zero bytes and the payload's
    length (big-endian), then the payload."""
    while True:
        header = _read_exactly(read, 8)
        if len(header) < 8:
            return
        stream, length = struct.unpack(">BxxxL", header)
        payload = _read_exactly(read, length)
        yield stream, payload
        if len(payload) < length:
            return


def demux(data: bytes) -> tuple[bytes, bytes]:
    """A whole multiplexed stream's stdout and stderr (pure)."""
    view = memoryview(data)
    out, err, at = bytearray(), bytearray(), 0

    def read(n: int) -> bytes:
        nonlocal at
        chunk = bytes(view[at : at + n])
        at += len(chunk)
        return chunk

    for stream, payload in frames(read):
        (err if stream == STDERR else out).extend(payload)
    return bytes(out), bytes(err)


def _read_exactly(read: Any, n: int) -> bytes:
    parts, left = [], n
    while left > 0:
        chunk = read(left)
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def query_string(query: Mapping[str, Any] | None) -> str:
    """`?a=1&b=...` of the values not None (pure): booleans as 1/0, mappings as JSON."""
    pairs = []
    for key, value in (query or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = int(value)
        elif isinstance(value, Mapping):
            value = json.dumps(value, separators=(",", ":"))
        pairs.append((key, str(value)))
    return "?" + urllib.parse.urlencode(pairs) if pairs else ""


def quoted(name: str) -> str:
    return urllib.parse.quote(name, safe="")


@dataclass
class DockerSocket:
    """The engine's API on `path`: one connection a request (a call is about a
    millisecond; no docker client process is started)."""

    path: str = DEFAULT_SOCKET

    def ping(self) -> bool:
        try:
            return self._send("GET", "/_ping", timeout=PING_TIMEOUT)[0] == 200
        except OSError:
            return False

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: bytes | IO[bytes] | None = None,
        content_type: str = "application/json",
        timeout: float | None = None,
    ) -> tuple[int, bytes]:
        """One request; a stream as the body is sent in chunks as it is read."""
        conn = UnixHTTPConnection(self.path, timeout=timeout)
        try:
            headers = {"Content-Type": content_type} if body is not None else {}
            streamed = body is not None and not isinstance(body, bytes)
            try:
                conn.request(
                    method, f"/{API_VERSION}{path}", body=body, headers=headers, encode_chunked=streamed
                )
            except (BrokenPipeError, ConnectionResetError):
                if not streamed:
                    raise
                # The engine answered before taking the whole stream (a missing
                # folder, a container gone): its answer says why.
            answer = conn.getresponse()
            return answer.status, answer.read()
        finally:
            conn.close()

    def call(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | None = None,
        *,
        body: Any = None,
        raw: bytes | IO[bytes] | None = None,
        what: str = "",
        ok: tuple[int, ...] = (),
    ) -> bytes:
        """One request; its answer's body. A status of 400 or more (unless in `ok`)
        is raised as its typed kind; a socket that does not answer as EngineUnavailable."""
        target = path + query_string(query)
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        started = time.monotonic()
        try:
            kind = "application/x-tar" if raw is not None else "application/json"
            status, answer = self._send(method, target, body=data, content_type=kind)
        except OSError as exc:
            raise EngineUnavailable(
                f"cannot reach the Docker engine on {self.path} ({exc.strerror or exc}); "
                "is dockerd running and may you use it?"
            ) from None
        trace(f"docker-api {method} {target}", started, status)
        if status >= 400 and status not in ok:
            raise api_error(("docker-api", method, target), status, answer, what)
        return answer

    def json(self, method: str, path: str, query: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        answer = self.call(method, path, query, **kwargs)
        return json.loads(answer) if answer.strip() else None

    def hijack(self, path: str, body: Any, *, what: str = "") -> Hijacked:
        """POST `path` and take over its connection: the engine answers 101 and then
        speaks the multiplexed stream on it, as `docker exec` and `docker attach` do."""
        conn = UnixHTTPConnection(self.path)
        started = time.monotonic()
        try:
            conn.request("POST", f"/{API_VERSION}{path}", body=json.dumps(body).encode(),
                         headers={"Content-Type": "application/json", "Connection": "Upgrade",
                                  "Upgrade": "tcp"})  # fmt: skip
            answer = conn.getresponse()
        except OSError as exc:
            conn.close()
            raise EngineUnavailable(f"cannot reach the Docker engine on {self.path} ({exc})") from None
        trace(f"docker-api POST {path} (stream)", started, answer.status)
        if answer.status >= 400:
            data = answer.read()
            conn.close()
            raise api_error(("docker-api", "POST", path), answer.status, data, what)
        sock = conn.sock
        assert sock is not None
        sock.settimeout(None)
        return Hijacked(conn, sock, answer.fp)


class Hijacked:
    """A connection the engine streams on: what it sends is read through the
    response's own reader (it may hold bytes read past the headers), what is
    written goes to the socket, and a half-close is the end of stdin."""

    def __init__(self, conn: http.client.HTTPConnection, sock: socket.socket, reader: Any) -> None:
        self._conn, self._sock, self._reader = conn, sock, reader

    def read(self, n: int) -> bytes:
        try:
            data: bytes = self._reader.read1(n)
        except (OSError, ValueError):
            return b""
        return data

    def send(self, data: bytes) -> None:
        self._sock.sendall(data)

    def close_write(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        # A shutdown wakes a read blocked in another thread (a close alone may not);
        # the connection then closes its response (and so the reader) and the socket.
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError, ValueError):
            self._conn.close()
        with contextlib.suppress(OSError, ValueError):
            self._reader.close()
