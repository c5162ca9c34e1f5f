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

import contextlib
import os
import re
import shlex
import shutil
import tarfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING

from claude_bottle import agent_image
from claude_bottle.engine.api import Engine
from claude_bottle.errors import ClaudeBottleError, EngineError, NotRunning, PathNotFound
from claude_bottle.workspace.git import branch_exists, fetch_checked
from claude_bottle.workspace.session_folders import SessionFolder
from claude_bottle.workspace.source import WorkspaceSource

if TYPE_CHECKING:
    from claude_bottle.progress import Progress

BUNDLE_NAME = ".claude-bottle-harvest.bundle"  # in the agent's home (CLAUDE_BOTTLE_CONTAINER_HOME)
HARVEST_REF = "refs/claude-bottle/harvest"
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
CHUNK = 1 << 20  # bytes copied at a time: the harvest never holds a whole file

# Runs as the agent user inside the bottle: $1 workspace, $2 base commit or "", $3 message,
# $4 where the bundle goes.
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
git bundle create -q "$4" {HARVEST_REF} ${{base:+"^$base"}} >/dev/null 2>&1
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
    try:
        result = engine.exec(container, argv, user=agent_image.USER)
    except NotRunning:
        try:
            engine.start(container)
        except EngineError as exc:
            raise exc.saying(f"cannot restart {container} to take its work out") from None
        result = engine.exec(container, argv, user=agent_image.USER)
    if result.returncode != 0:
        raise ClaudeBottleError(
            f"cannot take the work out of the bottle (exit {result.returncode}): {result.stderr.strip()}"
        )
    return result.stdout


def copy_out(engine: Engine, container: str, path: str) -> Iterator[tuple[tarfile.TarInfo, IO[bytes] | None]]:
    """The engine's tar stream of `path`, member by member. A regular file comes
    with a stream of its content, to be read before the next member (never held
    whole in memory); other members with None. A missing path yields nothing."""
    try:
        with engine.copy_out(container, path) as stream:
            yield from _tar_members(stream)
    except PathNotFound:
        return


def _tar_members(stream: IO[bytes]) -> Iterator[tuple[tarfile.TarInfo, IO[bytes] | None]]:
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                yield member, tar.extractfile(member) if member.isfile() else None
    except tarfile.ReadError:
        pass  # an empty stream: the command found nothing; its status says why


def save_stream(stream: IO[bytes] | None, dest: Path) -> None:
    """Copy a member's content to a file in chunks."""
    with dest.open("wb") as out:
        if stream is not None:
            shutil.copyfileobj(stream, out, CHUNK)


def _free_branch(repo: Path, wanted: str) -> str:
    name, n = wanted, 2
    while branch_exists(repo, name):
        name, n = f"{wanted}-{n}", n + 1
    return name


def harvest_git(
    engine: Engine,
    container: str,
    source: WorkspaceSource,
    workspace: str,
    store: SessionFolder,
    branch: str,
    message: str,
    home: str,
) -> HarvestResult:
    in_bottle = f"{home.rstrip('/')}/{BUNDLE_NAME}"
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
        in_bottle,
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
    from claude_bottle.progress import Progress  # only for this step

    for member, stream in copy_out(engine, container, in_bottle):
        if member.isfile() and stream is not None:
            with Progress("taking the work out (git bundle)", member.size) as progress:
                save_stream(progress.counting(stream), bundle)
    name = _free_branch(source.folder, branch)
    fetch = fetch_checked(source.folder, bundle, f"refs/heads/{name}", HARVEST_REF)
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


# Runs as the agent user: every entry below $1 as "type size mtime path", NUL-ended.
_LIST_SCRIPT = 'cd "$1" && find . -mindepth 1 -printf "%y %s %T@ %P\\0"'


