"""The Docker Engine API client's pure parts (engine/docker/socketapi.py,
apispec.py, endpoint.py): the multiplexed stream's frames, failures classified
into the same kinds as the CLI's, the request bodies carrying the same hardening
as the CLI's argv, when the local socket is chosen; and one exec against a fake
engine on a unix socket, hijacked stream and all."""

from __future__ import annotations

import io
import ipaddress
import json
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from claude_bottle.engine.api import ContainerSpec, Limits, NetworkSpec
from claude_bottle.engine.docker.apiengine import DockerAPIEngine
from claude_bottle.engine.docker.apispec import container_body, human_age, network_body, size_bytes
from claude_bottle.engine.docker.endpoint import current_context, socket_candidate
from claude_bottle.engine.docker.socketapi import DockerSocket, api_error, demux, frames, query_string
from claude_bottle.errors import (
    AddressConflict,
    EngineError,
    NameConflict,
    NotFound,
    NotRunning,
    PathNotFound,
    UsageError,
)
from claude_bottle.settings import Settings


def frame(stream: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(payload)) + payload


# --- The multiplexed stream ---------------------------------------------------------


def test_frames_are_split_by_their_headers_and_streams() -> None:
    data = frame(1, b"out one\n") + frame(2, b"err\n") + frame(1, b"") + frame(1, b"out two\n")
    assert demux(data) == (b"out one\nout two\n", b"err\n")


def test_a_frame_split_across_reads_is_read_whole() -> None:
    data = frame(1, b"x" * 70000) + frame(2, b"tail")
    stream = io.BytesIO(data)
    got = list(frames(lambda n: stream.read(min(n, 3))))  # a read gives at most 3 bytes
    assert got == [(1, b"x" * 70000), (2, b"tail")]


def test_a_stream_cut_short_yields_what_came_and_ends() -> None:
    data = frame(1, b"whole") + frame(2, b"cut off")[:-3]
    assert demux(data) == (b"whole", b"cut ")
    assert demux(frame(1, b"a")[:5]) == (b"", b"")


# --- Failures, as the CLI's kinds ---------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message", "kind"),
    [
        pytest.param(404, "No such container: c1", NotFound, id="container"),
        pytest.param(404, "network n1 not found", NotFound, id="network"),
        pytest.param(404, "Could not find the file /x in container c1", PathNotFound, id="path"),
        pytest.param(409, 'Conflict. The container name "/c1" is already in use', NameConflict, id="name"),
        pytest.param(409, "network with name n1 already exists", NameConflict, id="network-name"),
        pytest.param(409, "Container c1 is not running", NotRunning, id="not-running"),
        pytest.param(
            400, "Pool overlaps with other one on this address space", AddressConflict, id="overlap"
        ),
        pytest.param(500, "something else broke", EngineError, id="other"),
        pytest.param(404, "page not found", NotFound, id="bare-404"),
    ],
)
def test_the_daemons_message_is_classified_as_the_clis_stderr(
    status: int, message: str, kind: type[EngineError]
) -> None:
    error = api_error(
        ("docker-api", "GET", "/x"), status, json.dumps({"message": message}).encode(), "doing it"
    )
    assert type(error) is kind
    assert error.stderr == f"Error response from daemon: {message}"
    assert str(error).startswith("doing it")


def test_an_answer_without_json_is_still_classified() -> None:
    error = api_error(("docker-api", "GET", "/x"), 404, b"No such image: y\n")
    assert isinstance(error, NotFound)


def test_query_strings() -> None:
    assert query_string({"a": True, "b": None, "filters": {"label": ["k=v"]}}) == (
        "?a=1&filters=%7B%22label%22%3A%5B%22k%3Dv%22%5D%7D"
    )
    assert query_string({}) == ""


# --- The request bodies: the CLI's hardening ---------------------------------------


def spec(**over: object) -> ContainerSpec:
    values: dict[str, object] = {
        "name": "c1", "image": "img", "network": "net", "labels": {"k": "v"},
        "limits": Limits(pids=64, memory="1g", cpus=0.5, disk="2g"),
    }  # fmt: skip
    return ContainerSpec(**{**values, **over})  # type: ignore[arg-type]


