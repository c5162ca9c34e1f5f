"""Everything claude-bottle made, found by label only: sessions and their objects
(for cleanup, stop and the watchdog), the running bottles (ps, shell, harvest,
egress) and a session's sidecar; and removing them."""

from __future__ import annotations

from dataclasses import dataclass, field

from claude_bottle.engine.api import Engine, Found
from claude_bottle.errors import ClaudeBottleError
from claude_bottle.tracking import labels as L
from claude_bottle.tracking.labels import Owner
from claude_bottle.tracking.owner import owner_alive


@dataclass
class SessionObjects:
    session_id: str
    owner: Owner
    objects: list[Found] = field(default_factory=list)

    @property
    def containers(self) -> list[str]:
        return [o.name for o in self.objects if o.kind == "container"]

    @property
    def names(self) -> list[str]:
        """Every object's name, containers first."""
        return self.containers + [o.name for o in self.objects if o.kind != "container"]


def find_sessions(
    engine: Engine, session_id: str | None = None, only: tuple[str, ...] = ()
) -> dict[str, SessionObjects]:
    """Sessions by label; `only` ("KEY=VALUE", all of them) narrows the search.
    Without a session id, only what claude-bottle made (MANAGED): a label alone
    never makes an object ours. A session's own sweep (by its id) takes
    everything that carries its id."""
    labels = [f"{L.SESSION}={session_id}" if session_id else f"{L.MANAGED}=1", *only]
    sessions: dict[str, SessionObjects] = {}
    # "other": what a bottle is besides containers and networks on some engines (a
    # Kubernetes Secret holding its env); an engine with nothing of the kind finds none.
    for found in engine.find(labels, kinds=("container", "network", "other"), carried=L.ALL):
        sid, pid = found.labels.get(L.SESSION, ""), found.labels.get(L.OWNER_PID, "")
        owner = Owner(pid=int(pid) if pid.isdigit() else 0, start=found.labels.get(L.OWNER_START, ""),
                      host=found.labels.get(L.OWNER_HOST, ""))  # fmt: skip
        sessions.setdefault(sid, SessionObjects(sid, owner)).objects.append(found)
    return sessions


def remove_objects(engine: Engine, objs: SessionObjects) -> list[str]:
    """Containers first (a network cannot go while attached), then networks and the rest."""
    return engine.remove_found(objs.objects)


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
    return [
        _columns(found) for found in engine.find(labels, kinds=("container",), running=True, carried=L.ALL)
    ]


def _columns(found: Found) -> dict[str, str]:
    values = {"name": found.name, "age": found.age}
    return {
        column: values.get(f, found.labels.get(f.removeprefix("label:"), "")) for column, f in COLUMNS.items()
    }


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
    found = engine.find(labels, kinds=("container",), running=True, carried=L.ALL)
    if not found:
        raise ClaudeBottleError(f"session {session} has no running egress sidecar (is it ending?)")
    return found[0].name, found[0].labels.get(
        L.PROXY
    ) or "squid"  # sidecars made before the label existed ran Squid
