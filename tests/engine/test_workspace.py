"""No lost work: what the agent did comes back as a branch (or saved files),
never as files written into the user's tree. Real engine, real git."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from claude_bottle.bottle.agent import AgentContainer
from claude_bottle.bottle.keeper import WorkTarget, harvest
from claude_bottle.engine.docker import DockerEngine
from claude_bottle.errors import ClaudeBottleError
from claude_bottle.plan.plan import LaunchPlan
from claude_bottle.tracking import labels as L
from claude_bottle.workspace.session_folders import SessionFolder
from claude_bottle.workspace.source import WorkspaceSource, copy_folder_in, scan_workspace
from tests.conftest import trust_manifest, wait_for
from tests.engine.conftest import (
    agent_on_internal_network,
    cli,
    in_agent,
    lab_plan,
    labelled_objects,
    owned_containers,
)
from tests.engine.test_teardown import HANGING_SIDECAR, hanging_sidecar
from tests.installed import cli_argv

__all__ = ["hanging_sidecar"]

MANIFEST = {
    "bottles": {"lab": {"egress": {"allow": ["allowed.test"]}}},
    "agents": {"worker": {"bottle": "lab"}},
}
AGENT_WORK = """
set -e
cd ~/workspace
git config user.name agent; git config user.email agent@bottle.test
echo one > one.txt; git add one.txt; git commit -qm "first agent commit"
echo two > two.txt; git add two.txt; git commit -qm "second agent commit"
echo edited >> README.md
echo brand-new > new.txt
printf '#!/bin/sh\\necho pwned > /tmp/pwned\\n' > .git/hooks/post-checkout; chmod +x .git/hooks/post-checkout
git config core.fsmonitor 'echo pwned'
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def fingerprint(repo: Path) -> dict[str, str]:
    """Every file and folder of the user's repository, `.git` included (path and
    sha256 of the content, or the link target), plus what git says of it."""
    found = {
        "(status)": git(repo, "status", "--porcelain", "--ignored"),
        "(HEAD)": git(repo, "rev-parse", "HEAD"),
    }
    for path in sorted(repo.rglob("*")):
        rel = path.relative_to(repo).as_posix()
        if path.is_symlink():
            found[rel] = f"link {os.readlink(path)}"
        elif path.is_dir():
            found[rel] = f"dir {path.stat().st_mode:o}"
        else:
            found[rel] = f"{path.stat().st_mode:o} {hashlib.sha256(path.read_bytes()).hexdigest()}"
    return found


# What a harvest may add to the user's `.git`: the new branch (and its reflog)
# and git objects. Nothing else may appear, change or go.
_OBJECTS = re.compile(r"\.git/objects/(pack/pack-[0-9a-f]+\.(pack|idx|rev)|[0-9a-f]{2}(/[0-9a-f]{38,62})?)")


def assert_only_new_ref_and_objects(
    before: dict[str, str], after: dict[str, str], branches: list[str]
) -> None:
    changed = {k for k in before.keys() & after.keys() if before[k] != after[k]}
    assert changed == set(), f"changed by the harvest: {sorted(changed)}"
    assert before.keys() - after.keys() == set(), "removed by the harvest"
    refs = {f".git/{kind}refs/heads/{b}" for b in branches for kind in ("", "logs/")}
    # ...with the folders that hold them.
    refs |= {str(Path(r).parents[i]) for r in refs for i in range(len(Path(r).parents) - 1)}
    unexpected = sorted(
        k for k in after.keys() - before.keys() if k not in refs and not _OBJECTS.fullmatch(k)
    )
    assert unexpected == [], f"the harvest left these in the user's repository: {unexpected}"
    assert {f".git/refs/heads/{b}" for b in branches} <= after.keys()


@pytest.fixture
def user_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "project"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("hello\n")
    (repo / ".gitignore").write_text("node_modules/\n")
    (repo / "node_modules").mkdir()
    (repo / "node_modules" / "big.js").write_text("x" * 1000)
    (repo / "scratch.tmp").write_text("do not copy\n")
    (repo / ".claude-bottle-ignore").write_text("*.tmp\n")
    git(repo, "add", "README.md", ".gitignore", ".claude-bottle-ignore")
    git(repo, "-c", "user.name=u", "-c", "user.email=u@u.test", "commit", "-qm", "user commit")
    return repo