def test_a_container_is_hardened_as_on_the_cli() -> None:
    body = container_body(
        spec(cap_add=("NET_ADMIN",), read_only=True, init=True, low_ports=True, tmpfs=(("/run", "size=4m"),),
             runtime="runsc", address="10.0.0.5", aliases=("proxy",), user="0", workdir="/w",
             env={"A": "1"}, secret_env=("S",), command=("sh", "-c", "x")),
        {"S": "secret"},
        storage=True,
    )  # fmt: skip
    host = body["HostConfig"]
    assert host["CapDrop"] == ["ALL"]
    assert host["CapAdd"] == ["CAP_NET_ADMIN"]  # as the CLI writes it
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["IpcMode"] == "private"
    assert (host["PidsLimit"], host["Memory"], host["NanoCpus"]) == (64, 1 << 30, 500_000_000)
    assert host["ReadonlyRootfs"] is True
    assert host["Init"] is True
    assert host["Runtime"] == "runsc"
    assert host["Sysctls"] == {"net.ipv4.ip_unprivileged_port_start": "0"}
    assert host["Tmpfs"] == {"/run": "size=4m"}
    assert host["StorageOpt"] == {"size": "2g"}
    assert host["NetworkMode"] == "net"
    assert body["NetworkingConfig"] == {
        "EndpointsConfig": {"net": {"Aliases": ["proxy"], "IPAMConfig": {"IPv4Address": "10.0.0.5"}}}
    }
    assert body["Env"] == ["S=secret", "A=1"]
    assert (body["Cmd"], body["User"], body["WorkingDir"], body["Labels"]) == (
        ["sh", "-c", "x"],
        "0",
        "/w",
        {"k": "v"},
    )
    assert body["OpenStdin"] is False


def test_a_helper_joins_another_containers_namespace_without_an_endpoint() -> None:
    body = container_body(spec(), {}, "container:sidecar", stdin_once=True)
    assert body["HostConfig"]["NetworkMode"] == "container:sidecar"
    assert "NetworkingConfig" not in body
    assert body["OpenStdin"]
    assert body["StdinOnce"]
    assert body["AttachStdin"]
    assert "StorageOpt" not in body["HostConfig"]  # only where the engine can limit the disk
    assert "Cmd" not in body  # the image's own


def test_an_internal_network_has_no_way_out_and_no_host_address() -> None:
    body = network_body(NetworkSpec("n", {"k": "v"}, subnet=ipaddress.IPv4Network("10.1.0.0/28")))
    assert body["Internal"] is True
    assert body["Options"] == {"com.docker.network.bridge.inhibit_ipv4": "true"}
    assert body["IPAM"]["Config"] == [{"Subnet": "10.1.0.0/28"}]
    assert network_body(NetworkSpec("e", {}, internal=False))["Options"] == {}


@pytest.mark.parametrize(("text", "size"), [("4g", 4 << 30), ("512m", 512 << 20), ("6M", 6 << 20),
                                            ("1gb", 1 << 30), ("100", 100)])  # fmt: skip
def test_sizes_are_read_as_the_docker_cli_reads_them(text: str, size: int) -> None:
    assert size_bytes(text) == size


AGES = [
    (0.2, "Less than a second ago"), (1, "1 second ago"), (42, "42 seconds ago"), (90, "About a minute ago"),
    (600, "10 minutes ago"), (3600, "About an hour ago"), (18000, "5 hours ago"), (3 * 86400, "3 days ago"),
]  # fmt: skip


@pytest.mark.parametrize(("seconds", "said"), AGES)
def test_ages_read_as_docker_ps_prints_them(seconds: float, said: str) -> None:
    assert human_age(1000.0, 1000.0 + seconds) == said


# --- When the socket is spoken --------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "environ", "chosen"),
    [
        pytest.param({}, {}, True, id="default"),
        pytest.param({"CLAUDE_BOTTLE_DOCKER_API": "cli"}, {}, False, id="switch"),
        pytest.param({"CLAUDE_BOTTLE_DOCKER": "/usr/bin/docker"}, {}, False, id="named-client"),
        pytest.param({}, {"DOCKER_HOST": "ssh://far"}, False, id="docker-host"),
        pytest.param({}, {"DOCKER_CONTEXT": "other"}, False, id="docker-context"),
    ],
)
def test_the_socket_is_chosen_only_for_the_local_default_engine(
    settings: dict[str, str], environ: dict[str, str], chosen: bool, tmp_path: Path
) -> None:
    found = socket_candidate(Settings.from_environ(settings), {"HOME": str(tmp_path), **environ})
    assert (found is not None) is chosen


