"""Finding and removing a session's objects by label (pure, against the one
fake engine): `cleanup` takes only what claude-bottle made (a label alone never
makes an object ours), a session's own sweep everything with its session's label."""

from __future__ import annotations

import socket

from claude_bottle.engine.api import Found
from claude_bottle.tracking import labels as L
from claude_bottle.tracking.inventory import find_sessions, orphaned, remove_session
from claude_bottle.tracking.labels import Owner
from tests.fakes import FakeEngine

# An owner on this host whose process is gone (pids stop at 2**22 on Linux).
DEAD = Owner(pid=2**22 + 1, start="0", host=socket.gethostname())


def objects(session: str) -> list[Found]:
    managed = L.session_labels(session, "worker", "lab", DEAD)
    floor = L.for_role(managed, L.ROLE_PORT_GUARD)  # it removes itself, but is ours
    return [
        Found("container", f"{session}-agent", L.for_role(managed, L.ROLE_AGENT)),
        Found("container", f"{session}-floor", floor),
        Found("network", f"{session}-net", managed),
    ]


def test_cleanup_takes_only_what_claude_bottle_made() -> None:
    engine = FakeEngine()
    engine.objects = [*objects("s1"), Found("container", "forged", {L.SESSION: "s1"})]
    found = find_sessions(engine)
    assert sorted(o.name for o in found["s1"].objects) == ["s1-agent", "s1-floor", "s1-net"]
    assert [s.session_id for s in orphaned(found)] == ["s1"]


def test_a_floor_left_alone_is_found_as_an_orphan() -> None:
    """Its owner and watchdog killed while it ran: the floor is all that is left."""
    engine = FakeEngine()
    engine.objects = [o for o in objects("s1") if o.name == "s1-floor"]
    assert [s.session_id for s in orphaned(find_sessions(engine))] == ["s1"]


def test_a_sessions_own_sweep_takes_everything_with_its_label() -> None:
    engine = FakeEngine()
    engine.objects = [*objects("s1"), *objects("s2"), Found("container", "unmarked", {L.SESSION: "s1"})]
    remove_session(engine, "s1")
    assert sorted(o.name for o in engine.objects) == ["s2-agent", "s2-floor", "s2-net"]
