"""The one seam to the host's git: every git command claude-bottle runs in (or
beside) the user's repository passes through `git()`.

Here, once: the user's hooks are off for the tool's own calls
(a reference-transaction hook would otherwise run on the harvest's fetch), each
command is echoed under --verbose, output is decoded the same way (file names
that are not UTF-8 survive as surrogates), and a failure is one error type that
names the command, the folder and git's message. The harvest's checked fetch
(transfer.fsckObjects through scratch repositories) lives here too, so that what
enters the user's repository is decided in one place.
"""

from __future__ import annotations

import shlex
import subprocess
import tempfile
import time
from pathlib import Path

from claude_bottle.console import trace
from claude_bottle.errors import ClaudeBottleError

# For every call: no hook program of the repository runs on our behalf.
_OURS = ("-c", "core.hooksPath=/dev/null")


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
    argv = ["git", *_OURS, *(("-C", str(repo)) if repo is not None else ()), *args]
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, check=False)
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


def head_commit(repo: Path) -> str | None:
    """The commit HEAD names, or None in a repository without one."""
    return git("rev-parse", "-q", "--verify", "HEAD", repo=repo, check=False).stdout.strip() or None


def branch_exists(repo: Path, name: str) -> bool:
    return (
        git("show-ref", "--verify", "--quiet", f"refs/heads/{name}", repo=repo, check=False).returncode == 0
    )


def fetch_checked(repo: Path, bundle: Path, ref: str, bundle_ref: str) -> subprocess.CompletedProcess[str]:
    """Bring the bundle's `bundle_ref` into `repo` as `ref`, every new object
    checked by fsck first (a tree holding `.git` or `..` is refused), and
    nothing written into `repo` unless all passed.

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
        for into, source, dest in ((unpacked, bundle, bundle_ref), (checked, unpacked, bundle_ref),
                                   (repo, checked, ref)):  # fmt: skip
            step = git(*fetch, str(source), f"{bundle_ref}:{dest}", repo=into, check=False)
            if step.returncode != 0:
                return step
        return step
