"""A claimed warm bottle is checked to be whole in one engine call (the
keeper probed its sidecar when it made it), and refused when a part ended."""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_bottle.bottle.readiness import SidecarUnhealthy, still_running
from claude_bottle.engine.api import Found
from claude_bottle.tracking import labels as L
from tests.fakes import FakeEngine
from tests.plans import lab_plan


def _bottle(engine: FakeEngine, session: str, *names: str) -> None:
    engine.objects += [Found("container", name, {L.SESSION: session}) for name in names]


def test_a_whole_claimed_bottle_passes_in_one_search(tmp_path: Path) -> None:
    engine = FakeEngine()
    plan = lab_plan(tmp_path)
    _bottle(engine, plan.session_id, "agent", "proxy")
    _bottle(engine, "another", "other-proxy")
    still_running(engine, plan, "agent", "proxy")
    assert engine.searches == 1


@pytest.mark.parametrize("left", [("agent",), ("proxy",), ()], ids=["sidecar-ended", "agent-ended", "both"])
def test_a_claimed_bottle_with_a_part_ended_is_refused(tmp_path: Path, left: tuple[str, ...]) -> None:
    engine = FakeEngine()
    plan = lab_plan(tmp_path)
    _bottle(engine, plan.session_id, *left)
    _bottle(engine, "another", "agent", "proxy")  # another session's of the same names does not count
    with pytest.raises(SidecarUnhealthy) as raised:
        still_running(engine, plan, "agent", "proxy")
    gone = ", ".join(sorted({"agent", "proxy"} - set(left)))
    assert str(raised.value) == (
        f"the warm pool's bottle is no longer whole ({gone} ended since it was made); "
        "run again to start another"
    )
