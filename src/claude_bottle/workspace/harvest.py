"""Taking an agent's work out of its bottle before the container is removed.

A git workspace comes back as a branch `bottle/<agent>/<session>` in the host
repository, through git objects and refs only: inside the bottle, the agent's
new commits (plus one commit holding whatever it left uncommitted, made with a
private index so its own index and HEAD are untouched) are put in a bundle;
on the host, `git fetch` takes that bundle into a new branch. Nothing is
written into the user's working tree, index, HEAD, hooks or config, and no
file from the bottle is ever checked out on the host.

A folder without git comes back as files under the session folder, with the
list of files the agent deleted: never a version-control folder (`.git`, ...),
never an exec bit (outflow.py). Everything taken out is bounded (outflow.Budget)
and lands sparse; a cap reached is a line in the summary, and what was taken
before it stays.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import tarfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING

from claude_bottle import agent_image
from claude_bottle.engine.api import Engine
from claude_bottle.errors import ClaudeBottleError, EngineError, NotRunning, PathNotFound
from claude_bottle.safe_read import size_text
from claude_bottle.workspace.git import branch_exists, fetch_checked
from claude_bottle.workspace.outflow import Budget, Counted, OverCap, land, tool_config_part
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
echo "claude-bottle-harvest $tip $count $extra $(stat -c %s "$4")"
"""


@dataclass(frozen=True)
class HarvestResult:
    kind: str  # "branch", "files", "none" or "capped" (the bundle was over a cap)
    branch: str | None = None
    commits: int = 0
    uncommitted: bool = False
    folder: Path | None = None
    changed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()  # version-control files left in the bottle
    executables: tuple[str, ...] = ()  # saved without the exec bits they had
    notes: tuple[str, ...] = ()  # caps reached: what was left in the bottle

    def summary_lines(self, repo: Path) -> list[str]:
        limits = [f"limit   : {note}" for note in self.notes]
        if self.kind == "none":
            return ["work    : no changes", *limits]
        if self.kind == "capped":
            return ["work    : not brought back", *limits]
        if self.kind == "branch":
            extra = " (the last one holds changes left uncommitted)" if self.uncommitted else ""
            return [
                f"work    : branch {self.branch} in {repo}: {self.commits} commit(s){extra}",
                f"          look: git -C {shlex.quote(str(repo))} log --stat -n 20 HEAD..{self.branch}",
                f"          take: git -C {shlex.quote(str(repo))} merge {self.branch}",
                *limits,
            ]
        lines = [
            f"work    : {len(self.changed)} changed, {len(self.added)} new, {len(self.deleted)} deleted "
            f"file(s) saved in {self.folder}",
            f"          look: ls -R {shlex.quote(str(self.folder))}",
        ]
        if self.refused:
            lines.append(
                f"          left in the bottle (version control a shell would read): {_few(self.refused)}"
            )
        if self.executables:
            lines.append(f"          saved without their exec bits: {_few(self.executables)}")
        return lines + limits

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
            "refused": list(self.refused),
            "executables": list(self.executables),
            "notes": list(self.notes),
        }


def _few(paths: tuple[str, ...], shown: int = 5) -> str:
    names = ", ".join(shlex.quote(p) for p in paths[:shown])
    return names + (f" and {len(paths) - shown} more" if len(paths) > shown else "")


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


def copy_out(
    engine: Engine, container: str, path: str, limit: int
) -> Iterator[tuple[tarfile.TarInfo, IO[bytes] | None]]:
    """The engine's tar stream of `path`, member by member. A regular file comes
    with a stream of its content, to be read before the next member (never held
    whole in memory); other members with None. A missing path yields nothing.
    More than `limit` bytes of content (and the tar's own) raise OverCap."""
    try:
        with engine.copy_out(container, path) as stream:
            yield from _tar_members(Counted(stream, limit + TAR_OVERHEAD))  # type: ignore[arg-type]
    except PathNotFound:
        return