def list_workspace(engine: Engine, container: str, workspace: str) -> dict[str, tuple[str, int, int]]:
    """What the workspace holds now, metadata only: path -> (type, size, mtime)."""
    out = _exec(engine, container, "sh", "-c", _LIST_SCRIPT, "list", workspace)
    found: dict[str, tuple[str, int, int]] = {}
    for record in out.split("\0"):
        fields = record.split(" ", 3)
        if len(fields) != 4 or not fields[3]:
            continue
        kind, size, mtime, rel = fields
        if any(p in ("..", "") for p in rel.split("/")):
            continue
        found[rel] = (kind, int(size), int(float(mtime)))
    return found


def changed_files(
    now: dict[str, tuple[str, int, int]], snapshot: Mapping[str, tuple[int, int]]
) -> tuple[list[str], list[str], list[str]]:
    """(changed, added, deleted), told by size and whole-second mtime (pure)."""
    changed: list[str] = []
    added: list[str] = []
    for rel, (kind, size, mtime) in sorted(now.items()):
        if kind != "f":
            continue
        before = snapshot.get(rel)
        if before == (size, mtime):
            continue
        (changed if before is not None else added).append(rel)
    return changed, added, sorted(set(snapshot) - set(now))


def harvest_folder(
    engine: Engine, container: str, source: WorkspaceSource, workspace: str, store: SessionFolder, label: str
) -> HarvestResult:
    """Changed and new files come out (streamed, file by file); a file whose size
    and mtime did not change costs only its line in the listing, however large."""
    now = list_workspace(engine, container, workspace)
    changed, added, deleted = changed_files(now, source.snapshot)
    if not (changed or added or deleted):
        return HarvestResult("none")
    target = store.path / label / "files"
    target.mkdir(parents=True, exist_ok=True)
    wanted = set(changed) | set(added)
    if wanted:
        from claude_bottle.progress import Progress  # only for this step

        listed = {rel: now[rel][1] for rel in wanted if rel in now}
        with Progress(f"taking the work out ({len(wanted)} file(s))", sum(listed.values())) as progress:
            _take_files(engine, container, workspace, wanted, target, progress)
    (store.path / label / "deleted.txt").write_text("".join(f"{d}\n" for d in deleted))
    return HarvestResult(
        "files",
        folder=store.path / label,
        changed=tuple(changed),
        added=tuple(added),
        deleted=tuple(deleted),
    )


def _take_files(
    engine: Engine, container: str, workspace: str, wanted: set[str], target: Path, progress: Progress
) -> None:
    """The named files, streamed out of the bottle by its own tar (as the agent user)."""
    argv = ("tar", "-C", workspace, "-cf", "-", "--no-recursion", "--ignore-failed-read", "--null", "-T", "-")
    names = b"".join(os.fsencode(rel) + b"\0" for rel in sorted(wanted))
    with engine.exec_stream(container, argv, user=agent_image.USER) as proc:
        # tar reads the names while its output is taken: neither waits on the other.
        writer = threading.Thread(target=_write_and_close, args=(proc.stdin, names), daemon=True)
        writer.start()
        for member, stream in _tar_members(proc.stdout):
            rel = member.name
            if rel not in wanted or not member.isfile():
                continue
            dest = target / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            save_stream(progress.counting(stream) if stream is not None else None, dest)
            dest.chmod(0o644 | (member.mode & 0o111))
        writer.join()
        status = proc.wait()
        if status != 0:
            raise ClaudeBottleError(
                f"cannot take the work out of the bottle (exit {status}): {proc.stderr_text().strip()}"
            )


def _write_and_close(stdin: IO[bytes], data: bytes) -> None:
    with contextlib.suppress(BrokenPipeError, ValueError):  # tar failed; its status says why
        stdin.write(data)
        stdin.close()


def save_transcripts(engine: Engine, container: str, home: str, store: SessionFolder) -> int:
    """Claude Code's session transcripts (~/.claude/projects/**/*.jsonl)."""
    saved = 0
    for member, stream in copy_out(engine, container, f"{home}/.claude/projects"):
        rel = _safe_relative(member.name)
        if rel is None or not member.isfile() or not rel.endswith(".jsonl"):
            continue
        dest = store.path / "transcripts" / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        save_stream(stream, dest)
        saved += 1
    return saved
