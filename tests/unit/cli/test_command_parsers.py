"""A command line builds only the parser of the command it names (issue 25:
start-up is on every bottle's path), and still reads as the whole CLI's."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from claude_bottle.cli.commands import COMMANDS
from claude_bottle.cli.main import build_parser, main, named_command


@pytest.mark.parametrize(
    ("words", "named"),
    [
        pytest.param(["run", "claude"], "run", id="first-word"),
        pytest.param(["--verbose", "ps"], "ps", id="after-a-global-flag"),
        pytest.param(["--engine", "docker", "start", "x"], "start", id="after-engine-value"),
        pytest.param(["run", "stop"], "run", id="an-agent-named-like-a-command"),
        pytest.param(["completion", "bash"], None, id="completion-reads-the-whole-parser"),
        pytest.param([], None, id="no-command"),
        pytest.param(["--help"], None, id="help"),
        pytest.param(["runn"], None, id="a-misspelt-command"),
    ],
)
def test_the_command_a_line_names(words: list[str], named: str | None) -> None:
    assert named_command(words) == named


def _choices(parser: argparse.ArgumentParser) -> list[str]:
    sub = next(a for a in parser._actions if a.dest == "command_name")
    return list(sub.choices or ())


def test_a_single_commands_parser_holds_that_command_alone() -> None:
    assert _choices(build_parser("run")) == ["run"]
    assert _choices(build_parser()) == list(COMMANDS)


def test_a_misspelt_command_is_told_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runn"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'runn'" in err
    assert all(name in err for name in COMMANDS)


def test_run_imports_no_other_command() -> None:
    """In a fresh interpreter, as a user's `claude-bottle run ... --help` starts."""
    probe = (
        "import sys, json\n"
        "from claude_bottle.cli.main import main\n"
        "try:\n    main(['run', 'claude', '--help'])\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('claude_bottle.cli.commands.'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.splitlines()[-1]) == ["claude_bottle.cli.commands.run"]
