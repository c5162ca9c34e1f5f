"""`pool` before anything is started: NAME naming an agent or a bottle (its
first agent), and the keeper's environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_bottle.cli.commands.pool import agent_for
from claude_bottle.errors import UsageError
from claude_bottle.manifest.parse import parse_manifest


def test_pool_names_an_agent_or_the_first_agent_of_a_bottle(tmp_path: Path) -> None:
    data = {
        "bottles": {"b": {"egress": {"allow": ["a.test"]}}},
        "agents": {"one": {"bottle": "b"}, "two": {"bottle": "b"}},
    }
    manifest = parse_manifest(data, "m", tmp_path)
    assert agent_for(manifest, "two") == "two"
    assert agent_for(manifest, "b") == "one"
    with pytest.raises(UsageError, match="no agent or bottle named 'c'"):
        agent_for(manifest, "c")


def test_the_keeper_is_given_the_names_of_the_agents_variables_never_their_values(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import argparse

    from claude_bottle.cli.commands.pool import keeper_env
    from claude_bottle.settings import Settings
    from tests.unit.session.test_warm import plan_of

    monkeypatch.setenv("HOSTK", "the-value")
    monkeypatch.setenv("CLAUDE_BOTTLE_OAUTH_TOKEN", "sk-ant-oat01-secret")
    args = argparse.Namespace(settings=Settings())
    env = keeper_env(args, plan_of(project))
    assert env["HOSTK"] == "-"  # set, so its plan binds the same names
    assert "the-value" not in env.values()
    assert env["CLAUDE_BOTTLE_OAUTH_TOKEN"] == "-"
