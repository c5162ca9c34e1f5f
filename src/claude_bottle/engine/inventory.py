"""Everything claude-bottle made, found by label only: sessions and their objects
(for cleanup, stop and the watchdog), the running bottles (ps, shell, harvest,
egress) and a session's sidecar; and removing them."""

from __future__ import annotations

from dataclasses import dataclass, field

from claude_bottle.engine import labels as L
from claude_bottle.engine.client import Engine
from claude_bottle.engine.labels import Owner
from claude_bottle.engine.owner import owner_alive
from claude_bottle.errors import ClaudeBottleError, NotFound

# What a session's objects are found with: each one's session and owner.
_FIELDS = ("id", f"label:{L.SESSION}", f"label:{L.OWNER_PID}", f"label:{L.OWNER_START}",
           f"label:{L.OWNER_HOST}", "name")  # fmt: skip


@dataclass
class SessionObjects:
    session_id: str
    owner: Owner
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)


def find_sessions(
    engine: Engine, session_id: str | None = None, only: tuple[str, ...] = ()
) -> dict[str, SessionObjects]:
    """Sessions by label; `only` ("KEY=VALUE", all of them) narrows the search."""
    labels = [f"{L.SESSION}={session_id}" if session_id else f"{L.MANAGED}=1", *only]
    containers = engine.find("container", labels, _FIELDS)
    networks = engine.find("network", labels, _FIELDS)
    sessions: dict[str, SessionObjects] = {}
    for kind, rows in (("containers", containers), ("networks", networks)):
        for _id, sid, pid, start, host, name in rows:
            owner = Owner(pid=int(pid) if pid.isdigit() else 0, start=start, host=host)
            objs = sessions.setdefault(sid, SessionObjects(sid, owner))
            getattr(objs, kind).append(name)
    return sessions


def remove_objects(engine: Engine, objs: SessionObjects) -> list[str]:
    """Containers first (a network cannot go while attached), then networks."""
    errors = []
    if objs.containers:
        r = engine.run("rm", "-f", *objs.containers, check=False)
        if r.returncode != 0 and not engine.failed_for(r, NotFound):
            errors.append(r.stderr.strip())
    if objs.networks:
        r = engine.run("network", "rm", *objs.networks, check=False)
        if r.returncode != 0 and not engine.failed_for(r, NotFound):
            errors.append(r.stderr.strip())
    return errors


def remove_session(engine: Engine, session_id: str) -> list[str]:
    errors = []
    for objs in find_sessions(engine, session_id).values():
        errors += remove_objects(engine, objs)
    return errors


def orphaned(sessions: dict[str, SessionObjects]) -> list[SessionObjects]:
    return [objs for objs in sessions.values() if not owner_alive(objs.owner)]


# The running bottles: one row per agent container, these columns.
COLUMNS = {
    "container": "name",
    "agent": f"label:{L.AGENT}",
    "bottle": f"label:{L.BOTTLE}",
    "runtime": f"label:{L.RUNTIME}",
    "session": f"label:{L.SESSION}",
    "age": "age",
    "egress": f"label:{L.EGRESS}",
}


def running_bottles(engine: Engine) -> list[dict[str, str]]:
    labels = [f"{L.ROLE}={L.ROLE_AGENT}", f"{L.MANAGED}=1"]
    rows = engine.find("container", labels, tuple(COLUMNS.values()), stopped=False)
    return [dict(zip(COLUMNS, row, strict=True)) for row in rows]


def find_bottle(engine: Engine, target: str) -> dict[str, str]:
    """The one running bottle whose agent or container is `target`."""
    bottles = running_bottles(engine)
    matches = [b for b in bottles if target in (b["agent"], b["container"])]
    if not matches:
        if not bottles:
            raise ClaudeBottleError(
                f"no running bottle matches '{target}' (none is running; "
                "start one with 'claude-bottle start NAME')"
            )
        running = ", ".join(sorted(b["container"] for b in bottles))
        raise ClaudeBottleError(f"no running bottle matches '{target}' (running: {running})")
    if len(matches) > 1:
        names = ", ".join(b["container"] for b in matches)
        raise ClaudeBottleError(f"'{target}' matches several bottles ({names}); name a container")
    return matches[0]


def find_sidecar(engine: Engine, session: str) -> tuple[str, str]:
    """A running session's sidecar container and its proxy backend's name."""
    labels = [f"{L.ROLE}={L.ROLE_SIDECAR}", f"{L.SESSION}={session}"]
    rows = engine.find("container", labels, ("name", f"label:{L.PROXY}"), stopped=False)
    if not rows:
        raise ClaudeBottleError(f"session {session} has no running egress sidecar (is it ending?)")
    name, proxy = rows[0]
    return name, proxy or "squid"  # sidecars made before the label existed ran Squid
