"""The warm pool's key (pure): equal for interchangeable bottles whatever their
secrets, files or session; different on every field a pooled bottle fixes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from claude_bottle.engine.api import EngineTarget
from claude_bottle.manifest.model import Limits
from claude_bottle.manifest.parse import parse_manifest
from claude_bottle.plan.plan import LaunchPlan, Options, build_plan
from claude_bottle.plan.pool import pool_key, pool_refusal


def plan_of(
    tmp_path: Path,
    *,
    bottle: dict[str, Any] | None = None,
    agent: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
    session: str = "s1",
    cwd: Path | None = None,
    command: tuple[str, ...] | None = ("true",),
) -> LaunchPlan:
    data = {
        "bottles": {"b": bottle or {"egress": {"allow": ["a.test"]}}},
        "agents": {"a": {"bottle": "b", **(agent or {})}},
    }
    options = Options("a", cwd=cwd, command=command, interactive=False)
    return build_plan(parse_manifest(data, "m", tmp_path), options, environ or {}, session, frozenset())


def test_equal_plans_have_equal_keys(tmp_path: Path) -> None:
    assert pool_key(plan_of(tmp_path)) == pool_key(plan_of(tmp_path))


def test_the_key_ignores_secrets_files_and_the_session(tmp_path: Path) -> None:
    base = plan_of(tmp_path, agent={"env": {"K": {"from_env": "HOSTK"}}}, environ={"HOSTK": "one"})
    (tmp_path / "work").mkdir()
    other = plan_of(
        tmp_path,
        agent={"env": {"K": {"from_env": "HOSTK"}}, "prompt": "be brief"},
        environ={"HOSTK": "another value"},
        session="s2",
        cwd=tmp_path / "work",
        command=("echo", "hi"),
    )
    assert pool_key(base) == pool_key(other)


def egress(**changed: Any) -> Any:
    return lambda p: replace(p, bottle=replace(p.bottle, egress=replace(p.bottle.egress, **changed)))


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda p: replace(p, image="other:latest"), id="image"),
        pytest.param(lambda p: replace(p, bottle=replace(p.bottle, runtime="runsc")), id="runtime"),
        pytest.param(lambda p: replace(p, bottle=replace(p.bottle, limits=Limits(memory="1g"))), id="limits"),
        pytest.param(lambda p: replace(p, sidecar_image="squid:other"), id="sidecar-image"),
        pytest.param(lambda p: replace(p, container_home="/home/other"), id="home"),
        pytest.param(lambda p: replace(p, egress_network="their-net"), id="egress-network"),
        pytest.param(lambda p: replace(p, extra_labels=(("ci", "1"),)), id="labels"),
        pytest.param(lambda p: replace(p, target=EngineTarget("docker", endpoint="ssh://x")), id="engine"),
        pytest.param(egress(allow=("b.test",)), id="egress-allow"),
        pytest.param(egress(internal=("git.test",)), id="egress-internal"),
        pytest.param(egress(sni=False), id="sni"),
        pytest.param(egress(dlp="off"), id="dlp"),
    ],
)
def test_the_key_differs_on_each_field_a_pooled_bottle_fixes(tmp_path: Path, change: Any) -> None:
    plan = plan_of(tmp_path)
    assert pool_key(change(plan)) != pool_key(plan)


def test_a_credential_the_sidecar_holds_is_handed_in_at_the_claim_never_in_a_command_line(
    tmp_path: Path,
) -> None:
    value = "sk-ant-api03-" + "x" * 40
    plan = plan_of(
        tmp_path,
        bottle={"egress": {"allow": ["api.anthropic.com"]}},
        agent={"env": {"ANTHROPIC_API_KEY": {"from_env": "KEY"}}},
        environ={"KEY": value},
    )
    assert pool_refusal(plan) is None  # Squid takes it once it runs
    injection = plan.credentials.injections[0]
    hand_in = plan.proxy.hand_in(plan.proxy_spec(), {injection.port: value})
    assert hand_in is not None
    argv, stdin = hand_in
    assert value not in " ".join(argv)
    assert value in stdin.decode()
    # Its variable's name shapes the agent's environment: a bottle without it is another.
    assert pool_key(plan) != pool_key(plan_of(tmp_path, bottle={"egress": {"allow": ["api.anthropic.com"]}}))


def test_a_plain_bottle_is_pooled_on_either_engine_each_its_own(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, agent={"env": {"K": {"from_env": "HOSTK"}}}, environ={"HOSTK": "v"})
    assert pool_refusal(plan) is None
    on_k8s = plan.on(EngineTarget("kubernetes", context="c", namespace="n"))
    assert pool_refusal(on_k8s) is None
    # A pooled bottle is of one cluster and namespace: another's is another pool.
    assert (
        len({pool_key(plan), pool_key(on_k8s), pool_key(plan.on(EngineTarget("kubernetes", "c", "", "m")))})
        == 3
    )
    pinned = "its container's name is pinned (CLAUDE_BOTTLE_CONTAINER), and a pooled one has its own"
    assert pool_refusal(replace(plan, container_pinned=True)) == pinned