@pytest.fixture
def bottle(
    engine: DockerEngine, agent_image: str, tmp_path: Path
) -> Iterator[tuple[LaunchPlan, AgentContainer]]:
    plan = lab_plan(tmp_path, MANIFEST, "worker")
    with agent_on_internal_network(engine, plan, {}) as agent:
        yield plan, agent


def copied_in(engine: DockerEngine, agent: AgentContainer, plan: LaunchPlan, folder: Path) -> WorkspaceSource:
    """What --cwd does at launch: scan the folder and stream it into the workspace."""
    source = scan_workspace(folder)
    copy_folder_in(engine, agent.name, source, plan.workspace)
    return source


def agent_sh(engine: DockerEngine, agent: AgentContainer, script: str) -> str:
    return in_agent(engine, agent, script)


@pytest.mark.remote_engine
def test_commits_and_uncommitted_changes_come_back_as_a_branch(
    engine: DockerEngine, bottle: tuple[LaunchPlan, AgentContainer], user_repo: Path, tmp_path: Path
) -> None:
    plan, agent = bottle
    before = fingerprint(user_repo)
    source = copied_in(engine, agent, plan, user_repo)
    listing = agent_sh(engine, agent, "cd ~/workspace && ls -A && stat -c '%U' .git/HEAD")
    assert "node_modules" not in listing  # ignored by the repo's rules
    assert "scratch.tmp" not in listing  # ignored by .claude-bottle-ignore
    assert listing.splitlines()[-1] == "node"
    agent_sh(engine, agent, AGENT_WORK)

    result = harvest(
        engine, agent.name, WorkTarget.of(plan, source), SessionFolder(tmp_path / "session").create(), "final"
    )

    assert result.kind == "branch"
    assert result.branch == f"bottle/worker/{plan.session_id}"
    assert result.commits == 3
    assert result.uncommitted
    log = git(user_repo, "log", "--format=%s", f"main..{result.branch}").splitlines()
    assert log == [
        "claude-bottle: changes left uncommitted in the bottle",
        "second agent commit",
        "first agent commit",
    ]
    tip_files = git(user_repo, "ls-tree", "-r", "--name-only", result.branch).split()
    assert sorted(tip_files) == [
        ".claude-bottle-ignore",
        ".gitignore",
        "README.md",
        "new.txt",
        "one.txt",
        "two.txt",
    ]
    assert git(user_repo, "show", f"{result.branch}:README.md") == "hello\nedited\n"
    assert_only_new_ref_and_objects(before, fingerprint(user_repo), [str(result.branch)])
    assert not Path("/tmp/pwned").exists()


def test_a_second_harvest_never_reuses_a_branch_name(
    engine: DockerEngine, bottle: tuple[LaunchPlan, AgentContainer], user_repo: Path, tmp_path: Path
) -> None:
    plan, agent = bottle
    source = copied_in(engine, agent, plan, user_repo)
    agent_sh(engine, agent, "cd ~/workspace && echo a > a.txt")
    folder = SessionFolder(tmp_path / "s").create()
    first = harvest(engine, agent.name, WorkTarget.of(plan, source), folder, "h1")
    agent_sh(engine, agent, "cd ~/workspace && echo b > b.txt")
    second = harvest(engine, agent.name, WorkTarget.of(plan, source), folder, "h2")
    assert first.branch == f"bottle/worker/{plan.session_id}"
    assert second.branch == f"bottle/worker/{plan.session_id}-2"


def test_nothing_to_bring_back_gives_no_branch(
    engine: DockerEngine, bottle: tuple[LaunchPlan, AgentContainer], user_repo: Path, tmp_path: Path
) -> None:
    plan, agent = bottle
    source = copied_in(engine, agent, plan, user_repo)
    result = harvest(
        engine, agent.name, WorkTarget.of(plan, source), SessionFolder(tmp_path / "s").create(), "final"
    )
    assert result.kind == "none"
    assert result.summary_lines(user_repo) == ["work    : no changes"]
    assert "bottle/" not in git(user_repo, "branch", "--list")


