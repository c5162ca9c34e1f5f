"""The one seam to the host's git: every git command claude-bottle runs in (or
beside) the user's repository passes through `git()`.

Here, once: the repository's configuration runs nothing on the tool's behalf.
A folder's `.git/config` is not the user's word (it came with an archive, or a
bottle wrote it), so every call sets, in git's protected command-line scope
(which no repository setting overrides), every key through which a command of
ours could run a program: hooks (a reference-transaction hook would run on the
harvest's fetch), `core.fsmonitor` (run by `ls-files` on every scan of a
folder), `core.alternateRefsCommand` (run by a fetch into a repository with
alternates), automatic maintenance after a fetch, and submodule fetches. git
gets an environment of the user's own variables it needs (hostenv.git_env: no
GIT_*). Each command is echoed under --verbose, output is decoded the same way
(file names that are not UTF-8 survive as surrogates), and a failure is one
error type that names the command, the folder and git's message. The harvest's
checked fetch (transfer.fsckObjects through scratch repositories, and a bound on
the paths its commits change) lives here too, so that what enters the user's
repository is decided in one place.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import tempfile
import time
from contextlib import AbstractContextManager
from pathlib import Path

from claude_bottle.console import trace, trace_streamed
from claude_bottle.errors import ClaudeBottleError
from claude_bottle.hostenv import git_env
from claude_bottle.workspace.changed_paths import PathCounter, TooManyPaths

# For every call, in the command-line scope no repository overrides (and which
# git hands on to the git processes it starts): no program of the repository runs.
PROTECTED = (
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.alternateRefsCommand=true",  # no alternate's refs then: a fetch still finds its objects
    "gc.auto=0",
    "maintenance.auto=false",
    "fetch.recurseSubmodules=false",
)
_OURS = tuple(arg for setting in PROTECTED for arg in ("-c", setting))
# How many paths the harvested commits may change, one commit after another:
# beyond it the branch is not brought in. A tree bomb (a tree that names the same
# subtree ten times, nine levels deep: 10^9 paths from 10 small objects) passes
# fsck, yet every `git log --stat`, `checkout` or `merge` of it would run for hours.
PATHS_MAX = 1_000_000


class GitFailed(ClaudeBottleError):
    """A host git command failed. Carries its arguments, status and stderr."""

    def __init__(self, args: tuple[str, ...], repo: Path | None, status: int, stderr: str) -> None:
        self.args_given = args
        self.status = status
        self.stderr = stderr.strip()
        where = f" in {repo}" if repo is not None else ""
        super().__init__(f"git {' '.join(args)} failed{where}: {self.stderr}")


def git(*args: str, repo: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `git [-C repo] ARGS`; its output as text. Raises GitFailed if `check`."""
    argv = git_argv(args, repo)
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, check=False, env=git_env(os.environ))
    trace(shlex.join(argv), started, proc.returncode)
    result = subprocess.CompletedProcess(
        argv,
        proc.returncode,
        proc.stdout.decode("utf-8", "surrogateescape"),
        proc.stderr.decode("utf-8", "replace"),
    )
    if check and result.returncode != 0:
        raise GitFailed(args, repo, result.returncode, result.stderr)
    return result


def git_argv(args: tuple[str, ...], repo: Path | None = None) -> list[str]:
    return ["git", *_OURS, *(("-C", str(repo)) if repo is not None else ()), *args]


class ObjectReader(AbstractContextManager["ObjectReader"]):
    """Objects of a repository read through one `git cat-file --batch`."""

    def __init__(self, repo: Path) -> None:
        argv = git_argv(("cat-file", "--batch"), repo)
        trace_streamed(shlex.join(argv))
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=git_env(os.environ))  # fmt: skip

    def read(self, oid: str) -> tuple[str, bytes]:
        """The object's type and content; ("missing", b"") when it is not there."""
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(oid.encode() + b"\n")
        self.proc.stdin.flush()
        header = self.proc.stdout.readline().split()
        if len(header) != 3:
            return "missing", b""
        content = self.proc.stdout.read(int(header[2]) + 1)[:-1]
        return header[1].decode(), content

    def __exit__(self, *exc: object) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        self.proc.kill()
        self.proc.wait()


