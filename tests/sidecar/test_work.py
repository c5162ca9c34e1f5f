"""A whole --cwd session with the real sidecar: the agent's work comes back as a
branch, and the transcript of the real Claude Code CLI is saved."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.engine.conftest import cli
from tests.sidecar.conftest import Lab

# Every case here runs against the remote engine too (scripts/test.sh).
pytestmark = pytest.mark.remote_engine


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def test_run_cwd_brings_commits_back_and_saves_the_transcript(
    lab_project: Path, lab: Lab, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(lab_project / "claude-bottle.json", repo / "claude-bottle.json")
    shutil.copytree(lab_project / "skills", repo / "skills")  # the manifest's own (the lab's CA)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=u", "-c", "user.email=u@u.test", "commit", "-qm", "start")
    data = {"XDG_DATA_HOME": str(tmp_path / "data")}
    script = (
        'printf "%s" "$LAB_CA" | base64 -d > ~/lab-ca.pem && claude -p "say hello" > answer.txt && '
        "git -c user.name=a -c user.email=a@a.test add answer.txt && "
        "git -c user.name=a -c user.email=a@a.test commit -qm 'the answer'"
    )
    result = cli("run", "--cwd", "coder", "--", "sh", "-c", script, cwd=repo, env=data)
    assert result.returncode == 0, result.stderr
    branch = git(repo, "branch", "--list", "bottle/*").split()[-1]
    assert git(repo, "show", f"{branch}:answer.txt") == "hello from the lab model\n"
    assert git(repo, "status", "--porcelain") == ""
    assert f"work    : branch {branch}" in result.stderr
    record = json.loads(cli("sessions", "--json", cwd=repo, env=data).stdout)[-1]
    folder = Path(record["folder"])
    assert list((folder / "transcripts").rglob("*.jsonl"))
    assert "api.lab.test" in (folder / "egress.jsonl").read_text()