def test_a_current_context_elsewhere_keeps_the_cli(tmp_path: Path) -> None:
    (tmp_path / ".docker").mkdir()
    (tmp_path / ".docker" / "config.json").write_text(json.dumps({"currentContext": "remote"}))
    assert current_context({"HOME": str(tmp_path)}) == "remote"
    assert socket_candidate(Settings(), {"HOME": str(tmp_path)}) is None
    (tmp_path / ".docker" / "config.json").write_text(json.dumps({"currentContext": "default"}))
    assert socket_candidate(Settings(), {"HOME": str(tmp_path)}) is not None


def test_an_unknown_switch_value_is_refused() -> None:
    with pytest.raises(UsageError, match="CLAUDE_BOTTLE_DOCKER_API: 'sometimes' is not one of"):
        socket_candidate(Settings.from_environ({"CLAUDE_BOTTLE_DOCKER_API": "sometimes"}), {})


# --- One exec against a fake engine ----------------------------------------------------


def _answer(conn: socket.socket, head: str, body: bytes = b"") -> None:
    conn.sendall(f"HTTP/1.1 {head}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)


def _request(conn: socket.socket) -> tuple[str, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ),
        0,
    )
    while len(body) < length:
        body += conn.recv(65536)
    return head.split(b"\r\n")[0].decode(), body


@pytest.fixture
def fake_engine(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """A unix socket answering an exec as dockerd does: create, a hijacked start
    that echoes stdin on stdout and says a word on stderr, inspect."""
    path = str(tmp_path / "docker.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen()
    seen: list[str] = []

    def serve() -> None:
        for _ in range(3):
            conn, _ = server.accept()
            with conn:
                line, body = _request(conn)
                seen.append(line)
                if "/exec/x1/start" in line:
                    conn.sendall(b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
                    got = b""
                    while chunk := conn.recv(65536):  # to the client's half-close
                        got += chunk
                    conn.sendall(frame(1, got) + frame(2, b"warned\n"))
                elif "/exec/x1/json" in line:
                    _answer(conn, "200 OK", json.dumps({"ExitCode": 3, "Running": False}).encode())
                else:
                    assert json.loads(body)["Cmd"] == ["cat"]
                    _answer(conn, "201 Created", json.dumps({"Id": "x1"}).encode())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield path, seen
    thread.join(timeout=5)
    server.close()


def test_an_exec_feeds_stdin_and_reads_both_streams_and_the_status(
    fake_engine: tuple[str, list[str]],
) -> None:
    path, seen = fake_engine
    engine = DockerAPIEngine(binary="/nonexistent/docker", api=DockerSocket(path))
    result = engine.exec("c1", ["cat"], stdin=b"fed\n")
    assert (result.returncode, result.stdout, result.stderr) == (3, "fed\n", "warned\n")
    assert [line.split()[1] for line in seen] == ["/v1.25/containers/c1/exec", "/v1.25/exec/x1/start",
                                                  "/v1.25/exec/x1/json"]  # fmt: skip


def test_an_exec_stream_gives_stdin_and_stdout_as_streams(fake_engine: tuple[str, list[str]]) -> None:
    path, _ = fake_engine
    engine = DockerAPIEngine(binary="/nonexistent/docker", api=DockerSocket(path))
    with engine.exec_stream("c1", ["cat"]) as running:
        running.stdin.write(b"fed\n")
        running.stdin.close()
        assert running.stdout.read() == b"fed\n"
        assert running.wait() == 3
        assert running.stderr_text() == "warned\n"


def test_an_exec_carries_the_sessions_values_in_its_body_only_when_given() -> None:
    from claude_bottle.engine.docker.apispec import exec_body

    plain = exec_body(["true"], stdin=False)
    assert "Env" not in plain
    given = exec_body(["true"], stdin=True, env={"A": "1", "B": "x=y"})
    assert given["Env"] == ["A=1", "B=x=y"]
    assert given["Cmd"] == ["true"]