@pytest.mark.remote_engine
def test_work_comes_back_after_the_main_process_was_killed(
    engine: DockerEngine, bottle: tuple[LaunchPlan, AgentContainer], user_repo: Path, tmp_path: Path
) -> None:
    plan, agent = bottle
    source = copied_in(engine, agent, plan, user_repo)
    agent_sh(
        engine,
        agent,
        "cd ~/workspace && git -c user.name=a -c user.email=a@a.test commit -qm x --allow-empty",
    )
    engine.run("kill", agent.name)  # SIGKILL to the main process: the container stops
    wait_for(
        lambda: engine.run("inspect", "-f", "{{.State.Running}}", agent.name).stdout.strip() == "false",
        10,
        "the container to stop",
    )
    result = harvest(
        engine, agent.name, WorkTarget.of(plan, source), SessionFolder(tmp_path / "s").create(), "final"
    )
    assert result.kind == "branch"
    assert git(user_repo, "log", "--format=%s", "-1", str(result.branch)) == "x\n"


@pytest.mark.remote_engine
def test_a_folder_without_git_comes_back_as_files(
    engine: DockerEngine, bottle: tuple[LaunchPlan, AgentContainer], tmp_path: Path
) -> None:
    plan, agent = bottle
    folder = tmp_path / "plain"
    (folder / "sub").mkdir(parents=True)
    for name in ("keep.txt", "edit.txt", "gone.txt", "sub/deep.txt"):
        (folder / name).write_text(f"{name}\n")
    source = copied_in(engine, agent, plan, folder)
    agent_sh(
        engine, agent, "cd ~/workspace && echo changed > edit.txt && rm gone.txt && echo new > sub/new.txt"
    )
    store = SessionFolder(tmp_path / "session").create()
    result = harvest(engine, agent.name, WorkTarget.of(plan, source), store, "final")
    assert result.kind == "files"
    assert result.changed == ("edit.txt",)
    assert result.added == ("sub/new.txt",)
    assert result.deleted == ("gone.txt",)
    saved = store.path / "final" / "files"
    assert (saved / "edit.txt").read_text() == "changed\n"
    assert (saved / "sub" / "new.txt").read_text() == "new\n"
    assert not (saved / "keep.txt").exists()
    assert (store.path / "final" / "deleted.txt").read_text() == "gone.txt\n"
    assert (folder / "edit.txt").read_text() == "edit.txt\n"  # the user's folder is untouched


