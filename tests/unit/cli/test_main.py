from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import pytest

import claude_bottle.cli.commands.run as run_command
from claude_bottle.cli.main import main
from claude_bottle.console import set_verbose
from claude_bottle.engine.docker import DockerEngine
from claude_bottle.hostenv import watchdog_env
from claude_bottle.settings import Settings


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[argparse.Namespace]:
    seen: list[argparse.Namespace] = []

    def fake_run(args: argparse.Namespace) -> int:
        seen.append(args)
        return 0

    monkeypatch.setattr(run_command, "run", fake_run)
    return seen


@pytest.mark.parametrize(
    ("argv", "cwd", "command"),
    [
        pytest.param(["run", "x", "--cwd", "--", "ls", "-la"], True, ["ls", "-la"], id="options-after-name"),
        pytest.param(["run", "--cwd", "x", "--", "ls"], True, ["ls"], id="options-before-name"),
        pytest.param(["run", "x"], False, [], id="no-command"),
        pytest.param(
            ["run", "x", "--", "--cwd", "--"], False, ["--cwd", "--"], id="command-words-are-not-options"
        ),
    ],
)
def test_run_splits_its_command_at_the_first_double_dash(
    captured: list[Any], argv: list[str], cwd: bool, command: list[str]
) -> None:
    assert main(argv) == 0
    assert (captured[0].cwd, captured[0].command) == (cwd, command)


def test_other_commands_take_no_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--", "x"]) == 2
    assert "'validate' takes no command after --" in capsys.readouterr().err


@pytest.mark.parametrize("label", ["nokey", "=value", "a=1,b=2"])
def test_cleanup_refuses_a_label_that_is_not_key_value(
    capsys: pytest.CaptureFixture[str], label: str
) -> None:
    assert main(["cleanup", "--label", label]) == 2
    assert capsys.readouterr().err == f"claude-bottle: --label '{label}' is not KEY=VALUE\n"


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_echoes_each_engine_command(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = tmp_path / "docker"  # a stand-in CLI: answers `version`, lists no containers
    fake.write_text('#!/bin/sh\n[ "$1" = version ] && echo 27.0.0\nexit 0\n')
    fake.chmod(0o755)
    monkeypatch.setenv("CLAUDE_BOTTLE_DOCKER", str(fake))
    monkeypatch.delenv("CLAUDE_BOTTLE_VERBOSE", raising=False)
    argv = ["--verbose", "ps"] if where == "before" else ["ps", "--verbose"]
    assert main(argv) == 0
    err = capsys.readouterr().err.splitlines()
    # The version and the context the session pins (with its endpoint) are asked together, in either order.
    assert sorted(line.split("  [")[0] for line in err[:2]) == [
        f"claude-bottle: + {fake} context inspect",
        f"claude-bottle: + {fake} version --format {{{{.Server.Version}}}}",
    ]
    assert err[2].startswith(f"claude-bottle: + {fake} ps --filter ")
    assert "CLAUDE_BOTTLE_VERBOSE" not in os.environ  # main() writes no variable
    # The processes it starts are given the switch (the watchdog: hostenv.watchdog_env).
    assert watchdog_env({}, Settings(verbose=True))["CLAUDE_BOTTLE_VERBOSE"] == "1"


def test_without_verbose_nothing_is_echoed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = tmp_path / "docker"
    fake.write_text('#!/bin/sh\n[ "$1" = version ] && echo 27.0.0\nexit 0\n')
    fake.chmod(0o755)
    monkeypatch.setenv("CLAUDE_BOTTLE_DOCKER", str(fake))
    monkeypatch.delenv("CLAUDE_BOTTLE_VERBOSE", raising=False)
    assert main(["ps"]) == 0
    assert capsys.readouterr().err == ""


def test_verbose_echoes_a_streamed_command_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    set_verbose(True)  # as cli/main.py does for --verbose
    proc = DockerEngine(binary="true").popen("logs", "--follow", "x")
    proc.wait()
    assert capsys.readouterr().err == "claude-bottle: + true logs --follow x  [streamed]\n"
