"""A cloned repository ships its own claude-bottle.json (issue 10): what it names
from the host is refused, or shown and asked about, never copied silently; a
trusted manifest that changes is untrusted again. Checks are scoped to this
test's own agent name: other sessions may share the engine."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from pathlib import Path
from typing import Any

import pexpect
import pytest

from claude_bottle.engine.docker import DockerEngine
from tests.conftest import openssh_key
from tests.engine.conftest import cli, ended_cleanly
from tests.engine.test_interrupts import objects_of_agent
from tests.installed import cli_path

SECRET = f"secret-{secrets.token_hex(6)}"


@pytest.fixture
def clone(tmp_path: Path) -> tuple[Path, dict[str, str], str]:
    """A home with a key and a secret file, and a git clone whose manifest is the
    repository's (not trusted by anyone yet)."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    key = home / ".ssh" / "id_ed25519"
    key.write_text(openssh_key(SECRET))
    key.chmod(0o600)
    (home / "notes.txt").write_text(f"{SECRET}\n")
    repo = tmp_path / "clone"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    agent = f"repo-{secrets.token_hex(3)}"
    env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_CACHE_HOME": str(tmp_path / "cache")}  # fmt: skip
    return repo, env, agent


def ship(repo: Path, agent: str, **fields: Any) -> Path:
    manifest = {
        "bottles": {"lab": {"egress": {"allow": ["allowed.test", "git.allowed.test"]}}},
        "agents": {agent: {"bottle": "lab", **fields}},
    }
    path = repo / "claude-bottle.json"
    path.write_text(json.dumps(manifest))
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=u", "-c", "user.email=u@u.test",
                    "commit", "-qm", "ship"], check=True)  # fmt: skip
    return path


@pytest.mark.parametrize("case", ["absolute", "dotdot", "symlink"])
def test_a_prompt_file_from_outside_the_repository_is_refused_trusted_or_not(
    engine: DockerEngine, agent_image: str, clone: tuple[Path, dict[str, str], str], case: str
) -> None:
    repo, env, agent = clone
    home = env["HOME"]
    if case == "symlink":
        (repo / "prompt.md").symlink_to(f"{home}/notes.txt")  # committed as a link
        name = "prompt.md"
    else:
        name = f"{home}/notes.txt" if case == "absolute" else os.path.relpath(f"{home}/notes.txt", repo)
    path = ship(repo, agent, prompt_file=name)
    for command in (("run", agent, "--", "true"), ("trust", "--yes"), ("start", agent, "--dry-run")):
        result = cli(*command, cwd=repo, env=env, trust=False)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith(f"claude-bottle: {path}: agents.{agent}.prompt_file: ")
        assert f"resolves to {home}/notes.txt, outside the manifest's folder {repo}" in result.stderr
        assert SECRET not in result.stdout + result.stderr
        assert "Traceback" not in result.stderr
    assert objects_of_agent(engine, agent) == []


def test_an_ssh_key_is_shown_and_asked_about_and_a_change_needs_trust_again(
    engine: DockerEngine, agent_image: str, clone: tuple[Path, dict[str, str], str]
) -> None:
    repo, env, agent = clone
    key = Path(env["HOME"]) / ".ssh" / "id_ed25519"
    ssh = [{"Host": "git.allowed.test", "User": "git", "IdentityFile": "~/.ssh/id_ed25519"}]
    path = ship(repo, agent, ssh=ssh)
    refused = cli("run", agent, "--", "true", cwd=repo, env=env, trust=False)
    assert refused.returncode == 3
    assert refused.stderr.endswith(f"review it, then run: claude-bottle trust {path}\n")
    assert objects_of_agent(engine, agent) == []  # nothing was made, nothing copied
    shown = cli("trust", "--yes", cwd=repo, env=env, trust=False)
    assert shown.returncode == 0, shown.stderr
    assert f"    identity file ~/.ssh/id_ed25519 -> {key}\n" in shown.stdout
    assert "    known_hosts" not in shown.stdout  # there is none in this home
    # Trusted as shown: the key goes in, and only then.
    ran = cli("run", agent, "--", "sh", "-c", "cat ~/.ssh/id_bottle_0_id_ed25519", cwd=repo, env=env,
              trust=False)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert openssh_key(SECRET) in ran.stdout
    ended_cleanly(engine)  # so that what is found below was made by the next run
    ship(repo, agent, ssh=ssh, prompt="a new line in the file")
    again = cli("run", agent, "--", "true", cwd=repo, env=env, trust=False)
    assert again.returncode == 3
    assert again.stderr == (
        f"claude-bottle: {path} changed since you trusted it; review it, then run: "
        f"claude-bottle trust {path}\n"
    )
    assert objects_of_agent(engine, agent) == []


def test_start_shows_what_an_untrusted_manifest_lets_in_and_asks(
    engine: DockerEngine, agent_image: str, clone: tuple[Path, dict[str, str], str]
) -> None:
    repo, env, agent = clone
    key = Path(env["HOME"]) / ".ssh" / "id_ed25519"
    ssh = [{"Host": "git.allowed.test", "User": "git", "IdentityFile": "~/.ssh/id_ed25519"}]
    ship(repo, agent, ssh=ssh)
    child = pexpect.spawn(cli_path(), ["start", agent], cwd=str(repo), env=env,
                          encoding="utf-8", timeout=60)  # fmt: skip
    try:
        child.expect_exact("it lets into its bottles:")
        child.expect_exact(f"identity file ~/.ssh/id_ed25519 -> {key}")
        child.expect_exact("is not trusted yet")
        child.expect_exact("trust this manifest, letting in everything listed above, and launch this agent?")
        child.sendline("n")
        child.expect_exact("aborted by user")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    assert objects_of_agent(engine, agent) == []
    still = cli("run", agent, "--", "true", cwd=repo, env=env, trust=False)
    assert still.returncode == 3  # saying no trusts nothing
