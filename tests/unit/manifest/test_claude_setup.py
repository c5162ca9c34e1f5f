"""The user's own Claude Code setup, by choice: validation, the plan's listing,
and exactly which files go into the agent's home."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from claude_bottle.bottle.home import HomeFiles
from claude_bottle.cli.main import main
from claude_bottle.errors import ManifestError
from claude_bottle.manifest.claude_setup import IMAGE_CLAUDE_JSON
from claude_bottle.plan.plan import Options, build_plan
from claude_bottle.plan.render import plan_json, render_plan
from tests.host import load_here

MCP = {
    "github": {
        "type": "http",
        "url": "https://api.githubcopilot.com/mcp/",
        "headers": {"Authorization": "Bearer canary-mcp-5e1"},
    },
    "tracker": {"type": "sse", "url": "https://mcp.tracker.test/sse"},
    "files": {"command": "npx", "args": ["-y", "files-mcp"], "env": {"TOKEN": "t-2"}},
}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake ~/.claude with more in it than any agent asks for."""
    home = tmp_path / "home"
    claude = home / ".claude"
    for folder in ("commands/team", "agents", "output-styles", "projects/p", "skills"):
        (claude / folder).mkdir(parents=True)
    (claude / "CLAUDE.md").write_text("# my rules\n")
    (claude / "commands" / "ship.md").write_text("ship it\n")
    (claude / "commands" / "team" / "review.md").write_text("review\n")
    (claude / "agents" / "tester.md").write_text("tester\n")
    (claude / "output-styles" / "terse.md").write_text("terse\n")
    (claude / "settings.json").write_text("{}")
    (claude / ".credentials.json").write_text('{"secret": 1}')
    (claude / "projects" / "p" / "t.jsonl").write_text("{}")
    (home / ".claude.json").write_text(json.dumps({"mcpServers": MCP, "oauthAccount": {"x": 1}}))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    return home


def manifest(setup: list[str], allow: list[str] | None = None) -> dict[str, Any]:
    return {
        "bottles": {"dev": {"egress": {"allow": allow or ["api.anthropic.com", "*.githubcopilot.com"]}}},
        "agents": {"me": {"bottle": "dev", "claude_setup": setup}},
    }


def load(home: Path, data: dict[str, Any]) -> Any:
    (home.parent / "claude-bottle.json").write_text(json.dumps(data))
    return load_here(home.parent)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        pytest.param(
            ["settings.json"],
            'expected one of "CLAUDE.md", "commands", "agents", "output-styles", "mcp" or "mcp:NAME", '
            "got 'settings.json'",
            id="not-a-part",
        ),
        pytest.param(
            ["mcp:tracker"],
            "MCP server 'tracker' reaches host 'mcp.tracker.test', which bottle 'dev' does not allow "
            "(add it to bottles.dev.egress.allow, or leave the server out)",
            id="mcp-host-not-allowed",
        ),
        pytest.param(
            ["mcp"],
            "MCP server 'tracker' reaches host 'mcp.tracker.test', which bottle 'dev' does not allow "
            "(add it to bottles.dev.egress.allow, or leave the server out)",
            id="every-mcp-server-with-one-not-allowed",
        ),
    ],
)
def test_invalid_setup(home: Path, setup: list[str], message: str) -> None:
    with pytest.raises(ManifestError) as err:
        load(home, manifest(setup))
    assert str(err.value) == f"{home.parent / 'claude-bottle.json'}: agents.me.claude_setup[0]: {message}"


def test_missing_parts_name_the_path(home: Path) -> None:
    (home / ".claude" / "CLAUDE.md").unlink()
    with pytest.raises(ManifestError) as err:
        load(home, manifest(["commands", "CLAUDE.md"]))
    assert str(err.value).endswith(
        f"agents.me.claude_setup[1]: 'CLAUDE.md' asked for, and {home}/.claude/CLAUDE.md is not a file"
    )
    with pytest.raises(ManifestError) as err:
        load(home, manifest(["mcp:nope"]))
    assert str(err.value).endswith(
        f"agents.me.claude_setup[0]: no MCP server named 'nope' in {home}/.claude.json "
        "(servers: files, github, tracker)"
    )


def plan_for(home: Path, setup: list[str]) -> Any:
    return build_plan(load(home, manifest(setup)), Options("me"), {}, "s1", frozenset())


def test_the_plan_lists_every_part_in_text_and_json(home: Path) -> None:
    plan = plan_for(home, ["CLAUDE.md", "commands", "agents", "output-styles", "mcp:github", "mcp:files"])
    assert (
        "claude setup     : CLAUDE.md, commands/, agents/, output-styles/, "
        "mcp github (http, api.githubcopilot.com), mcp files (stdio, npx)\n"
    ) in render_plan(plan)
    listed = plan_json(plan)["claude_setup"]
    assert listed[0] == {
        "part": "CLAUDE.md",
        "from": f"{home}/.claude/CLAUDE.md",
        "to": "/home/node/.claude/CLAUDE.md",
    }
    assert listed[4] == {
        "part": "mcp:github",
        "from": f"{home}/.claude.json",
        "to": "/home/node/.claude.json",
        "mcp_servers": [{"name": "github", "transport": "http", "target": "api.githubcopilot.com"}],
    }
    assert "canary-mcp-5e1" not in repr(plan) + json.dumps(plan_json(plan))


def test_only_the_chosen_parts_are_copied(home: Path) -> None:
    plan = plan_for(home, ["CLAUDE.md", "commands", "mcp:github"])
    files = HomeFiles.collect(plan, home)
    entries = {e.path: (e.data, oct(e.mode)) for e in files.setup}
    claude_json = json.loads(files.claude_json or b"")
    assert entries == {
        ".claude": (None, "0o755"),
        ".claude/CLAUDE.md": (b"# my rules\n", "0o644"),
        ".claude/commands": (None, "0o755"),
        ".claude/commands/team": (None, "0o755"),
        ".claude/commands/ship.md": (b"ship it\n", "0o644"),
        ".claude/commands/team/review.md": (b"review\n", "0o644"),
    }
    assert claude_json == {**IMAGE_CLAUDE_JSON, "mcpServers": {"github": MCP["github"]}}


def test_nothing_of_the_setup_without_claude_setup(home: Path) -> None:
    assert HomeFiles.collect(plan_for(home, []), home).setup == ()


def test_a_command_linked_from_a_dotfiles_folder_is_followed(home: Path) -> None:
    (home / "dotfiles").mkdir()
    (home / "dotfiles" / "lint.md").write_text("lint\n")
    (home / ".claude" / "commands" / "lint.md").symlink_to(home / "dotfiles" / "lint.md")
    paths = {e.path: e.data for e in HomeFiles.collect(plan_for(home, ["commands"]), home).setup}
    assert paths[".claude/commands/lint.md"] == b"lint\n"


def test_the_image_claude_json_is_the_one_the_dockerfile_writes() -> None:
    dockerfile = resources.files("claude_bottle").joinpath("data/Dockerfile").read_text()
    assert f"'{json.dumps(IMAGE_CLAUDE_JSON)}'" in dockerfile


def test_validate_lists_nothing_secret(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    load(home, manifest(["mcp:github"]))
    assert main(["validate"]) == 0
    assert "canary-mcp-5e1" not in capsys.readouterr().out
