"""The watchdog's sweep schedule (pure logic: the engine is a stand-in that
fails as an engine under load does)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from claude_bottle.bottle.reaper import sweep
from claude_bottle.engine.api import Found
from claude_bottle.errors import EngineError

AT = (0.0, 0.0, 0.0, 0.0)


class FlakyEngine:
    """Answers `find` with the session's sidecar and network; the first
    `failures` searches fail; a removal takes the objects away."""

    def __init__(self, failures: int, exc: Exception) -> None:
        self.failures = failures
        self.exc = exc
        self.searches = 0
        self.objects = [Found("container", "proxy", {"dev.claude-bottle.session": "s1"}),
                        Found("network", "internal", {"dev.claude-bottle.session": "s1"})]  # fmt: skip

    def find(self, labels: Sequence[str], **_: Any) -> list[Found]:
        self.searches += 1
        if self.searches <= self.failures:
            raise self.exc
        return list(self.objects)

    def remove_found(self, objects: Sequence[Found]) -> list[str]:
        self.objects = [o for o in self.objects if o not in objects]
        return []


@pytest.mark.parametrize(
    "exc",
    [
        EngineError(("docker", "ps"), 1, "Cannot connect to the Docker daemon"),
        OSError(11, "Resource temporarily unavailable"),
    ],
    ids=["engine", "fork"],
)
def test_a_failed_sweep_is_tried_again_and_a_clean_one_ends_a_finish(exc: Exception) -> None:
    engine = FlakyEngine(failures=2, exc=exc)
    sweep(engine, "s1", at=AT, until_clean=True)  # type: ignore[arg-type]  # the part of Engine it uses
    assert engine.objects == []
    assert engine.searches == 3  # two failed, the third removed everything and ended the sweeps


def test_an_owner_that_died_gets_every_sweep() -> None:
    engine = FlakyEngine(failures=0, exc=OSError("unused"))
    sweep(engine, "s1", at=AT)  # type: ignore[arg-type]
    assert engine.searches == len(AT)  # objects made late by a call under way are caught later
