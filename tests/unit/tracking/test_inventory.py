"""Finding and removing a session's objects by label (pure, against the one
fake engine): what removes itself is still found, so nothing it leaves is
invisible to `cleanup` or the watchdog."""

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
    floor = L.for_role(L.unmanaged(managed), L.ROLE_PORT_GUARD)
    return [
        Found("container", f"{session}-agent", L.for_role(managed, L.ROLE_AGENT)),
        Found("container", f"{session}-floor", floor),
        Found("network", f"{session}-net", managed),
    ]


def test_a_container_that_removes_itself_is_found_with_its_session() -> None:
    engine = FakeEngine()
    engine.objects = [*objects("s1"), Found("container", "not-ours", {"other": "1"})]
    found = find_sessions(engine)
    assert sorted(o.name for o in found["s1"].objects) == ["s1-agent", "s1-floor", "s1-net"]
    assert [s.session_id for s in orphaned(found)] == ["s1"]


def test_removing_a_session_takes_what_removes_itself_too() -> None:
    engine = FakeEngine()
    engine.objects = objects("s1") + objects("s2")
    remove_session(engine, "s1")
    assert sorted(o.name for o in engine.objects) == ["s2-agent", "s2-floor", "s2-net"]
