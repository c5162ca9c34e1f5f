"""The watchdog's sweep schedule (pure logic: the engine is a stand-in that
fails as an engine under load does)."""

from __future__ import annotations

import pytest

from claude_bottle.bottle.reaper import sweep
from claude_bottle.engine.api import Found
from claude_bottle.errors import EngineError
from tests.fakes import FakeEngine

AT = (0.0, 0.0, 0.0, 0.0)


def flaky_engine(failures: int, exc: Exception) -> FakeEngine:
    """Finds the session's sidecar and network; the first `failures` searches
    fail; a removal takes the objects away."""
    engine = FakeEngine()
    engine.objects = [Found("container", "proxy", {"dev.claude-bottle.session": "s1"}),
                      Found("network", "internal", {"dev.claude-bottle.session": "s1"})]  # fmt: skip
    engine.failing_searches, engine.search_error = failures, exc
    return engine


@pytest.mark.parametrize(
    "exc",
    [
        EngineError(("docker", "ps"), 1, "Cannot connect to the Docker daemon"),
        OSError(11, "Resource temporarily unavailable"),
    ],
    ids=["engine", "fork"],
)
def test_a_failed_sweep_is_tried_again_and_a_clean_one_ends_a_finish(exc: Exception) -> None:
    engine = flaky_engine(failures=2, exc=exc)
    sweep(engine, "s1", at=AT, until_clean=True)
    assert engine.objects == []
    assert engine.searches == 3  # two failed, the third removed everything and ended the sweeps


def test_an_owner_that_died_gets_every_sweep() -> None:
    engine = flaky_engine(failures=0, exc=OSError("unused"))
    sweep(engine, "s1", at=AT)
    assert engine.searches == len(AT)  # objects made late by a call under way are caught later
