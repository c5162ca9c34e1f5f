"""Finding and removing what claude-bottle made, by label only."""

from __future__ import annotations

from dataclasses import dataclass, field

from claude_bottle import labels as L
from claude_bottle.engine import Engine
from claude_bottle.labels import Owner
from claude_bottle.owner import owner_alive

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