@pytest.fixture
def cwd_session(
    engine: DockerEngine, user_repo: Path, hanging_sidecar: str, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`run --cwd` of the user's repo, held at the sidecar wait; the test plays the agent."""
    (user_repo / "claude-bottle.json").write_text(json.dumps(MANIFEST))
    trust_manifest(user_repo / "claude-bottle.json")
    git(user_repo, "add", "claude-bottle.json")
    git(user_repo, "-c", "user.name=u", "-c", "user.email=u@u.test", "commit", "-qm", "manifest")
    env = {
        **os.environ,
        "CLAUDE_BOTTLE_SIDECAR_IMAGE": HANGING_SIDECAR,
        "CLAUDE_BOTTLE_SIDECAR_TIMEOUT": "60",
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    proc = subprocess.Popen(
        cli_argv("run", "--cwd", "worker", "--", "true"),
        cwd=user_repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        (name,) = wait_for(lambda: owned_containers(engine, proc.pid, L.ROLE_AGENT), 30, "its agent")
        wait_for(
            lambda: (
                engine.run(
                    "exec", name, "test", "-f", "/home/node/workspace/claude-bottle.json", check=False
                ).returncode
                == 0
            ),
            30,
            "the workspace copy",
        )
        yield proc, name
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


@pytest.mark.parametrize("ending", ["SIGINT", "SIGTERM", "SIGHUP", "stop"])
def test_work_comes_back_on_every_ending(
    engine: DockerEngine, cwd_session: tuple[subprocess.Popen[str], str], user_repo: Path, ending: str
) -> None:
    proc, container = cwd_session
    before = fingerprint(user_repo)
    engine.run("exec", "--user", "node", container, "sh", "-c", AGENT_WORK)
    if ending == "stop":
        assert cli("stop", container, cwd=user_repo).returncode == 0
    else:
        proc.send_signal(getattr(signal, ending))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    branches = git(user_repo, "branch", "--list", "bottle/*").split()
    assert len(branches) == 1
    assert f"work    : branch {branches[0]} in {user_repo}: 3 commit(s)" in err
    assert f"look: git -C {user_repo} log --stat -n 20 HEAD..{branches[0]}" in err
    assert_only_new_ref_and_objects(before, fingerprint(user_repo), branches)
    assert not (user_repo / ".git" / "hooks" / "post-checkout").exists()
    assert labelled_objects(engine) == []


def test_harvest_on_demand_then_sessions_lists_the_work(
    engine: DockerEngine, cwd_session: tuple[subprocess.Popen[str], str], user_repo: Path, tmp_path: Path
) -> None:
    proc, container = cwd_session
    engine.run("exec", "--user", "node", container, "sh", "-c", AGENT_WORK)
    data = {"XDG_DATA_HOME": str(tmp_path / "data")}
    now = cli("harvest", container, cwd=user_repo, env=data)
    assert now.returncode == 0, now.stderr
    assert "goes on" in now.stderr
    assert engine.ok("inspect", container)  # the session is still there
    assert len(git(user_repo, "branch", "--list", "bottle/*").split()) == 1
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    branches = git(user_repo, "branch", "--list", "bottle/*").split()
    assert len(branches) == 2  # the final harvest took a new name
    listed = cli("sessions", "--json", cwd=user_repo, env=data)
    records = json.loads(listed.stdout)
    assert len(records) == 1
    assert records[0]["agent"] == "worker"
    assert records[0]["cwd"] == str(user_repo)
    assert records[0]["work"]["kind"] == "branch"
    assert records[0]["work"]["branch"] in branches
    text = cli("sessions", cwd=user_repo, env=data).stdout
    assert f"work    : branch {records[0]['work']['branch']} (3 commit(s))" in text


# The agent's last commit holds a tree entry that git must never check out
# (`.git` would plant a config and hooks; `..` escapes the work tree).
EVIL_COMMIT = """
set -e
cd ~/workspace
blob=$(echo '[core] fsmonitor = echo pwned' | git hash-object -w --stdin)
sub=$(printf '100644 blob %s\\tconfig\\n' "$blob" | git mktree)
tree=$( { git ls-tree HEAD; printf '040000 tree %s\\t%s\\n' "$sub" "$1"; } | git mktree)
commit=$(git -c user.name=a -c user.email=a@a.test commit-tree "$tree" -p HEAD -m evil)
git update-ref refs/heads/main "$commit"
git ls-tree HEAD
"""


@pytest.mark.parametrize("entry", [".git", "..", ".GIT"])
def test_a_malicious_tree_is_refused_by_fsck_and_nothing_lands(
    engine: DockerEngine,
    bottle: tuple[LaunchPlan, AgentContainer],
    user_repo: Path,
    tmp_path: Path,
    entry: str,
) -> None:
    plan, agent = bottle
    source = copied_in(engine, agent, plan, user_repo)
    made = engine.run("exec", "--user", "node", agent.name, "sh", "-c", EVIL_COMMIT, "evil", entry).stdout
    assert f"\t{entry}\n" in made  # the commit really holds the entry
    before = fingerprint(user_repo)
    folder = SessionFolder(tmp_path / "s").create()
    with pytest.raises(ClaudeBottleError) as refused:
        harvest(engine, agent.name, WorkTarget.of(plan, source), folder, "final")
    assert f"could not bring the bottle's commits into {user_repo}" in str(refused.value)
    assert "fsck error" in str(refused.value)
    assert fingerprint(user_repo) == before
    assert git(user_repo, "branch", "--list", "bottle/*") == ""
    assert list(folder.path.glob("*.bundle"))  # the work is kept aside, not lost


# Issue 20: ten small objects naming 10^9 paths. It passes fsck, yet every
# `git log --stat`, `log -p`, `checkout` or `merge` of it runs for hours.
TREE_BOMB = """
set -e
cd ~/workspace
t=$(printf '100644 blob %s\\tf\\n' "$(echo x | git hash-object -w --stdin)" | git mktree)
for level in 1 2 3 4 5 6 7 8 9; do
  t=$(for i in 0 1 2 3 4 5 6 7 8 9; do printf '040000 tree %s\\td%s\\n' "$t" "$i"; done | git mktree)
done
commit=$(git -c user.name=a -c user.email=a@a.test commit-tree "$t" -p HEAD -m bomb)
git update-ref refs/heads/main "$commit"
git fsck --strict --no-dangling
"""


def test_a_tree_bomb_is_refused_quickly_and_nothing_lands(
    engine: DockerEngine, bottle: tuple[LaunchPlan, AgentContainer], user_repo: Path, tmp_path: Path
) -> None:
    plan, agent = bottle
    source = copied_in(engine, agent, plan, user_repo)
    engine.run("exec", "--user", "node", agent.name, "sh", "-c", TREE_BOMB)  # fsck passes it
    before = fingerprint(user_repo)
    folder = SessionFolder(tmp_path / "s").create()
    started = time.monotonic()
    with pytest.raises(ClaudeBottleError) as refused:
        harvest(engine, agent.name, WorkTarget.of(plan, source), folder, "final")
    assert time.monotonic() - started < 60
    assert "its commits change more than 1,000,000 paths (a tree bomb?)" in str(refused.value)
    assert fingerprint(user_repo) == before
    assert git(user_repo, "branch", "--list", "bottle/*") == ""
    assert list(folder.path.glob("*.bundle"))  # kept aside, never in the repository


def test_signals_during_teardown_do_not_abort_it(
    engine: DockerEngine, cwd_session: tuple[subprocess.Popen[str], str], user_repo: Path
) -> None:
    """Ctrl-C, then SIGTERM and another Ctrl-C while the teardown is under way:
    each is noted, the teardown finishes (the work comes back) and exits 130.
    The agent holds the harvest (its repository's fsmonitor hook, which the
    harvest's `git add` runs) until the test has seen both later signals noted."""
    proc, container = cwd_session
    tag = secrets.token_hex(4)
    started, release = f"/tmp/harvest-started-{tag}", f"/tmp/release-{tag}"
    hold = f"#!/bin/sh\ntouch {started}\nuntil [ -f {release} ]; do sleep 0.05; done\n"
    engine.run("exec", "--user", "node", container, "sh", "-c",
               f"printf '{hold}' > /tmp/hold.sh && chmod +x /tmp/hold.sh && cd ~/workspace && "
               "git config core.fsmonitor /tmp/hold.sh && echo change >> README.md")  # fmt: skip
    lines: list[str] = []
    stderr = proc.stderr
    assert stderr is not None
    reader = threading.Thread(target=lambda: lines.extend(iter(stderr.readline, "")), daemon=True)
    reader.start()

    def noted(sig: str) -> bool:
        return any(line.startswith(f"claude-bottle: {sig} received; still removing") for line in lines)

    proc.send_signal(signal.SIGINT)
    wait_for(lambda: engine.ok("exec", container, "test", "-f", started), 30, "the teardown's harvest")
    proc.send_signal(signal.SIGTERM)
    wait_for(lambda: noted("SIGTERM"), 10, "SIGTERM to be noted")
    proc.send_signal(signal.SIGINT)
    wait_for(lambda: noted("SIGINT"), 10, "the second SIGINT to be noted")
    engine.run("exec", container, "touch", release)
    assert proc.wait(timeout=60) == 130
    reader.join(timeout=10)
    assert any("interrupted (SIGINT); everything this session made was removed" in line for line in lines), (
        lines
    )
    assert labelled_objects(engine) == []  # at once: removed by the teardown, not later by the watchdog
    assert len(git(user_repo, "branch", "--list", "bottle/*").split()) == 1
