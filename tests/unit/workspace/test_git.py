"""The host-git seam: the repository's hooks, fsmonitor and other programs never run
for the tool's own calls, the user's GIT_* variables do not move them, each command
is echoed under --verbose, a failure names command and folder, and commits that
change more paths than a person could look at (a tree bomb) are told."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from claude_bottle.console import set_verbose
from claude_bottle.workspace.git import (
    PROTECTED,
    GitFailed,
    branch_exists,
    changes_more_paths,
    fetch_checked,
    git,
    head_commit,
)


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
    set_verbose(True)  # as cli/main.py does for --verbose
    git("rev-parse", "HEAD", repo=repo)
    err = capsys.readouterr().err
    ours = " ".join(f"-c {setting}" for setting in PROTECTED)
    assert err.startswith(f"claude-bottle: + git {ours} -C {repo} rev-parse HEAD  [")
    assert "-c core.hooksPath=/dev/null -c core.fsmonitor=false" in ours
    assert err.rstrip().endswith("exit 0]")


def test_a_failure_names_the_command_and_the_folder(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    with pytest.raises(GitFailed) as failed:
        git("rev-parse", "--verify", "no-such-ref", repo=repo)
    assert str(failed.value).startswith(f"git rev-parse --verify no-such-ref failed in {repo}: fatal:")
    assert not branch_exists(repo, "no-such-branch")


def test_a_folder_s_fsmonitor_never_runs_for_our_calls(tmp_path: Path) -> None:
    # Issue 20: a folder's .git/config is not the user's word; `ls-files` (the
    # --cwd scan) ran its core.fsmonitor command on the host.
    repo = _repo(tmp_path)
    marker = tmp_path / "fsmonitor-ran"
    subprocess.run(["git", "-C", str(repo), "config", "core.fsmonitor", f"touch {marker}; false"], check=True)
    git("ls-files", "-z", "-co", "--exclude-standard", repo=repo)
    git("status", "--porcelain", repo=repo)
    assert not marker.exists()
    subprocess.run(["git", "-C", str(repo), "status", "--porcelain"], capture_output=True, check=False)
    assert marker.exists()  # the same config outside the seam runs it: the check could fail


def test_a_repository_s_alternate_refs_command_never_runs_on_a_fetch(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(other)], check=True)
    (repo / ".git" / "objects" / "info" / "alternates").write_text(f"{other}/objects\n")
    marker = tmp_path / "alternate-ran"
    subprocess.run(["git", "-C", str(repo), "config", "core.alternateRefsCommand", f"touch {marker}; true"],
                   check=True)  # fmt: skip
    git("fetch", "--quiet", str(other), "HEAD:refs/heads/fetched", repo=repo)
    assert not marker.exists()
    subprocess.run(["git", "-C", str(repo), "fetch", "--quiet", str(other), "HEAD:refs/heads/again"],
                   check=True)  # fmt: skip
    assert marker.exists()


def test_the_user_s_git_variables_do_not_move_our_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _repo(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    subprocess.run(["git", "init", "-q", str(elsewhere)], check=True)
    monkeypatch.setenv("GIT_DIR", str(elsewhere / ".git"))
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "core.hooksPath")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", str(repo / ".git" / "hooks"))
    assert head_commit(repo) is not None  # `elsewhere` has no commit: GIT_DIR was not obeyed
    assert os.environ["GIT_DIR"]


def _tree_bomb(repo: Path, levels: int) -> str:
    """A commit whose tree names one subtree ten times, `levels` deep: 10**levels
    paths from levels + 1 small objects. It passes fsck."""

    def run(*args: str, stdin: str | None = None) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], input=stdin, capture_output=True, text=True,
                              check=True).stdout.strip()  # fmt: skip

    tree = run("mktree", stdin=f"100644 blob {run('hash-object', '-w', '--stdin', stdin='x')}\tf\n")
    for _ in range(levels):
        tree = run("mktree", stdin="".join(f"040000 tree {tree}\td{i}\n" for i in range(10)))
    return run("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit-tree", tree, "-m", "bomb")


def test_commits_that_change_too_many_paths_are_told_in_bounded_time(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    base = head_commit(repo)
    small = _tree_bomb(repo, 2)  # 100 paths
    bomb = _tree_bomb(repo, 9)  # 10**9 paths: `git log --stat` of it would run for hours
    # Its one commit adds 100 paths, and so does the whole change a merge would take.
    assert not changes_more_paths(repo, small, base, limit=200)
    assert changes_more_paths(repo, small, base, limit=199)
    assert changes_more_paths(repo, bomb, base)
    assert changes_more_paths(repo, bomb, "0" * 40)  # a base it does not know: every commit counts


def test_a_tree_bomb_is_not_fetched_into_the_user_s_repository(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(repo), str(work)], check=True)
    bomb = _tree_bomb(work, 8)
    harvest = "refs/claude-bottle/harvest"
    subprocess.run(["git", "-C", str(work), "update-ref", harvest, bomb], check=True)
    bundle = tmp_path / "work.bundle"
    base = head_commit(repo)
    subprocess.run(["git", "-C", str(work), "bundle", "create", "-q", str(bundle), harvest, f"^{base}"],
                   check=True)  # fmt: skip
    fetched = fetch_checked(repo, bundle, "refs/heads/bomb", harvest, base)
    assert fetched.returncode == 1
    assert "change more than 1,000,000 paths" in fetched.stderr
    assert not branch_exists(repo, "bomb")