def commits_between(repo: Path, tip: str, base: str | None) -> list[tuple[str, str]]:
    """(tree, first parent or "") of every commit of `tip` not in `base`, newest first."""
    rev = git("log", "--format=%T %P", tip, *((f"^{base}",) if base else ()), repo=repo, check=False)
    if rev.returncode != 0 and base is not None:
        return commits_between(repo, tip, None)  # `base` is not there: every commit counts
    return [
        (fields[0], fields[1] if len(fields) > 1 else "")
        for fields in map(str.split, rev.stdout.splitlines())
    ]


def changes_more_paths(repo: Path, tip: str, base: str | None, limit: int = PATHS_MAX) -> bool:
    """Whether the commits of `tip` not in `base`, each against its first parent
    (as `git log --stat` shows them), and `tip` against `base` (as a merge would
    take it) change more than `limit` paths together. Counted over tree objects,
    each pair of trees once (workspace/changed_paths.py), never by listing the
    paths: git itself would enumerate all of a tree bomb's before printing one."""
    with ObjectReader(repo) as objects:
        counter = PathCounter(objects.read, limit)
        try:
            pairs = [(parent, tree) for tree, parent in commits_between(repo, tip, base)]
            resolved = [(counter.tree_of(parent), tree) for parent, tree in pairs]
            resolved.append((counter.tree_of(base or ""), counter.tree_of(tip)))
            for old, new in resolved:
                counter.count(old, new)
        except TooManyPaths:
            return True
    return False


def head_commit(repo: Path) -> str | None:
    """The commit HEAD names, or None in a repository without one."""
    return git("rev-parse", "-q", "--verify", "HEAD", repo=repo, check=False).stdout.strip() or None


def branch_exists(repo: Path, name: str) -> bool:
    return (
        git("show-ref", "--verify", "--quiet", f"refs/heads/{name}", repo=repo, check=False).returncode == 0
    )


def fetch_checked(
    repo: Path, bundle: Path, ref: str, bundle_ref: str, base: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Bring the bundle's `bundle_ref` into `repo` as `ref`, every new object
    checked by fsck first (a tree holding `.git` or `..` is refused), the paths
    its commits since `base` change counted (more than PATHS_MAX is refused),
    and nothing written into `repo` unless all passed.

    `git fetch` from a bundle file ignores transfer.fsckObjects (Git before 2.46
    unbundles without --strict), and a fetch that fsck refuses still leaves its
    `tmp_pack_*` in the receiving repository. So the bundle is unpacked into a
    scratch repository, checked by a fetch into a second one (both only borrow
    the user's objects, through alternates, read only), and only then fetched
    into `repo`. Only objects and the one ref arrive; FETCH_HEAD is not written."""
    objects = git("rev-parse", "--path-format=absolute", "--git-path", "objects", repo=repo, check=False)
    if objects.returncode != 0:
        return objects
    fetch = ("-c", "transfer.fsckObjects=true", "fetch", "--quiet", "--no-tags", "--no-write-fetch-head")
    with tempfile.TemporaryDirectory(prefix="quarantine-", dir=bundle.parent) as tmp:
        unpacked, checked = Path(tmp) / "unpacked.git", Path(tmp) / "checked.git"
        for scratch in (unpacked, checked):
            made = git("init", "--quiet", "--bare", str(scratch), check=False)
            if made.returncode != 0:
                return made
            (scratch / "objects" / "info" / "alternates").write_text(objects.stdout.strip() + "\n")
        for into, source in ((unpacked, bundle), (checked, unpacked)):
            step = git(*fetch, str(source), f"{bundle_ref}:{bundle_ref}", repo=into, check=False)
            if step.returncode != 0:
                return step
        if changes_more_paths(checked, bundle_ref, base):
            said = f"its commits change more than {PATHS_MAX:,} paths (a tree bomb?)"
            return subprocess.CompletedProcess(step.args, 1, "", said)
        return git(*fetch, str(checked), f"{bundle_ref}:{ref}", repo=repo, check=False)
