"""What the bench reads of this host and its engine, apart from what it times:
the local engine's API over its unix socket (to poll for a session's objects
every few milliseconds, which a docker client at 20-30 ms a call could not),
and the host's process table (to count every process that exists because of
a bottle, by process tree and by its containers' ids).

Reads only: what is measured (the CLI) makes and removes everything itself."""

from __future__ import annotations

import http.client
import json
import os
import socket
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SESSION = "dev.claude-bottle.session"
OWNER_PID = "dev.claude-bottle.owner-pid"
ROLE = "dev.claude-bottle.role"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=30)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def local_socket() -> str:
    """The local engine's socket: the bench reads /proc, so the engine must be this host's."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        raise SystemExit(f"bench: the engine must be this host's (DOCKER_HOST is {host})")
    return host.removeprefix("unix://")


class EngineReader:
    """GETs on the local engine's API (one connection per call: the bench's
    threads share it)."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path or local_socket()

    def get(self, url: str, labels: Iterable[str] = ()) -> Any:
        query = {"all": "1"}
        if labels:
            query["filters"] = json.dumps({"label": list(labels)})
        conn = _UnixConnection(self.path)
        try:
            conn.request("GET", f"{url}?{urllib.parse.urlencode(query)}")
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        if response.status != 200:
            raise RuntimeError(f"engine: GET {url}: {response.status} {body[:200]!r}")
        return json.loads(body)

    def containers(self, *labels: str) -> list[dict[str, Any]]:
        return list(self.get("/containers/json", labels))

    def inspect(self, container: str) -> dict[str, Any]:
        return dict(self.get(f"/containers/{container}/json"))

    def objects(self, *labels: str) -> list[str]:
        """Every container, network and volume carrying all of `labels`."""
        found = [f"container {c['Id'][:12]}" for c in self.containers(*labels)]
        found += [f"network {n['Name']}" for n in self.get("/networks", labels)]
        volumes = self.get("/volumes", labels).get("Volumes") or []
        return found + [f"volume {v['Name']}" for v in volumes]


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    comm: str
    argv: tuple[str, ...]
    cgroup: str


def process_table() -> dict[int, Proc]:
    """Every process on the host now (those that end while it is read are left out)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            cgroup = (entry / "cgroup").read_text()
        except OSError:
            continue
        # comm is in parentheses and may hold spaces; ppid is the second field after it.
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        args = tuple(a.decode(errors="replace") for a in argv if a)
        table[int(entry.name)] = Proc(int(entry.name), ppid, comm, args, cgroup)
    return table


def memory_kb(pid: int) -> tuple[int, int]:
    """RSS (every page the process maps, shared ones counted in full) and PSS
    (each shared page divided among the processes that map it: what the host
    pays for this process), from /proc/PID/smaps_rollup; 0, 0 once it is gone."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key, *value = line.split()
            if key == "Rss:":
                rss = int(value[0])
            elif key == "Pss:":
                pss = int(value[0])
    except OSError:
        pass
    return rss, pss


def descendants(table: dict[int, Proc], roots: Iterable[int]) -> set[int]:
    children: dict[int, list[int]] = {}
    for proc in table.values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    found, frontier = set(), list(roots)
    while frontier:
        pid = frontier.pop()
        if pid not in found:
            found.add(pid)
            frontier += children.get(pid, [])
    return found


@dataclass(frozen=True)
class BottleProcesses:
    """One bottle's processes: on the host side (its CLI and everything the CLI
    started, the shims of its containers, any process naming one of its
    containers or its session) and inside its containers (in their cgroups)."""

    host: tuple[Proc, ...]
    inside: tuple[Proc, ...]

    def shims(self) -> list[Proc]:
        return [p for p in self.host if p.comm.startswith("containerd-shim")]


def bottle_processes(
    table: dict[int, Proc], cli_pid: int, session: str, containers: dict[str, tuple[str, ...]]
) -> BottleProcesses:
    """`containers`: each of the bottle's container ids with its addresses (a
    docker-proxy for a published port names the address, not the id)."""
    ids = tuple(containers)
    addresses = {a for ips in containers.values() for a in ips}
    inside = {p.pid for p in table.values() if any(cid in p.cgroup for cid in ids)}

    def names_the_bottle(p: Proc) -> bool:
        if any(cid in arg or session in arg for arg in p.argv for cid in ids):
            return True
        return any(a == "-container-ip" and b in addresses for a, b in zip(p.argv, p.argv[1:], strict=False))

    seeds = {cli_pid} | {p.pid for p in table.values() if names_the_bottle(p)}
    host = descendants(table, seeds) - inside
    return BottleProcesses(
        host=tuple(table[p] for p in sorted(host) if p in table),
        inside=tuple(table[p] for p in sorted(inside)),
    )


def kind(proc: Proc) -> str:
    """A process's name in the report: what it is, not its pid."""
    if proc.comm.startswith("containerd-shim"):
        return "containerd-shim"
    if proc.argv[:1] == ("/bin/sh",) and "claude-bottle-watchdog" in proc.argv:
        return "watchdog (sh)"
    if proc.comm == "docker":
        verb = next((a for a in proc.argv[1:] if not a.startswith("-")), "")
        return f"docker {verb} client"
    if any(arg.endswith("/claude-bottle") for arg in proc.argv[:2]):
        return "claude-bottle CLI"
    return proc.comm


def engine_daemons_pss_kb(table: dict[int, Proc]) -> int:
    """dockerd and containerd together (shared by every bottle, and by every
    other user of this engine: their growth is only indicative)."""
    return sum(memory_kb(p.pid)[1] for p in table.values() if p.comm in ("dockerd", "containerd"))
