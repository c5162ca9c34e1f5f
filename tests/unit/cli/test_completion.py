"""Completion scripts generated from the parser, and bash's for real: the script
sourced in bash, its function called as bash calls it, COMPREPLY read back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from claude_bottle.cli.commands import COMMANDS
from claude_bottle.cli.completion import bash_script, fish_script, zsh_script
from claude_bottle.cli.main import build_parser, main

MANIFEST = {
    "bottles": {"dev": {"egress": {"allow": ["api.anthropic.com"]}}},
    "agents": {"reviewer": {"bottle": "dev"}, "researcher": {"bottle": "dev"}, "coder": {"bottle": "dev"}},
}


@pytest.fixture
def shim(tmp_path: Path) -> Path:
    """`claude-bottle` as the user has it on PATH, running this tree."""
    prog = tmp_path / "bin" / "claude-bottle"
    prog.parent.mkdir()
    prog.write_text(f'#!/bin/sh\nexec {sys.executable} -m claude_bottle "$@"\n')
    prog.chmod(0o755)
    (tmp_path / "claude-bottle.json").write_text(json.dumps(MANIFEST))
    return prog


def complete(shim: Path, line: str) -> list[str]:
    """COMPREPLY for `line` (the word being completed is the last, maybe empty)."""
    script = subprocess.run([str(shim), "completion", "bash"], capture_output=True, text=True, check=True)
    words = line.split(" ")
    words[0] = str(shim)
    array = " ".join("'" + w.replace("'", "'\\''") + "'" for w in words)
    driver = (
        f"source /dev/stdin; COMP_WORDS=({array}); COMP_CWORD={len(words) - 1}; "
        '_claude_bottle; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    result = subprocess.run(
        ["bash", "-c", driver], input=script.stdout, capture_output=True, text=True,
        cwd=shim.parent.parent, env={**os.environ, "HOME": str(shim.parent.parent)}, check=True,
    )  # fmt: skip
    return [w for w in result.stdout.splitlines() if w]


def test_bash_completes_subcommands(shim: Path) -> None:
    assert complete(shim, "claude-bottle s") == ["start", "stop", "sessions", "shell", "schema"]
    assert set(complete(shim, "claude-bottle ")) == {*COMMANDS, "--help", "--version"}


def test_bash_completes_agent_names_from_the_manifest(shim: Path) -> None:
    assert complete(shim, "claude-bottle start re") == ["reviewer", "researcher"]
    assert complete(shim, "claude-bottle run --cwd c") == ["coder"]
    assert complete(shim, "claude-bottle egress --follow ") == ["reviewer", "researcher", "coder"]
    assert complete(shim, "claude-bottle start coder ") == []  # the agent is given


def test_bash_completes_options_and_their_values(shim: Path) -> None:
    assert complete(shim, "claude-bottle start --d") == ["--dry-run"]
    assert complete(shim, "claude-bottle doctor --runtime r") == ["runc", "runsc"]
    assert complete(shim, "claude-bottle completion ") == ["bash", "zsh", "fish"]
    assert complete(shim, "claude-bottle egress coder --") == [
        "--help", "--follow", "--json", "--no-ask", "--verbose", "--engine",
    ]  # fmt: skip


def test_bash_reads_agents_from_the_manifest_named_on_the_line(shim: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**MANIFEST, "agents": {"ops": {"bottle": "dev"}}}))
    assert complete(shim, f"claude-bottle start --manifest {other} ") == ["ops"]


def test_bash_offers_nothing_for_the_bottles_command(shim: Path) -> None:
    assert complete(shim, "claude-bottle run coder -- cl") == []


def test_every_command_and_option_is_in_every_script() -> None:
    parser = build_parser()
    for script in (bash_script(parser, "claude-bottle"), zsh_script(parser, "claude-bottle")):
        assert all(name in script for name in COMMANDS)
        assert "--follow" in script
        assert "--list-agents --manifest" in script
    fish = fish_script(parser, "claude-bottle")
    assert "complete -c claude-bottle -n __fish_use_subcommand -a egress -d " in fish
    assert (
        "complete -c claude-bottle -n '__fish_seen_subcommand_from doctor' -l runtime -x -a 'runc runsc'"
        in fish
    )
    assert "-a '(claude-bottle validate --list-agents 2>/dev/null)'" in fish
    assert "--list-agents" not in bash_script(parser, "claude-bottle").split("_claude_bottle()")[1]


def test_list_agents_is_hidden_and_prints_names_only(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "--list-agents"]) == 0
    assert capsys.readouterr().out == "reviewer\n"
    assert main(["validate", "--help"]) == 0
    assert "--list-agents" not in capsys.readouterr().out
