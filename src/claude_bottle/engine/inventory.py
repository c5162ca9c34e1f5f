"""Everything claude-bottle made, found by label only: sessions and their objects
(for cleanup, stop and the watchdog), the running bottles (ps, shell, harvest,
egress) and a session's sidecar; and removing them."""

from __future__ import annotations

from dataclasses import dataclass, field

from claude_bottle.engine import labels as L
from claude_bottle.engine.client import Engine
from claude_bottle.engine.labels import Owner
from claude_bottle.engine.owner import owner_alive
from claude_bottle.errors import ClaudeBottleError

_FMT = "\t".join(
    [
        "{{.ID}}",
        f'{{{{.Label "{L.SESSION}"}}}}',
        f'{{{{.Label "{L.OWNER_PID}"}}}}',
        f'{{{{.Label "{L.OWNER_START}"}}}}',
        f'{{{{.Label "{L.OWNER_HOST}"}}}}',
        "{{.Names}}",
    ]
)
_NET_FMT = _FMT.replace("{{.Names}}", "{{.Name}}")


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
    flt = [f"label={L.SESSION}={session_id}" if session_id else f"label={L.MANAGED}=1"]
    flt += [f"label={label}" for label in only]
    filters = [a for f in flt for a in ("--filter", f)]
    containers = engine.lines("ps", "-a", *filters, "--format", _FMT)
    networks = engine.lines("network", "ls", *filters, "--format", _NET_FMT)
    sessions: dict[str, SessionObjects] = {}
    for kind, rows in (("containers", containers), ("networks", networks)):
        for row in rows:
            _id, sid, pid, start, host, name = (row.split("\t") + [""] * 6)[:6]
            owner = Owner(pid=int(pid) if pid.isdigit() else 0, start=start, host=host)
            objs = sessions.setdefault(sid, SessionObjects(sid, owner))
            getattr(objs, kind).append(name)
    return sessions


def remove_objects(engine: Engine, objs: SessionObjects) -> list[str]:
    """Containers first (a network cannot go while attached), then networks."""
    errors = []
    if objs.containers:
        r = engine.run("rm", "-f", *objs.containers, check=False)
        if r.returncode != 0 and "No such container" not in r.stderr:
            errors.append(r.stderr.strip())
    if objs.networks:
        r = engine.run("network", "rm", *objs.networks, check=False)
        if r.returncode != 0 and "not found" not in r.stderr:
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
    "container": "{{.Names}}",
    "agent": f'{{{{.Label "{L.AGENT}"}}}}',
    "bottle": f'{{{{.Label "{L.BOTTLE}"}}}}',
    "runtime": f'{{{{.Label "{L.RUNTIME}"}}}}',
    "session": f'{{{{.Label "{L.SESSION}"}}}}',
    "age": "{{.RunningFor}}",
    "egress": f'{{{{.Label "{L.EGRESS}"}}}}',
}


def running_bottles(engine: Engine) -> list[dict[str, str]]:
    fmt = "\t".join(COLUMNS.values())
    rows = engine.lines(
        "ps",
        "--filter",
        f"label={L.ROLE}={L.ROLE_AGENT}",
        "--filter",
        f"label={L.MANAGED}=1",
        "--format",
        fmt,
    )
    return [dict(zip(COLUMNS, row.split("\t"), strict=False)) for row in rows]


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
    rows = engine.lines(
        "ps",
        "--filter", f"label={L.ROLE}={L.ROLE_SIDECAR}",
        "--filter", f"label={L.SESSION}={session}",
        "--format", f'{{{{.Names}}}}\t{{{{.Label "{L.PROXY}"}}}}',
    )  # fmt: skip
    if not rows:
        raise ClaudeBottleError(f"session {session} has no running egress sidecar (is it ending?)")
    name, _, proxy = rows[0].partition("\t")
    return name, proxy or "squid"  # sidecars made before the label existed ran Squid
