"""A launch that claims a warm pool's bottle: it takes the pooled objects over
(makes none), hands the agent's values to the command alone, and its teardown
is a cold bottle's; a plan that cannot be pooled says why it starts cold."""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_bottle.engine.api import Capabilities, Engine, Found
from claude_bottle.manifest.parse import parse_manifest
from claude_bottle.paths import HostPaths
from claude_bottle.plan.plan import LaunchPlan, Options, build_plan
from claude_bottle.plan.pool import COLD, WARM, pool_key
from claude_bottle.proxies.squid import CREDENTIALS_FILE, RELOADED
from claude_bottle.session import launch
from claude_bottle.session.warm import NONE_READY, claim_ready, peek
from claude_bottle.tracking import labels as L
from claude_bottle.tracking.owner import current_owner
from claude_bottle.tracking.pool import PoolFolder, ReadyBottle, write_keeper
from tests.fakes import FakeEngine
from tests.unit.session.test_launch import StandInWatchdog

ENVIRON = {"HOSTK": "the-value"}


def plan_of(tmp_path: Path) -> LaunchPlan:
    data = {
        "bottles": {"b": {"egress": {"allow": ["a.test"]}}},
        "agents": {"a": {"bottle": "b", "env": {"K": {"from_env": "HOSTK"}}}},
    }
    options = Options("a", command=("true",), interactive=False)
    return build_plan(parse_manifest(data, "m", tmp_path), options, ENVIRON, "s1", frozenset())


def pool_with_one(tmp_path: Path, plan: LaunchPlan) -> HostPaths:
    paths = HostPaths(tmp_path / "home", tmp_path / "config", tmp_path / "state", tmp_path / "data")
    folder = PoolFolder.of(paths.state, pool_key(plan))
    write_keeper(folder, current_owner(), "a", 1)
    names = (
        "claude-bottle-a-pooled1-agent",
        "claude-bottle-a-pooled1-proxy",
        "claude-bottle-a-pooled1-internal",
    )
    folder.publish(ReadyBottle("pooled1", *names, "10.243.7.0/28", "", current_owner()))
    return paths


POOLED = ("claude-bottle-a-pooled1-agent", "claude-bottle-a-pooled1-proxy")


def engine_holding(*names: str) -> FakeEngine:
    """The engine, with the pooled bottle's containers running (those named)."""
    engine = FakeEngine(Capabilities("pins", True, True, True))
    engine.objects = [Found("container", name, {L.SESSION: "pooled1"}) for name in names]
    return engine


def test_a_claimed_bottle_is_taken_over_and_the_values_go_to_the_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    plan = plan_of(tmp_path)
    paths = pool_with_one(tmp_path, plan)
    assert peek(plan, paths).start == (WARM, "1 ready")
    engine = engine_holding(*POOLED)
    claimed_plan, claim = claim_ready(plan, paths, engine)
    assert claim is not None
    assert engine.searches == 1  # checked whole, in one search
    assert claimed_plan.start == (WARM, "claude-bottle-a-pooled1-agent")
    assert (claimed_plan.session_id, claimed_plan.container) == ("pooled1", "claude-bottle-a-pooled1-agent")
    monkeypatch.setattr(launch, "Reaper", lambda *_: StandInWatchdog(False))
    checked: Engine = engine
    with launch.bottle(claimed_plan, checked, ENVIRON, paths=paths, claimed=claim) as session:
        session.ready()
        session.agent.attach(claimed_plan.exec_argv(), tty=False)
    made = [call for call in engine.calls if call[0] in ("create_network", "run_container", "run_to_end")]
    assert made == []  # nothing made: the pool's objects, and its floor, were in place
    # Not probed from inside the agent: no exec before the command.
    assert [call for call in engine.calls if call[0] == "exec"] == []
    assert engine.attached == [(("true",), {"K": "the-value"})]
    removed = [name for kind, name in engine.calls if kind.startswith("remove")]
    assert "claude-bottle-a-pooled1-agent" in str(removed)
    assert PoolFolder.of(paths.state, pool_key(plan)).claims() == []  # released at the end
    assert claim_ready(plan, paths, engine)[1] is None  # never handed out again


@pytest.mark.parametrize("left", [POOLED[:1], POOLED[1:], ()], ids=["sidecar-ended", "agent-ended", "both"])
def test_a_ready_bottle_a_part_of_which_ended_is_removed_not_claimed(
    tmp_path: Path, left: tuple[str, ...]
) -> None:
    plan = plan_of(tmp_path)
    paths = pool_with_one(tmp_path, plan)
    engine = engine_holding(*left)
    engine.objects.append(Found("network", "claude-bottle-a-pooled1-internal", {L.SESSION: "pooled1"}))
    cold, claim = claim_ready(plan, paths, engine)
    assert claim is None
    assert cold.start == (COLD, NONE_READY)
    assert cold.session_id == plan.session_id
    assert engine.objects == []  # what was left of it is removed
    folder = PoolFolder.of(paths.state, pool_key(plan))
    assert (folder.waiting(), folder.claims()) == ([], [])


def test_without_a_ready_bottle_the_plan_says_it_starts_cold(tmp_path: Path) -> None:
    plan = plan_of(tmp_path)
    paths = HostPaths(tmp_path / "home", tmp_path / "config", tmp_path / "state", tmp_path / "data")
    assert peek(plan, paths).start == (COLD, NONE_READY)
    cold, claim = claim_ready(plan, paths, FakeEngine())
    assert claim is None
    assert cold.start == (COLD, NONE_READY)
    assert cold.session_id == plan.session_id


def test_a_claimed_sidecar_is_given_its_credential_on_stdin_then_reloads(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    value = "sk-ant-api03-" + "y" * 40
    data = {
        "bottles": {"b": {"egress": {"allow": ["api.anthropic.com"]}}},
        "agents": {"a": {"bottle": "b", "env": {"ANTHROPIC_API_KEY": {"from_env": "KEY"}}}},
    }
    options = Options("a", command=("true",), interactive=False)
    plan = build_plan(parse_manifest(data, "m", tmp_path), options, {"KEY": value}, "s1", frozenset())
    paths = pool_with_one(tmp_path, plan)
    engine = engine_holding(*POOLED)
    claimed_plan, claim = claim_ready(plan, paths, engine)
    assert claim is not None
    monkeypatch.setattr(launch, "Reaper", lambda *_: StandInWatchdog(False))
    engine.exec_stdout = RELOADED  # what the reload prints once Squid runs the new configuration
    checked: Engine = engine
    with launch.bottle(claimed_plan, checked, {"KEY": value}, paths=paths, claimed=claim) as session:
        session.ready()
    handed = [stdin for argv, stdin in engine.execs if CREDENTIALS_FILE in argv]
    assert len(handed) == 1
    assert value in handed[0]  # on the exec's stdin
    assert all(value not in " ".join(argv) for argv, _ in engine.execs)  # never in a command line
    assert any(argv[-1].startswith("set -eu") for argv, _ in engine.execs)  # then the proxy reloads
