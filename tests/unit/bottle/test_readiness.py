"""Whether a warm pool's bottle is still whole: one search of its session's
running containers (the keeper probed its sidecar when it made it)."""

from __future__ import annotations

from claude_bottle.bottle.readiness import ended_since
from claude_bottle.engine.api import Found
from claude_bottle.tracking import labels as L
from tests.fakes import FakeEngine


def _running(engine: FakeEngine, session: str, *names: str) -> None:
    engine.objects += [Found("container", name, {L.SESSION: session}) for name in names]


def test_a_whole_bottle_has_nothing_ended_in_one_search() -> None:
    engine = FakeEngine()
    _running(engine, "s1", "agent", "proxy")
    assert ended_since(engine, "s1", "agent", "proxy") == []
    assert engine.searches == 1


def test_the_parts_that_ended_are_named_and_another_sessions_do_not_count() -> None:
    engine = FakeEngine()
    _running(engine, "s1", "agent")
    _running(engine, "another", "agent", "proxy")
    assert ended_since(engine, "s1", "agent", "proxy") == ["proxy"]
    assert ended_since(engine, "s2", "agent", "proxy") == ["agent", "proxy"]
