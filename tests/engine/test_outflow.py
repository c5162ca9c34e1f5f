"""Issue 20: nothing a bottle brings out can steer the host, and what comes out is
bounded. The CLI as users run it (`run --cwd`), against the real engine: the
folder's own git configuration runs nothing on the host; a plain folder's
harvest brings back no version control and no exec bit; a huge sparse file, a
transcript or a work file, costs the host at most the cap and a sparse one
under it no more than its data; an ignore file that is a link is refused."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from pathlib import Path

import pytest

from claude_bottle.engine.docker import DockerEngine
from tests.conftest import trust_manifest
from tests.engine.conftest import cli
from tests.engine.test_interrupts import objects_of_agent

# How large the sparse files the agent makes are. 50G by default (free in the
# bottle: holes); a smaller size lets the test run against code that would
# write them out dense, without filling the host's disk.
HUGE = os.environ.get("CLAUDE_BOTTLE_TEST_SPARSE_SIZE", "50G")
CAP = 1 << 30  # the default per-file cap (CLAUDE_BOTTLE_HARVEST_FILE_MAX)


def allocated(path: Path) -> int:
    """Bytes of disk the files under `path` take (holes cost nothing)."""
    return sum(p.lstat().st_blocks * 512 for p in [path, *path.rglob("*")])


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    """A trusted manifest outside the work folder, an agent name of the test's own,
    and a data folder of its own (the session folders)."""
    agent = f"out-{secrets.token_hex(3)}"
    manifest = tmp_path / "manifest" / "claude-bottle.json"
    manifest.parent.mkdir()
    manifest.write_text(json.dumps({
        "bottles": {"lab": {"egress": {"allow": ["allowed.test"]}}},
        "agents": {agent: {"bottle": "lab"}},
    }))  # fmt: skip
    trust_manifest(manifest)
    return manifest, agent, {"XDG_DATA_HOME": str(tmp_path / "data")}


Setup = tuple[Path, str, dict[str, str]]


def run_cwd(folder: Path, setup: Setup, script: str) -> subprocess.CompletedProcess[str]:
    manifest, agent, env = setup
    argv = ("run", "--cwd", "--manifest", str(manifest), agent, "--", "sh", "-c", script)
    return cli(*argv, cwd=folder, env=env, trust=False, timeout=300)


def session_folder(env: dict[str, str]) -> Path:
    (folder,) = (Path(env["XDG_DATA_HOME"]) / "claude-bottle" / "sessions").iterdir()
    return folder


def test_the_folder_s_fsmonitor_never_runs_on_the_host(
    engine: DockerEngine, agent_image: str, setup: Setup, tmp_path: Path
) -> None:
    # Measured: `run --cwd` in a folder whose .git/config sets core.fsmonitor ran it
    # on the host during the scan, before anything was started.
    repo = tmp_path / "repo"
    marker = tmp_path / "fsmonitor-ran"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "README.md").write_text("hello\n")
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    who = ["-c", "user.name=u", "-c", "user.email=u@u.test"]
    subprocess.run(["git", "-C", str(repo), *who, "commit", "-qm", "u"], check=True)
    subprocess.run(["git", "-C", str(repo), "config", "core.fsmonitor", f"touch {marker}; false"], check=True)
    result = run_cwd(repo, setup, "cd ~/workspace && echo more >> README.md && git -c user.name=a "
                     "-c user.email=a@a.test commit -qam agent")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "work    : branch bottle/" in result.stderr  # the work came back, through git
    assert not marker.exists()
    subprocess.run(["git", "-C", str(repo), "status", "--porcelain"], capture_output=True, check=False)
    assert marker.exists()  # the same folder under the user's own git runs it: the check could fail


def test_a_plain_folder_s_harvest_brings_back_no_version_control_and_no_exec_bit(
    engine: DockerEngine, agent_image: str, setup: Setup, tmp_path: Path
) -> None:
    # Measured: an agent that ran `git init` and `git config core.fsmonitor ...` in a
    # plain --cwd folder got final/files/.git (config included) saved on the host.
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine\n")
    script = (
        "cd ~/workspace && git init -q && git config core.fsmonitor 'touch /tmp/pwned' "
        "&& mkdir -p sub/.GIT deep/er/.hg && echo '[core]' > sub/.GIT/config "
        "&& echo '[hooks]' > deep/er/.hg/hgrc "
        "&& printf '#!/bin/sh\\necho hi\\n' > run.sh && chmod +x run.sh && echo new > new.txt"
    )
    result = run_cwd(folder, setup, script)
    assert result.returncode == 0, result.stderr
    saved = session_folder(setup[2]) / "final" / "files"
    names = sorted(p.relative_to(saved).as_posix() for p in saved.rglob("*"))
    assert names == ["new.txt", "run.sh"]  # the positive control: new files do come back
    assert (saved / "run.sh").stat().st_mode & 0o777 == 0o644
    assert "          left in the bottle (version control a shell would read): .git/HEAD," in result.stderr
    assert "          saved without their exec bits: run.sh\n" in result.stderr
    record = json.loads((session_folder(setup[2]) / "session.json").read_text())
    assert record["work"]["executables"] == ["run.sh"]
    assert "sub/.GIT/config" in record["work"]["refused"]
    assert "deep/er/.hg/hgrc" in record["work"]["refused"]


def test_a_huge_sparse_transcript_costs_the_host_at_most_the_cap(
    engine: DockerEngine, agent_image: str, setup: Setup, tmp_path: Path
) -> None:
    # Measured: `truncate -s 3G ~/.claude/projects/p/t.jsonl` in the bottle became
    # 3.1 GB written into the host's session folder (docker cp writes holes out).
    folder = tmp_path / "plain"
    folder.mkdir()
    script = (
        f"mkdir -p ~/.claude/projects/p && cd ~/.claude/projects/p && truncate -s {HUGE} huge.jsonl "
        "&& truncate -s 300M holey.jsonl && echo '{}' >> holey.jsonl && echo '{\"a\": 1}' > small.jsonl"
    )
    result = run_cwd(folder, setup, script)
    assert result.returncode == 0, result.stderr
    transcripts = session_folder(setup[2]) / "transcripts" / "p"
    assert (transcripts / "small.jsonl").read_text() == '{"a": 1}\n'  # nothing else was lost
    holey = transcripts / "holey.jsonl"
    assert holey.stat().st_size == (300 << 20) + 3
    assert holey.stat().st_blocks * 512 < 8 << 20  # landed sparse: its data, not its holes
    assert not (transcripts / "huge.jsonl").exists()
    assert allocated(session_folder(setup[2])) < CAP
    assert "limit   : transcript p/huge.jsonl (" in result.stderr
    assert (
        ") is over the 1 GiB one file may bring out (CLAUDE_BOTTLE_HARVEST_FILE_MAX): left in the bottle\n"
        in (result.stderr)
    )


def test_a_huge_sparse_file_in_a_plain_folder_costs_the_host_at_most_the_cap(
    engine: DockerEngine, agent_image: str, setup: Setup, tmp_path: Path
) -> None:
    # Reported by a review: the harvest's tar had no --sparse, so holes came out as zeros.
    folder = tmp_path / "plain"
    folder.mkdir()
    script = (
        f"cd ~/workspace && truncate -s {HUGE} huge.bin && truncate -s 300M holey.bin && echo e >> holey.bin"
    )
    result = run_cwd(folder, setup, script)
    assert result.returncode == 0, result.stderr
    saved = session_folder(setup[2]) / "final" / "files"
    assert (saved / "holey.bin").stat().st_size == (300 << 20) + 2
    assert (saved / "holey.bin").stat().st_blocks * 512 < 8 << 20
    assert not (saved / "huge.bin").exists()
    assert allocated(session_folder(setup[2])) < CAP
    assert "limit   : huge.bin (" in result.stderr
    assert "work    : 0 changed, 1 new, 0 deleted file(s)" in result.stderr


@pytest.mark.parametrize("target", ["/dev/zero", "outside"])
def test_an_ignore_file_that_is_a_link_is_refused_before_anything_is_made(
    engine: DockerEngine,
    agent_image: str,
    setup: Setup,
    tmp_path: Path,
    target: str,
) -> None:
    # Reported by a review: .claude-bottle-ignore was read without a cap and through
    # links (one to /dev/zero read forever).
    folder = tmp_path / "plain"
    folder.mkdir()
    (tmp_path / "outside").write_text("*.txt\n")
    pointed = target if target.startswith("/") else str(tmp_path / "outside")
    (folder / ".claude-bottle-ignore").symlink_to(pointed)
    result = run_cwd(folder, setup, "true")
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        f"claude-bottle: cannot use .claude-bottle-ignore: {folder}/.claude-bottle-ignore is a symbolic link "
        f"(to {pointed}), not a file of its own\n"
    )
    assert objects_of_agent(engine, setup[1]) == []


def test_commits_over_the_cap_are_left_in_the_bottle_with_one_line(
    engine: DockerEngine, agent_image: str, setup: Setup, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "README.md").write_text("hello\n")
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    who = ["-c", "user.name=u", "-c", "user.email=u@u.test"]
    subprocess.run(["git", "-C", str(repo), *who, "commit", "-qm", "u"], check=True)
    manifest, agent, env = setup
    script = ("cd ~/workspace && head -c 3145728 /dev/urandom > noise.bin && git add noise.bin "
              "&& git -c user.name=a -c user.email=a@a.test commit -qm noise")  # fmt: skip
    capped = (manifest, agent, {**env, "CLAUDE_BOTTLE_HARVEST_FILE_MAX": "1m"})
    result = run_cwd(repo, capped, script)
    assert result.returncode == 0, result.stderr  # a cap is a line, never a failure
    assert "work    : not brought back\n" in result.stderr
    assert (
        "limit   : the bottle's commits (a bundle of 1 commit(s)) (3.0 MiB) is over the 1 MiB one file "
        in (result.stderr)
    )
    branches = subprocess.run(["git", "-C", str(repo), "branch", "--list", "bottle/*"], capture_output=True,
                              text=True, check=True).stdout  # fmt: skip
    assert branches == ""