def _tar_members(stream: IO[bytes]) -> Iterator[tuple[tarfile.TarInfo, IO[bytes] | None]]:
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                yield member, tar.extractfile(member) if member.isfile() else None
    except tarfile.ReadError:
        pass  # an empty stream: the command found nothing; its status says why


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
    budget: Budget | None = None,
) -> HarvestResult:
    budget = budget if budget is not None else Budget()
    noted = len(budget.notes)
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
    found = re.findall(
        r"^claude-bottle-harvest (none|[0-9a-f]{40,64} (\d+) ([01]) (\d+))$", out, re.MULTILINE
    )
    if not found:
        raise ClaudeBottleError(f"could not read the bottle's work (harvest said: {out.strip()[-200:]!r})")
    verdict, count, extra, size = found[-1]
    if verdict == "none":
        return HarvestResult("none")
    if not budget.admit(f"the bottle's commits (a bundle of {count} commit(s))", int(size)):
        return HarvestResult("capped", notes=tuple(budget.notes[noted:]))
    bundle = store.path / f"{branch.replace('/', '_')}.bundle"
    from claude_bottle.progress import Progress  # only for this step

    try:
        for member, stream in copy_out(engine, container, in_bottle, limit=int(size)):
            if member.isfile():
                with Progress("taking the work out (git bundle)", member.size) as progress:
                    land(progress.counting(stream) if stream is not None else None, bundle, int(size))
    except OverCap:
        budget.notes.append(
            f"the bottle's bundle grew past the {size_text(int(size))} it had: not brought back"
        )
        return HarvestResult("capped", notes=tuple(budget.notes[noted:]))
    name = _free_branch(source.folder, branch)
    fetch = fetch_checked(source.folder, bundle, f"refs/heads/{name}", HARVEST_REF, source.base)
    if fetch.returncode != 0:
        raise ClaudeBottleError(
            f"could not bring the bottle's commits into {source.folder} ({fetch.stderr.strip()}); "
            f"they are kept in {bundle}"
        )
    return HarvestResult("branch", branch=name, commits=int(count), uncommitted=extra == "1",
                         notes=tuple(budget.notes[noted:]))  # fmt: skip


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
    engine: Engine,
    container: str,
    source: WorkspaceSource,
    workspace: str,
    store: SessionFolder,
    label: str,
    budget: Budget | None = None,
) -> HarvestResult:
    """Changed and new files come out (streamed, file by file); a file whose size
    and mtime did not change costs only its line in the listing, however large.
    Version-control files stay in the bottle; the rest within the budget."""
    budget = budget if budget is not None else Budget()
    noted = len(budget.notes)
    now = list_workspace(engine, container, workspace)
    refused = tuple(sorted(rel for rel, (kind, _, _) in now.items() if kind == "f" and tool_config_part(rel)))
    now = {rel: facts for rel, facts in now.items() if not tool_config_part(rel)}
    changed, added, deleted = changed_files(now, source.snapshot)
    if not (changed or added or deleted or refused):
        return HarvestResult("none")
    target = store.path / label / "files"
    target.mkdir(parents=True, exist_ok=True)
    wanted = {rel: now[rel][1] for rel in sorted({*changed, *added}) if budget.admit(rel, now[rel][1])}
    executables: list[str] = []
    if wanted:
        from claude_bottle.progress import Progress  # only for this step

        with Progress(f"taking the work out ({len(wanted)} file(s))", sum(wanted.values())) as progress:
            executables = take_files(engine, container, workspace, wanted, target, budget, progress)
    (store.path / label / "deleted.txt").write_text("".join(f"{d}\n" for d in deleted))
    return HarvestResult(
        "files",
        folder=store.path / label,
        changed=tuple(c for c in changed if c in wanted),
        added=tuple(a for a in added if a in wanted),
        deleted=tuple(deleted),
        refused=refused,
        executables=tuple(executables),
        notes=tuple(budget.notes[noted:]),
    )


