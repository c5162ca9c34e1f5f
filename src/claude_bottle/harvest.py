"""Taking an agent's work out of its bottle before the container is removed.

A git workspace comes back as a branch `bottle/<agent>/<session>` in the host
repository, through git objects and refs only: inside the bottle, the agent's
new commits (plus one commit holding whatever it left uncommitted, made with a
private index so its own index and HEAD are untouched) are put in a bundle;
on the host, `git fetch` takes that bundle into a new branch. Nothing is
written into the user's working tree, index, HEAD, hooks or config, and no
file from the bottle is ever checked out on the host.

A folder without git comes back as files under the session folder, with the
list of files the agent deleted.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from claude_bottle.engine import Engine
from claude_bottle.errors import ClaudeBottleError, EngineError
from claude_bottle.sessions import SessionFolder
from claude_bottle.workspace import WorkspaceSource

BUNDLE_IN_BOTTLE = "/home/node/.claude-bottle-harvest.bundle"
HARVEST_REF = "refs/claude-bottle/harvest"
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"

# Runs as the agent user inside the bottle: $1 workspace, $2 base commit or "", $3 message.
_BUNDLE_SCRIPT = f"""
set -eu
cd "$1"; base="$2"
index=$(mktemp); rm -f "$index"
[ -f .git/index ] && cp .git/index "$index"
export GIT_INDEX_FILE="$index"
git add -A >/dev/null 2>&1 || true
tree=$(git write-tree)
rm -f "$index"; unset GIT_INDEX_FILE
head=$(git rev-parse -q --verify HEAD 2>/dev/null || true)
headtree=$(git rev-parse -q --verify "HEAD^{{tree}}" 2>/dev/null || echo {EMPTY_TREE})
tip=$head; extra=0
if [ "$tree" != "$headtree" ]; then
  tip=$(git -c user.name=claude-bottle -c user.email=claude-bottle@localhost \\
        commit-tree "$tree" ${{head:+-p "$head"}} -m "$3")
  extra=1
