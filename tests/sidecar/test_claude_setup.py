"""The user's own Claude Code setup in a real bottle: the chosen parts of a fake
~/.claude arrive owned by node with their modes, and nothing else of it does;
an MCP server outside the allowlist stops the launch at validation."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from claude_bottle.engine.docker import DockerEngine
from tests.engine.conftest import cli, labelled_objects
from tests.sidecar.conftest import Lab

# Every case here runs against the remote engine too (scripts/test.sh).
pytestmark = pytest.mark.remote_engine

LISTING = "cd ~ && find .claude .claude.json -printf '%u %m %p\\n' | sort"


def fake_claude_home(home: Path) -> None:
    claude = home / ".claude"
    for folder in ("commands/team", "agents", "output-styles", "projects/p"):
        (claude / folder).mkdir(parents=True)
    (claude / "CLAUDE.md").write_text("# rules of the house\n")
    (claude / "commands" / "ship.md").write_text("ship it\n")
    (claude / "commands" / "team" / "review.md").write_text("review\n")
    (claude / "commands" / "run.sh").write_text("#!/bin/sh\n")
    (claude / "commands" / "run.sh").chmod(0o755)
    (claude / "agents" / "tester.md").write_text("tester\n")
    (claude / "output-styles" / "terse.md").write_text("terse\n")
    (claude / "settings.json").write_text('{"model": "not-for-the-bottle"}')
    (claude / ".credentials.json").write_text('{"claudeAiOauth": "host-only"}')
    (claude / "projects" / "p" / "t.jsonl").write_text("{}")
    servers = {
        "lab-docs": {"type": "http", "url": "https://api.lab.test/mcp", "headers": {"X-Token": "t-mcp"}},
        "outside": {"type": "http", "url": "https://blocked.test/mcp"},
    }
    (home / ".claude.json").write_text(json.dumps({"mcpServers": servers, "oauthAccount": {"host": "only"}}))


def add_agent(project: Path, setup: list[str]) -> str:
    name = f"setup-{secrets.token_hex(3)}"
    manifest = json.loads((project / "claude-bottle.json").read_text())
    manifest["agents"][name] = {"bottle": "lab", "claude_setup": setup}
    (project / "claude-bottle.json").write_text(json.dumps(manifest))
    return name


def test_only_the_chosen_parts_arrive_owned_by_node(lab_project: Path, lab: Lab) -> None:
    fake_claude_home(lab_project / "home")
    agent = add_agent(lab_project, ["CLAUDE.md", "commands", "mcp:lab-docs"])
    plan = cli("start", agent, "--dry-run", "--json", cwd=lab_project)
    assert [p["part"] for p in json.loads(plan.stdout)["claude_setup"]] == [
        "CLAUDE.md",
        "commands",
        "mcp:lab-docs",
    ]
    script = (
        f"{LISTING}; cat ~/.claude/CLAUDE.md; "
        'node -e \'const c = require("/home/node/.claude.json"); '
        "console.log(Object.keys(c.mcpServers).join(), c.oauthAccount === undefined, "
        "c.hasCompletedOnboarding)'"
    )
    result = cli("run", agent, "--", "sh", "-c", script, cwd=lab_project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "node 600 .claude.json",
        "node 644 .claude/CLAUDE.md",
        "node 644 .claude/commands/ship.md",
        "node 644 .claude/commands/team/review.md",
        "node 644 .claude/settings.json",  # the image's own
        "node 755 .claude",
        "node 755 .claude/commands",
        "node 755 .claude/commands/run.sh",
        "node 755 .claude/commands/team",
        "# rules of the house",
        "lab-docs true true",
    ]


def test_without_claude_setup_nothing_of_the_users_claude_arrives(lab_project: Path, lab: Lab) -> None:
    fake_claude_home(lab_project / "home")
    result = cli("run", "worker", "--", "sh", "-c", LISTING, cwd=lab_project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "node 644 .claude.json",
        "node 644 .claude/settings.json",
        "node 755 .claude",
    ]


def test_an_mcp_server_outside_the_allowlist_is_refused_at_validation(
    engine: DockerEngine, lab_project: Path, lab: Lab
) -> None:
    fake_claude_home(lab_project / "home")
    agent = add_agent(lab_project, ["CLAUDE.md", "mcp"])
    result = cli("run", agent, "--", "true", cwd=lab_project)
    assert result.returncode == 2
    assert result.stderr == (
        f"claude-bottle: {lab_project}/claude-bottle.json: agents.{agent}.claude_setup[1]: MCP server "
        "'outside' reaches host 'blocked.test', which bottle 'lab' does not allow "
        "(add it to bottles.lab.egress.allow, or leave the server out)\n"
    )
    assert labelled_objects(engine) == []