# The bottle's own tar: holes travel as holes (--sparse), names come NUL-ended on stdin.
_TAKE = ("-cf", "-", "--no-recursion", "--ignore-failed-read", "--sparse", "--null", "-T", "-")
TAR_OVERHEAD = 1 << 20  # headers and padding a tar stream adds, at most, beyond its files' bytes
_PER_FILE = 3 * 512  # a member's headers (a long name and a sparse map take one more each)


def take_files(
    engine: Engine,
    container: str,
    root: str,
    wanted: Mapping[str, int],
    target: Path,
    budget: Budget,
    progress: Progress | None = None,
) -> list[str]:
    """The named files under `root` (relative path -> the size they were listed
    with, already taken from the budget), streamed out by the bottle's own tar as
    the agent user, landed under `target` (sparse, mode 644); the names of those
    that had an exec bit. A file may have grown since it was listed: the growth
    is taken from what the session may still bring out, and no file lands past
    the per-file cap. The stream is read through a counter, so one longer than
    that stops the take, keeping what already landed."""
    executables: list[str] = []
    names = b"".join(os.fsencode(rel) + b"\0" for rel in wanted)
    limit = sum(wanted.values()) + budget.left + TAR_OVERHEAD + _PER_FILE * len(wanted)
    with engine.exec_stream(container, ("tar", "-C", root, *_TAKE), user=agent_image.USER) as proc:
        # tar reads the names while its output is taken: neither waits on the other.
        writer = threading.Thread(target=_write_and_close, args=(proc.stdin, names), daemon=True)
        writer.start()
        try:
            for member, stream in _tar_members(Counted(proc.stdout, limit)):  # type: ignore[arg-type]
                rel = member.name
                if rel not in wanted or not member.isfile():
                    continue
                dest = target / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                counted = progress.counting(stream) if progress is not None and stream is not None else stream
                grown = land(counted, dest, min(budget.file_max, wanted[rel] + budget.left)) - wanted[rel]
                budget.left -= max(0, grown)
                if member.mode & 0o111:
                    executables.append(rel)
        except OverCap:
            budget.notes.append(
                "a file grew past what this session may bring out while it was taken: it and the files "
                "after it were left in the bottle"
            )
            return executables
        writer.join()
        status = proc.wait()
        # GNU tar says 1 when a file changed while it was read: what it read has landed.
        if status not in (0, 1):
            raise ClaudeBottleError(
                f"cannot take the work out of the bottle (exit {status}): {proc.stderr_text().strip()}"
            )
    return executables


def _write_and_close(stdin: IO[bytes], data: bytes) -> None:
    with contextlib.suppress(BrokenPipeError, ValueError):  # tar failed; its status says why
        stdin.write(data)
        stdin.close()


# Runs as the agent user: every transcript below $1 as "size path", NUL-ended.
_TRANSCRIPTS_SCRIPT = '[ -d "$1" ] || exit 0; cd "$1" && find . -type f -name "*.jsonl" -printf "%s %P\\0"'


@dataclass(frozen=True)
class Transcripts:
    saved: int
    notes: tuple[str, ...] = ()


def save_transcripts(
    engine: Engine, container: str, home: str, store: SessionFolder, budget: Budget | None = None
) -> Transcripts:
    """Claude Code's session transcripts (~/.claude/projects/**/*.jsonl), listed
    first, then each one the budget admits taken out (sparse, as the rest)."""
    budget = budget if budget is not None else Budget()
    noted = len(budget.notes)
    root = f"{home}/.claude/projects"
    listed = _exec(engine, container, "sh", "-c", _TRANSCRIPTS_SCRIPT, "transcripts", root)
    wanted: dict[str, int] = {}
    for record in listed.split("\0"):
        size, _, rel = record.partition(" ")
        good = size.isdigit() and rel and not any(p in ("..", "", ".") for p in rel.split("/"))
        if good and budget.admit(f"transcript {rel}", int(size)):
            wanted[rel] = int(size)
    if wanted:
        take_files(engine, container, root, wanted, store.path / "transcripts", budget)
    saved = sum(1 for rel in wanted if (store.path / "transcripts" / rel).is_file())
    return Transcripts(saved, tuple(budget.notes[noted:]))