fi
if [ -z "$tip" ] || [ "$tip" = "$base" ]; then echo "claude-bottle-harvest none"; exit 0; fi
git update-ref {HARVEST_REF} "$tip"
count=$(git rev-list --count "$tip" ${{base:+"^$base"}})
git bundle create -q {BUNDLE_IN_BOTTLE} {HARVEST_REF} ${{base:+"^$base"}} >/dev/null 2>&1
echo "claude-bottle-harvest $tip $count $extra"
"""


@dataclass(frozen=True)
class HarvestResult:
    kind: str  # "branch", "files" or "none"
    branch: str | None = None
    commits: int = 0
    uncommitted: bool = False
    folder: Path | None = None
    changed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()

    def summary_lines(self, repo: Path) -> list[str]:
        if self.kind == "none":
            return ["work    : no changes"]
        if self.kind == "branch":
            extra = " (the last one holds changes left uncommitted)" if self.uncommitted else ""
            return [
                f"work    : branch {self.branch} in {repo}: {self.commits} commit(s){extra}",
                f"          look: git -C {shlex.quote(str(repo))} log -p HEAD..{self.branch}",
                f"          take: git -C {shlex.quote(str(repo))} merge {self.branch}",
            ]
        return [
            f"work    : {len(self.changed)} changed, {len(self.added)} new, {len(self.deleted)} deleted "
            f"file(s) saved in {self.folder}",
            f"          look: ls -R {shlex.quote(str(self.folder))}",
        ]

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "branch": self.branch,
            "commits": self.commits,
            "uncommitted": self.uncommitted,
            "folder": str(self.folder) if self.folder else None,
            "changed": list(self.changed),
            "added": list(self.added),
            "deleted": list(self.deleted),
        }


def _exec(engine: Engine, container: str, *argv: str) -> str:
    """Run as the agent user; restart the container first if its main process died."""
    args = ("exec", "--user", "node", container, *argv)
    result = engine.run(*args, check=False)
    if result.returncode != 0 and "is not running" in result.stderr:
        engine.run("start", container, what=f"cannot restart {container} to take its work out")
        result = engine.run(*args, check=False)
    if result.returncode != 0:
        raise engine.error(args, result.returncode, result.stderr, "cannot take the work out of the bottle")
    return result.stdout


def copy_out(engine: Engine, container: str, path: str) -> Iterator[tuple[tarfile.TarInfo, bytes]]:
    """`docker cp container:path -`, member by member (content read for regular
    files, b"" otherwise). A path that does not exist yields nothing."""
    proc = engine.popen("cp", f"{container}:{path}", "-", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stderr is not None
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                data = b""
                if member.isfile():
                    f: IO[bytes] | None = tar.extractfile(member)
                    data = f.read() if f is not None else b""
                yield member, data
    except tarfile.ReadError:
        pass  # an empty stream: docker cp found nothing; its status says why
    finally:
        proc.stdout.close()
        err = proc.stderr.read().decode("utf-8", "replace")
        proc.stderr.close()
        status = proc.wait()
    if status != 0 and "Could not find the file" not in err:
        raise EngineError(["docker", "cp", f"{container}:{path}", "-"], status, err)


def _free_branch(repo: Path, wanted: str) -> str:
    def exists(name: str) -> bool:
        return (
            subprocess.run(
                ["git", "-C", str(repo), "show-ref", "--verify", "--quiet", f"refs/heads/{name}"], check=False
            ).returncode
            == 0
        )

    name, n = wanted, 2
    while exists(name):
        name, n = f"{wanted}-{n}", n + 1
    return name


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=False)


def fetch_checked(repo: Path, bundle: Path, ref: str) -> subprocess.CompletedProcess[str]:
    """Bring the bundle's harvest ref into `repo` as `ref`, every new object
    checked by fsck first (a tree holding `.git` or `..` is refused), and
    nothing written into `repo` unless all passed.

    `git fetch` from a bundle file ignores transfer.fsckObjects (Git before 2.46
    unbundles without --strict), and a fetch that fsck refuses still leaves its
    `tmp_pack_*` in the receiving repository. So the bundle is unpacked into a
    scratch repository, checked by a fetch into a second one (both only borrow
    the user's objects, through alternates, read only), and only then fetched
    into `repo`. Only objects and the one ref arrive; FETCH_HEAD is not written."""
    objects = _git("-C", str(repo), "rev-parse", "--path-format=absolute", "--git-path", "objects")
    if objects.returncode != 0:
        return objects
    fetch = ("-c", "transfer.fsckObjects=true", "fetch", "--quiet", "--no-tags", "--no-write-fetch-head")
    with tempfile.TemporaryDirectory(prefix="quarantine-", dir=bundle.parent) as tmp:
        unpacked, checked = Path(tmp) / "unpacked.git", Path(tmp) / "checked.git"
        for scratch in (unpacked, checked):
            made = _git("init", "--quiet", "--bare", str(scratch))
            if made.returncode != 0:
                return made
            (scratch / "objects" / "info" / "alternates").write_text(objects.stdout.strip() + "\n")
        for into, source, dest in ((unpacked, bundle, HARVEST_REF), (checked, unpacked, HARVEST_REF),
                                   (repo, checked, ref)):  # fmt: skip
            step = _git("-C", str(into), *fetch, str(source), f"{HARVEST_REF}:{dest}")
            if step.returncode != 0:
                return step
        return step


def harvest_git(
    engine: Engine,
    container: str,
    source: WorkspaceSource,
    workspace: str,
    store: SessionFolder,
    branch: str,
    message: str,
) -> HarvestResult:
    out = _exec(
        engine,
        container,
        "sh",
        "-c",
        _BUNDLE_SCRIPT,
        "harvest",
        workspace,
        source.base or "",
        message,
    )
    # The agent controls its repository's config (hooks, fsmonitor) and may print
    # anything; only our own marked last line counts.
    found = re.findall(r"^claude-bottle-harvest (none|[0-9a-f]{40,64} (\d+) ([01]))$", out, re.MULTILINE)
    if not found:
        raise ClaudeBottleError(f"could not read the bottle's work (harvest said: {out.strip()[-200:]!r})")
    verdict, count, extra = found[-1]
    if verdict == "none":
        return HarvestResult("none")
    bundle = store.path / f"{branch.replace('/', '_')}.bundle"
    for member, data in copy_out(engine, container, BUNDLE_IN_BOTTLE):
        if member.isfile():
            bundle.write_bytes(data)
    name = _free_branch(source.folder, branch)
    fetch = fetch_checked(source.folder, bundle, f"refs/heads/{name}")
    if fetch.returncode != 0:
        raise ClaudeBottleError(
            f"could not bring the bottle's commits into {source.folder} ({fetch.stderr.strip()}); "
            f"they are kept in {bundle}"
        )
    return HarvestResult("branch", branch=name, commits=int(count), uncommitted=extra == "1")


def _safe_relative(name: str) -> str | None:
    parts = PurePosixPath(name).parts[1:]  # drop the copied folder's own name
    if not parts or any(p in ("..", "") for p in parts) or PurePosixPath(name).is_absolute():
        return None
    return "/".join(parts)


def harvest_folder(
    engine: Engine, container: str, source: WorkspaceSource, workspace: str, store: SessionFolder, label: str
) -> HarvestResult:
    target = store.path / label / "files"
    seen: set[str] = set()
    changed: list[str] = []
    added: list[str] = []
    for member, data in copy_out(engine, container, workspace):
        rel = _safe_relative(member.name)
        if rel is None:
            continue
        seen.add(rel)
        if not member.isfile():
            continue
        before = source.snapshot.get(rel)
        if before == (member.size, int(member.mtime)):
            continue
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
        dest.chmod(0o644 | (member.mode & 0o111))
        (changed if before is not None else added).append(rel)
    deleted = sorted(set(source.snapshot) - seen)
    if not (changed or added or deleted):
        return HarvestResult("none")
    target.mkdir(parents=True, exist_ok=True)
    (store.path / label / "deleted.txt").write_text("".join(f"{d}\n" for d in deleted))
    return HarvestResult(
        "files",
        folder=store.path / label,
        changed=tuple(sorted(changed)),
        added=tuple(sorted(added)),
        deleted=tuple(deleted),
    )


def save_transcripts(engine: Engine, container: str, home: str, store: SessionFolder) -> int:
    """Claude Code's session transcripts (~/.claude/projects/**/*.jsonl)."""
    saved = 0
    for member, data in copy_out(engine, container, f"{home}/.claude/projects"):
        rel = _safe_relative(member.name)
        if rel is None or not member.isfile() or not rel.endswith(".jsonl"):
            continue
        dest = store.path / "transcripts" / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
        saved += 1
    return saved
