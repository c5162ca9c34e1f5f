"""`start` as a user runs it: under a pseudo-terminal, through the question, into
the real interactive Claude Code session, and out again with nothing left."""

from __future__ import annotations

import os
from pathlib import Path

import pexpect
import pytest

from claude_bottle.engine.docker import DockerEngine
from tests.engine.conftest import labelled_objects, owned_containers
from tests.installed import cli_path
from tests.sidecar.conftest import Lab, leave_interactive_session

# Every case here runs against the remote engine too (scripts/test.sh).
pytestmark = pytest.mark.remote_engine


def test_start_asks_attaches_claude_and_removes_everything(
    engine: DockerEngine, lab_project: Path, lab: Lab
) -> None:
    child = pexpect.spawn(
        cli_path(), ["start", "worker"], cwd=str(lab_project),
        env=dict(os.environ), encoding="utf-8", timeout=60, dimensions=(40, 120),
    )  # fmt: skip
    try:
        child.expect(r"env \(names only\) : LAB_CA")
        child.expect(r"launch this agent\? \[y/N\] ")
        child.sendline("y")
        child.expect("attaching interactive claude session")
        assert len(owned_containers(engine, child.pid)) == 2  # its agent and sidecar
        child.expect("Claude Code")
        summary = leave_interactive_session(child)
        # Nothing refused: Claude Code does not fetch Anthropic's plugin marketplace in a bottle.
        assert "refused : (nothing)" in summary, summary
    finally:
        child.close(force=True)
    assert labelled_objects(engine) == []


def test_answering_no_starts_nothing(engine: DockerEngine, lab_project: Path, lab: Lab) -> None:
    child = pexpect.spawn(
        cli_path(),
        ["start", "worker"],
        cwd=str(lab_project),
        env=dict(os.environ),
        encoding="utf-8",
        timeout=30,
    )
    child.expect(r"launch this agent\? \[y/N\] ")
    child.sendline("n")
    child.expect("aborted by user")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert labelled_objects(engine) == []
