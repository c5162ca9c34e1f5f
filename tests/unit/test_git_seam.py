"""The host-git seam: the repository's hooks never run for the tool's own calls,
each command is echoed under --verbose, and a failure names command and folder."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from claude_bottle.workspace.git import GitFailed, branch_exists, git, head_commit


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    env = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", *env, "-C", str(repo), "commit", "-q", "--allow-empty", "-m", "one"], check=True)
    hook = repo / ".git" / "hooks" / "reference-transaction"
    hook.write_text(f"#!/bin/sh\ntouch {tmp_path / 'hook-ran'}\n")
    hook.chmod(0o755)
    return repo


def test_the_repository_s_hooks_do_not_run_for_our_calls(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    head = head_commit(repo)
    assert head is not None
    git("update-ref", "refs/heads/ours", head, repo=repo)
    assert branch_exists(repo, "ours")
    assert not (tmp_path / "hook-ran").exists()
    # The same call outside the seam runs the hook: the check above could fail.
    subprocess.run(["git", "-C", str(repo), "update-ref", "refs/heads/theirs", head], check=True)
    assert (tmp_path / "hook-ran").exists()


def test_each_command_is_echoed_under_verbose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _repo(tmp_path)
    git("rev-parse", "HEAD", repo=repo)
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("CLAUDE_BOTTLE_VERBOSE", "1")
    git("rev-parse", "HEAD", repo=repo)
    err = capsys.readouterr().err
    assert err.startswith(f"claude-bottle: + git -c core.hooksPath=/dev/null -C {repo} rev-parse HEAD  [")
    assert err.rstrip().endswith("exit 0]")


def test_a_failure_names_the_command_and_the_folder(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    with pytest.raises(GitFailed) as failed:
        git("rev-parse", "--verify", "no-such-ref", repo=repo)
    assert str(failed.value).startswith(f"git rev-parse --verify no-such-ref failed in {repo}: fatal:")
    assert not branch_exists(repo, "no-such-branch")
